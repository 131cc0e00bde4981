"""Projection, back-projection and depth units in the camera optical frame.

Camera optical frame (REP 103): x right, y down, z forward, metres. Pixel (u, v): column, row,
with integer values at pixel centres.
"""

from __future__ import annotations

import numpy as np

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import PrivposeInputError


def _check_last_dim(name: str, array: np.ndarray, size: int) -> None:
    if array.ndim == 0 or array.shape[-1] != size:
        raise PrivposeInputError(f"{name} must have shape (..., {size}), got {array.shape}")


def project_points_px(points_cam_m: np.ndarray, intrinsics: CameraIntrinsics) -> np.ndarray:
    """Project points (..., 3) in the camera optical frame (metres) to pixels (..., 2).

    Points with z <= 0 (behind the camera) project to NaN.
    """
    points = np.asarray(points_cam_m, dtype=np.float64)
    _check_last_dim("points_cam_m", points, 3)
    z = points[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_z = np.where(z > 0, 1.0 / z, np.nan)
    u = intrinsics.fx * points[..., 0] * inv_z + intrinsics.cx
    v = intrinsics.fy * points[..., 1] * inv_z + intrinsics.cy
    return np.stack([u, v], axis=-1)


def back_project_px(
    uv_px: np.ndarray, depth_m: np.ndarray | float, intrinsics: CameraIntrinsics
) -> np.ndarray:
    """Back-project pixels (..., 2) at depth z (metres, broadcastable to (...)) to points (..., 3).

    ``depth_m`` is the z coordinate along the optical axis (as depth images store it), not the
    ray length. NaN depth gives NaN points.
    """
    uv = np.asarray(uv_px, dtype=np.float64)
    _check_last_dim("uv_px", uv, 2)
    z = np.broadcast_to(np.asarray(depth_m, dtype=np.float64), uv.shape[:-1])
    x = (uv[..., 0] - intrinsics.cx) / intrinsics.fx * z
    y = (uv[..., 1] - intrinsics.cy) / intrinsics.fy * z
    return np.stack([x, y, z], axis=-1)


def depth_mm_to_m(depth_mm: np.ndarray) -> np.ndarray:
    """uint16 millimetres (0 = no reading, REP 118 16UC1) to float32 metres with NaN holes."""
    depth = np.asarray(depth_mm)
    if depth.dtype != np.uint16:
        raise PrivposeInputError(
            f"depth_mm must be uint16 millimetres (16UC1), got dtype {depth.dtype}"
        )
    out = depth.astype(np.float32) * np.float32(1e-3)
    out[depth == 0] = np.nan
    return out


def depth_m_to_mm(depth_m: np.ndarray) -> np.ndarray:
    """float metres (NaN/inf/<=0 = no reading, REP 118 32FC1) to uint16 millimetres (0 = none).

    Values beyond 65.535 m are saturated to 'no reading'.
    """
    depth = np.asarray(depth_m, dtype=np.float64)
    valid = np.isfinite(depth) & (depth > 0) & (depth < 65.5355)
    out = np.zeros(depth.shape, dtype=np.uint16)
    out[valid] = np.round(depth[valid] * 1000.0).astype(np.uint16)
    return out


def depth_image_to_points_m(depth_m: np.ndarray, intrinsics: CameraIntrinsics) -> np.ndarray:
    """Organised point cloud (H, W, 3) in metres from depth in metres (NaN = no reading)."""
    depth = np.asarray(depth_m, dtype=np.float64)
    if depth.ndim != 2:
        raise PrivposeInputError(f"depth_m must be a 2-D image, got shape {depth.shape}")
    if depth.shape != (intrinsics.height, intrinsics.width):
        raise PrivposeInputError(
            f"depth image is {depth.shape[1]}x{depth.shape[0]} but the intrinsics are for "
            f"{intrinsics.width}x{intrinsics.height}; register/resize depth to the camera first"
        )
    v, u = np.mgrid[0 : depth.shape[0], 0 : depth.shape[1]]
    return back_project_px(np.stack([u, v], axis=-1), depth, intrinsics)
