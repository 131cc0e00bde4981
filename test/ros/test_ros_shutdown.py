"""Ctrl-C under load: a real pose_node process (the shipped models) answering frames gets
SIGINT (twice, as a terminal and `ros2 launch` both send one) and exits 0 with no ERROR line:
the worker stops before the node and the context go."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy not installed: run `make setup`")
from conftest import RELIABLE, image_msg, info_msg  # noqa: E402
from geometry_msgs.msg import PoseArray  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from privpose_ros.ros.spinning import BackgroundSpinner, wait_for_node  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _camera_loop(pubs, stop: threading.Event, period_s: float = 1 / 30) -> None:
    rgb = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    depth = np.full((240, 320), 2000, np.uint16)
    while not stop.is_set():
        stamp = time.time_ns()
        msgs = (
            image_msg(rgb, "rgb8", stamp, "cam"),
            info_msg(320, 240, stamp, "cam", f=250.0),
            image_msg(depth, "16UC1", stamp, "cam"),
        )
        for pub, msg in zip(pubs, msgs, strict=True):
            pub.publish(msg)
        time.sleep(period_s)


def test_sigint_while_frames_flow_exits_0_without_errors(tmp_path) -> None:
    context = rclpy.Context()
    rclpy.init(context=context)
    io = rclpy.create_node("privpose_shutdown_io", context=context)
    pubs = [
        io.create_publisher(Image, "rgb/image_rect_color", RELIABLE),
        io.create_publisher(CameraInfo, "rgb/camera_info", RELIABLE),
        io.create_publisher(Image, "depth_registered/image_rect", RELIABLE),
    ]
    poses: list = []
    io.create_subscription(PoseArray, "human_pose", poses.append, RELIABLE)
    spinner = BackgroundSpinner(io, context)
    log = tmp_path / "node.log"
    reliable = [f"qos.{t}:=reliable" for t in ("rgb", "depth", "camera_info")]
    command = [sys.executable, "-m", "privpose_ros.ros.node", "--ros-args"]
    for override in (*reliable, "frontend.detect_every_n:=1"):
        command += ["-p", override]
    stop = threading.Event()
    camera = threading.Thread(target=_camera_loop, args=(pubs, stop), daemon=True)
    with log.open("w") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=dict(os.environ)
        )
    try:
        wait_for_node(lambda: pubs[0].get_subscription_count() > 0, 60, proc, "inputs", log)
        camera.start()
        wait_for_node(lambda: len(poses) >= 5, 60, proc, "outputs under load", log)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.05)
        proc.send_signal(signal.SIGINT)  # the second Ctrl-C (terminal + launch) is harmless
        code = proc.wait(timeout=30)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        spinner.close()
        io.destroy_node()
        rclpy.shutdown(context=context)
    text = log.read_text()
    assert code == 0, text[-3000:]
    assert "[ERROR]" not in text and "Traceback" not in text, text[-3000:]
