"""End to end in a real graph: `python -m privpose_ros.ros.node` in its own process, a fixture
camera publishing generator frames, a subscriber checking /human_pose, markers and TF."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy not installed: run `make setup`")
from geometry_msgs.msg import PoseArray  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from tf2_msgs.msg import TFMessage  # noqa: E402
from visualization_msgs.msg import Marker, MarkerArray  # noqa: E402

from privpose_ros.apps.replay import FIXTURE_FRAME, CameraReplayer, synthetic_frames  # noqa: E402
from privpose_ros.core.joints import CANONICAL  # noqa: E402
from privpose_ros.ros.pose_msgs import stamp_ns_of  # noqa: E402
from privpose_ros.ros.spinning import BackgroundSpinner  # noqa: E402

SHIPPED = Path(__file__).resolve().parents[2] / "privpose_ros" / "weights" / "rgb_hall.safetensors"
# Accuracy of /human_pose against the generator's ground truth with the shipped v2 weights and
# depth (lifting + B), judged against the same model without depth on the same 16 frames: depth
# must cut the median depth (z) error by a quarter and the median joint error by 15 % (the
# bounds the whole-image model met; not yet measured with v2 weights).
DEPTH_Z_RATIO = 0.75
DEPTH_MEDIAN_RATIO = 0.85
RELIABLE = QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE)


def _run_graph(params: dict, frames, count: int, timeout_s: float = 120.0):
    command = [sys.executable, "-m", "privpose_ros.ros.node", "--ros-args"]
    for name, value in params.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        command += ["-p", f"{name}:={text}"]
    command += ["-p", "qos.rgb:=reliable", "-p", "qos.depth:=reliable"]
    command += ["-p", "qos.camera_info:=reliable"]
    proc = subprocess.Popen(
        command, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("privpose_e2e", context=context)
    replayer = CameraReplayer(node)
    got = {"pose": {}, "markers": {}, "tf": []}
    node.create_subscription(
        PoseArray, "human_pose", lambda m: got["pose"].update({stamp_ns_of(m.header.stamp): m}), 20
    )
    node.create_subscription(
        MarkerArray,
        "human_pose/markers",
        lambda m: got["markers"].update({stamp_ns_of(m.markers[0].header.stamp): m}),
        RELIABLE,
    )
    node.create_subscription(TFMessage, "/tf", lambda m: got["tf"].append(m), RELIABLE)
    spinner = BackgroundSpinner(node, context)
    sent = {}
    try:
        deadline = time.monotonic() + timeout_s
        while replayer.subscribers() == 0 or node.count_publishers("human_pose") == 0:
            assert proc.poll() is None, proc.stdout.read()[-3000:]
            assert time.monotonic() < deadline, "pose_node did not come up"
            time.sleep(0.1)
        for i in range(count):  # one frame at a time: each must be answered
            index = i % len(frames)
            stamp = replayer.publish(frames[index], cache_key=index)
            sent[stamp] = index
            answered = time.monotonic() + 30.0
            while stamp not in got["pose"] and time.monotonic() < answered:
                time.sleep(0.01)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            log = proc.communicate(timeout=20)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            log = proc.communicate()[0]
        spinner.close()
        node.destroy_node()
        rclpy.shutdown(context=context)
    return sent, got, log, proc.returncode


def _check_outputs(sent, got) -> None:
    assert set(got["pose"]) == set(sent), "every frame answered, stamped with its source stamp"
    for msg in got["pose"].values():
        assert msg.header.frame_id == FIXTURE_FRAME and len(msg.poses) == 26
    for stamp, markers in got["markers"].items():
        assert stamp in sent
        kinds = [(m.ns, m.id, m.type) for m in markers.markers]
        assert kinds == [
            ("privpose/person_0", 0, Marker.SPHERE_LIST),
            ("privpose/person_0", 1, Marker.LINE_LIST),
        ]
        assert len(markers.markers[1].points) % 2 == 0
    transforms = [t for m in got["tf"] for t in m.transforms]
    assert transforms, "tf.enabled publishes joint frames"
    assert all(stamp_ns_of(t.header.stamp) in sent for t in transforms)
    names = {t.child_frame_id.removeprefix("e2e/person_0/") for t in transforms}
    assert names <= set(CANONICAL.joint_names) and "pelvis" in names
    for t in transforms:
        q = t.transform.rotation
        assert abs(np.linalg.norm([q.x, q.y, q.z, q.w]) - 1.0) < 1e-6


def _v2_weights(path: Path) -> Path:
    """Small self-written v2 weights (random init, seeded): the node's ``model: privpose``."""
    torch = pytest.importorskip("torch", reason="torch not installed")
    from privpose_ros.model.posenet.codec import PosenetConfig
    from privpose_ros.model.posenet.net import Posenet
    from privpose_ros.model.posenet.weights import write_posenet_weights

    torch.manual_seed(0)
    write_posenet_weights(path, Posenet(PosenetConfig(variant="rgb")))
    return path


