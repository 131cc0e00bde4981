"""Convolution building blocks of the v2 networks (our own code, no torchvision/timm):
conv + batch norm (+ ReLU) and the residual BasicBlock."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


def conv_bn(c_in: int, c_out: int, k: int = 3, stride: int = 1, relu: bool = True) -> nn.Module:
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, k, stride, k // 2, bias=False),
        nn.BatchNorm2d(c_out),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv_bn(channels, channels), conv_bn(channels, channels, relu=False)
        )

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x + self.body(x))
