"""The node loads config/privpose.yaml through the real rcl parser and rejects bad values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy not installed: run `make setup`")
from conftest import FakeEstimator, fake_pipeline  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from privpose_ros.ros.node import PoseNode  # noqa: E402
from privpose_ros.ros.params import PARAMS  # noqa: E402

PARAMS_YAML = Path(__file__).resolve().parents[2] / "config" / "privpose.yaml"


@pytest.fixture
def context():
    ctx = rclpy.Context()
    rclpy.init(context=ctx, args=["--ros-args", "--params-file", str(PARAMS_YAML)])
    yield ctx
    rclpy.shutdown(context=ctx)


def test_yaml_loads_declares_everything_and_bad_values_are_rejected(context) -> None:
    node = PoseNode(
        pipeline_factory=lambda config: fake_pipeline(FakeEstimator()),
        context=context,
        parameter_overrides=[Parameter("sync.slop_s", value=0.05)],
    )
    try:
        assert node.config is not None and node.config.sync.slop_s == 0.05
        assert node._sync is not None  # autostart: configured and active
        for spec in PARAMS:
            assert node.has_parameter(spec.name)
        descriptor = node.describe_parameter("sync.queue_size")
        assert descriptor.integer_range[0].from_value == 1
        assert "ApproximateTimeSynchronizer" in descriptor.description
        bad = node.set_parameters(
            [Parameter("backend", value="cuda"), Parameter("tf.rate_hz", value=-1.0)]
        )
        assert not bad[0].successful and "one of" in bad[0].reason
        assert not bad[1].successful
        assert node.get_parameter("backend").value == "auto"
        assert node.set_parameters([Parameter("confidence_threshold", value=0.5)])[0].successful
        # a configure that fails (unknown joint name) is refused with a reason, no crash
        node.set_parameters([Parameter("skeleton.joint_names", value=["wing"])])
        node.trigger_deactivate()
        node.trigger_cleanup()
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert node._pipeline is None
    finally:
        node.destroy_node()


def test_node_defaults_are_the_offline_pipeline_defaults() -> None:
    """`privpose infer` / `eval` build PipelineConfig() directly: the node's parameter defaults
    must give exactly the same pipeline."""
    from privpose_ros.ros.params import config_from_values
    from privpose_ros.ros.processing import pipeline_config
    from privpose_ros.runtime.pipeline import PipelineConfig

    assert pipeline_config(config_from_values({})) == PipelineConfig()


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ("frontend.max_persons:=0", "frontend.max_persons out of range. Min: 1, Max: 32"),
        ("tf.enabled:=3", "'tf.enabled' to '3' of type 'INTEGER', expecting type 'BOOL'"),
        ("backend:=cuda", "backend must be one of ['auto', 'tensorrt', 'onnxruntime', 'torch']"),
    ],
)
def test_pose_node_exits_1_with_one_line_on_a_bad_startup_parameter(
    override: str, reason: str
) -> None:
    command = [sys.executable, "-m", "privpose_ros.ros.node", "--ros-args", "-p", override]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert proc.returncode == 1
    assert len(lines) == 1 and "[ERROR]" in lines[0] and reason in lines[0], lines
