"""`ros2 launch privpose pose.launch.py`: the pose_node for one RGB-D camera (+ RViz).

    ros2 launch privpose pose.launch.py camera:=/camera \
        rgb_topic:=color/image_raw camera_info_topic:=color/camera_info \
        depth_topic:=aligned_depth_to_color/image_raw backend:=tensorrt refine:=b rviz:=true

Topic arguments are relative to the camera namespace (RealSense defaults shown in docs/ros.md;
Azure Kinect, ZED and Orbbec remaps there too). ``refine``: none (RGB-only), lifting, b, ab, abc.
The node's parameters, remappings and environment come from privpose_ros.ros.launch_args.
Precedence, later wins: config/privpose.yaml, ``params_file``, the launch arguments you type (an
argument you leave out sets nothing, so the file's value stands; the defaults below are
privpose.yaml's). Every argument is checked (the node's own rules; rviz2 present for
``rviz:=true``) before any process starts: a bad one fails launch with one message.
``fastdds_profile:=none`` runs without a profile (``name:=`` is malformed for ros2 launch).
"""

from __future__ import annotations

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription
from privpose_ros.ros.launch_args import UNSET, UNSET_ARGUMENTS, launch_settings

ARGUMENTS = (
    ("camera", "/camera", "camera namespace the topics below live in"),
    ("rgb_topic", "color/image_raw", "colour image, relative to the camera"),
    (
        "rectified",
        "true",
        "true: the colour topic is rectified (camera_info P); false: raw (K, undistort with D)",
    ),
    (
        "model",
        "blazepose",
        "blazepose (the front end's monocular 3D) or privpose (the v2 RGB model's 3D)",
    ),
    ("camera_info_topic", "color/camera_info", "camera_info of the colour image"),
    ("depth_topic", "aligned_depth_to_color/image_raw", "depth registered to the colour image"),
    ("rgb_transport", "raw", "raw or compressed (<rgb_topic>/compressed, jpeg or png)"),
    ("depth_transport", "raw", "raw or compressedDepth (<depth_topic>/compressedDepth)"),
    ("backend", "auto", "auto, tensorrt, onnxruntime or torch"),
    ("device", "cpu", "cpu or cuda[:N]"),
    ("refine", "b", "depth refinement: none (RGB-only), lifting, b, ab, abc"),
    ("tf", "false", "publish a TF frame per joint"),
    ("target_frame", "", "express the outputs in this frame (empty: the camera frame)"),
    (
        "params_file",
        "",
        "extra parameter YAML: overrides config/privpose.yaml, and loses only to the launch "
        "arguments you type",
    ),
    ("rviz", "false", "start RViz with config/privpose.rviz"),
    (
        "fastdds_profile",
        "config/fastdds_shm.xml",
        "Fast DDS XML profile for pose_node (FASTDDS_DEFAULT_PROFILES_FILE, rmw_fastrtps_cpp); "
        "default: the installed shared-memory profile; none: no profile (the environment's own)",
    ),
)
SHARE_RELATIVE = ("fastdds_profile",)  # defaults given relative to the package share folder
# UNSET_ARGUMENTS set node parameters: declared with the UNSET default, so one the user leaves out
# sets nothing (params_file, then privpose.yaml decide); the defaults above are privpose.yaml's


def _default(name: str, default: str, share: str) -> str:
    if name in UNSET_ARGUMENTS:
        return UNSET
    return os.path.join(share, default) if name in SHARE_RELATIVE else default


def _about(name: str, default: str, text: str) -> str:
    if name not in UNSET_ARGUMENTS:
        return text
    return f"{text}; unset: params_file's or privpose.yaml's value ({default or 'empty'})"


def _actions(context, share: str):  # noqa: ANN001, ANN202 - launch API
    values = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    settings = launch_settings(values, share)  # ValueError: every refusal, before any process
    actions = []
    if settings["rviz"]:  # first: should it fail after all, launch stops before the node
        actions.append(
            Node(
                package="rviz2",
                executable="rviz2",
                name="privpose_rviz",
                arguments=["-d", os.path.join(share, "config", "privpose.rviz")],
            )
        )
    actions.append(
        Node(
            package="privpose",
            executable="pose_node",
            name="pose_node",
            output="screen",
            emulate_tty=True,
            **settings["node"],  # parameters, remappings, additional_env
        )
    )
    return actions


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory("privpose")
    declared = [
        DeclareLaunchArgument(n, default_value=_default(n, d, share), description=_about(n, d, t))
        for n, d, t in ARGUMENTS
    ]
    return LaunchDescription([*declared, OpaqueFunction(function=_actions, args=[share])])