def _offline(params: dict, frames) -> list:
    """What the node must publish, built here: the same PosePipeline run without ROS."""
    from privpose_ros.ros.params import config_from_values
    from privpose_ros.ros.processing import pipeline_config
    from privpose_ros.runtime.pipeline import PosePipeline

    values = {k: v for k, v in params.items() if not k.startswith("tf.")}
    with PosePipeline(pipeline_config(config_from_values(values))) as pipeline:
        return [
            pipeline.process(f.rgb, f.intrinsics, f.depth_mm, 0, "").persons[0].joints_cam_m
            for f in frames
        ]


def test_node_runs_the_v2_lifter_with_given_weights_on_every_person(tmp_path) -> None:
    weights = _v2_weights(tmp_path / "v2.safetensors")
    params = {
        "model": "privpose",
        "weights_path": str(weights),
        "backend": "onnxruntime",  # the node exports the v2 ONNX into engine_cache_dir
        "engine_cache_dir": str(tmp_path / "cache"),
        "threads": 1,
        "use_depth": False,
        "frontend.detect_every_n": 1,
        "tracking.enabled": False,
        "confidence_threshold": 0.0,
        "tf.enabled": True,
        "tf.prefix": "e2e/",
        "tf.rate_hz": 1000.0,
    }
    frames = synthetic_frames(2, seed=3, width=640, height=480)  # the front end finds both
    sent, got, log, code = _run_graph(params, frames, count=2)
    _check_outputs(sent, got)
    assert list((tmp_path / "cache" / "v2_onnx").glob("v2_*.onnx")), log[-3000:]
    names = {t.child_frame_id for m in got["tf"] for t in m.transforms}
    assert len(names) == 26  # threshold 0: every joint known
    expected = _offline(params, frames)
    monocular = _offline({**params, "model": "blazepose"}, frames)
    for stamp, msg in got["pose"].items():
        pred = np.array([[p.position.x, p.position.y, p.position.z] for p in msg.poses])
        np.testing.assert_allclose(pred, expected[sent[stamp]], atol=1e-4)
        # the v2 joints, not the front end's monocular ones
        assert np.median(np.linalg.norm(pred - monocular[sent[stamp]], axis=1)) > 0.01
    assert code == 0, log[-3000:]


def _shipped_is_v2() -> bool:
    from privpose_ros.core.errors import PrivposeInputError
    from privpose_ros.model.posenet.weights import read_posenet_weights

    try:
        read_posenet_weights(SHIPPED)
    except (PrivposeInputError, OSError) as exc:
        print(f"shipped weights {SHIPPED} are not v2 weights: {exc}")
        return False
    return True


def test_node_with_shipped_v2_weights_uses_depth_and_beats_rgb_only() -> None:
    if not _shipped_is_v2():
        pytest.skip(f"shipped {SHIPPED.name} is not a v2 weights file (yet)")
    params = {"tf.enabled": True, "tf.prefix": "e2e/", "tf.rate_hz": 1000.0, "threads": 1}
    params["model"] = "privpose"  # backend auto: ONNX Runtime on a CPU machine
    params["frontend.detect_every_n"] = 1
    params["confidence_threshold"] = 0.0  # every joint published, so all can be compared
    params.update({"use_depth": True, "refine.lifting": True, "refine.skeleton_b": True})
    params.update({"refine.patch_a": False, "refine.pointcloud_c": False})
    # independent stills: the trained v2 3D differs enough between them that the tracker gives
    # the person a new id on nearly every frame (measured: 12 ids in 16 frames); ids here are
    # detection ranks, so the markers check one person per frame
    params["tracking.enabled"] = False
    frames = synthetic_frames(16, seed=11, width=640, height=480)
    sent, got, log, code = _run_graph(params, frames, count=16)
    _check_outputs(sent, got)
    with_depth = _offline({**params, "tracking.enabled": False}, frames)
    rgb_only = _offline({**params, "tracking.enabled": False, "use_depth": False}, frames)
    pred_m, truth_m, rgb_m = [], [], []
    for stamp, msg in got["pose"].items():
        index = sent[stamp]
        pred = np.array([[p.position.x, p.position.y, p.position.z] for p in msg.poses])
        pred_m.append(pred)
        truth_m.append(frames[index].joints_cam_m)
        rgb_m.append(rgb_only[index])
        # tracking + smoothing move the node's joints a little from the per-frame answer
        assert np.median(np.linalg.norm(pred - with_depth[index], axis=1)) < 0.05
    pred_m, truth_m, rgb_m = np.array(pred_m), np.array(truth_m), np.array(rgb_m)
    figures = {}
    for name, joints in (("depth", pred_m), ("rgb", rgb_m)):
        figures[f"{name}_z_mm"] = np.median(np.abs(joints - truth_m)[..., 2]) * 1000.0
        figures[f"{name}_mm"] = np.median(np.linalg.norm(joints - truth_m, axis=-1)) * 1000.0
    assert figures["depth_z_mm"] < DEPTH_Z_RATIO * figures["rgb_z_mm"], figures
    assert figures["depth_mm"] < DEPTH_MEDIAN_RATIO * figures["rgb_mm"], figures
    assert code == 0, log[-3000:]
