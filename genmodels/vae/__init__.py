"""Variational autoencoders: a bound on the likelihood, fast sampling, a latent space."""

from genmodels.vae.module import VAE

__all__ = ["VAE"]
