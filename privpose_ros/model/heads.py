"""The SPDH pose head and the RGB + hallucination feature fusion."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from privpose_ros.model.hrnet import conv_bn
from privpose_ros.model.spdh import SPDHConfig


class SPDHHead(nn.Module):
    """Stride-4 features (N, C, h, w) -> ``uv`` (N, J, H, W) and ``uz`` (N, J, B, W).

    (H, W) = ``spdh.heatmap_hw`` (the features are upsampled to it); the uz channels are resized
    to (n_bins, W) when the number of depth bins differs from H.
    """

    def __init__(self, in_channels: int, width: int, n_joints: int, spdh: SPDHConfig) -> None:
        super().__init__()
        self.n_joints = n_joints
        self.spdh = spdh
        self.pre = conv_bn(in_channels, width)
        self.post = nn.Sequential(conv_bn(width, width), nn.Conv2d(width, 2 * n_joints, 1))

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        hh, ww = self.spdh.heatmap_hw
        x = self.pre(features)
        if tuple(x.shape[-2:]) != (hh, ww):
            x = F.interpolate(x, size=(hh, ww), mode="bilinear", align_corners=False)
        out = self.post(x)
        uv, uz = out[:, : self.n_joints], out[:, self.n_joints :]
        if self.spdh.n_bins != hh:
            uz = F.interpolate(uz, size=(self.spdh.n_bins, ww), mode="bilinear")
        return uv, uz


class Fusion(nn.Module):
    """Concatenate RGB and hallucinated features, mix them back to ``channels``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.mix = conv_bn(2 * channels, channels, 1)

    def forward(self, rgb_features: Tensor, hall_features: Tensor) -> Tensor:
        return self.mix(torch.cat([rgb_features, hall_features], dim=1))
