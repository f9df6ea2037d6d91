"""MONAI's ``DiffusionModelUNet`` wrapped to accept any image size (pad, predict, crop)."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from monai.networks.nets import DiffusionModelUNet
from torch import Tensor, nn


class PaddedUNet(nn.Module):
    """Noise predictor ``eps(x_t, t)`` for images ``(B, C, H, W)``.

    The U-Net halves the resolution ``len(channels) - 1`` times, so inputs are padded (with the
    value of a black pixel, -1 in the model's [-1, 1] range) to a multiple of ``2 ** (levels-1)``
    and the prediction is cropped back.
    """

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        channels: Sequence[int] = (32, 64, 64),
        attention_levels: Sequence[bool] = (False, False, True),
        num_res_blocks: int = 1,
        norm_num_groups: int = 8,
        num_head_channels: int = 32,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        c, h, w = image_shape
        self.multiple = 2 ** (len(channels) - 1)
        self.pad_h, self.pad_w = (-h) % self.multiple, (-w) % self.multiple
        self.unet = DiffusionModelUNet(
            spatial_dims=2,
            in_channels=c,
            out_channels=c,
            channels=tuple(channels),
            attention_levels=tuple(attention_levels),
            num_res_blocks=num_res_blocks,
            norm_num_groups=norm_num_groups,
            num_head_channels=num_head_channels,
            num_class_embeds=num_classes,
        )

    def forward(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        h, w = x.shape[2:]
        if self.pad_h or self.pad_w:
            x = F.pad(x, (0, self.pad_w, 0, self.pad_h), value=-1.0)
        out = self.unet(x, timesteps=t, class_labels=y)
        return out[:, :, :h, :w]
