"""Small helpers shared by the convolutional networks of the zoo."""

from __future__ import annotations


def downsample_factor(height: int, width: int) -> int:
    """Stride of the one downsampling step: 2 where the size allows it, else 1.

    Tiny (< 8 pixels) or odd-sized images keep their full resolution, so every network of the
    zoo builds for any image size the data layer produces.
    """
    return 2 if height % 2 == 0 and width % 2 == 0 and min(height, width) >= 8 else 1
