"""The image-conditioned PixelCNN over codes: causal in raster order, normalized, and its
row-cropped sampler draws what the full network predicts."""

from __future__ import annotations

import itertools

import pytest
import torch

from genmodels.pixelcnn.image_conditioned import ImageConditionedPixelCNN


def _randomized(model: torch.nn.Module, seed: int = 0) -> ImageConditionedPixelCNN:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return model.eval()


def _model(codes: int = 3, factor: int = 2) -> ImageConditionedPixelCNN:
    net = ImageConditionedPixelCNN(codes, 1, factor, hidden=8, num_blocks=2, context_channels=4)
    return _randomized(net)


def test_a_code_never_changes_the_predictions_of_itself_or_earlier_codes():
    model, g = _model(), torch.Generator().manual_seed(1)
    condition = torch.rand(1, 1, 8, 8, generator=g)
    codes = torch.randint(0, 3, (1, 4, 4), generator=g)
    base = model(codes, condition)
    for row, col in [(0, 0), (1, 2), (2, 0), (3, 3)]:
        changed = codes.clone()
        changed[0, row, col] = (changed[0, row, col] + 1) % 3
        out = model(changed, condition)
        order = row * 4 + col
        for r, q in itertools.product(range(4), range(4)):
            if r * 4 + q <= order:
                assert torch.allclose(out[0, :, r, q], base[0, :, r, q]), (row, col, r, q)
        if order + 1 < 16:  # the next code does read it
            r, q = divmod(order + 1, 4)
            assert not torch.allclose(out[0, :, r, q], base[0, :, r, q])


def test_the_probabilities_of_every_code_map_sum_to_one_and_depend_on_the_image():
    model, g = _model(codes=2), torch.Generator().manual_seed(2)
    maps = torch.tensor(list(itertools.product(range(2), repeat=4))).view(16, 2, 2)
    condition = torch.rand(1, 1, 4, 4, generator=g)
    with torch.no_grad():
        total = float(model.log_prob(maps, condition.expand(16, -1, -1, -1)).exp().sum())
    assert total == pytest.approx(1.0, abs=1e-5)
    other = model.log_prob(maps, torch.rand(1, 1, 4, 4, generator=g).expand(16, -1, -1, -1))
    assert not torch.allclose(other, model.log_prob(maps, condition.expand(16, -1, -1, -1)))


def test_a_greedy_draw_takes_the_full_networks_most_probable_code_everywhere():
    """Sampling convolves only the rows up to the current one; at temperature 0 each code must
    be the argmax of the full network's logits given the codes drawn before it."""
    model, g = _model(codes=5), torch.Generator().manual_seed(3)
    condition = torch.rand(3, 1, 10, 8, generator=g)
    codes = model.sample(condition, temperature=0.0)
    assert codes.shape == (3, 5, 4)
    assert torch.equal(model(codes, condition).argmax(1), codes)


def test_draws_are_seeded_and_vary_at_a_temperature():
    model = _model(codes=4)
    condition = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(4))
    a = model.sample(condition, 1.0, torch.Generator().manual_seed(0))
    b = model.sample(condition, 1.0, torch.Generator().manual_seed(0))
    c = model.sample(condition, 1.0, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_a_condition_that_does_not_tile_into_the_code_grid_is_refused():
    with pytest.raises(ValueError, match="divisible by the factor 4"):
        _model(factor=4).context(torch.rand(1, 1, 8, 6))
    with pytest.raises(ValueError, match="num_codes >= 2"):
        ImageConditionedPixelCNN(1)
