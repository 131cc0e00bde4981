"""Core types shared by every layer: numpy only, never ROS, never torch."""

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import MissingDependencyError, PrivposeInputError
from privpose_ros.core.frame import LabeledFrame, RGBDFrame
from privpose_ros.core.geometry import (
    back_project_px,
    depth_image_to_points_m,
    depth_m_to_mm,
    depth_mm_to_m,
    project_points_px,
)
from privpose_ros.core.joints import CANONICAL, JOINT_SETS, JointSet, get_joint_set
from privpose_ros.core.pose import PersonPose, PoseResult

__all__ = [
    "CANONICAL",
    "JOINT_SETS",
    "CameraIntrinsics",
    "JointSet",
    "LabeledFrame",
    "MissingDependencyError",
    "PersonPose",
    "PoseResult",
    "PrivposeInputError",
    "RGBDFrame",
    "back_project_px",
    "depth_image_to_points_m",
    "depth_m_to_mm",
    "depth_mm_to_m",
    "get_joint_set",
    "project_points_px",
]
