"""Skeleton overlays for the demo's PNG frames (OpenCV, pixels of the source image)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import optional_import
from privpose_ros.core.geometry import project_points_px
from privpose_ros.core.joints import JointSet
from privpose_ros.data.skeleton_draw import draw_skeleton_px

PRED_BGR = (40, 220, 40)  # green
TRUTH_BGR = (0, 165, 255)  # orange


def draw_skeleton_cam_m(
    image_bgr: np.ndarray,
    joints_cam_m: np.ndarray,
    intrinsics: CameraIntrinsics,
    joint_set: JointSet,
    colour_bgr: tuple[int, int, int],
) -> None:
    """Project (J, 3) joints (metres, optical frame) and draw bones + joints in place."""
    uv = project_points_px(joints_cam_m, intrinsics)
    ok = np.all(np.isfinite(uv), axis=1) & (np.abs(uv) < 1e5).all(axis=1)
    colours = [colour_bgr] * joint_set.num_joints
    draw_skeleton_px(image_bgr, uv, joint_set.bone_indices(), colours, drawn=ok)


def write_overlay(
    path: Path,
    rgb: np.ndarray,
    intrinsics: CameraIntrinsics,
    joint_set: JointSet,
    predicted_m: np.ndarray,
    truth_m: np.ndarray | None = None,
    caption: str = "",
) -> None:
    """PNG of ``rgb`` with the prediction (green) and, if given, the ground truth (orange)."""
    cv2 = optional_import("cv2", "pip install opencv-python-headless")
    image = np.ascontiguousarray(rgb[..., ::-1])
    if truth_m is not None:
        draw_skeleton_cam_m(image, truth_m, intrinsics, joint_set, TRUTH_BGR)
    draw_skeleton_cam_m(image, predicted_m, intrinsics, joint_set, PRED_BGR)
    if caption:
        cv2.putText(image, caption, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise RuntimeError(f"could not write {path}")
