"""pose.launch.py run for real (issue 21) showed four faults; each is pinned here through the
builder (privpose_ros.ros.launch_args) and the launch function (stand-in launch API):

- ``rviz:=true`` without rviz2: launch failed only after the node had started (orphaned);
- ``fastdds_profile:=`` is malformed for ros2 launch and ``'""'`` was refused: no way to say
  "no profile";
- a params_file value lost to the launch arguments' defaults, typed or not;
- ``backend:=bogus`` reached the node (which exited 1) while launch exited 0.
"""

from __future__ import annotations

import os
import re
import runpy
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from launch_api_stub import stub_launch_api

from privpose_ros.ros.launch_args import (
    PARAMETER_ARGUMENTS,
    REFINE_PARAMETERS,
    UNSET,
    UNSET_ARGUMENTS,
    launch_settings,
    node_settings,
    package_executable,
)

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = ROOT / "launch" / "pose.launch.py"
PARAMS_YAML = ROOT / "config" / "privpose.yaml"
DOCS = (ROOT / "README.md", ROOT / "docs" / "ros.md")


def _launch() -> tuple[dict[str, str], Any]:
    """The performed default values and the OpaqueFunction of the launch file."""
    description = runpy.run_path(str(LAUNCH))["generate_launch_description"]()
    *declared, opaque = description.args[0]
    return {a.args[0]: a.kwargs["default_value"] for a in declared}, opaque


def _run(opaque: Any, values: dict[str, str]) -> list:
    return opaque.kwargs["function"](values, *opaque.kwargs["args"])


def _declared() -> dict[str, str]:
    """The values the launch file performs when no argument is given (no launch API)."""
    tree = runpy.run_path(str(LAUNCH), run_name="not_launched")  # imports need the stand-ins
    share = str(ROOT)
    return {n: tree["_default"](n, d, share) for n, d, _ in tree["ARGUMENTS"]}


@pytest.fixture(autouse=True)
def _stand_ins(monkeypatch: pytest.MonkeyPatch) -> None:
    stub_launch_api(monkeypatch)  # runpy of the launch file needs the launch imports


def _rviz2_prefix(root: Path, executable: bool = True) -> Path:
    """An install prefix holding package rviz2 (ament index marker, lib/rviz2/rviz2)."""
    index = root / "share" / "ament_index" / "resource_index" / "packages"
    index.mkdir(parents=True)
    (index / "rviz2").write_text("")
    binary = root / "lib" / "rviz2" / "rviz2"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    if executable:
        binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    return root


def _effective(parameters: list) -> dict[str, Any]:
    """The values pose_node ends up with: the files and dicts in order, later ones winning
    (rcl's rule), each file's ``/**`` and ``pose_node`` sections."""
    merged: dict[str, Any] = {}
    for entry in parameters:
        if isinstance(entry, dict):
            merged.update(entry)
            continue
        loaded = yaml.safe_load(Path(entry).read_text())
        for section in ("/**", "pose_node", "/pose_node"):
            merged.update(loaded.get(section, {}).get("ros__parameters", {}))
    return merged


# ---- 1. rviz:=true without rviz2: launch fails before any process, no orphan node ----------
def test_missing_rviz2_fails_launch_before_the_node_is_made(monkeypatch) -> None:
    nodes = stub_launch_api(monkeypatch)  # the ament index knows no rviz2
    values, opaque = _launch()
    with pytest.raises(ValueError, match=r"rviz:=true but rviz2 is not installed") as error:
        _run(opaque, {**values, "rviz": "true"})
    assert "rviz:=false" in str(error.value)  # the way out, named
    assert nodes == []  # neither the pose_node nor RViz action exists: nothing to orphan


def test_rviz_starts_before_the_node_when_rviz2_is_installed(monkeypatch, tmp_path) -> None:
    nodes = stub_launch_api(monkeypatch, prefixes={"rviz2": str(_rviz2_prefix(tmp_path))})
    values, opaque = _launch()
    rviz, node = _run(opaque, {**values, "rviz": "True"})
    # RViz first: should its executable fail to resolve after all, launch stops before the node
    assert (rviz.kwargs["package"], rviz.kwargs["executable"]) == ("rviz2", "rviz2")
    assert rviz.kwargs["arguments"] == ["-d", str(ROOT / "config" / "privpose.rviz")]
    assert "condition" not in rviz.kwargs  # decided here, not by an IfCondition later
    assert node.kwargs["executable"] == "pose_node"
    assert [n["package"] for n in nodes] == ["rviz2", "privpose"]


