"""Autoregressive models: exact discrete likelihood by the chain rule, slow sampling."""

from genmodels.pixelcnn.module import ConditionalPixelCNN, PixelCNN
from genmodels.pixelcnn.network import MaskedConv2d, PixelCNNNetwork

__all__ = ["ConditionalPixelCNN", "MaskedConv2d", "PixelCNN", "PixelCNNNetwork"]
