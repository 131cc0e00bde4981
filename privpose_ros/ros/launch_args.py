"""pose.launch.py's arguments -> the pose_node's parameters, remappings and environment.

Pure Python (no launch / launch_ros / rclpy), so tests run it without a ROS install; the launch
file's OpaqueFunction passes it the performed argument values and hands the result to
``launch_ros.actions.Node``.

Precedence (later wins): config/privpose.yaml, then ``params_file``, then the launch arguments
the user gave. The launch arguments that set node parameters (``PARAMETER_ARGUMENTS`` and
``refine``) are declared with the ``UNSET`` default, so one the user did not type sets nothing
and a params_file value stands; the value the node then gets by default is privpose.yaml's
(the default the launch file documents; a test keeps them equal). Every value is checked here,
with the node's own rule (``params.validate``), so a bad one stops launch with one message
before any process starts.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from typing import Any

from privpose_ros.ros.params import SPECS, validate

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
PARAMETER_ARGUMENTS = {  # launch argument -> the node parameter it sets (refine: REFINE)
    "model": "model",
    "rectified": "camera.rectified",
    "backend": "backend",
    "device": "device",
    "tf": "tf.enabled",
    "target_frame": "target_frame",
    "rgb_transport": "transport.rgb",
    "depth_transport": "transport.depth",
}
UNSET = ""  # the declared default of PARAMETER_ARGUMENTS and refine: "the user gave none"
UNSET_ARGUMENTS = (*PARAMETER_ARGUMENTS, "refine")
# `name:=` is malformed for ros2 launch and the shell eats `name:=""`: `name:='""'` (or "''")
# is how an empty string is typed; fastdds_profile also takes `none`
EMPTY = ('""', "''")
NO_PROFILE = ("", "none", *EMPTY)


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


def _argument_parameters(values: Mapping[str, str], reasons: list[str]) -> dict[str, Any]:
    """The node parameters of the launch arguments the user gave, each checked by the node's
    rule; a refused one adds its reason to ``reasons``."""
    overrides: dict[str, Any] = {}
    for argument, name in PARAMETER_ARGUMENTS.items():
        text = values.get(argument, UNSET)
        if text == UNSET:
            continue
        try:
            if isinstance(SPECS[name].default, bool):
                value: Any = _flag(values, argument)
            else:
                value = "" if text in EMPTY else text
        except ValueError as error:
            reasons.append(str(error))
            continue
        reason = validate(name, value)
        if reason:
            reasons.append(f"{argument}:={text}: {reason}")
        else:
            overrides[name] = value
    preset = values.get("refine", UNSET)
    if preset != UNSET:
        try:
            overrides.update(refine_parameters(preset))
        except ValueError as error:
            reasons.append(str(error))
    return overrides


def _node_settings(values: Mapping[str, str], share: str, reasons: list[str]) -> dict[str, Any]:
    parameters: list[Any] = [os.path.join(share, "config", "privpose.yaml")]
    params_file = values.get("params_file", "")
    if params_file and params_file not in EMPTY:
        if not os.path.isfile(params_file):
            reasons.append(f"params_file {params_file!r} is not a file")
        parameters.append(params_file)
    overrides = _argument_parameters(values, reasons)
    if overrides:  # only what the user gave: it wins over both files
        parameters.append(overrides)
    camera = values["camera"].rstrip("/")
    remappings = [(topic, f"{camera}/{values[arg]}") for topic, arg in REMAPPED]
    profile = values.get("fastdds_profile", "")
    if profile.strip().lower() in NO_PROFILE:
        profile = ""
    elif not os.path.isfile(profile):
        reasons.append(f"fastdds_profile {profile!r} is not a file (none: no profile)")
    return {
        "parameters": parameters,
        "remappings": remappings,
        "additional_env": {"FASTDDS_DEFAULT_PROFILES_FILE": profile} if profile else None,
    }


def _refuse(reasons: list[str]) -> None:
    if len(reasons) == 1:
        raise ValueError(f"pose.launch.py: launch argument refused: {reasons[0]}")
    if reasons:
        raise ValueError(f"pose.launch.py: launch arguments refused: {'; '.join(reasons)}")


def node_settings(values: Mapping[str, str], share: str) -> dict[str, Any]:
    """``parameters``, ``remappings`` and ``additional_env`` of the pose_node for the launch
    argument ``values`` (strings, as performed); ``share`` is the package share folder.
    ValueError, one message naming every refused argument, when any is bad."""
    reasons: list[str] = []
    settings = _node_settings(values, share, reasons)
    _refuse(reasons)
    return settings


def package_executable(package: str, executable: str) -> str | None:
    """The path launch_ros runs for ``Node(package=, executable=)`` (ExecutableInPackage:
    ``<package prefix>/lib/<package>/<executable>``, from the ament index), or None."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_prefix
    except ImportError:
        return None
    try:
        prefix = get_package_prefix(package)
    except (PackageNotFoundError, ValueError, LookupError):
        return None
    return shutil.which(executable, path=os.path.join(prefix, "lib", package))


def launch_settings(
    values: Mapping[str, str],
    share: str,
    find: Callable[[str, str], str | None] = package_executable,
) -> dict[str, Any]:
    """Everything the launch file starts: ``node`` (node_settings) and ``rviz`` (whether RViz
    starts). Every argument, and rviz2's presence where ``rviz:=true``, is checked first:
    ValueError with one message, so launch fails before it starts any process."""
    reasons: list[str] = []
    node = _node_settings(values, share, reasons)
    rviz = False
    try:
        rviz = _flag(values, "rviz")
    except ValueError as error:
        reasons.append(str(error))
    if rviz and find("rviz2", "rviz2") is None:
        distro = os.environ.get("ROS_DISTRO", "<distro>")
        reasons.append(
            "rviz:=true but rviz2 is not installed (no package rviz2 with an rviz2 executable on "
            f"AMENT_PREFIX_PATH): install it (apt install ros-{distro}-rviz2) or use rviz:=false"
        )
    _refuse(reasons)
    return {"node": node, "rviz": rviz}
