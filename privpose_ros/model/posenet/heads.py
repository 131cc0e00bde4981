"""The SPDH pose head and the RGB + hallucination feature fusion."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from privpose_ros.model.posenet.layers import conv_bn
from privpose_ros.model.posenet.spdh import SPDHConfig

UZ_HEADS = ("spatial", "column")


class ColumnUZ(nn.Module):
    """uz maps from column descriptors: a uz map shares only its column u with the image, so
    stride-4 features are max-pooled over image rows into one descriptor per column, resized to
    the heatmap width, and a 1D network predicts every joint's depth-bin profile per column."""

    def __init__(self, width: int, n_joints: int, spdh: SPDHConfig) -> None:
        super().__init__()
        self.n_joints = n_joints
        self.spdh = spdh
        self.expand = conv_bn(width, 2 * width, 1)
        self.column = nn.Sequential(
            nn.Conv1d(2 * width, 2 * width, 3, padding=1, bias=False),
            nn.BatchNorm1d(2 * width),
            nn.ReLU(inplace=True),
            nn.Conv1d(2 * width, n_joints * spdh.n_bins, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        ww = self.spdh.heatmap_hw[1]
        cols = self.expand(x).amax(dim=2)  # (N, 2C, w)
        if cols.shape[-1] != ww:
            cols = F.interpolate(cols, size=ww, mode="linear", align_corners=False)
        out = self.column(cols)
        return out.reshape(out.shape[0], self.n_joints, self.spdh.n_bins, ww)


class SPDHHead(nn.Module):
    """Stride-4 features (N, C, h, w) -> ``uv`` (N, J, H, W) and ``uz`` (N, J, B, W).

    (H, W) = ``spdh.heatmap_hw`` (the features are upsampled to it). ``uz_head`` "spatial": the
    uz maps are convolution outputs on the image grid resized to (n_bins, W) (the original SPDH
    head); "column": :class:`ColumnUZ`.
    """

    def __init__(
        self,
        in_channels: int,
        width: int,
        n_joints: int,
        spdh: SPDHConfig,
        uz_head: str = "spatial",
    ) -> None:
        super().__init__()
        self.n_joints = n_joints
        self.spdh = spdh
        self.pre = conv_bn(in_channels, width)
        n_out = 2 * n_joints if uz_head == "spatial" else n_joints
        self.post = nn.Sequential(conv_bn(width, width), nn.Conv2d(width, n_out, 1))
        self.column = ColumnUZ(width, n_joints, spdh) if uz_head == "column" else None

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        hh, ww = self.spdh.heatmap_hw
        pre = self.pre(features)
        x = pre
        if tuple(x.shape[-2:]) != (hh, ww):
            x = F.interpolate(x, size=(hh, ww), mode="bilinear", align_corners=False)
        out = self.post(x)
        uv = out[:, : self.n_joints]
        if self.column is not None:
            return uv, self.column(pre)
        uz = out[:, self.n_joints :]
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
