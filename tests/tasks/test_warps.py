"""The batched classic augmentation: seeded, bounded warps, identity when off, flips on request."""

from __future__ import annotations

import torch

from genmodels.data.imageset import ImageSet
from tasks.warps import ClassicAugmentation, with_warped_copies


def _blob(n: int, size: int = 16) -> torch.Tensor:
    x = torch.zeros(n, 1, size, size)
    x[:, :, 7:9, 7:9] = 1.0  # a bright 2x2 square centred at (7.5, 7.5)
    return x


def _centre_of_mass(x: torch.Tensor) -> torch.Tensor:
    h, w = x.shape[-2:]
    rows = torch.arange(h, dtype=x.dtype)[:, None]
    cols = torch.arange(w, dtype=x.dtype)[None, :]
    mass = x[:, 0].sum((1, 2))
    return torch.stack(
        [(x[:, 0] * rows).sum((1, 2)) / mass, (x[:, 0] * cols).sum((1, 2)) / mass], 1
    )


def test_same_seed_same_warps_and_every_image_its_own():
    x = _blob(8)
    a, b = ClassicAugmentation(3)(x), ClassicAugmentation(3)(x)
    assert torch.equal(a, b)
    assert not torch.equal(a, ClassicAugmentation(4)(x))
    assert len({tuple(img.flatten().tolist()) for img in a}) > 4  # not one warp for the batch
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1


def test_shifts_stay_within_ten_percent_of_the_size_and_use_it():
    warp = ClassicAugmentation(0, degrees=0.0, scale=0.0, shift=0.1, prob=1.0)
    moved = _centre_of_mass(warp(_blob(300))) - 7.5
    # 10% of 16 pixels: at most 1.6 pixels per axis, and the range is used
    assert moved.abs().max() <= 1.6 + 1e-4
    assert moved.abs().max() > 1.2


def test_no_warp_leaves_images_unchanged_and_flips_mirror_about_half():
    x = torch.rand(400, 1, 8, 8)
    assert torch.allclose(ClassicAugmentation(0, prob=0.0)(x), x, atol=1e-5)
    out = ClassicAugmentation(0, flips=True, prob=0.0)(x)
    flipped = torch.tensor(
        [torch.allclose(o, i.flip(-1), atol=1e-5) for o, i in zip(out, x, strict=True)]
    )
    same = torch.tensor([torch.allclose(o, i, atol=1e-5) for o, i in zip(out, x, strict=True)])
    assert bool((flipped | same).all())
    assert 150 < int(flipped.sum()) < 250


def test_warped_copies_follow_the_originals_keep_labels_and_stay_on_the_level_grid():
    x = _blob(6)
    x[:, :, 3:5, 10:13] = 0.5
    images = ImageSet(x, torch.arange(6) % 3, levels=17)
    out = with_warped_copies(images, 2, seed=0)
    assert len(out) == 18 and torch.equal(out.images[:6], x)
    assert torch.equal(out.labels, torch.arange(6).repeat(3) % 3)
    copies = out.images[6:]
    assert not torch.equal(copies[:6], x) and not torch.equal(copies[:6], copies[6:])
    on_grid = copies * 16
    assert torch.allclose(on_grid, on_grid.round(), atol=1e-5)
    assert with_warped_copies(images, 0, seed=0) is images
