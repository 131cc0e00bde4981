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


_RADIAL_TANGENTIAL = ("plumb_bob", "rational_polynomial")


def _coefficients(intrinsics: CameraIntrinsics) -> np.ndarray | None:
    """The 8 radial-tangential coefficients (k1 k2 p1 p2 k3 k4 k5 k6), None when there is no
    distortion; an unsupported model raises."""
    coeffs = np.asarray(intrinsics.distortion, dtype=np.float64)
    if coeffs.size == 0 or not np.any(coeffs):
        return None
    if intrinsics.distortion_model not in _RADIAL_TANGENTIAL or coeffs.size > 8:
        raise PrivposeInputError(
            f"distortion model {intrinsics.distortion_model!r} with {coeffs.size} coefficients is "
            f"not supported (use {_RADIAL_TANGENTIAL}); subscribe to the rectified image instead"
        )
    out = np.zeros(8)
    out[: coeffs.size] = coeffs
    return out


def _radial_tangential(
    x: np.ndarray, y: np.ndarray, coeffs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Radial factor and tangential shifts (dx, dy) at normalised ideal coordinates x, y."""
    k1, k2, p1, p2, k3, k4, k5, k6 = coeffs
    r2 = x * x + y * y
    radial = (1 + ((k3 * r2 + k2) * r2 + k1) * r2) / (1 + ((k6 * r2 + k5) * r2 + k4) * r2)
    dx = 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    dy = p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return radial, dx, dy


def undistort_px(
    uv_px: np.ndarray, intrinsics: CameraIntrinsics, iterations: int = 20
) -> np.ndarray:
    """Raw (distorted) pixels (..., 2) -> the pixels an ideal pinhole camera with the same K sees.

    ``intrinsics.distortion`` holds the CameraInfo ``D`` of ``distortion_model`` "plumb_bob"
    (k1, k2, p1, p2, k3) or "rational_polynomial" (k1, k2, p1, p2, k3, k4, k5, k6); no or all-zero
    coefficients return the input. The distortion is inverted by fixed-point iteration (as
    OpenCV's undistortPoints does); NaN pixels stay NaN.
    """
    uv = np.asarray(uv_px, dtype=np.float64)
    _check_last_dim("uv_px", uv, 2)
    coeffs = _coefficients(intrinsics)
    if coeffs is None:
        return uv.copy()
    xd = (uv[..., 0] - intrinsics.cx) / intrinsics.fx
    yd = (uv[..., 1] - intrinsics.cy) / intrinsics.fy
    x, y = xd.copy(), yd.copy()
    for _ in range(iterations):
        radial, dx, dy = _radial_tangential(x, y, coeffs)
        x = (xd - dx) / radial
        y = (yd - dy) / radial
    return np.stack([x * intrinsics.fx + intrinsics.cx, y * intrinsics.fy + intrinsics.cy], -1)


def distort_px(uv_px: np.ndarray, intrinsics: CameraIntrinsics) -> np.ndarray:
    """Ideal pinhole pixels (..., 2) -> raw pixels of the distorted camera (inverts the above)."""
    uv = np.asarray(uv_px, dtype=np.float64)
    _check_last_dim("uv_px", uv, 2)
    coeffs = _coefficients(intrinsics)
    if coeffs is None:
        return uv.copy()
    x = (uv[..., 0] - intrinsics.cx) / intrinsics.fx
    y = (uv[..., 1] - intrinsics.cy) / intrinsics.fy
    radial, dx, dy = _radial_tangential(x, y, coeffs)
    xd, yd = x * radial + dx, y * radial + dy
    return np.stack([xd * intrinsics.fx + intrinsics.cx, yd * intrinsics.fy + intrinsics.cy], -1)
