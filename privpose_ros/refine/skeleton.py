"""Module B: whole-skeleton refinement. 3D skeleton (+ per-joint confidence) in, per-joint 3D
offsets out, with a residual MLP (RefiNet: 1024 wide, 2 residual blocks; width configurable).

Joints are encoded relative to their mean (the root), the root itself is an input so the
network knows the viewing ray; non-finite joints are replaced by the root with confidence 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from privpose_ros.core.errors import PrivposeInputError

ROOT_SCALE_M = 3.0  # root coordinates are divided by this before entering the network


@dataclass(frozen=True)
class SkeletonRefinerConfig:
    """``offset_scale_m``: the network's raw output is multiplied by this (metres)."""

    num_joints: int = 26
    width: int = 512
    num_blocks: int = 2
    dropout: float = 0.1
    offset_scale_m: float = 0.1


class _ResidualBlock(nn.Module):
    def __init__(self, width: int, dropout: float) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(width, width),
            nn.LayerNorm(width),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(width, width),
            nn.LayerNorm(width),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)


class SkeletonRefiner(nn.Module):
    """forward(features (N, 4J)) -> offsets (N, J, 3) metres; see :func:`skeleton_features`."""

    def __init__(self, config: SkeletonRefinerConfig) -> None:
        super().__init__()
        self.config = config
        j = config.num_joints
        self.stem = nn.Sequential(nn.Linear(4 * j + 3, config.width), nn.ReLU(inplace=True))
        self.blocks = nn.Sequential(
            *[_ResidualBlock(config.width, config.dropout) for _ in range(config.num_blocks)]
        )
        self.head = nn.Linear(config.width, 3 * j)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out = self.head(self.blocks(self.stem(features)))
        return out.view(-1, self.config.num_joints, 3) * self.config.offset_scale_m


def skeleton_features(joints_cam_m: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """Network input (N, 4J + 3) float32 from joints (N, J, 3) metres and confidence (N, J)."""
    joints = np.asarray(joints_cam_m, dtype=np.float64)
    conf = np.asarray(confidence, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[2] != 3 or conf.shape != joints.shape[:2]:
        raise PrivposeInputError(
            f"expected joints (N, J, 3) and confidence (N, J), got {joints.shape} and {conf.shape}"
        )
    finite = np.all(np.isfinite(joints), axis=2)
    root = _root(joints, finite)
    rel = np.where(finite[..., None], joints - root[:, None, :], 0.0)
    conf = np.where(finite, np.clip(np.nan_to_num(conf), 0.0, 1.0), 0.0)
    n = len(joints)
    return np.concatenate(
        [rel.reshape(n, -1), conf, root / ROOT_SCALE_M], axis=1, dtype=np.float32
    )


def _root(joints: np.ndarray, finite: np.ndarray) -> np.ndarray:
    """(N, 3) mean of the finite joints of each skeleton (zeros when none is finite)."""
    count = np.maximum(finite.sum(axis=1, keepdims=True), 1)
    return np.where(finite[..., None], joints, 0.0).sum(axis=1) / count


def fill_missing(joints_cam_m: np.ndarray) -> np.ndarray:
    """Joints (N, J, 3) with non-finite joints replaced by the mean of the finite ones."""
    finite = np.all(np.isfinite(joints_cam_m), axis=2)
    return np.where(finite[..., None], joints_cam_m, _root(joints_cam_m, finite)[:, None, :])


@torch.no_grad()
def refine_skeletons(
    net: SkeletonRefiner, joints_cam_m: np.ndarray, confidence: np.ndarray
) -> np.ndarray:
    """Refined joints (N, J, 3) metres, camera optical frame; inputs are not modified.

    Joints that were non-finite come back at the network's estimate from the rest of the body.
    """
    joints = np.asarray(joints_cam_m, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1] != net.config.num_joints:
        raise PrivposeInputError(
            f"module B was trained for (N, {net.config.num_joints}, 3) joints, got {joints.shape}"
        )
    features = torch.from_numpy(skeleton_features(joints, confidence))
    if len(features) == 0:
        return np.zeros((0, net.config.num_joints, 3))
    offsets = net(features).double().numpy()
    return fill_missing(joints) + offsets
