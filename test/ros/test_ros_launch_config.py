"""Launch file, parameter YAML and RViz config agree with what the node declares."""

from __future__ import annotations

import ast
import importlib.util
import py_compile
import runpy
from pathlib import Path

import pytest
import yaml
from launch_api_stub import stub_launch_api

from privpose_ros.ros.launch_args import (
    REMAPPED,
    UNSET,
    UNSET_ARGUMENTS,
    node_settings,
    package_executable,
)
from privpose_ros.ros.params import PARAMS, SPECS, validate

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = ROOT / "launch" / "pose.launch.py"
PARAMS_YAML = ROOT / "config" / "privpose.yaml"
RVIZ = ROOT / "config" / "privpose.rviz"
PROFILE = ROOT / "config" / "fastdds_shm.xml"
REFINE_FLAGS = ("use_depth", "refine.lifting", "refine.patch_a", "refine.skeleton_b")
REFINE_FLAGS += ("refine.pointcloud_c",)


def _launch_arguments() -> dict[str, str]:
    tree = ast.parse(LAUNCH.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "ARGUMENTS":
            return {e.elts[0].value: e.elts[1].value for e in node.value.elts}
    raise AssertionError("ARGUMENTS not found in the launch file")


def test_launch_file_compiles_and_declares_the_issue_arguments() -> None:
    py_compile.compile(str(LAUNCH), doraise=True)
    args = _launch_arguments()
    for name in ("camera", "rgb_topic", "camera_info_topic", "depth_topic", "backend", "refine"):
        assert name in args
    assert args["rviz"] == "false" and args["refine"] == "b"


def _real_launch_module():  # noqa: ANN202 - the launch file as a module
    launch = importlib.util.find_spec("launch")
    real = launch is not None and launch.origin is not None
    if not real or importlib.util.find_spec("launch_ros") is None:
        pytest.skip("launch / launch_ros not installed (PyPI ROS runtime): only compiled")
    spec = importlib.util.spec_from_file_location("pose_launch", LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_launch_description_builds_with_the_real_launch_api() -> None:
    description = _real_launch_module().generate_launch_description()
    names = [a.name for a in description.get_launch_arguments()]
    assert names == list(_launch_arguments())


def _perform(arguments: dict[str, str]) -> list:
    """The launch file's entities performed in a real LaunchContext with ``arguments`` given
    (as `ros2 launch ... name:=value` gives them): the actions it would start."""
    module = _real_launch_module()  # skips without the real launch API
    from launch.actions import DeclareLaunchArgument, OpaqueFunction

    from launch import LaunchContext

    module.get_package_share_directory = lambda name: str(ROOT)  # installed or not
    context = LaunchContext()
    context.launch_configurations.update(arguments)
    started: list = []
    for entity in module.generate_launch_description().entities:
        if isinstance(entity, DeclareLaunchArgument):
            entity.execute(context)
        elif isinstance(entity, OpaqueFunction):
            started += entity.execute(context)
    return started


def test_real_launch_api_refuses_bad_arguments_before_any_process() -> None:
    (node,) = _perform({})
    from launch_ros.actions import Node

    assert isinstance(node, Node)
    with pytest.raises(ValueError, match="backend:=bogus: backend must be one of"):
        _perform({"backend": "bogus"})
    if package_executable("rviz2", "rviz2") is None:
        with pytest.raises(ValueError, match="rviz2 is not installed"):
            _perform({"rviz": "true"})
    else:
        assert len(_perform({"rviz": "true"})) == 2


def _defaults() -> dict[str, str]:
    """The launch arguments' documented defaults, typed out (the profile resolved in the
    share)."""
    values = _launch_arguments()
    values["fastdds_profile"] = str(ROOT / values["fastdds_profile"])
    return values


def _declared() -> dict[str, str]:
    """The launch arguments' values as performed when none is given: the ones that set node
    parameters are UNSET, so privpose.yaml (and a params_file) decide."""
    return {**_defaults(), **dict.fromkeys(UNSET_ARGUMENTS, UNSET)}


def test_default_launch_node_parameters_remappings_and_environment() -> None:
    settings = node_settings(_declared(), str(ROOT))
    assert settings["parameters"] == [str(PARAMS_YAML)]  # no argument given: the file decides
    assert settings["remappings"] == [
        ("rgb/image_rect_color", "/camera/color/image_raw"),
        ("rgb/camera_info", "/camera/color/camera_info"),
        ("depth_registered/image_rect", "/camera/aligned_depth_to_color/image_raw"),
    ]
    assert settings["additional_env"] == {"FASTDDS_DEFAULT_PROFILES_FILE": str(PROFILE)}


def test_documented_defaults_typed_out_are_privpose_yaml_values() -> None:
    """The defaults the launch file documents are what the node gets when they are unset."""
    settings = node_settings(_defaults(), str(ROOT))
    defaults_yaml, overrides = settings["parameters"]
    assert defaults_yaml == str(PARAMS_YAML)
    assert overrides == {
        "model": "blazepose",
        "camera.rectified": True,
        "backend": "auto",
        "device": "cpu",
        "use_depth": True,
        "refine.lifting": True,
        "refine.patch_a": False,
        "refine.skeleton_b": True,
        "refine.pointcloud_c": False,
        "tf.enabled": False,
        "transport.rgb": "raw",
        "transport.depth": "raw",
    }  # target_frame's default, "", is UNSET itself
    loaded = yaml.safe_load(PARAMS_YAML.read_text())["/**"]["ros__parameters"]
    for name, value in overrides.items():  # declared by the node, with the declared type
        assert not validate(name, value), (name, value)  # None or "": accepted
        assert loaded[name] == value, name
    assert loaded["target_frame"] == _launch_arguments()["target_frame"] == ""


def test_remappings_name_the_topics_the_node_subscribes() -> None:
    pytest.importorskip("rclpy", reason="rclpy not installed: run `make setup`")
    from privpose_ros.ros.node_setup import DEPTH_TOPIC, INFO_TOPIC, RGB_TOPIC

    assert [topic for topic, _ in REMAPPED] == [RGB_TOPIC, INFO_TOPIC, DEPTH_TOPIC]


@pytest.mark.parametrize(
    ("refine", "flags"),
    [
        ("none", (False, False, False, False, False)),  # RGB-only: no depth subscription
        ("lifting", (True, True, False, False, False)),
        ("b", (True, True, False, True, False)),
        ("ab", (True, True, True, True, False)),
        ("abc", (True, True, True, True, True)),
    ],
)
def test_refine_argument_sets_depth_and_the_modules(refine: str, flags: tuple) -> None:
    overrides = node_settings({**_defaults(), "refine": refine}, str(ROOT))["parameters"][-1]
    assert tuple(overrides[name] for name in REFINE_FLAGS) == flags


def test_launch_arguments_reach_the_node(tmp_path: Path) -> None:
    params_file = tmp_path / "privpose.yaml"
    params_file.write_text("/**:\n  ros__parameters:\n    threads: 2\n")
    values = {
        **_defaults(),
        "camera": "/k4a/",
        "rgb_topic": "rgb/image_raw",
        "camera_info_topic": "rgb/camera_info",
        "depth_topic": "depth_to_rgb/image_raw",
        "rectified": "False",
        "model": "privpose",
        "backend": "tensorrt",
        "device": "cuda:0",
        "tf": "true",
        "target_frame": "base_link",
        "rgb_transport": "compressed",
        "depth_transport": "compressedDepth",
        "params_file": str(params_file),
        "fastdds_profile": "none",
    }
    settings = node_settings(values, "/opt/share/privpose")
    # the package defaults, then the user's file, then the arguments (later files win)
    assert settings["parameters"][:2] == [
        "/opt/share/privpose/config/privpose.yaml",
        str(params_file),
    ]
    overrides = settings["parameters"][2]
    assert overrides["camera.rectified"] is False and overrides["tf.enabled"] is True
    assert (overrides["model"], overrides["backend"], overrides["device"]) == (
        "privpose",
        "tensorrt",
        "cuda:0",
    )
    assert overrides["target_frame"] == "base_link"
    assert (overrides["transport.rgb"], overrides["transport.depth"]) == (
        "compressed",
        "compressedDepth",
    )
    assert settings["remappings"] == [
        ("rgb/image_rect_color", "/k4a/rgb/image_raw"),
        ("rgb/camera_info", "/k4a/rgb/camera_info"),
        ("depth_registered/image_rect", "/k4a/depth_to_rgb/image_raw"),
    ]
    assert settings["additional_env"] is None  # no profile: the environment's own setting


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("refine", "c", "refine must be one of"),
        ("tf", "yes", "tf must be true or false"),
        ("rectified", "maybe", "rectified must be true or false"),
        ("fastdds_profile", str(ROOT / "missing.xml"), "is not a file"),
    ],
)
def test_bad_launch_arguments_are_refused(name: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        node_settings({**_defaults(), name: value}, str(ROOT))


def test_launch_file_runs_the_node_with_the_helper_settings(monkeypatch) -> None:
    """The launch function itself (stand-in launch API): the node gets node_settings()."""
    stub_launch_api(monkeypatch)
    description = runpy.run_path(str(LAUNCH))["generate_launch_description"]()
    *declared, opaque = description.args[0]
    assert [a.args[0] for a in declared] == list(_launch_arguments())
    performed = {a.args[0]: a.kwargs["default_value"] for a in declared}
    assert performed == _declared()  # the profile default is the installed file, absolute
    performed.update(camera="/zed", rgb_topic="left/image_rect_color", refine="none")
    (node,) = opaque.kwargs["function"](performed, *opaque.kwargs["args"])
    assert node.kwargs["package"] == "privpose" and node.kwargs["executable"] == "pose_node"
    expected = node_settings(performed, str(ROOT))
    for key in ("parameters", "remappings", "additional_env"):
        assert node.kwargs[key] == expected[key], key
    assert node.kwargs["remappings"][0] == ("rgb/image_rect_color", "/zed/left/image_rect_color")
    assert node.kwargs["parameters"][-1] == dict.fromkeys(REFINE_FLAGS, False)  # refine:=none


def test_params_yaml_matches_the_declared_parameters() -> None:
    loaded = yaml.safe_load(PARAMS_YAML.read_text())["/**"]["ros__parameters"]
    assert set(loaded) == {p.name for p in PARAMS}  # every one, the joint names included
    for name, value in loaded.items():
        default = SPECS[name].default
        if isinstance(default, tuple):  # a string list: a YAML sequence
            value = tuple(value)
        assert value == default, name
        assert type(value) is type(default), name


def test_rviz_config_shows_markers_keypoints_and_tf() -> None:
    config = yaml.safe_load(RVIZ.read_text())
    displays = config["Visualization Manager"]["Displays"]
    topics = {d["Class"]: d.get("Topic", {}).get("Value") for d in displays}
    assert topics["rviz_default_plugins/MarkerArray"] == "/human_pose/markers"
    assert topics["rviz_default_plugins/PointCloud2"] == "/human_pose/keypoints"
    assert topics["rviz_default_plugins/PoseArray"] == "/human_pose"
    assert "rviz_default_plugins/TF" in topics
