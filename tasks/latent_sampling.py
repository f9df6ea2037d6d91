"""Sampling a latent-variable model where its training images' codes lie, not from its prior.

A VAE's prior ``N(0, I)`` covers latent regions no training image encodes to; decoded, those
draws are blurred or between classes. *Ex-post density estimation* (Ghosh et al., 2020, "From
variational to deterministic autoencoders") fits a small density to the codes of the training
images after training and samples that instead. Here the density is a Gaussian mixture with full
covariances (scikit-learn) over the posterior means, and a draw is the decoder's mean image on
the model's intensity grid, without pixel noise.

*Class interpolation* uses the labels of a few images instead: a draw for class ``c`` decodes a
point on the segment between the codes of two labelled images of class ``c``. An unconditional
model then yields images of a named class without a classifier to name them. A VAE decodes such a
point as a blurred mean image; *keeping the detail* adds the decoded move to the first labelled
image instead, ``x_a + D(z_t) - D(z_a)``: the model supplies the change of shape along the way to
the second image, the real image keeps its own sharp detail (a learned, data-driven warp).
*Latent moves* do the same towards the model's own draws, of any class: a few real images,
moved anywhere the model has learned, for a teacher to label.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
from sklearn.mixture import GaussianMixture
from torch import Tensor

from genmodels.contract import Capability, GenerativeModel
from genmodels.data.imageset import on_grid
from genmodels.errors import CapabilityError
from tasks.generate import ClassSampler, Sampler

#: how a generator is sampled: its own sampler, or decoded codes from its codes' mixture
Sampling = Literal["prior", "latent-mixture"]


def _codes(model: GenerativeModel, images: Tensor, batch: int) -> np.ndarray:
    with torch.no_grad():
        parts = [
            model.encode(images[i : i + batch].to(model.device)).double().cpu()  # type: ignore[operator]
            for i in range(0, len(images), batch)
        ]
    return torch.cat(parts).numpy()


def check_latent(model: GenerativeModel | type[GenerativeModel]) -> None:
    """Refuse a model (or model class, before anything loads) whose codes cannot be sampled
    this way."""
    capabilities = model.capabilities
    if Capability.LATENT not in capabilities or Capability.CONDITIONAL in capabilities:
        raise CapabilityError(
            f"model '{model.name}' cannot be sampled from the density of its codes: that needs "
            "an unconditional model with an encoder and a decoder (LATENT), such as 'vae'"
        )


def fit_code_mixture(
    codes: np.ndarray, components: int, seed: int
) -> Callable[[int, torch.Generator], Tensor]:
    """A full-covariance Gaussian mixture fit to ``codes (N, D)``, as a seeded draw of ``n``
    codes ``(n, D)`` float64."""
    mixture = GaussianMixture(components, covariance_type="full", random_state=seed).fit(codes)
    weights = torch.from_numpy(mixture.weights_)
    means = torch.from_numpy(mixture.means_)
    chol = torch.linalg.cholesky(torch.from_numpy(mixture.covariances_))

    def draw(n: int, generator: torch.Generator) -> Tensor:
        if n == 0:
            return means[:0].clone()
        which = torch.multinomial(weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, means.shape[1], 1, generator=generator, dtype=torch.float64)
        return means[which] + (chol[which] @ eps).squeeze(-1)

    return draw


def latent_mixture_sampler(
    model: GenerativeModel, images: Tensor, components: int, seed: int, batch: int = 512
) -> Sampler:
    """A sampler drawing codes from a ``components``-Gaussian mixture fit to the codes of
    ``images`` and returning the decoded mean images ``(n, C, H, W)`` in ``[0, 1]``.

    Raises:
        CapabilityError: the model has no encoder and decoder (LATENT), or is class-conditional
            (its codes depend on the label).
        ValueError: fewer images than components.
    """
    check_latent(model)
    if len(images) < components:
        raise ValueError(
            f"a {components}-component code density needs at least as many images, got "
            f"{len(images)}"
        )
    model.eval()
    codes = fit_code_mixture(_codes(model, images, batch), components, seed)

    def sample(n: int, generator: torch.Generator) -> Tensor:
        return _decoded(model, codes(n, generator), batch)

    return sample


def _decoded(model: GenerativeModel, z: Tensor, batch: int) -> Tensor:
    """The decoder's mean images of codes ``z (n, D)`` on the model's intensity grid."""
    z = z.to(torch.get_default_dtype())
    with torch.no_grad():
        parts = [
            model.decode(z[i : i + batch].to(model.device)).cpu()  # type: ignore[operator]
            for i in range(0, len(z), batch)
        ]
    x = torch.cat(parts) if parts else torch.empty(0, *model.image_shape)
    return on_grid(x, model.levels)


def class_interpolation_sampler(
    model: GenerativeModel,
    images: Tensor,
    labels: Tensor,
    batch: int = 512,
    keep_detail: bool = False,
) -> ClassSampler:
    """A sampler that draws, for each wanted class ``c``, two different labelled images of
    class ``c`` (the same one where ``c`` has only one), a point ``z_t = (1 - t) z_a + t z_b``
    on the segment between their codes with ``t ~ U(0, 1)``, and decodes it: an image the labels
    name, from an unconditional model. With ``keep_detail``, the draw is ``x_a + D(z_t) -
    D(z_a)`` (clamped to the intensity grid): the first image moved by the decoded change, its
    own detail kept.

    Raises:
        CapabilityError: the model has no encoder and decoder (LATENT), or is class-conditional.
        ValueError: a wanted class has no labelled image.
    """
    check_latent(model)
    model.eval()
    codes = torch.from_numpy(_codes(model, images, batch))
    members = {int(c): torch.nonzero(labels == c).flatten() for c in labels.unique()}

    def sample(wanted: Tensor, generator: torch.Generator) -> Tensor:
        first = torch.empty(len(wanted), dtype=torch.long)
        second = torch.empty(len(wanted), dtype=torch.long)
        for c in wanted.unique().tolist():
            if c not in members:
                raise ValueError(f"class {c} has no labelled image to interpolate from")
            rows = torch.nonzero(wanted == c).flatten()
            own = members[c]
            a = torch.randint(len(own), (len(rows),), generator=generator)
            # b: any other member (a itself only when the class has one image)
            step = torch.randint(max(1, len(own) - 1), (len(rows),), generator=generator)
            b = (a + 1 + step) % len(own)
            first[rows], second[rows] = own[a], own[b]
        t = torch.rand(len(wanted), 1, generator=generator, dtype=torch.float64)
        if keep_detail:
            return _moved(model, images[first], codes[first], codes[second], t, batch)
        return _decoded(model, (1 - t) * codes[first] + t * codes[second], batch)

    return sample


def _moved(
    model: GenerativeModel, x_a: Tensor, z_a: Tensor, z_b: Tensor, t: Tensor, batch: int
) -> Tensor:
    """``x_a + D((1 - t) z_a + t z_b) - D(z_a)`` on the model's intensity grid: each image
    ``x_a`` moved by the decoded change of its code towards ``z_b``, its own detail (what the
    model does not reconstruct) kept."""
    change = _decoded(model, (1 - t) * z_a + t * z_b, batch) - _decoded(model, z_a, batch)
    return on_grid(x_a.cpu() + change, model.levels)


#: (anchor images (m, C, H, W), n, generator) -> n moved images (n, C, H, W)
Mover = Callable[[Tensor, int, torch.Generator], Tensor]


def latent_moves(model: GenerativeModel, sample: Sampler, batch: int = 512) -> Mover:
    """Moves of anchor images towards the model's own draws: for each of ``n`` images, an
    anchor ``x_a`` drawn with replacement, a draw ``x_s`` of ``sample`` and ``t ~ U(0, 1)``, the
    image ``x_a + D(z_t) - D(z_a)`` with ``z_t = (1 - t) z_a + t z_s`` (codes: the encoder's
    means). The model says how an anchor changes on the way to anywhere it has learned, of any
    class; the anchor keeps its own detail.

    Raises:
        CapabilityError: the model has no encoder and decoder (LATENT), or is class-conditional.
    """
    check_latent(model)
    model.eval()

    def move(anchors: Tensor, n: int, generator: torch.Generator) -> Tensor:
        if len(anchors) == 0:
            raise ValueError("latent moves need at least one anchor image")
        if n == 0:
            return anchors[:0].clone()
        targets = torch.from_numpy(_codes(model, sample(n, generator), batch))
        a = torch.randint(len(anchors), (n,), generator=generator)
        t = torch.rand(n, 1, generator=generator, dtype=torch.float64)
        codes = torch.from_numpy(_codes(model, anchors, batch))  # each anchor encoded once
        return _moved(model, anchors[a], codes[a], targets, t, batch)

    return move
