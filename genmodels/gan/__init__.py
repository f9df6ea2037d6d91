"""Generative adversarial networks: fast sampling, no likelihood."""

from genmodels.gan.module import DCGAN

__all__ = ["DCGAN"]
