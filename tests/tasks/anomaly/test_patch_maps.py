"""The patch-neighbour map, the delivered map's smoothing and standardization, and the choice of
a detector's map on synthetic anomalies of normal validation images."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import tasks.anomaly.patch_neighbours as patch_module
from genmodels.data.imageset import ImageSet
from genmodels.registry import get_model_class
from tasks.anomaly.detector import Detector
from tasks.anomaly.localization import SIGMAS, choose_map
from tasks.anomaly.map_setting import MapSetting
from tasks.anomaly.maps import delivered_maps, pixel_auroc
from tasks.anomaly.patch_neighbours import LEGACY_PATCH, PatchNeighbours, patch_side
from tasks.anomaly.protocol import OneClassSplit
from tasks.anomaly.scores import make_score
from tasks.anomaly.threshold import ConformalThreshold

THRESHOLD = ConformalThreshold.fit(np.arange(40.0), 0.1)


def _brute_force(x: np.ndarray, refs: np.ndarray, patch: int, shift: int) -> np.ndarray:
    """The patch-neighbour distance by loops: reflected edges, shifts clamped at the border."""
    pad = patch // 2
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)), mode="reflect")
    rp = np.pad(refs, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="reflect")
    _, h, w = x.shape
    out = np.full((h, w), np.inf)
    for i, j in itertools.product(range(h), range(w)):
        q = xp[:, i : i + patch, j : j + patch]
        for di, dj in itertools.product(range(-shift, shift + 1), repeat=2):
            a, b = min(max(i + di, 0), h - 1), min(max(j + dj, 0), w - 1)
            r = rp[:, :, a : a + patch, b : b + patch]
            out[i, j] = min(out[i, j], float(np.sqrt(((r - q) ** 2).sum((1, 2, 3))).min()))
    return out


def test_patch_distances_equal_a_loop_over_every_pixel_shift_and_reference(monkeypatch):
    g = torch.Generator().manual_seed(0)
    refs = torch.rand(6, 2, 7, 9, generator=g)
    x = torch.rand(3, 2, 7, 9, generator=g)
    neighbours = PatchNeighbours(refs, patch=3, shift=1)
    maps = neighbours.maps(x)
    expected = np.stack(
        [_brute_force(xi.double().numpy(), refs.double().numpy(), 3, 1) for xi in x]
    )
    assert maps.shape == (3, 7, 9)
    assert np.allclose(maps, expected, atol=1e-4)
    monkeypatch.setattr(patch_module, "_BLOCK", 1)  # one query image per block: same maps
    assert np.allclose(neighbours.maps(x), maps, atol=1e-6)


def test_a_normal_image_maps_to_zero_and_a_shift_within_reach_is_forgiven():
    g = torch.Generator().manual_seed(1)
    refs = torch.rand(5, 1, 10, 10, generator=g)
    neighbours = PatchNeighbours(refs, patch=5, shift=1)
    assert np.allclose(neighbours.maps(refs), 0.0, atol=1e-2)  # float32 rounding
    moved = torch.roll(refs[:1], shifts=1, dims=3)  # one pixel to the right
    inside = (slice(None), slice(3, 7), slice(3, 7))
    assert np.allclose(neighbours.maps(moved)[inside], 0.0, atol=1e-2)
    rigid = PatchNeighbours(refs, patch=5, shift=0)
    assert rigid.maps(moved)[inside].min() > 0.1


def test_a_blob_lights_up_where_it_is_and_nowhere_far_from_it():
    refs = 0.5 + 0.02 * torch.randn(40, 1, 12, 12, generator=torch.Generator().manual_seed(2))
    x = refs[:1].clone()
    x[0, 0, 4:7, 5:8] = 1.0
    maps = PatchNeighbours(refs[1:], patch=3, shift=1).maps(x)[0]
    far = np.ones((12, 12), bool)
    far[2:9, 3:10] = False  # the blob and two pixels around it
    assert maps[4:7, 5:8].min() > 5 * maps[far].max()


def test_references_are_capped_by_a_seeded_draw_and_survive_a_save(tmp_path):
    normals = torch.rand(30, 1, 4, 4, generator=torch.Generator().manual_seed(3))
    a = PatchNeighbours.fit(normals, seed=0, max_references=10)
    b = PatchNeighbours.fit(normals, seed=0, max_references=10)
    assert len(a.references) == 10 and torch.equal(a.references, b.references)
    assert len(PatchNeighbours.fit(normals, seed=0).references) == 30
    loaded = PatchNeighbours.load(a.save(tmp_path / "refs.npy"))
    assert torch.equal(loaded.references, a.references)
    with pytest.raises(ValueError, match="do not match the references"):
        a.maps(torch.rand(2, 1, 5, 4))
    with pytest.raises(ValueError, match="patch must be odd"):
        PatchNeighbours(normals, patch=4)


@pytest.mark.parametrize(
    ("height", "width", "side"),
    [(28, 28, 5), (16, 16, 3), (8, 8, 3), (64, 64, 7), (256, 256, 7), (40, 16, 3), (35, 35, 7)],
)
def test_the_patch_side_is_the_odd_number_nearest_a_fifth_of_the_shorter_side_in_3_to_7(
    height, width, side
):
    assert patch_side(height, width) == side
    references = torch.zeros(2, 1, height, width)
    assert PatchNeighbours(references).patch == side  # what a fit without a side gets


def test_a_saved_detector_keeps_its_patch_side_and_an_older_file_reads_as_5(tmp_path):
    data = _split(60)
    model = get_model_class("gmm")((1, 10, 10), 17, n_components=1)
    model.fit_closed_form(data.train.images, torch.Generator().manual_seed(0))
    patches = PatchNeighbours.fit(data.train.images, seed=0)
    assert patches.patch == 3  # 10x10 images
    detector = Detector(
        model, make_score("bpd"), THRESHOLD, map_setting=MapSetting("patch-nn"), patches=patches
    )
    files = detector.save(tmp_path)
    loaded = Detector.load(files)
    assert loaded.patches is not None and loaded.patches.patch == 3
    x = data.test.images[:3]
    assert np.allclose(delivered_maps(loaded, x), delivered_maps(detector, x))
    calibration = Path(files["calibration"])
    state = json.loads(calibration.read_text())
    del state["map_patch"]  # as written before the side followed the image size
    calibration.write_text(json.dumps(state))
    assert Detector.load(files).patches.patch == LEGACY_PATCH == 5


def test_centring_takes_each_images_median_so_a_local_bump_outranks_a_lifted_image():
    rng = np.random.default_rng(4)
    maps = rng.normal(scale=0.1, size=(2, 8, 8))
    maps[0] += 3.0  # the first image is unusual all over, with no local anomaly
    maps[1, 2:4, 2:4] += 2.0  # the second has a local one
    masks = np.zeros((2, 8, 8), bool)
    masks[1, 2:4, 2:4] = True
    plain, centred = MapSetting("layout"), MapSetting("layout", centred=True)
    assert pixel_auroc(plain(maps), masks) < 0.5  # the lifted image's pixels rank first
    out = centred(maps)
    assert np.allclose(np.median(out.reshape(2, -1), 1), 0.0)
    assert pixel_auroc(out, masks) == 1.0
    again = MapSetting.from_state(centred.state())
    assert again.centred and np.allclose(again(maps), out)
    older = {k: v for k, v in centred.state().items() if k != "centred"}
    assert not MapSetting.from_state(older).centred  # files written before centring
    assert "centred on each image's median" in centred.describe()
    assert "centred" not in plain.describe()


def test_standardizing_puts_normal_maps_at_zero_mean_and_unit_spread_per_pixel():
    rng = np.random.default_rng(0)
    place = rng.random((6, 6)) * 10  # what every normal image has at each place
    normal = place + rng.normal(size=(200, 6, 6)) * (1 + place)
    setting = MapSetting.fit("layout", 0.0, normal)
    z = setting(normal)
    assert np.allclose(z.mean(0), 0.0, atol=1e-9) and np.allclose(z.std(0), 1.0, atol=1e-9)
    smooth = MapSetting.fit("layout", 1.0)
    assert np.allclose(smooth(np.full((2, 6, 6), 3.0)), 3.0)  # a flat map stays flat
    assert not np.allclose(smooth(normal[:1]), normal[:1])
    again = MapSetting.from_state(setting.state())
    assert again.kind == "layout" and np.allclose(again(normal[:3]), z[:3])
    with pytest.raises(ValueError, match="do not match"):
        setting(np.zeros((1, 5, 5)))
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        MapSetting("layout", -1.0)


def _split(n: int, seed: int = 0) -> OneClassSplit:
    """Roughly aligned 10x10 images: a bright bar in the middle, noise, 17 levels."""
    g = torch.Generator().manual_seed(seed)
    x = 0.3 + 0.05 * torch.randn(n, 1, 10, 10, generator=g)
    x[:, :, 4:6, :] += 0.4
    x = torch.round(x.clamp(0, 1) * 16) / 16
    labels = torch.zeros(n, dtype=torch.long)
    sets = [ImageSet(x[i::3], labels[i::3], 17) for i in range(3)]
    return OneClassSplit(sets[0], sets[1], sets[2], np.zeros(len(sets[2]), bool), (0,))


def test_the_map_is_chosen_on_validation_anomalies_and_travels_with_the_detector(tmp_path):
    data = _split(180)
    model = get_model_class("gmm")((1, 10, 10), 17, n_components=1)
    model.fit_closed_form(data.train.images, torch.Generator().manual_seed(0))
    detector = Detector(model, make_score("bpd"), THRESHOLD)
    choice = choose_map(detector, data, seed=0, log=lambda _: None)
    chosen, table = choice.detector, choice.table
    # the model's map and the patch map raw or standardized; the joined map standardized only
    assert len(table) == 2 * 2 * len(SIGMAS) + len(SIGMAS)
    assert set(table["map_kind"]) == {"gradient", "patch-nn", "patch-nn+detail"}
    assert table.loc[table["map_kind"] == "patch-nn+detail", "standardized"].all()
    best = table.loc[table["selection_pixel_auroc"].idxmax()]
    setting = chosen.map_setting
    assert setting is not None and setting.kind == best["map_kind"]
    assert setting.sigma == best["sigma"] and setting.standardized == best["standardized"]
    assert setting.centred and all(c.centred for c in choice.candidates)
    assert (chosen.patches is not None) == setting.kind.startswith("patch-nn")
    # what a saved detector delivers is what the chosen one delivers
    loaded = Detector.load(chosen.save(tmp_path))
    x = data.test.images[:4]
    assert np.allclose(delivered_maps(loaded, x), delivered_maps(chosen, x))
    # a bright square on the bar's neighbours is found by the delivered map
    blob = x.clone()
    blob[:, :, 1:4, 2:5] = 1.0
    masks = np.zeros((4, 10, 10), bool)
    masks[:, 1:4, 2:5] = True
    assert pixel_auroc(delivered_maps(chosen, blob), masks) > 0.9


def test_too_few_validation_images_keep_the_model_map_raw():
    data = _split(12)
    model = get_model_class("gmm")((1, 10, 10), 17, n_components=1)
    model.fit_closed_form(data.train.images, torch.Generator().manual_seed(0))
    lines: list[str] = []
    choice = choose_map(Detector(model, make_score("bpd"), THRESHOLD), data, 0, lines.append)
    chosen, table = choice.detector, choice.table
    assert table.empty and chosen.map_setting == MapSetting("gradient")
    assert "not chosen" in lines[0]
