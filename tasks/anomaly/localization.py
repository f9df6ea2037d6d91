"""How well a run's delivered detector says where: its maps of synthetic local anomalies made
from the normal test images (whose masks are known), judged by pixel AUROC and PRO beside the
nearest-normal-image difference (no model), and drawn."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from genmodels.errors import CapabilityError
from tasks.anomaly.corruptions import LOCAL, corrupt
from tasks.anomaly.detector import Detector
from tasks.anomaly.figures import maps_grid
from tasks.anomaly.maps import (
    anomaly_maps,
    map_kind,
    nearest_normal_maps,
    pixel_auroc,
    pro_score,
)
from tasks.anomaly.protocol import OneClassSplit
from tasks.result import TaskResult


def judge_maps(
    result: TaskResult, detector: Detector, data: OneClassSplit, seed: int,
    log: Callable[[str], None],
) -> None:  # fmt: skip
    """The delivered detector's anomaly maps: pixel AUROC and PRO on synthetic local anomalies
    made from the normal test images (their masks are known), and a grid of them beside the most
    anomalous test images. Skipped, with a line in the log, for a model that cannot map."""
    try:
        kind = map_kind(detector)
    except CapabilityError as err:
        log(f"no anomaly maps: {err}")
        return
    normal_test = data.test.images[~torch.from_numpy(data.test_is_anomaly)]
    local = corrupt(normal_test, data.train.images, data.train.levels, seed + 3, kinds=LOCAL)
    maps = anomaly_maps(detector, local.images, kind)
    masks = local.masks[:, 0].numpy()
    reference = nearest_normal_maps(local.images, data.train.images)
    result.params["map_kind"] = kind
    result.metrics.update(
        map_pixel_auroc=pixel_auroc(maps, masks),
        map_pro=pro_score(maps, masks),
        map_baseline_pixel_auroc=pixel_auroc(reference, masks),
        map_baseline_pro=pro_score(reference, masks),
    )
    m = result.metrics
    log(
        f"anomaly maps ({kind}) on {len(maps)} synthetic local anomalies: pixel AUROC "
        f"{m['map_pixel_auroc']:.3f}, PRO {m['map_pro']:.3f}; the nearest normal image's "
        f"difference (no model): {m['map_baseline_pixel_auroc']:.3f}, "
        f"{m['map_baseline_pro']:.3f}"
    )
    title = f"{kind} maps of synthetic local anomalies (outlined)"
    result.figure("anomaly_maps", maps_grid(local.images, maps, local.masks, title))
    scores = detector.scores(data.test.images)
    worst = data.test.images[np.argsort(scores)[::-1][:8].copy()]
    title = f"{kind} maps of the most anomalous test images"
    result.figure(
        "anomaly_maps_test", maps_grid(worst, anomaly_maps(detector, worst, kind), None, title)
    )
