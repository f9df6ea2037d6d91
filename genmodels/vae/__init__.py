"""Variational autoencoders: a bound on the likelihood, fast sampling, a latent space."""

from genmodels.vae.module import VAE, ConditionalVAE

__all__ = ["VAE", "ConditionalVAE"]
