"""Where a run's delivered detector says an image is anomalous: the map it delivers is chosen on
synthetic local anomalies made from normal *validation* images (their masks are known, so no label
is read), then judged on synthetic local anomalies made from the normal *test* images, by pixel
AUROC and PRO beside the nearest-normal-image difference (no model), and drawn.

The candidates, fixed in advance and the same for every data set: the model's own map (where it has
one) and the patch-neighbour map, each smoothed by a Gaussian of 0, 1 or 2 pixels, raw or
standardized per pixel on normal images' maps; and the patch-neighbour map joined with the detail
map (:mod:`tasks.anomaly.detail`), smoothed the same ways and always standardized. Every candidate
is centred on each image's median (:class:`tasks.anomaly.map_setting.MapSetting`). The choice reads
half of the normal validation images for the standardization and corrupts the other half; the
delivered setting is then standardized on all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch

from genmodels.contract import Capability
from genmodels.errors import CapabilityError
from tasks.anomaly.corruptions import LOCAL, corrupt
from tasks.anomaly.detector import Detector
from tasks.anomaly.figures import maps_grid
from tasks.anomaly.map_setting import JOINED, MapSetting
from tasks.anomaly.maps import (
    delivered_maps,
    maps_by_kind,
    model_map_kind,
    nearest_normal_maps,
    pixel_auroc,
    pro_score,
)
from tasks.anomaly.patch_neighbours import PatchNeighbours
from tasks.anomaly.protocol import OneClassSplit
from tasks.result import TaskResult

SIGMAS = (0.0, 1.0, 2.0)
#: fewest normal validation images for a choice (half standardize, half are corrupted)
MIN_VALIDATION = 8


#: the candidates that need no network: the patch-neighbour map, alone and joined with detail
NO_NETWORK = ("patch-nn", "patch-nn+detail")
#: the candidates of a model with local features (LOCAL_FEATURES): alone and joined with both
WITH_FEATURES = ("features-nn", "patch-nn+features-nn+detail")


def _candidate_kinds(detector: Detector, log: Callable[[str], None]) -> list[str]:
    features = list(WITH_FEATURES) if detector.model.supports(Capability.LOCAL_FEATURES) else []
    try:
        return [model_map_kind(detector), *NO_NETWORK, *features]
    except CapabilityError as err:
        kinds = [*NO_NETWORK, *features]
        log(f"the model draws no map of its own ({err}); candidates: {', '.join(kinds)}")
        return kinds


@dataclass(frozen=True)
class MapChoice:
    """What :func:`choose_map` decided.

    Attributes:
        detector: the detector carrying the chosen map setting (and its references for a
            ``patch-nn`` map).
        table: one row per candidate with ``selection_pixel_auroc``; empty when nothing was
            chosen.
        candidates: the candidates in the table's order, each as it would be delivered
            (standardized on all normal validation images).
        mapping: the detector holding the patch references too, to draw any candidate kind.
    """

    detector: Detector
    table: pd.DataFrame
    candidates: list[MapSetting]
    mapping: Detector


def choose_map(
    detector: Detector, data: OneClassSplit, seed: int, log: Callable[[str], None]
) -> MapChoice:
    """The map setting with the highest pixel AUROC on synthetic local anomalies of normal
    validation images. With fewer than :data:`MIN_VALIDATION` validation images the detector
    keeps its model's own map, raw (or the patch-neighbour map where the model has none)."""
    patches = PatchNeighbours.fit(data.train.images, seed)
    mapping = replace(detector, patches=patches)
    kinds = _candidate_kinds(detector, log)
    val = data.val.images
    if len(val) < MIN_VALIDATION:
        log(
            f"{len(val)} normal validation images (fewer than {MIN_VALIDATION}): the map is "
            f"{kinds[0]}, raw, not chosen"
        )
        chosen = MapSetting(kinds[0])
        return MapChoice(_carrying(detector, chosen, patches), pd.DataFrame(), [], mapping)
    order = torch.randperm(len(val), generator=torch.Generator().manual_seed(seed + 5)).numpy()
    stats, held = order[: len(val) // 2], order[len(val) // 2 :]
    local = corrupt(val[held], data.train.images, data.train.levels, seed + 7, kinds=LOCAL)
    masks = local.masks[:, 0].numpy()
    rows, candidates = [], []
    normals = maps_by_kind(mapping, val, kinds)  # every normal validation image, once
    corrupted = maps_by_kind(mapping, local.images, kinds)
    for kind in kinds:
        normal, raw = normals[kind], corrupted[kind]
        for sigma in SIGMAS:
            for standardize in (False, True) if kind not in JOINED else (True,):
                trial = MapSetting.fit(
                    kind, sigma, normal[stats] if standardize else None, centred=True
                )
                rows.append(
                    {
                        "map_kind": kind,
                        "sigma": sigma,
                        "standardized": standardize,
                        "selection_pixel_auroc": pixel_auroc(trial(raw), masks),
                    }
                )
                candidates.append(
                    MapSetting.fit(kind, sigma, normal if standardize else None, centred=True)
                )
    table = pd.DataFrame(rows)
    chosen = candidates[int(table["selection_pixel_auroc"].to_numpy().argmax())]
    log(
        f"anomaly map: {chosen.describe()} (pixel AUROC "
        f"{table['selection_pixel_auroc'].max():.3f} on {len(held)} synthetic local anomalies of "
        f"normal validation images; {len(table)} candidates)"
    )
    return MapChoice(_carrying(detector, chosen, patches), table, candidates, mapping)


def _carrying(detector: Detector, setting: MapSetting, patches: PatchNeighbours) -> Detector:
    return replace(
        detector, map_setting=setting, patches=patches if setting.uses_references else None
    )


def judge_maps(
    result: TaskResult, detector: Detector, data: OneClassSplit, seed: int,
    log: Callable[[str], None],
) -> Detector:  # fmt: skip
    """Choose the delivered detector's map (:func:`choose_map`), then judge it: pixel AUROC and
    PRO on synthetic local anomalies made from the normal test images, beside the model's own
    raw map and the nearest-normal difference, and a grid of maps of the most anomalous test
    images. Returns the detector carrying its map setting."""
    choice = choose_map(detector, data, seed, log)
    detector = choice.detector
    setting = detector.map_setting
    assert setting is not None
    normal_test = data.test.images[~torch.from_numpy(data.test_is_anomaly)]
    local = corrupt(normal_test, data.train.images, data.train.levels, seed + 3, kinds=LOCAL)
    maps = delivered_maps(detector, local.images)
    masks = local.masks[:, 0].numpy()
    reference = nearest_normal_maps(local.images, data.train.images)
    result.params.update(
        map_kind=setting.kind, map_sigma=setting.sigma, map_standardized=setting.standardized
    )
    result.metrics.update(
        map_pixel_auroc=pixel_auroc(maps, masks),
        map_pro=pro_score(maps, masks),
        map_baseline_pixel_auroc=pixel_auroc(reference, masks),
        map_baseline_pro=pro_score(reference, masks),
    )
    corruptions = np.asarray(local.kinds)
    for corruption in LOCAL:  # which corruptions the delivered map sees, and which it misses
        mine = corruptions == corruption
        if mine.any() and masks[mine].any():
            auroc = pixel_auroc(maps[mine], masks[mine])
            result.metrics[f"map_pixel_auroc.{corruption}"] = auroc
    if not choice.table.empty:  # every candidate on test, for the record (chosen before)
        drawn = dict.fromkeys(c.kind for c in choice.candidates)  # each kind's maps once
        raw = maps_by_kind(choice.mapping, local.images, list(drawn))
        table = choice.table.assign(
            test_pixel_auroc=[pixel_auroc(c(raw[c.kind]), masks) for c in choice.candidates]
        )
        result.metrics["map_selection_pixel_auroc"] = float(table["selection_pixel_auroc"].max())
        as_drawn = [  # the model's own map as it came, for comparison
            i for i, c in enumerate(choice.candidates)
            if c.kind not in (*NO_NETWORK, *WITH_FEATURES) and c.sigma == 0
            and not c.standardized
        ]  # fmt: skip
        if as_drawn:
            result.metrics["map_model_pixel_auroc"] = float(table["test_pixel_auroc"][as_drawn[0]])
        result.tables["map_candidates"] = table
    m = result.metrics
    log(
        f"anomaly maps ({setting.describe()}) on {len(maps)} synthetic local anomalies of normal "
        f"test images: pixel AUROC {m['map_pixel_auroc']:.3f}, PRO {m['map_pro']:.3f}; the "
        f"nearest normal image's difference (no model): {m['map_baseline_pixel_auroc']:.3f}, "
        f"{m['map_baseline_pro']:.3f}"
    )
    title = f"{setting.kind} maps of synthetic local anomalies (outlined)"
    result.figure("anomaly_maps", maps_grid(local.images, maps, local.masks, title))
    scores = detector.scores(data.test.images)
    worst = data.test.images[np.argsort(scores)[::-1][:8].copy()]
    title = f"{setting.kind} maps of the most anomalous test images"
    result.figure(
        "anomaly_maps_test", maps_grid(worst, delivered_maps(detector, worst), None, title)
    )
    return detector
