"""The one parameter declaration: typed fields <-> ROS names, generated YAML, typo-proof reads."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import time
from pathlib import Path

import pytest
import yaml

from privpose_ros.apps import demo_cmd
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.ros.params import (
    PARAMS,
    SPECS,
    NodeConfig,
    config_from_values,
    declared_params,
    group,
    param,
    param_value,
)
from privpose_ros.ros.params_yaml import PARAMS_YAML, main, render_params_yaml, yaml_value

ROOT = Path(__file__).resolve().parents[2]
ROS_PKG = ROOT / "privpose_ros" / "ros"


def _leaf_paths(value: object, prefix: str = "") -> dict[str, object]:
    """{dotted attribute path: value} of every parameter field of a NodeConfig instance."""
    found: dict[str, object] = {}
    for f in dataclasses.fields(value):
        if not f.init:
            continue
        child = getattr(value, f.name)
        if dataclasses.is_dataclass(child):
            found.update(_leaf_paths(child, f"{prefix}{f.name}."))
        else:
            found[prefix + f.name] = child
    return found


def test_every_ros_name_is_the_attribute_path_of_a_typed_field_and_back() -> None:
    leaves = _leaf_paths(NodeConfig())
    assert list(leaves) == [spec.name for spec in PARAMS]
    assert len(PARAMS) == 56 and len(SPECS) == 56
    for spec in PARAMS:
        assert leaves[spec.name] == spec.default and type(leaves[spec.name]) is type(spec.default)
    config = config_from_values({"frontend.detect_every_n": 3, "tracking.max_age_s": 2})
    assert config.frontend.detect_every_n == 3
    assert config.tracking.max_age_s == 2.0 and type(config.tracking.max_age_s) is float
    assert param_value(config, "frontend.detect_every_n") == 3
    assert config.frontend.max_persons == 6 and config.sync == NodeConfig().sync  # defaults


def test_a_typo_in_a_name_fails() -> None:
    config = NodeConfig()
    with pytest.raises(AttributeError):
        config.tracking.max_age  # noqa: B018 - the typo being tested
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.tracking.max_age_s = 2.0  # type: ignore[misc]
    with pytest.raises(PrivposeInputError, match=r"unknown parameters \['tracking.max_age'\]"):
        config_from_values({"tracking.max_age": 2.0})
    with pytest.raises(TypeError, match="max_age"):
        NodeConfig(tracking=type(config.tracking)(max_age=2.0))  # type: ignore[call-arg]


def test_bad_values_are_rejected_with_every_reason() -> None:
    with pytest.raises(PrivposeInputError) as info:
        config_from_values({"tf.rate_hz": -1.0, "backend": "cuda", "tracking.enabled": 1})
    reasons = str(info.value).split("; ")
    assert reasons == [
        "tracking.enabled must be bool, got int 1",
        "backend must be one of ['auto', 'tensorrt', 'onnxruntime', 'torch'], got 'cuda'",
        "tf.rate_hz must be >= 0.1, got -1.0",
    ]
    with pytest.raises(PrivposeInputError, match="frontend.max_persons must be <= 32, got 33"):
        NodeConfig(frontend=dataclasses.replace(NodeConfig().frontend, max_persons=33))
    config = config_from_values({"skeleton.joint_names": ["neck", "pelvis"]})
    assert config.skeleton.joint_names == ("neck", "pelvis") and config.output_indices == (2, 0)
    with pytest.raises(PrivposeInputError, match="must be a list of strings"):
        config_from_values({"skeleton.joint_names": [1]})


@dataclasses.dataclass(frozen=True)
class _Untagged:
    gate_3d_m: float = 0.5  # neither param() nor group()


@dataclasses.dataclass(frozen=True)
class _WrongType:
    gate_3d_m: int = param(0.5, "declared int, defaults to a float")


@dataclasses.dataclass
class _NotFrozen:
    gate_3d_m: float = param(0.5, "mutable")


@dataclasses.dataclass(frozen=True)
class _Good:
    gate_3d_m: float = param(0.5, "a gate (m)", (), 0.0, 2.0)


@dataclasses.dataclass(frozen=True)
class _Nested:
    enabled: bool = param(True, "on")
    tracking: _Good = group(_Good)


def test_the_declaration_check_rejects_fields_that_are_not_typed_parameters() -> None:
    with pytest.raises(TypeError, match="_Untagged.gate_3d_m is neither a param"):
        declared_params(_Untagged)
    with pytest.raises(TypeError, match="gate_3d_m is declared int but defaults to 0.5"):
        declared_params(_WrongType)
    with pytest.raises(TypeError, match="_NotFrozen must be a frozen dataclass"):
        declared_params(_NotFrozen)
    specs = declared_params(_Nested)
    assert [(s.name, s.default, s.max_value) for s in specs] == [
        ("enabled", True, None),
        ("tracking.gate_3d_m", 0.5, 2.0),
    ]


def _config_reads(source: str) -> list[tuple[int, list[str]]]:
    """(line, attribute chain) of every ``config.a.b`` / ``self.config.a.b`` in ``source``."""
    reads = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute):
            continue
        chain, root = [], node
        while isinstance(root, ast.Attribute):
            chain.insert(0, root.attr)
            root = root.value
        if isinstance(root, ast.Name) and root.id == "self" and chain[:1] == ["config"]:
            chain = chain[1:]
        elif not (isinstance(root, ast.Name) and root.id == "config"):
            continue
        if chain:
            reads.append((node.lineno, chain))
    return reads


def _unresolved(source: str) -> list[str]:
    config, missing = NodeConfig(), []
    for line, chain in _config_reads(source):
        value = config
        for attr in chain:
            if not hasattr(value, attr):
                missing.append(f"{line}: config.{'.'.join(chain)}")
                break
            value = getattr(value, attr)
    return missing


def test_the_node_reads_only_declared_fields() -> None:
    """Every config read in privpose_ros/ros resolves on a NodeConfig (a typo fails here, not
    on the first frame); the checker itself catches one."""
    sources = {p.name: p.read_text() for p in sorted(ROS_PKG.glob("*.py"))}
    assert {n: _unresolved(s) for n, s in sources.items() if _unresolved(s)} == {}
    reads = sum(len(_config_reads(sources[n])) for n in ("node.py", "processing.py"))
    assert reads > 40
    bad = "def f(self, config):\n    return config.tracking.gate_3d_m + self.config.tf.rate\n"
    assert _unresolved(bad) == ["2: config.tracking.gate_3d_m", "2: config.tf.rate"]


def test_params_yaml_is_generated_from_the_declaration(tmp_path, capsys) -> None:
    text = render_params_yaml()
    assert PARAMS_YAML.read_text() == text, "run python -m privpose_ros.ros.params_yaml"
    loaded = yaml.safe_load(text)["/**"]["ros__parameters"]
    assert loaded["frontend.detect_every_n"] == 5 and loaded["sync.slop_s"] == 0.02
    assert "    # which person /human_pose carries (one of most_confident, nearest)\n" in text
    assert "(range 128 to 1536)\n    frontend.detector_long_side_px: 512\n" in text
    assert main(["--check"]) == 0
    stale = tmp_path / "privpose.yaml"
    stale.write_text(text.replace("detect_every_n: 5", "detect_every_n: 4"))
    assert main(["--check", "--output", str(stale)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "differs from the parameter declaration" in err
    assert main(["--output", str(stale)]) == 0 and stale.read_text() == text


def test_yaml_values_keep_their_types() -> None:
    for value in (True, 0, 512, 0.02, 1.0, 1e-05, "", 'a "b"', ("neck", "pelvis")):
        loaded = yaml.safe_load(f"x: {yaml_value(value)}")["x"]
        expected = list(value) if isinstance(value, tuple) else value
        assert loaded == expected and type(loaded) is type(expected), value


def test_the_demo_sets_only_declared_parameters() -> None:
    """(The launch file's parameters are checked in test_ros_launch_config.py.)"""
    parser = argparse.ArgumentParser()
    demo_cmd.add_arguments(parser)
    command = demo_cmd._node_command(parser.parse_args([]))
    names = {a.split(":=")[0] for a in command[command.index("--ros-args") + 1 :] if ":=" in a}
    assert {"weights_path", "qos.camera_info"} <= names and names - set(SPECS) == set()


def test_the_demo_refine_choice_sets_the_launch_files_flags() -> None:
    parser = argparse.ArgumentParser()
    demo_cmd.add_arguments(parser)
    command = demo_cmd._node_command(parser.parse_args(["--refine", "ab"]))
    values = dict(a.split(":=") for a in command[command.index("--ros-args") + 1 :] if ":=" in a)
    flags = ("use_depth", "refine.lifting", "refine.patch_a", "refine.skeleton_b")
    assert [values[name] for name in flags] == ["true"] * 4
    assert values["refine.pointcloud_c"] == "false"
    none = demo_cmd._node_command(parser.parse_args(["--refine", "none"]))
    assert "use_depth:=false" in none and "refine.lifting:=false" in none


def test_detector_side_rule_is_the_runtimes_at_every_step() -> None:
    """frontend.detector_long_side_px=500 is in range but not a multiple of 32: refused by the
    one rule (the runtime FrontEndConfig's) at validate / configure, with a reason to fix it."""
    from privpose_ros.ros.params import validate
    from privpose_ros.ros.processing import pipeline_config

    reason = validate("frontend.detector_long_side_px", 500)
    assert reason and "frontend.detector_long_side_px" in reason and "multiple of 32" in reason
    assert validate("frontend.detector_long_side_px", 480) is None
    with pytest.raises(PrivposeInputError, match="multiple of 32"):
        config_from_values({"frontend.detector_long_side_px": 500})
    pipeline_config(config_from_values({"frontend.detector_long_side_px": 480}))


def test_a_real_node_refuses_at_set_time_with_the_reason_and_dumps_joint_names() -> None:
    """A real rclpy PoseNode (not started): the refusal reason reaches the SetParameters
    service caller; the joint names are a declared value (`ros2 param dump` lists them); a bad
    startup value is refused at declaration with the same reason."""
    rclpy = pytest.importorskip("rclpy", reason="rclpy not installed: run `make setup`")
    from rcl_interfaces.msg import Parameter as ParameterMsg
    from rcl_interfaces.msg import ParameterType, ParameterValue
    from rcl_interfaces.srv import GetParameters, SetParameters
    from rclpy.exceptions import InvalidParameterValueException
    from rclpy.parameter import Parameter

    from privpose_ros.core.joints import CANONICAL
    from privpose_ros.ros.node import PoseNode
    from privpose_ros.ros.spinning import BackgroundSpinner

    context = rclpy.Context()
    rclpy.init(context=context)
    autostart = [Parameter("autostart", value=False)]
    node = PoseNode(context=context, parameter_overrides=autostart)
    client_node = rclpy.create_node("privpose_param_client", context=context)
    spinner = BackgroundSpinner(node, context)
    spinner.executor.add_node(client_node)

    def answer(future):  # noqa: ANN001, ANN202 - an rclpy Future and its result
        deadline = time.monotonic() + 10
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.01)
        return future.result()

    try:
        setter = client_node.create_client(SetParameters, "/pose_node/set_parameters")
        getter = client_node.create_client(GetParameters, "/pose_node/get_parameters")
        assert setter.wait_for_service(timeout_sec=10) and getter.wait_for_service(10)
        value = ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=500)
        request = SetParameters.Request(
            parameters=[ParameterMsg(name="frontend.detector_long_side_px", value=value)]
        )
        (result,) = answer(setter.call_async(request)).results
        assert not result.successful
        assert "frontend.detector_long_side_px" in result.reason, result.reason
        assert "multiple of 32" in result.reason, result.reason
        assert node.get_parameter("frontend.detector_long_side_px").value == 512
        request = GetParameters.Request(names=["skeleton.joint_names"])
        (got,) = answer(getter.call_async(request)).values
        assert got.type == ParameterType.PARAMETER_STRING_ARRAY
        assert tuple(got.string_array_value) == CANONICAL.joint_names
        assert node.get_parameters(["skeleton.joint_names"])[0].value == list(
            CANONICAL.joint_names
        )
    finally:
        spinner.close()
        client_node.destroy_node()
        node.destroy_node()
    bad = [*autostart, Parameter("frontend.detector_long_side_px", value=500)]
    with pytest.raises(InvalidParameterValueException, match="multiple of 32"):
        PoseNode(context=context, parameter_overrides=bad).destroy_node()
    rclpy.shutdown(context=context)


def test_default_joint_names_mean_the_whole_joint_set() -> None:
    from privpose_ros.core.joints import CANONICAL, get_joint_set

    assert SPECS["skeleton.joint_names"].default == CANONICAL.joint_names
    config = config_from_values({"skeleton.joint_set": "coco17"})
    assert config.output_joint_names == get_joint_set("coco17").joint_names
    assert config_from_values({}).output_joint_names == CANONICAL.joint_names
