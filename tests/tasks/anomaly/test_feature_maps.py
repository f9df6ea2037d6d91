"""The features-nn map: a model's local features compared per place with normal images'."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genmodels.data.imageset import ImageSet
from genmodels.errors import CapabilityError
from genmodels.registry import get_model_class
from tasks.anomaly.detector import Detector
from tasks.anomaly.features import MAX_FEATURE_REFERENCES, feature_maps, feature_references
from tasks.anomaly.localization import choose_map
from tasks.anomaly.map_setting import MapSetting
from tasks.anomaly.maps import delivered_maps
from tasks.anomaly.patch_neighbours import PatchNeighbours
from tasks.anomaly.protocol import OneClassSplit
from tasks.anomaly.scores import make_score
from tasks.anomaly.threshold import ConformalThreshold

THRESHOLD = ConformalThreshold.fit(np.arange(40.0), 0.1)


def _flow():
    torch.manual_seed(0)
    cls = get_model_class("realnvp")
    return cls((1, 8, 8), 17, num_scales=2, hidden_channels=8, num_blocks=1).eval()


def _normals(n: int, seed: int = 0) -> torch.Tensor:
    """Aligned 8x8 images: a bright bar across rows 3-4 on a noisy dark ground, 17 levels."""
    g = torch.Generator().manual_seed(seed)
    x = 0.2 + 0.05 * torch.randn(n, 1, 8, 8, generator=g)
    x[:, :, 3:5, :] += 0.5
    return torch.round(x.clamp(0, 1) * 16) / 16


def test_a_reference_maps_to_zero_and_a_local_blob_lights_up_where_it_is():
    flow, refs = _flow(), _normals(30)
    assert np.abs(feature_maps(flow, refs[:4], refs)).max() < 1e-2
    x = _normals(6, seed=1)
    x[:, :, 0:2, 0:2] = 1.0  # a bright square where normal images are dark
    maps = feature_maps(flow, x, refs)
    assert maps.shape == (6, 8, 8)
    # the coarse features spread it over a cell or so, never to the far side of the image
    assert maps[:, 0:2, 0:2].min() > maps[:, 5:, 4:].max()
    with pytest.raises(ValueError, match="do not match"):
        feature_maps(flow, torch.zeros(1, 1, 4, 4), refs)


def test_references_are_capped_evenly_over_the_detectors_references():
    refs = torch.arange(1000.0).view(-1, 1, 1, 1)
    kept = feature_references(refs).flatten()
    assert len(kept) == MAX_FEATURE_REFERENCES
    assert kept[0] == 0 and kept[-1] == 999
    gaps = kept.diff()
    assert gaps.min() >= 2 and gaps.max() <= 3  # 999 / 399, rounded
    assert torch.equal(feature_references(refs[:50]), refs[:50])


def test_a_model_without_local_features_refuses_and_a_map_needs_its_references():
    gmm = get_model_class("gmm")((1, 8, 8), 17, n_components=1)
    with pytest.raises(CapabilityError, match="features of each place"):
        gmm.local_features(_normals(2))
    with pytest.raises(ValueError, match="needs its reference images"):
        Detector(_flow(), make_score("bpd"), THRESHOLD, map_setting=MapSetting("features-nn"))


def test_a_saved_detector_delivers_the_same_features_map(tmp_path):
    flow, refs = _flow(), _normals(40)
    normal = np.stack(
        [
            PatchNeighbours(refs).maps(refs[:10]),
            feature_maps(flow, refs[:10], refs),
            np.zeros((10, 8, 8)),
        ],
        1,
    )
    setting = MapSetting.fit("patch-nn+features-nn+detail", 1.0, normal + 1e-3, centred=True)
    detector = Detector(
        flow, make_score("bpd"), THRESHOLD, map_setting=setting, patches=PatchNeighbours(refs)
    )
    loaded = Detector.load(detector.save(tmp_path))
    x = _normals(3, seed=2)
    assert np.allclose(delivered_maps(loaded, x), delivered_maps(detector, x))


def test_a_flow_adds_the_features_candidates_to_the_maps_the_run_chooses_from():
    x = _normals(120)
    sets = [ImageSet(x[i::3], torch.zeros(40, dtype=torch.long), 17) for i in range(3)]
    data = OneClassSplit(sets[0], sets[1], sets[2], np.zeros(40, bool), (0,))
    detector = Detector(_flow(), make_score("bpd"), THRESHOLD)
    table = choose_map(detector, data, seed=0, log=print).table
    kinds = table.groupby("map_kind")["standardized"].agg(["count", "all"])
    # single maps raw or standardized, each 3 smoothings; the joined maps standardized only
    assert kinds["count"].to_dict() == {
        "gradient": 6,
        "patch-nn": 6,
        "patch-nn+detail": 3,
        "features-nn": 6,
        "patch-nn+features-nn+detail": 3,
    }
    assert kinds.loc[["patch-nn+detail", "patch-nn+features-nn+detail"], "all"].all()
    gmm = get_model_class("gmm")((1, 8, 8), 17, n_components=1)
    gmm.fit_closed_form(data.train.images, torch.Generator().manual_seed(0))
    plain = choose_map(Detector(gmm, make_score("bpd"), THRESHOLD), data, 0, log=print).table
    assert "features-nn" not in set(plain["map_kind"])