def test_rviz_false_needs_no_rviz2(monkeypatch) -> None:
    stub_launch_api(monkeypatch)
    values, opaque = _launch()
    (node,) = _run(opaque, values)  # rviz defaults to false
    assert node.kwargs["executable"] == "pose_node"


def test_rviz_flag_is_checked() -> None:
    with pytest.raises(ValueError, match="rviz must be true or false"):
        launch_settings({**_typed(), "rviz": "yes"}, str(ROOT), find=lambda p, e: "/x")


def test_package_executable_resolves_like_launch_ros(monkeypatch, tmp_path) -> None:
    """The real ament_index_python: <prefix of package>/lib/<package>/<executable>."""
    for name in ("ament_index_python.packages", "ament_index_python"):  # not the stand-ins
        monkeypatch.delitem(sys.modules, name)
    pytest.importorskip("ament_index_python.packages")
    empty = str(tmp_path / "empty")
    monkeypatch.setenv("AMENT_PREFIX_PATH", empty)
    assert package_executable("rviz2", "rviz2") is None  # no such package
    prefix = _rviz2_prefix(tmp_path / "ros")
    monkeypatch.setenv("AMENT_PREFIX_PATH", os.pathsep.join([empty, str(prefix)]))
    assert package_executable("rviz2", "rviz2") == str(prefix / "lib" / "rviz2" / "rviz2")
    assert package_executable("rviz2", "rviz3") is None
    other = _rviz2_prefix(tmp_path / "broken", executable=False)
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(other))
    assert package_executable("rviz2", "rviz2") is None  # not executable: launch_ros fails too


# ---- 2. fastdds_profile:=none (and '""') means no profile ----------------------------------
@pytest.mark.parametrize("value", ["none", "None", '""', "''", ""])
def test_fastdds_profile_none_runs_without_a_profile(value: str) -> None:
    settings = node_settings({**_typed(), "fastdds_profile": value}, str(ROOT))
    assert settings["additional_env"] is None  # the environment's own setting stands


def test_a_missing_fastdds_profile_names_the_way_to_none() -> None:
    with pytest.raises(ValueError, match=r"is not a file \(none: no profile\)"):
        node_settings({**_typed(), "fastdds_profile": "/no/such.xml"}, str(ROOT))


def _documented_launch_commands() -> list[tuple[str, str]]:
    commands = []
    for path in DOCS:
        text = re.sub(r"\\\n\s*", " ", path.read_text())  # join continued lines
        for line in text.splitlines():
            if "ros2 launch privpose pose.launch.py" in line:
                command = line.split("ros2 launch privpose pose.launch.py", 1)[1]
                commands.append((path.name, command.split("#", 1)[0]))
    return commands


def test_documented_launch_commands_parse_for_ros2_launch() -> None:
    """Every `ros2 launch privpose pose.launch.py ...` in README.md and docs/ros.md uses declared
    arguments in a form ros2 launch accepts (its rule: `name:=value`, value not empty)."""
    names = {n for n, _, _ in runpy.run_path(str(LAUNCH), run_name="x")["ARGUMENTS"]}
    commands = _documented_launch_commands()
    assert len(commands) >= 10
    for where, command in commands:
        for token in command.split():
            name, sep, value = token.partition(":=")
            assert sep and value and name, (where, command, token)  # ros2 launch: malformed
            assert name in names, (where, token)
    documented = " ".join(c for _, c in commands)
    assert "fastdds_profile:=none" in documented


# ---- 3. params_file wins over arguments the user did not type ------------------------------
def _typed() -> dict[str, str]:
    """Every launch argument typed out with its documented default (profile: the shipped one)."""
    tree = runpy.run_path(str(LAUNCH), run_name="x")
    values = {n: d for n, d, _ in tree["ARGUMENTS"]}
    values["fastdds_profile"] = str(ROOT / values["fastdds_profile"])
    return values


ROBOT_FILE = {  # a robot's params_file setting every parameter a launch argument could set
    "model": "privpose",
    "camera.rectified": False,
    "backend": "onnxruntime",
    "device": "cuda:1",
    "use_depth": True,
    "refine.lifting": True,
    "refine.patch_a": True,
    "refine.skeleton_b": False,
    "refine.pointcloud_c": True,
    "tf.enabled": True,
    "target_frame": "base_link",
    "transport.rgb": "compressed",
    "transport.depth": "compressedDepth",
    "threads": 3,
}


