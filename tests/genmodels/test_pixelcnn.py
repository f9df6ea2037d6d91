"""PixelCNN: the masks are causal and the probabilities of every image sum to one; the
image-conditioned PixelCNN over codes likewise, and its row-cropped sampler draws what the full
network predicts."""

from __future__ import annotations

import itertools

import pytest
import torch

from genmodels.pixelcnn import ConditionalPixelCNN, PixelCNN
from genmodels.pixelcnn.image_conditioned import ImageConditionedPixelCNN


def _randomized(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return model.eval()


@pytest.mark.parametrize("channels", [1, 3])
def test_changing_a_value_never_changes_earlier_predictions(channels):
    c, h, w = channels, 5, 5
    model = _randomized(
        PixelCNN((c, h, w), levels=4, hidden_channels=12, num_blocks=2, first_kernel=3)
    )
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 4, (1, c, h, w), generator=g).float() / 3
    base = model.net(x)  # (1, C, L, H, W)
    for row, col, ch in [(0, 0, 0), (2, 3, c - 1), (4, 4, 0), (1, 0, c // 2)]:
        changed = x.clone()
        changed[0, ch, row, col] = 1.0 - changed[0, ch, row, col]
        out = model.net(changed)
        order_changed = (row * w + col) * c + ch
        for r, q, k in itertools.product(range(h), range(w), range(c)):
            same = torch.allclose(out[0, k, :, r, q], base[0, k, :, r, q])
            if (r * w + q) * c + k <= order_changed:
                assert same, f"prediction of {(k, r, q)} depends on later value {(ch, row, col)}"
        # and the next value does depend on it (the model is not trivially blind)
        if order_changed + 1 < h * w * c:
            nxt = order_changed + 1
            r, rem = divmod(nxt // c, w)
            assert not torch.allclose(out[0, nxt % c, :, r, rem], base[0, nxt % c, :, r, rem])


@pytest.mark.parametrize(("shape", "levels"), [((1, 2, 2), 4), ((2, 2, 1), 4), ((1, 3, 3), 2)])
def test_probabilities_of_all_images_sum_to_one(shape, levels):
    model = _randomized(
        PixelCNN(shape, levels=levels, hidden_channels=8, num_blocks=1, first_kernel=3)
    )
    d = shape[0] * shape[1] * shape[2]
    grid = torch.tensor(list(itertools.product(range(levels), repeat=d)), dtype=torch.float32)
    images = grid.view(-1, *shape) / (levels - 1)
    with torch.no_grad():
        total = model.log_prob(images).exp().sum().item()
    assert total == pytest.approx(1.0, abs=1e-3)


def test_conditional_marginal_sums_to_one_and_conditionals_differ():
    model = _randomized(
        ConditionalPixelCNN(
            (1, 2, 2), levels=4, hidden_channels=8, num_blocks=1, first_kernel=3, num_classes=3
        )
    )
    grid = torch.tensor(list(itertools.product(range(4), repeat=4)), dtype=torch.float32)
    images = grid.view(-1, 1, 2, 2) / 3
    with torch.no_grad():
        assert model.log_prob(images).exp().sum().item() == pytest.approx(1.0, abs=1e-3)
        p0 = model.conditional_log_prob(images, torch.zeros(256, dtype=torch.long))
        p1 = model.conditional_log_prob(images, torch.ones(256, dtype=torch.long))
        assert p0.exp().sum().item() == pytest.approx(1.0, abs=1e-3)
    assert not torch.allclose(p0, p1)


def test_conditional_sampling_validates_labels():
    model = ConditionalPixelCNN((1, 2, 2), levels=4, hidden_channels=8, num_blocks=1, num_classes=3)
    with pytest.raises(ValueError, match=r"condition must be 2 labels in \[0, 2\]"):
        model.sample(2, condition=torch.tensor([0, 5]))


def test_sampling_follows_the_model_on_a_tiny_domain():
    model = _randomized(
        PixelCNN((1, 1, 2), levels=2, hidden_channels=8, num_blocks=1, first_kernel=3)
    )
    s = model.sample(4000, generator=torch.Generator().manual_seed(0)).view(4000, 2)
    grid = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.float32)
    with torch.no_grad():
        p = model.log_prob(grid.view(4, 1, 1, 2)).exp()
    freq = torch.stack([((s == g).all(1)).float().mean() for g in grid])
    assert torch.allclose(freq, p, atol=0.03)


@pytest.mark.parametrize("channels", [1, 3])
def test_windowed_logits_equal_the_full_forward_pass_everywhere(channels):
    # Sampling convolves only the window a pixel can see; on an image larger than the receptive
    # field that must give exactly the full network's prediction at every pixel.
    c, h, w = channels, 12, 11
    model = _randomized(
        ConditionalPixelCNN(
            (c, h, w), levels=4, hidden_channels=12, num_blocks=2, first_kernel=5, num_classes=3
        )
    )
    assert 2 * model.net.reach + 1 < w  # the window is a real crop, in rows and columns
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, 4, (2, c, h, w), generator=g).float() / 3
    y = torch.tensor([0, 2])
    full = model.net(x, y)
    for row in range(h):
        for col in range(w):
            torch.testing.assert_close(
                model.net.logits_at(x, y, row, col), full[..., row, col], atol=1e-5, rtol=1e-5
            )


@pytest.mark.parametrize("channels", [1, 3])
def test_cached_sampling_draws_what_the_windowed_sampler_draws(channels):
    # the activation cache computes one column per value; with the same generator every draw
    # must equal the windowed sampler's, on an image wider and taller than the receptive field
    c, h, w = channels, 10, 11
    model = _randomized(
        ConditionalPixelCNN(
            (c, h, w), levels=5, hidden_channels=12, num_blocks=2, first_kernel=5, num_classes=3
        )
    )
    labels = torch.tensor([0, 2, 1, 2, 0, 1])
    for temperature in (1.0, 0.7):
        cached = model.sample(6, labels, torch.Generator().manual_seed(5), temperature)
        windowed = model.sample_windowed(6, labels, torch.Generator().manual_seed(5), temperature)
        assert torch.equal(cached, windowed)
        assert len(torch.unique(cached)) > 2  # the draws vary: not a constant image
    plain = _randomized(PixelCNN((c, 6, 7), levels=5, hidden_channels=6, num_blocks=1))
    assert torch.equal(
        plain.sample(4, generator=torch.Generator().manual_seed(1)),
        plain.sample_windowed(4, generator=torch.Generator().manual_seed(1)),
    )


def test_sampling_refuses_a_non_positive_temperature():
    model = PixelCNN((1, 3, 3), levels=2, hidden_channels=4, num_blocks=1, first_kernel=3)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        model.sample(1, temperature=0.0)


# -- the image-conditioned PixelCNN over codes (the colorization arm's network) --------------


def _model(codes: int = 3, factor: int = 2) -> ImageConditionedPixelCNN:
    net = ImageConditionedPixelCNN(codes, 1, factor, hidden=8, num_blocks=2, context_channels=4)
    _randomized(net)  # in place, and in eval mode
    return net


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
