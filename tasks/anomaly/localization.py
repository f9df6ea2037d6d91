"""Where a run's delivered detector says an image is anomalous: the map it delivers is chosen on
synthetic local anomalies made from normal *validation* images (their masks are known, so no
label is read), then judged on synthetic local anomalies made from the normal *test* images,
by pixel AUROC and PRO beside the nearest-normal-image difference (no model), and drawn.

The candidates, fixed in advance and the same for every data set: the model's own map (where
it has one) and the patch-neighbour map, each smoothed by a Gaussian of 0, 1 or 2 pixels, raw or
standardized per pixel on normal images' maps. The choice reads half of the normal validation
images for the standardization and corrupts the other half; the delivered setting is then
standardized on all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from genmodels.errors import CapabilityError
from tasks.anomaly.corruptions import LOCAL, corrupt
from tasks.anomaly.detector import Detector
from tasks.anomaly.figures import maps_grid
from tasks.anomaly.map_setting import MapSetting
from tasks.anomaly.maps import (
    anomaly_maps,
    delivered_maps,
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


def _candidate_kinds(detector: Detector, log: Callable[[str], None]) -> list[str]:
    try:
        return [model_map_kind(detector), "patch-nn"]
    except CapabilityError as err:
        log(f"the model draws no map of its own ({err}); candidates: patch-nn")
        return ["patch-nn"]


def _settings(kind: str, normal_maps: np.ndarray) -> list[MapSetting]:
    return [
        MapSetting.fit(kind, sigma, normal_maps if standardize else None)
        for sigma in SIGMAS
        for standardize in (False, True)
    ]


def choose_map(
    detector: Detector, data: OneClassSplit, seed: int, log: Callable[[str], None],
    patches: PatchNeighbours | None = None,
) -> tuple[Detector, pd.DataFrame]:  # fmt: skip
    """``detector`` carrying the map setting with the highest pixel AUROC on synthetic local
    anomalies of normal validation images, and one row per candidate (``selection_pixel_auroc``).
    With fewer than :data:`MIN_VALIDATION` validation images it keeps its model's own map, raw
    (or the patch-neighbour map where the model has none). ``patches``: the references of the
    patch-neighbour map (default: drawn from the normal training images)."""
    patches = patches or PatchNeighbours.fit(data.train.images, seed)
    mapping = replace(detector, patches=patches)
    kinds = _candidate_kinds(detector, log)
    val = data.val.images
    if len(val) < MIN_VALIDATION:
        log(
            f"{len(val)} normal validation images (fewer than {MIN_VALIDATION}): the map is "
            f"{kinds[0]}, raw, not chosen"
        )
        chosen = MapSetting(kinds[0])
        return _carrying(detector, chosen, patches), pd.DataFrame()
    order = torch.randperm(len(val), generator=torch.Generator().manual_seed(seed + 5))
    stats, held = val[order[: len(val) // 2]], val[order[len(val) // 2 :]]
    local = corrupt(held, data.train.images, data.train.levels, seed + 7, kinds=LOCAL)
    masks = local.masks[:, 0].numpy()
    rows, candidates = [], []
    for kind in kinds:
        raw = anomaly_maps(mapping, local.images, kind)
        for setting in _settings(kind, anomaly_maps(mapping, stats, kind)):
            candidates.append(setting)
            rows.append(
                {
                    "map_kind": kind,
                    "sigma": setting.sigma,
                    "standardized": setting.standardized,
                    "selection_pixel_auroc": pixel_auroc(setting(raw), masks),
                }
            )
    table = pd.DataFrame(rows)
    best = candidates[int(table["selection_pixel_auroc"].to_numpy().argmax())]
    normal = anomaly_maps(mapping, val, best.kind) if best.standardized else None
    chosen = MapSetting.fit(best.kind, best.sigma, normal)
    log(
        f"anomaly map: {chosen.describe()} (pixel AUROC "
        f"{table['selection_pixel_auroc'].max():.3f} on {len(held)} synthetic local anomalies of "
        f"normal validation images; {len(table)} candidates)"
    )
    return _carrying(detector, chosen, patches), table


def _carrying(detector: Detector, setting: MapSetting, patches: PatchNeighbours) -> Detector:
    return replace(
        detector, map_setting=setting, patches=patches if setting.kind == "patch-nn" else None
    )


def _candidates_on_test(
    mapping: Detector, data: OneClassSplit, table: pd.DataFrame, images: Tensor, masks: np.ndarray
) -> pd.DataFrame:
    """Every candidate's test pixel AUROC, for the record (the choice was made before)."""
    scores = []
    for kind, group in table.groupby("map_kind", sort=False):
        raw = anomaly_maps(mapping, images, str(kind))
        normal = anomaly_maps(mapping, data.val.images, str(kind))
        for _, row in group.iterrows():
            setting = MapSetting.fit(
                str(kind), row["sigma"], normal if row["standardized"] else None
            )
            scores.append((row.name, pixel_auroc(setting(raw), masks)))
    out = table.copy()
    out["test_pixel_auroc"] = pd.Series(dict(scores))
    return out


def judge_maps(
    result: TaskResult, detector: Detector, data: OneClassSplit, seed: int,
    log: Callable[[str], None],
) -> Detector:  # fmt: skip
    """Choose the delivered detector's map (:func:`choose_map`), then judge it: pixel AUROC and
    PRO on synthetic local anomalies made from the normal test images, beside the model's own
    raw map and the nearest-normal difference, and a grid of maps of the most anomalous test
    images. Returns the detector carrying its map setting."""
    patches = PatchNeighbours.fit(data.train.images, seed)
    mapping = replace(detector, patches=patches)
    detector, table = choose_map(detector, data, seed, log, patches)
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
    kinds = np.asarray(local.kinds)
    for corruption in LOCAL:  # which corruptions the delivered map sees, and which it misses
        mine = kinds == corruption
        if mine.any() and masks[mine].any():
            auroc = pixel_auroc(maps[mine], masks[mine])
            result.metrics[f"map_pixel_auroc.{corruption}"] = auroc
    if not table.empty:
        table = _candidates_on_test(mapping, data, table, local.images, masks)
        result.metrics["map_selection_pixel_auroc"] = float(table["selection_pixel_auroc"].max())
        model_raw = table[(table["map_kind"] != "patch-nn") & (table["sigma"] == 0)]
        model_raw = model_raw[~model_raw["standardized"].astype(bool)]
        if not model_raw.empty:  # the model's own map as it came, for comparison
            result.metrics["map_model_pixel_auroc"] = float(model_raw["test_pixel_auroc"].iloc[0])
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