def _robot_file(tmp_path: Path) -> str:
    path = tmp_path / "robot.yaml"
    path.write_text(yaml.safe_dump({"/**": {"ros__parameters": ROBOT_FILE}}))
    return str(path)


def test_parameter_arguments_are_declared_unset() -> None:
    values = _declared()
    assert set(UNSET_ARGUMENTS) == {*PARAMETER_ARGUMENTS, "refine"}
    for name in UNSET_ARGUMENTS:
        assert values[name] == UNSET, name
    assert values["rviz"] == "false" and values["camera"] == "/camera"  # not parameters


def test_no_argument_given_sets_no_parameter() -> None:
    settings = node_settings(_declared(), str(ROOT))
    assert settings["parameters"] == [str(PARAMS_YAML)]
    settings = node_settings({**_declared(), "params_file": '""'}, str(ROOT))  # typed empty
    assert settings["parameters"] == [str(PARAMS_YAML)]


def test_unset_arguments_give_the_documented_defaults() -> None:
    """Leaving them out changes nothing against the old typed-out defaults: privpose.yaml holds
    the values the launch file documents."""
    unset = _effective(node_settings(_declared(), str(ROOT))["parameters"])
    typed = _effective(node_settings(_typed(), str(ROOT))["parameters"])
    assert unset == typed


def test_params_file_wins_over_arguments_not_typed(tmp_path: Path) -> None:
    values = {**_declared(), "params_file": _robot_file(tmp_path)}
    parameters = node_settings(values, str(ROOT))["parameters"]
    assert parameters == [str(PARAMS_YAML), values["params_file"]]
    effective = _effective(parameters)
    for name, value in ROBOT_FILE.items():
        assert effective[name] == value, name


def test_typed_arguments_win_over_params_file(tmp_path: Path) -> None:
    values = {
        **_declared(),
        "params_file": _robot_file(tmp_path),
        "backend": "torch",
        "rectified": "true",
        "refine": "none",
        "target_frame": '""',  # typed empty: the camera frame, over the file's base_link
    }
    effective = _effective(node_settings(values, str(ROOT))["parameters"])
    assert (effective["backend"], effective["camera.rectified"]) == ("torch", True)
    assert effective["target_frame"] == ""
    assert [effective[name] for name in REFINE_PARAMETERS] == [False] * 5
    untyped = ("model", "device", "tf.enabled", "transport.rgb", "transport.depth", "threads")
    for name in untyped:
        assert effective[name] == ROBOT_FILE[name], name


# ---- 4. bad values stop launch, with the node's own rule, in one message -------------------
@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("backend", "bogus", "backend must be one of ['auto', "),
        ("model", "openpose", "model must be one of"),
        ("rgb_transport", "jpeg", "transport.rgb must be one of"),
        ("depth_transport", "compressed", "transport.depth must be one of"),
        ("refine", "c", "refine must be one of"),
        ("tf", "yes", "tf must be true or false"),
        ("rectified", "maybe", "rectified must be true or false"),
        ("params_file", "/no/robot.yaml", "params_file '/no/robot.yaml' is not a file"),
    ],
)
def test_bad_arguments_are_refused_with_the_node_rule(name: str, value: str, reason: str) -> None:
    with pytest.raises(ValueError) as error:
        node_settings({**_declared(), name: value}, str(ROOT))
    message = str(error.value)
    assert message.startswith("pose.launch.py: launch argument refused: ")
    assert reason in message and "\n" not in message


def test_every_refusal_in_one_message() -> None:
    values = {**_declared(), "backend": "bogus", "tf": "maybe", "rviz": "true"}
    with pytest.raises(ValueError) as error:
        launch_settings(values, str(ROOT), find=lambda package, executable: None)
    message = str(error.value)
    assert message.startswith("pose.launch.py: launch arguments refused: ")
    assert "backend:=bogus: backend must be one of" in message
    assert "tf must be true or false" in message and "rviz2 is not installed" in message


def test_a_bad_backend_stops_launch_before_the_node(monkeypatch) -> None:
    nodes = stub_launch_api(monkeypatch)
    values, opaque = _launch()
    with pytest.raises(ValueError, match=r"backend:=bogus: backend must be one of"):
        _run(opaque, {**values, "backend": "bogus"})
    assert nodes == []
