"""Tiny constructor parameters for every model of the zoo: configurations that fit and sample in
seconds, for tests only (the models themselves know nothing of them).

A model registered without an entry here fails ``test_every_model_has_tiny_parameters``.
"""

from __future__ import annotations

from typing import Any

from genmodels.contract import GenerativeModel

_FLOW = {"num_scales": 2, "hidden_channels": 8, "num_blocks": 1, "couplings_per_scale": 2}
_DDPM = {
    "channels": (8, 8),
    "attention_levels": (False, False),
    "num_train_timesteps": 50,
    "sample_steps": 5,
    "bound_timesteps": 4,
    "lr": 3e-3,
}
_PIXELCNN = {"hidden_channels": 8, "num_blocks": 1, "first_kernel": 3}
_SMALL = {"hidden_channels": 8, "latent_dim": 4}  # the VAE's and the GAN's

TINY_PARAMS: dict[str, dict[str, Any]] = {
    "realnvp": _FLOW,
    "realnvp-cond": {**_FLOW, "num_classes": 2},
    "ddpm": _DDPM,
    "ddpm-cond": {**_DDPM, "num_classes": 2},
    "pixelcnn": _PIXELCNN,
    "pixelcnn-cond": {**_PIXELCNN, "num_classes": 2},
    "vae": _SMALL,
    "vae-cond": {**_SMALL, "num_classes": 2},
    "dcgan": _SMALL,
    "dcgan-cond": {**_SMALL, "num_classes": 2},
    "gmm": {"n_components": 2},
    "ppca": {"n_components": 3},
    "kde": {"max_points": 64},
}


def tiny_params(model: type[GenerativeModel] | str) -> dict[str, Any]:
    """The tiny parameters of a model class (or registry name), as a fresh dict."""
    name = model if isinstance(model, str) else model.name
    return dict(TINY_PARAMS[name])
