"""PixelCNN as zoo models: exact log-likelihood by the chain rule, batched raster sampling."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from genmodels.class_conditional import ClassConditional
from genmodels.contract import Capability, GenerativeModel, Likelihood
from genmodels.pixelcnn.cached_sampling import sample_cached
from genmodels.pixelcnn.network import PixelCNNNetwork
from genmodels.registry import register_model


@register_model
class PixelCNN(GenerativeModel):
    """Autoregressive over pixels and channels with a categorical over the ``levels`` per value.

    ``log p(x) = sum_i log p(x_i | x_<i)``: exact, discrete, normalized by construction.
    Sampling draws the ``C H W`` values one after another with an activation cache
    (:mod:`genmodels.pixelcnn.cached_sampling`): each value costs one column of the network, 16x
    faster than convolving the window the value sees at 28x28 (``sample_windowed``, kept as the
    reference), with the same draws.
    """

    name = "pixelcnn"
    family = "autoregressive"
    description = "gated PixelCNN, masked convolutions, categorical over the levels"
    likelihood = Likelihood.EXACT
    discrete = True
    capabilities = frozenset({Capability.SAMPLE, Capability.PIXELWISE})

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        levels: int = 256,
        hidden_channels: int = 64,
        num_blocks: int = 6,
        first_kernel: int = 7,
        lr: float = 1e-3,
        num_classes: int = 0,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(image_shape, levels)
        self.save_hyperparameters()
        c = self.image_shape[0]
        hidden = hidden_channels - hidden_channels % c or c  # divisible by the colour groups
        self.net = PixelCNNNetwork(c, self.levels, hidden, num_blocks, first_kernel, num_classes)
        self.num_classes = num_classes

    def _index(self, x: Tensor) -> Tensor:
        return torch.round(x.clamp(0, 1) * (self.levels - 1)).long()

    def _quantized(self, x: Tensor) -> Tensor:
        return self._index(x).to(x.dtype) / (self.levels - 1)

    def _value_log_probs(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """``log p(x_i | x_<i, y)`` of every value ``(B, C, H, W)``."""
        self.check_input(x)
        logits = self.net(self._quantized(x), y)
        log_probs = F.log_softmax(logits, dim=2)
        return log_probs.gather(2, self._index(x).unsqueeze(2)).squeeze(2)

    def conditional_log_prob(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """``log p(x | y)`` per example ``(B,)`` (``y`` ignored by unconditional models)."""
        return self._value_log_probs(x, y).flatten(1).sum(1)

    def pixel_nll(self, x: Tensor) -> Tensor:
        return -self._value_log_probs(x).sum(1)

    def log_prob(self, x: Tensor) -> Tensor:
        return self.conditional_log_prob(x)

    @torch.no_grad()  # not inference_mode: samples may become training data for another model
    def sample(
        self,
        n: int,
        condition: Tensor | None = None,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
    ) -> Tensor:
        y = self._sampling_labels(n, condition, generator, temperature)
        return sample_cached(self.net, n, self.image_shape, y, generator, temperature, self.device)

    def _sampling_labels(
        self,
        n: int,
        condition: Tensor | None,
        generator: torch.Generator | None,
        temperature: float,
    ) -> Tensor | None:
        """Both samplers' checks: a positive temperature, and the labels of the condition."""
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        return self.resolve_condition(n, condition, generator)

    @torch.no_grad()
    def sample_windowed(
        self,
        n: int,
        condition: Tensor | None = None,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
    ) -> Tensor:
        """The cache-free sampler :meth:`sample` replaced: each value convolves the window its
        pixel sees. Kept as the reference the cached sampler must equal draw for draw."""
        y = self._sampling_labels(n, condition, generator, temperature)
        c, h, w = self.image_shape
        x = torch.zeros(n, c, h, w, device=self.device)
        for row in range(h):
            for col in range(w):
                for ch in range(c):
                    logits = self.net.logits_at(x, y, row, col)[:, ch] / temperature
                    probs = F.softmax(logits, dim=1).cpu()
                    level = torch.multinomial(probs, 1, generator=generator).squeeze(1)
                    x[:, ch, row, col] = level.to(x) / (self.levels - 1)
        return x

    # -- Lightning -------------------------------------------------------------------------------
    def training_log_likelihood(self, batch: tuple[Tensor, ...]) -> Tensor:
        return self.log_prob(batch[0])


@register_model
class ConditionalPixelCNN(ClassConditional, PixelCNN):
    """Class-conditional PixelCNN: ``p(x | y)`` with class embeddings in every gated block.

    Without a label, ``log_prob(x) = log sum_y pi_y p(x | y)`` is the exact marginal under the
    training label frequencies ``pi`` (one pass per class).
    """

    name = "pixelcnn-cond"
    description = "class-conditional gated PixelCNN; exact marginal log p(x) over classes"
    capabilities = frozenset({Capability.SAMPLE, Capability.CONDITIONAL})

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        levels: int = 256,
        hidden_channels: int = 64,
        num_blocks: int = 6,
        first_kernel: int = 7,
        lr: float = 1e-3,
        num_classes: int = 10,
        weight_decay: float = 0.0,
    ) -> None:
        n_embed = max(num_classes, 1)  # _init_classes rejects < 1 with a clear message
        PixelCNN.__init__(
            self, image_shape, levels, hidden_channels, num_blocks, first_kernel, lr, n_embed,
            weight_decay,
        )  # fmt: skip
        self._init_classes(num_classes)

    def log_prob(self, x: Tensor) -> Tensor:
        return self.marginal(lambda y: self.conditional_log_prob(x, y), x)

    def conditional_log_likelihood(self, x: Tensor, labels: Tensor) -> Tensor:
        return self.conditional_log_prob(x, labels)

    def pixel_nll(self, x: Tensor) -> Tensor:  # a marginal over classes has no per-pixel split
        return GenerativeModel.pixel_nll(self, x)

    def training_log_likelihood(self, batch: tuple[Tensor, ...]) -> Tensor:
        return self.conditional_log_prob(batch[0], self.labels_of(batch))
