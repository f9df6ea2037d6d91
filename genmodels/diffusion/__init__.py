"""Diffusion models on MONAI: a variational bound on the likelihood, slow but strong sampling."""

from genmodels.diffusion.module import DDPM, ConditionalDDPM

__all__ = ["DDPM", "ConditionalDDPM"]
