"""`privpose replay` publishes rgb, depth and camera_info with shared, increasing stamps."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy not installed: run `make setup`")
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from privpose_ros.cli import main as cli_main  # noqa: E402
from privpose_ros.core.image_codec import image_msg_to_depth_mm, image_msg_to_rgb  # noqa: E402
from privpose_ros.ros.pose_msgs import stamp_ns_of  # noqa: E402
from privpose_ros.ros.replay import FIXTURE_FRAME, synthetic_frames  # noqa: E402
from privpose_ros.ros.spinning import BackgroundSpinner  # noqa: E402


def test_replay_cli_publishes_a_consistent_camera(capsys) -> None:
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("privpose_replay_listener", context=context)
    got: dict[str, list] = {"rgb": [], "info": [], "depth": []}
    qos = QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE)
    node.create_subscription(Image, "cam/rgb/image_rect_color", got["rgb"].append, qos)
    node.create_subscription(CameraInfo, "cam/rgb/camera_info", got["info"].append, qos)
    node.create_subscription(Image, "cam/depth_registered/image_rect", got["depth"].append, qos)
    spinner = BackgroundSpinner(node, context)
    argv = ["replay", "--frames", "6", "--rate", "20", "--width", "64", "--height", "48"]
    argv += ["--distinct", "2", "--seed", "4", "--namespace", "/cam", "--depth-encoding", "32FC1"]
    argv += ["--wait-subscriber", "15", "--json"]
    try:
        assert cli_main(argv) == 0
        deadline = time.monotonic() + 10
        while len(got["rgb"]) < 6 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        spinner.close()
        node.destroy_node()
        rclpy.shutdown(context=context)
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["frames"] == 6
    assert len(got["rgb"]) == 6
    stamps = [stamp_ns_of(m.header.stamp) for m in got["rgb"]]
    assert stamps == sorted(stamps) and len(set(stamps)) == 6
    assert [stamp_ns_of(m.header.stamp) for m in got["info"]] == stamps
    assert [stamp_ns_of(m.header.stamp) for m in got["depth"]] == stamps
    assert {m.header.frame_id for m in got["rgb"] + got["depth"]} == {FIXTURE_FRAME}
    assert 0.03 < (stamps[-1] - stamps[0]) / 5e9 < 0.2  # about 1 / 20 Hz apart
    frames = synthetic_frames(2, seed=4, width=64, height=48)
    np.testing.assert_array_equal(image_msg_to_rgb(got["rgb"][2]), frames[0].rgb)
    depth = image_msg_to_depth_mm(got["depth"][1])  # 32FC1 metres back to millimetres
    np.testing.assert_array_equal(depth, frames[1].depth_mm)
    np.testing.assert_allclose(np.reshape(got["info"][3].k, (3, 3)), frames[1].intrinsics.k)
