"""Generative adversarial networks: fast sampling, no likelihood."""

from genmodels.gan.module import DCGAN, ConditionalDCGAN

__all__ = ["DCGAN", "ConditionalDCGAN"]
