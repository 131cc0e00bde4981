"""SmallHRNet: a narrow high-resolution network (our own code, no torchvision/timm).

A stride-4 stem, then stages that each add one lower-resolution branch (stride 8, 16, ...),
run ``blocks`` residual blocks per branch and exchange information between all branches
(HRNet's fuse layers). The output is every branch upsampled to stride 4 and concatenated
(HRNetV2 style): (N, sum(widths), H/4, W/4).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from privpose_ros.core.errors import PrivposeInputError


@dataclass(frozen=True)
class BackboneConfig:
    """``widths``: channels of the stride-4, 8, 16, ... branches (len = number of branches);
    ``blocks``: residual blocks per branch per stage; ``stem_width``: stem channels."""

    widths: tuple[int, ...] = (16, 32, 64)
    blocks: int = 1
    stem_width: int = 24

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        if not self.widths or min(self.widths) < 1 or self.blocks < 1 or self.stem_width < 1:
            raise PrivposeInputError(f"backbone needs >= 1 branch and positive sizes, got {self}")

    @property
    def out_channels(self) -> int:
        return sum(self.widths)

    @property
    def stride(self) -> int:
        return 4

    @property
    def min_divisor(self) -> int:
        """Input sides must be multiples of this (the lowest-resolution branch's stride)."""
        return 4 * 2 ** (len(self.widths) - 1)


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


class _Fuse(nn.Module):
    """Output branch i = relu(sum_j resample_j->i(x_j)) for ``n_out`` output branches."""

    def __init__(self, widths_in: tuple[int, ...], widths_out: tuple[int, ...]) -> None:
        super().__init__()
        self.paths = nn.ModuleList()
        for i, w_out in enumerate(widths_out):
            row = nn.ModuleList()
            for j, w_in in enumerate(widths_in):
                if j == i:
                    row.append(nn.Identity() if w_in == w_out else conv_bn(w_in, w_out, 1))
                elif j > i:  # lower resolution: 1x1 conv, upsampled in forward
                    row.append(conv_bn(w_in, w_out, 1, relu=False))
                else:  # higher resolution: (i - j) stride-2 convs
                    steps = [conv_bn(w_in, w_in, 3, 2) for _ in range(i - j - 1)]
                    steps.append(conv_bn(w_in, w_out, 3, 2, relu=False))
                    row.append(nn.Sequential(*steps))
            self.paths.append(row)

    def forward(self, xs: list[Tensor]) -> list[Tensor]:
        outs = []
        for i, row in enumerate(self.paths):
            acc = None
            for j, path in enumerate(row):
                y = path(xs[j])
                if j > i:
                    y = F.interpolate(y, size=xs[i].shape[-2:], mode="nearest")
                acc = y if acc is None else acc + y
            outs.append(F.relu(acc))
        return outs


class SmallHRNet(nn.Module):
    """(N, in_channels, H, W) -> (N, sum(widths), H/4, W/4); H, W multiples of min_divisor."""

    def __init__(self, config: BackboneConfig, in_channels: int) -> None:
        super().__init__()
        self.config = config
        w = config.widths
        self.stem = nn.Sequential(
            conv_bn(in_channels, config.stem_width, 3, 2),
            conv_bn(config.stem_width, w[0], 3, 2),
        )
        self.stages = nn.ModuleList()
        self.transitions = nn.ModuleList()
        for n_branch in range(1, len(w) + 1):
            self.stages.append(
                nn.ModuleList(
                    nn.Sequential(*[BasicBlock(w[b]) for _ in range(config.blocks)])
                    for b in range(n_branch)
                )
            )
            # after stage n: fuse into n+1 branches (the new one made by striding), or finish
            n_out = min(n_branch + 1, len(w))
            single = n_branch == 1 and n_out == 1
            self.transitions.append(nn.Identity() if single else _Fuse(w[:n_branch], w[:n_out]))

    def forward(self, x: Tensor) -> Tensor:
        xs = [self.stem(x)]
        for blocks, fuse in zip(self.stages, self.transitions, strict=True):
            xs = [blk(t) for blk, t in zip(blocks, xs, strict=False)]
            xs = fuse(xs) if isinstance(fuse, _Fuse) else xs
        size = xs[0].shape[-2:]
        ups = [xs[0]] + [F.interpolate(t, size=size, mode="bilinear") for t in xs[1:]]
        return torch.cat(ups, dim=1)
