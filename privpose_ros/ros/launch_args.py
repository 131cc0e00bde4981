"""pose.launch.py's arguments -> the pose_node's parameters, remappings and environment.

Pure Python (no launch / launch_ros / rclpy), so tests run it without a ROS install; the launch
file's OpaqueFunction passes it the performed argument values and hands the result to
``launch_ros.actions.Node``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

REFINE = {  # refine:=... (and `privpose demo --refine`) -> (use_depth, lifting, A, B, C)
    "none": (False, False, False, False, False),
    "lifting": (True, True, False, False, False),
    "b": (True, True, False, True, False),
    "ab": (True, True, True, True, False),
    "abc": (True, True, True, True, True),
}
REFINE_PARAMETERS = (
    "use_depth",
    "refine.lifting",
    "refine.patch_a",
    "refine.skeleton_b",
    "refine.pointcloud_c",
)
# the node's inputs (privpose_ros.ros.node_setup; a test checks they agree) -> launch argument
REMAPPED = (
    ("rgb/image_rect_color", "rgb_topic"),
    ("rgb/camera_info", "camera_info_topic"),
    ("depth_registered/image_rect", "depth_topic"),
)


def _flag(values: Mapping[str, str], name: str) -> bool:
    text = values[name].strip().lower()
    if text not in ("true", "false"):
        raise ValueError(f"{name} must be true or false, got {values[name]!r}")
    return text == "true"


def refine_parameters(preset: str) -> dict[str, bool]:
    """The pose_node's depth and refinement parameters for a ``REFINE`` preset name."""
    if preset not in REFINE:
        raise ValueError(f"refine must be one of {sorted(REFINE)}, got {preset!r}")
    return dict(zip(REFINE_PARAMETERS, REFINE[preset], strict=True))


def node_settings(values: Mapping[str, str], share: str) -> dict[str, Any]:
    """``parameters``, ``remappings`` and ``additional_env`` of the pose_node for the launch
    argument ``values`` (strings, as performed); ``share`` is the package share folder."""
    refine = refine_parameters(values["refine"])
    parameters: list[Any] = [os.path.join(share, "config", "privpose.yaml")]
    if values["params_file"]:
        parameters.append(values["params_file"])
    parameters.append(
        {
            "model": values["model"],
            "camera.rectified": _flag(values, "rectified"),
            "backend": values["backend"],
            "device": values["device"],
            **refine,
            "tf.enabled": _flag(values, "tf"),
            "target_frame": values["target_frame"],
            "transport.rgb": values["rgb_transport"],
            "transport.depth": values["depth_transport"],
        }
    )
    camera = values["camera"].rstrip("/")
    remappings = [(topic, f"{camera}/{values[arg]}") for topic, arg in REMAPPED]
    profile = values["fastdds_profile"]
    if profile and not os.path.isfile(profile):
        raise ValueError(f"fastdds_profile {profile!r} is not a file (empty: no profile)")
    return {
        "parameters": parameters,
        "remappings": remappings,
        "additional_env": {"FASTDDS_DEFAULT_PROFILES_FILE": profile} if profile else None,
    }
