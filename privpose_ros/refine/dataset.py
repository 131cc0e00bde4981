"""Labelled depth frames and noisy starting points for training and evaluating the
depth refiners (the frames come from any source; privpose_ros/train/refine_train.py fills them
from the synthetic generator).

Only depth, ground-truth joints and intrinsics are kept (no RGB), so a few thousand frames fit
in memory. Starting points imitate a detector: 2D joints with Gaussian pixel noise, or 3D joints
with Gaussian metric noise (RefiNet: A 5 px, B 50 mm, C 42 mm).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.refine.lifting import LiftingConfig, lift_joints


@dataclass(frozen=True)
class RefineFrames:
    """``depth_mm`` (N, H, W) uint16; ``joints_cam_m`` (N, 26, 3) metres, camera optical frame;
    ``joints_px`` (N, 26, 2); ``visible`` (N, 26) bool; ``intrinsics`` one per frame."""

    depth_mm: np.ndarray
    joints_cam_m: np.ndarray
    joints_px: np.ndarray
    visible: np.ndarray
    intrinsics: tuple[CameraIntrinsics, ...]

    def __len__(self) -> int:
        return len(self.depth_mm)


def noisy_px(frames: RefineFrames, sigma_px: float, rng: np.random.Generator) -> np.ndarray:
    """Ground-truth 2D joints (N, 26, 2) plus isotropic Gaussian noise of ``sigma_px`` pixels."""
    return frames.joints_px + rng.normal(0.0, sigma_px, frames.joints_px.shape)


def noisy_3d(frames: RefineFrames, sigma_m: float, rng: np.random.Generator) -> np.ndarray:
    """Ground-truth 3D joints (N, 26, 3) plus isotropic Gaussian noise of ``sigma_m`` metres."""
    return frames.joints_cam_m + rng.normal(0.0, sigma_m, frames.joints_cam_m.shape)


def lift_all(
    frames: RefineFrames,
    joints_px: np.ndarray,
    fallback_cam_m: np.ndarray | None = None,
    config: LiftingConfig | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Baseline lifting of every frame: (joints (N, 26, 3) metres, confidence (N, 26))."""
    joints = np.empty(frames.joints_cam_m.shape)
    conf = np.empty(frames.joints_cam_m.shape[:2])
    for i in range(len(frames)):
        prior = None if fallback_cam_m is None else fallback_cam_m[i, :, 2]
        joints[i], conf[i] = lift_joints(
            joints_px[i],
            frames.depth_mm[i],
            frames.intrinsics[i],
            config or LiftingConfig(),
            prior,
        )
    return joints, conf
