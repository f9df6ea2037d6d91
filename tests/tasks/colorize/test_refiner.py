"""The conditional PixelCNN's refiner: it moves the coarse colours' blurred edges onto the gray
image's edges, starts as the plain upsampling, and its remaining error sets the draws' spread."""

from __future__ import annotations

import torch

from tasks.colorize.chroma_pixelcnn import (
    ChromaPixelCNNModule,
    CoarseColours,
    PixelCNNSpec,
    fit_palette,
    pixelcnn_bytes,
    read_pixelcnn,
    within_code_spread,
)
from tasks.colorize.color import compose, luma, to_chroma
from tasks.colorize.refiner import ChromaRefiner, RefinerSpec, fit_refiner

RED, BLUE = (-0.05, 0.15), (0.15, -0.05)  # (Cb, Cr)
CONFIG = PixelCNNSpec(codes=4, factor=8, hidden=8, num_blocks=1, context_channels=4)
REFINER = RefinerSpec(width=16, max_epochs=25, patience=0, lr=3e-3)


def _split_images(n: int, seed: int) -> torch.Tensor:
    """8x8 images (one code cell at factor 8), split at a random column: the bright left part
    red, the dark right part blue. The cell's mean colour is their blend; only the gray image
    says which pixel is which."""
    g = torch.Generator().manual_seed(seed)
    cut = torch.randint(2, 7, (n,), generator=g)
    left = torch.arange(8)[None, None, None, :] < cut[:, None, None, None]  # (n, 1, 1, 8)
    left = left.expand(n, 1, 8, 8)
    gray = torch.where(left, 0.65, 0.3) + 0.05 * torch.rand(n, 1, 8, 8, generator=g)
    chroma = torch.where(
        left, torch.tensor(RED).view(1, 2, 1, 1), torch.tensor(BLUE).view(1, 2, 1, 1)
    )
    return compose(gray, chroma)


def test_an_untrained_refiner_is_the_plain_upsampling():
    coarse = 0.1 * torch.randn(3, 2, 8, 8)
    assert torch.equal(ChromaRefiner(8)(torch.rand(3, 1, 8, 8), coarse), coarse)


def test_the_refiner_puts_the_colour_edges_where_the_gray_edges_are():
    train, val, held = _split_images(200, 0), _split_images(40, 1), _split_images(30, 2)
    palette = fit_palette(train, CONFIG, seed=0)
    coarse = CoarseColours(palette, CONFIG.factor)
    refiner = fit_refiner(train, val, REFINER, coarse, seed=0)
    truth = to_chroma(held)
    with torch.no_grad():
        blurred = coarse(held)
        refined = refiner(luma(held), blurred)
    before = float(((blurred - truth) ** 2).mean())
    after = float(((refined - truth) ** 2).mean())
    assert after < 0.1 * before, (before, after)
    spread = within_code_spread(train, CONFIG, palette)
    assert (within_code_spread(train, CONFIG, palette, refiner) < 0.5 * spread).all()


def test_a_saved_pixelcnn_keeps_its_refiner_or_its_absence(tmp_path):
    palette, spread = 0.1 * torch.randn(4, 2), torch.tensor([0.01, 0.02])
    refiner = ChromaRefiner(CONFIG.refiner.width)
    torch.nn.init.normal_(refiner.net[-1].weight, std=0.1)  # a refiner that does something
    with_refiner = ChromaPixelCNNModule(CONFIG, palette, spread, refiner)
    without = CONFIG.model_copy(update={"refiner": RefinerSpec(enabled=False)})
    plain = ChromaPixelCNNModule(without, palette, spread, refiner)
    assert plain.refiner is None  # disabled: a given refiner is not used
    gray = luma(_split_images(2, 3))
    for module, name in ((with_refiner, "r.pt"), (plain, "p.pt")):
        (tmp_path / name).write_bytes(pixelcnn_bytes(module))
        read = read_pixelcnn(tmp_path / name)
        assert (read.refiner is None) == (module.refiner is None)
        a = module.eval().sample_chroma(gray, 0.0, torch.Generator().manual_seed(0))
        b = read.sample_chroma(gray, 0.0, torch.Generator().manual_seed(0))
        assert torch.equal(a, b)
    draws = [m.sample_chroma(gray, 0.0) for m in (with_refiner, plain)]
    assert not torch.allclose(draws[0], draws[1])  # the refiner is applied to the draws
