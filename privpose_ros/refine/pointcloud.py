"""Module C: point-cloud refinement. Per joint, the depth points inside a cube around the joint
(grown until it holds ``min_points``, up to ``max_half_m``) go through a PointNet-style network
that predicts the joint's 3D offset (RefiNet: 300 mm cube, >= 128 points, max 450 mm).

The crop of all joints is vectorised: a fixed pixel grid over each joint's largest cube is
gathered with index arrays and back-projected, then one (J, K) Chebyshev-distance matrix picks
the points; no Python loop over points or joints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.frame import check_depth_mm
from privpose_ros.core.geometry import back_project_px, project_points_px


@dataclass(frozen=True)
class PointCloudRefinerConfig:
    """Crop: cube half size ``half_m`` grown to ``max_half_m`` until ``min_points`` fall inside;
    ``num_points`` sampled per joint (with repetition when fewer) from a ``grid_px`` x ``grid_px``
    pixel grid over the cube's image. Network: shared point MLP of
    ``point_widths``, max-pool, then a head of ``head_width``."""

    num_joints: int = 26
    half_m: float = 0.15
    max_half_m: float = 0.225
    min_points: int = 128
    num_points: int = 128
    grid_px: int = 32
    point_widths: tuple[int, ...] = (32, 64, 128)
    head_width: int = 128


@dataclass(frozen=True)
class JointCrops:
    """``points`` (J, N, 3) float32, joint-centred and divided by ``half_m`` (J,);
    ``count`` (J,) points that were in the cube (0 = nothing to refine with)."""

    points: np.ndarray
    half_m: np.ndarray
    count: np.ndarray


def _window_points_m(
    depth_mm: np.ndarray,
    intrinsics: CameraIntrinsics,
    joints: np.ndarray,
    config: PointCloudRefinerConfig,
) -> np.ndarray:
    """(J, G*G, 3) metres: a G x G pixel grid covering each joint's largest cube, back-projected
    (NaN where there is no reading or the grid leaves the image)."""
    height, width = depth_mm.shape
    grid = config.grid_px
    z_near = np.maximum(joints[:, 2] - config.max_half_m, 0.1)
    half_px = np.maximum(intrinsics.fx, intrinsics.fy) * config.max_half_m / z_near
    step = np.maximum(np.ceil(2.0 * half_px / grid), 1.0).astype(np.int64)  # (J,)
    uv = np.round(project_points_px(joints, intrinsics)).astype(np.int64)  # (J, 2)
    offsets = np.arange(grid) - grid // 2
    cols = uv[:, 0, None, None] + (offsets[None, None, :] * step[:, None, None])
    rows = uv[:, 1, None, None] + (offsets[None, :, None] * step[:, None, None])
    inside = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
    values = depth_mm[np.clip(rows, 0, height - 1), np.clip(cols, 0, width - 1)]
    z = np.where(inside & (values > 0), values * 1e-3, np.nan)
    pixels = np.stack(np.broadcast_arrays(cols, rows), axis=-1).astype(np.float64)
    return back_project_px(pixels, z, intrinsics).reshape(len(joints), -1, 3)


def crop_joint_points(
    depth_mm: np.ndarray,
    intrinsics: CameraIntrinsics,
    joints_cam_m: np.ndarray,
    config: PointCloudRefinerConfig,
    seed: int = 0,
) -> JointCrops:
    """Crop and resample the depth points around each joint (J, 3) metres.

    ``depth_mm`` (H, W) uint16 millimetres registered to the image ``intrinsics`` describe.
    """
    joints = np.asarray(joints_cam_m, dtype=np.float64)
    if joints.ndim != 2 or joints.shape[1] != 3:
        raise PrivposeInputError(f"expected joints (J, 3) in metres, got {joints.shape}")
    check_depth_mm(depth_mm, (intrinsics.height, intrinsics.width))
    finite = np.all(np.isfinite(joints), axis=1) & (np.nan_to_num(joints[:, 2]) > 0)
    centre = np.where(finite[:, None], joints, [0.0, 0.0, 1.0])
    cloud = _window_points_m(depth_mm, intrinsics, centre, config)  # (J, K, 3)
    dist = np.abs(cloud - centre[:, None, :]).max(axis=2)  # (J, K) Chebyshev
    dist = np.where(np.isfinite(dist) & finite[:, None], dist, np.inf)
    n_out, n_cand = config.num_points, dist.shape[1]
    k = min(config.min_points, n_cand) - 1
    half = np.clip(np.partition(dist, k, axis=1)[:, k], config.half_m, config.max_half_m)
    inside = dist <= half[:, None]
    count = inside.sum(axis=1)
    keys = np.where(inside, np.random.default_rng(seed).random(dist.shape), np.inf)
    take = min(n_out, n_cand)
    idx = np.argpartition(keys, take - 1, axis=1)[:, :take]
    idx = np.take_along_axis(idx, np.argsort(np.take_along_axis(keys, idx, 1), axis=1), 1)
    slot = np.arange(n_out)[None, :] % np.maximum(np.minimum(count, take), 1)[:, None]
    chosen = np.take_along_axis(idx, slot, 1)  # (J, N): repeats when fewer points than N
    points = np.take_along_axis(cloud, chosen[:, :, None], 1) - centre[:, None, :]
    points = np.where(count[:, None, None] > 0, points / half[:, None, None], 0.0)
    return JointCrops(points.astype(np.float32), half, count)


class PointCloudRefiner(nn.Module):
    """forward(points (B, N, 3), joint_index (B,), half_m (B,)) -> offsets (B, 3) metres."""

    def __init__(self, config: PointCloudRefinerConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        width_in = 3
        for width in config.point_widths:
            layers += [nn.Linear(width_in, width), nn.ReLU(inplace=True)]
            width_in = width
        self.point_mlp = nn.Sequential(*layers)
        self.joint_embedding = nn.Embedding(config.num_joints, 16)
        self.head = nn.Sequential(
            nn.Linear(width_in + 16, config.head_width),
            nn.ReLU(inplace=True),
            nn.Linear(config.head_width, 3),
        )
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def forward(
        self, points: torch.Tensor, joint_index: torch.Tensor, half_m: torch.Tensor
    ) -> torch.Tensor:
        pooled = self.point_mlp(points).max(dim=1).values
        feat = torch.cat([pooled, self.joint_embedding(joint_index)], dim=1)
        return self.head(feat) * half_m[:, None]


@torch.no_grad()
def refine_with_points(
    net: PointCloudRefiner,
    joints_cam_m: np.ndarray,
    depth_mm: np.ndarray,
    intrinsics: CameraIntrinsics,
) -> np.ndarray:
    """Refined joints (P, J, 3) metres for P people seen in one depth image (mm, registered).

    Joints with no depth point in their grown cube, and non-finite joints, are unchanged.
    """
    joints = np.asarray(joints_cam_m, dtype=np.float64)
    cfg = net.config
    if joints.ndim != 3 or joints.shape[1:] != (cfg.num_joints, 3):
        raise PrivposeInputError(
            f"module C expects joints (P, {cfg.num_joints}, 3) metres, got {joints.shape}"
        )
    out = joints.copy()
    if len(joints) == 0:
        return out
    crops = [crop_joint_points(depth_mm, intrinsics, person, cfg) for person in joints]
    points = torch.from_numpy(np.concatenate([c.points for c in crops]))
    half = torch.from_numpy(np.concatenate([c.half_m for c in crops]).astype(np.float32))
    index = torch.arange(cfg.num_joints).repeat(len(joints))
    offsets = net(points, index, half).double().numpy().reshape(joints.shape)
    usable = np.stack([c.count > 0 for c in crops]) & np.all(np.isfinite(joints), axis=2)
    out[usable] += offsets[usable]
    return out
