"""Launch file, parameter YAML and RViz config agree with what the node declares."""

from __future__ import annotations

import ast
import importlib.util
import py_compile
from pathlib import Path

import pytest
import yaml

from privpose_ros.ros.params import PARAMS, SPECS

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = ROOT / "launch" / "pose.launch.py"
PARAMS_YAML = ROOT / "config" / "privpose.yaml"
RVIZ = ROOT / "config" / "privpose.rviz"


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


def test_launch_description_builds_with_the_real_launch_api() -> None:
    launch = importlib.util.find_spec("launch")
    real = launch is not None and launch.origin is not None
    if not real or importlib.util.find_spec("launch_ros") is None:
        pytest.skip("launch / launch_ros not installed (PyPI ROS runtime): only compiled")
    spec = importlib.util.spec_from_file_location("pose_launch", LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    names = [a.name for a in description.get_launch_arguments()]
    assert names == list(_launch_arguments())


def test_params_yaml_matches_the_declared_parameters() -> None:
    loaded = yaml.safe_load(PARAMS_YAML.read_text())["/**"]["ros__parameters"]
    declared = {p.name for p in PARAMS}
    # an empty string list cannot be written in ROS parameter YAML: it is documented, commented
    assert set(loaded) == declared - {"skeleton.joint_names"}
    assert "# skeleton.joint_names:" in PARAMS_YAML.read_text()
    for name, value in loaded.items():
        assert value == SPECS[name].default, name
        assert type(value) is type(SPECS[name].default), name


def test_rviz_config_shows_markers_keypoints_and_tf() -> None:
    config = yaml.safe_load(RVIZ.read_text())
    displays = config["Visualization Manager"]["Displays"]
    topics = {d["Class"]: d.get("Topic", {}).get("Value") for d in displays}
    assert topics["rviz_default_plugins/MarkerArray"] == "/human_pose/markers"
    assert topics["rviz_default_plugins/PointCloud2"] == "/human_pose/keypoints"
    assert topics["rviz_default_plugins/PoseArray"] == "/human_pose"
    assert "rviz_default_plugins/TF" in topics
