"""Baseline lifting: 2D joints + a depth image -> 3D joints in the camera optical frame.

z is a robust statistic of the valid depth in a square window around each joint (RefiNet's
ITOP code: the median of a 9x9 window); x, y follow by back-projecting the joint's pixel with
the intrinsics. Holes (depth 0), joints outside the image and NaN joints give a low confidence
and fall back to a prior depth instead of returning garbage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.frame import check_depth_mm
from privpose_ros.core.geometry import back_project_px


@dataclass(frozen=True)
class LiftingConfig:
    """``window_px``: odd side of the depth window; ``foreground_band_m``: keep only depths
    within this band behind the window's nearest surface (the 10th percentile) before the
    median, so background pixels at silhouette edges do not win (None = plain median);
    ``min_valid_fraction``: below this fraction of valid pixels the confidence is 0."""

    window_px: int = 9
    foreground_band_m: float | None = 0.3
    min_valid_fraction: float = 0.1

    def __post_init__(self) -> None:
        if self.window_px < 1 or self.window_px % 2 == 0:
            raise PrivposeInputError(
                f"window_px must be a positive odd number, got {self.window_px}"
            )
        if not 0.0 <= self.min_valid_fraction <= 1.0:
            raise PrivposeInputError("min_valid_fraction must be in [0, 1]")


def window_depths_m(
    joints_px: np.ndarray, depth_mm: np.ndarray, window_px: int
) -> tuple[np.ndarray, np.ndarray]:
    """Depth windows around joints: ((J, w*w) metres with NaN for holes/outside, (J,) inside).

    ``joints_px`` (J, 2) pixels (u column, v row); a NaN joint or one whose rounded pixel is
    outside the image is marked not inside and gets an all-NaN window.
    """
    height, width = depth_mm.shape
    px = np.asarray(joints_px, dtype=np.float64)
    finite = np.all(np.isfinite(px), axis=-1)
    centre = np.where(finite[:, None], np.round(np.nan_to_num(px)), -1e6).astype(np.int64)
    inside = finite & (centre[:, 0] >= 0) & (centre[:, 0] < width)
    inside &= (centre[:, 1] >= 0) & (centre[:, 1] < height)
    half = window_px // 2
    offsets = np.arange(-half, half + 1)
    cols = centre[:, 0, None, None] + offsets[None, None, :]  # (J, 1, w)
    rows = centre[:, 1, None, None] + offsets[None, :, None]  # (J, w, 1)
    in_image = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height) & inside[:, None, None]
    values = depth_mm[np.clip(rows, 0, height - 1), np.clip(cols, 0, width - 1)]
    valid = in_image & (values > 0)
    depths_m = np.where(valid, values.astype(np.float64) * 1e-3, np.nan)
    return depths_m.reshape(len(px), -1), inside


def robust_depth_m(
    depths_m: np.ndarray, foreground_band_m: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``depths_m`` (J, K) (NaN = invalid): (robust z (J,) metres, valid fraction)."""
    valid = np.isfinite(depths_m)
    fraction = valid.mean(axis=1) if depths_m.shape[1] else np.zeros(len(depths_m))
    has_any = valid.any(axis=1)
    safe = np.where(has_any[:, None], depths_m, 0.0)
    if foreground_band_m is not None:
        near = np.nanpercentile(safe, 10, axis=1, method="lower")
        safe = np.where(safe <= near[:, None] + foreground_band_m, safe, np.nan)
    z = np.nanmedian(safe, axis=1)
    return np.where(has_any, z, np.nan), fraction


def lift_joints(
    joints_px: np.ndarray,
    depth_mm: np.ndarray,
    intrinsics: CameraIntrinsics,
    config: LiftingConfig = LiftingConfig(),
    fallback_z_m: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Lift one person's 2D joints with the depth image.

    ``joints_px`` (J, 2) pixels of the image ``intrinsics`` describe; ``depth_mm`` (H, W) uint16
    millimetres registered to that image (0 = no reading); ``fallback_z_m`` (J,) optional prior
    depth (e.g. the RGB model's z) used where the depth window has too few valid pixels.
    Returns ``joints_cam_m`` (J, 3) float64 metres in the camera optical frame and
    ``confidence`` (J,) in [0, 1]: the fraction of valid depth pixels in the window, 0 for
    joints outside the image or with fewer than ``min_valid_fraction`` valid pixels. Joints
    without a usable depth take ``fallback_z_m``, else the median lifted z of the other joints;
    only when neither exists is the joint NaN.
    """
    px = np.asarray(joints_px, dtype=np.float64)
    if px.ndim != 2 or px.shape[1] != 2:
        raise PrivposeInputError(f"joints_px must be (J, 2) pixels, got shape {px.shape}")
    check_depth_mm(depth_mm, (intrinsics.height, intrinsics.width))
    depths_m, inside = window_depths_m(px, depth_mm, config.window_px)
    z, fraction = robust_depth_m(depths_m, config.foreground_band_m)
    good = inside & (fraction >= config.min_valid_fraction) & np.isfinite(z)
    confidence = np.where(good, fraction, 0.0)
    if fallback_z_m is not None:
        prior = np.asarray(fallback_z_m, dtype=np.float64)
        if prior.shape != (len(px),):
            raise PrivposeInputError(
                f"fallback_z_m must be ({len(px)},) metres, got shape {prior.shape}"
            )
    else:
        prior = np.full(len(px), np.nan)
    if good.any():
        prior = np.where(np.isfinite(prior), prior, np.median(z[good]))
    z = np.where(good, z, prior)
    joints = back_project_px(np.nan_to_num(px, nan=0.0), z, intrinsics)
    joints[~np.all(np.isfinite(px), axis=1)] = np.nan
    return joints, confidence
