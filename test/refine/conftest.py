"""Shared helpers of the refinement tests: a small camera and a 'body' made of depth disks."""

from __future__ import annotations

import numpy as np
import pytest

from privpose_ros.core import CameraIntrinsics, back_project_px, depth_m_to_mm

ITOP_CAMERA = CameraIntrinsics(fx=285.714, fy=285.714, cx=160.0, cy=120.0, width=320, height=240)


def _disk_body(intrinsics: CameraIntrinsics, seed: int = 0, disk_px: int = 7):
    """26 joints on a 6 x 5 pixel grid (sub-pixel jitter) at whole-millimetre depths of 2-3 m,
    each drawn as a fronto-parallel square of (2 * disk_px + 1) px at its depth, in front of a
    wall at 6 m. Returns (joints_cam_m (26, 3), joints_px (26, 2), depth_mm (H, W) uint16)."""
    rng = np.random.default_rng(seed)
    cols, rows = np.meshgrid(np.linspace(30, 290, 6), np.linspace(25, 215, 5))
    px = np.column_stack([cols.ravel(), rows.ravel()])[:26] + rng.uniform(-0.4, 0.4, (26, 2))
    z_m = np.round(rng.uniform(2.0, 3.0, 26), 3)
    depth_m = np.full((intrinsics.height, intrinsics.width), 6.0)
    for (u, v), z in zip(np.round(px).astype(int), z_m, strict=True):
        depth_m[v - disk_px : v + disk_px + 1, u - disk_px : u + disk_px + 1] = z
    return back_project_px(px, z_m, intrinsics), px, depth_m_to_mm(depth_m)


@pytest.fixture
def camera() -> CameraIntrinsics:
    return ITOP_CAMERA


@pytest.fixture
def disk_body():
    """(joints_cam_m (26, 3), joints_px (26, 2), depth_mm (240, 320)) of the disk body."""
    return _disk_body(ITOP_CAMERA)
