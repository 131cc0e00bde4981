"""Module A: 2D patch refinement. A depth patch around each 2D joint goes through a small CNN
that predicts the joint's 2D offset in pixels; it runs before lifting (RefiNet: 40x40 patches,
ResNet-like, sigma = 5 px training noise).

Patches are cut for all joints at once with index arrays (shared with the lifting window code).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.frame import check_depth_mm
from privpose_ros.refine.lifting import robust_depth_m, window_depths_m

CENTRE_WINDOW_PX = 9  # the reference depth of a patch is the robust depth of its centre


@dataclass(frozen=True)
class PatchRefinerConfig:
    """``patch_px``: odd patch side; ``depth_scale_m``: depth relative to the joint's is divided
    by this and clipped to [-1, 1]; ``channels``: the stride-2 conv widths."""

    num_joints: int = 26
    patch_px: int = 33
    depth_scale_m: float = 0.3
    channels: tuple[int, ...] = (16, 32, 64)
    head_width: int = 128


def extract_depth_patches(
    depth_mm: np.ndarray, joints_px: np.ndarray, config: PatchRefinerConfig
) -> np.ndarray:
    """(J, 2, P, P) float32 patches around joints (J, 2) px: normalised depth and validity.

    Channel 0: (depth - the joint's robust centre depth) / depth_scale_m, clipped to [-1, 1],
    0 where invalid; channel 1: 1 where the pixel is inside the image and has a reading.
    """
    if not isinstance(depth_mm, np.ndarray) or depth_mm.ndim != 2:
        raise PrivposeInputError("depth_mm must be an (H, W) uint16 array in millimetres")
    check_depth_mm(depth_mm, depth_mm.shape)
    size = config.patch_px
    depths, _ = window_depths_m(np.asarray(joints_px, dtype=np.float64), depth_mm, size)
    depths = depths.reshape(-1, size, size)
    lo = size // 2 - CENTRE_WINDOW_PX // 2
    centre = depths[:, lo : lo + CENTRE_WINDOW_PX, lo : lo + CENTRE_WINDOW_PX]
    ref, _ = robust_depth_m(centre.reshape(len(depths), -1), foreground_band_m=0.3)
    valid_rows = depths.reshape(len(depths), -1)
    fallback = np.nanmin(np.where(np.isfinite(valid_rows), valid_rows, np.inf), axis=1)
    ref = np.where(np.isfinite(ref), ref, fallback)
    valid = np.isfinite(depths)
    rel = np.clip((depths - ref[:, None, None]) / config.depth_scale_m, -1.0, 1.0)
    rel = np.where(valid, rel, 0.0)
    return np.stack([rel, valid], axis=1).astype(np.float32)


class PatchRefiner(nn.Module):
    """forward(patches (B, 2, P, P), joint_index (B,)) -> 2D offsets (B, 2) pixels."""

    def __init__(self, config: PatchRefinerConfig) -> None:
        super().__init__()
        if config.patch_px % 2 == 0:
            raise PrivposeInputError(f"patch_px must be odd, got {config.patch_px}")
        self.config = config
        layers: list[nn.Module] = []
        width_in, side = 2, config.patch_px
        for width in config.channels:
            layers += [
                nn.Conv2d(width_in, width, 3, stride=2, padding=1),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
            width_in, side = width, (side + 1) // 2
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.joint_embedding = nn.Embedding(config.num_joints, 16)
        self.head = nn.Sequential(
            nn.Linear(width_in * side * side + 16, config.head_width),
            nn.ReLU(inplace=True),
            nn.Linear(config.head_width, 2),
        )
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def forward(self, patches: torch.Tensor, joint_index: torch.Tensor) -> torch.Tensor:
        feat = torch.cat([self.features(patches), self.joint_embedding(joint_index)], dim=1)
        return self.head(feat) * (self.config.patch_px / 4.0)


@torch.no_grad()
def refine_joints_px(net: PatchRefiner, joints_px: np.ndarray, depth_mm: np.ndarray) -> np.ndarray:
    """Refined 2D joints (P, J, 2) pixels for P people in one depth image (mm, registered).

    Non-finite joints and joints whose patch has no valid depth are unchanged.
    """
    px = np.asarray(joints_px, dtype=np.float64)
    cfg = net.config
    if px.ndim != 3 or px.shape[1:] != (cfg.num_joints, 2):
        raise PrivposeInputError(
            f"module A expects joints_px (P, {cfg.num_joints}, 2), got {px.shape}"
        )
    out = px.copy()
    if len(px) == 0:
        return out
    patches = extract_depth_patches(depth_mm, px.reshape(-1, 2), cfg)
    index = torch.arange(cfg.num_joints).repeat(len(px))
    offsets = net(torch.from_numpy(patches), index).double().numpy().reshape(px.shape)
    has_depth = patches[:, 1].any(axis=(1, 2)).reshape(px.shape[:2])
    usable = np.all(np.isfinite(px), axis=2) & has_depth
    out[usable] += offsets[usable]
    return out
