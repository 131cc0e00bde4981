"""The ROS 2 runtime is real: messages cross a DDS graph, in one process and between processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy not installed: run `make setup`")
from geometry_msgs.msg import TransformStamped  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import String  # noqa: E402
from tf2_msgs.msg import TFMessage  # noqa: E402


@pytest.fixture
def ros_context():
    context = rclpy.Context()
    rclpy.init(context=context)
    yield context
    rclpy.shutdown(context=context)


def _exchange(context, msg_type, topic: str, message, timeout_s: float = 15.0):
    talker = rclpy.create_node("privpose_test_talker", context=context)
    listener = rclpy.create_node("privpose_test_listener", context=context)
    received = []
    listener.create_subscription(msg_type, topic, received.append, 10)
    publisher = talker.create_publisher(msg_type, topic, 10)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(talker)
    executor.add_node(listener)
    deadline = time.monotonic() + timeout_s
    try:
        while not received and time.monotonic() < deadline:
            publisher.publish(message)
            executor.spin_once(timeout_sec=0.1)
    finally:
        executor.shutdown()
        talker.destroy_node()
        listener.destroy_node()
    assert received, f"no {msg_type.__name__} arrived on {topic} within {timeout_s} s"
    return received[0]


def test_two_nodes_exchange_a_640x480_image(ros_context) -> None:
    pixels = (np.arange(480 * 640 * 3, dtype=np.uint32) % 251).astype(np.uint8)
    msg = Image(height=480, width=640, encoding="rgb8", is_bigendian=0, step=640 * 3)
    msg.header.frame_id = "camera_color_optical_frame"
    msg.header.stamp.sec, msg.header.stamp.nanosec = 12, 345
    msg.data = pixels.tobytes()
    got = _exchange(ros_context, Image, "privpose_test/image", msg)
    assert (got.width, got.height, got.encoding, got.step) == (640, 480, "rgb8", 1920)
    assert (got.header.stamp.sec, got.header.stamp.nanosec) == (12, 345)
    np.testing.assert_array_equal(np.frombuffer(bytes(got.data), np.uint8), pixels)


def test_two_nodes_exchange_a_tf_message(ros_context) -> None:
    tf = TransformStamped()
    tf.header.frame_id = "camera_color_optical_frame"
    tf.child_frame_id = "person_0/head"
    tf.transform.translation.x, tf.transform.translation.z = 0.25, 2.5
    tf.transform.rotation.w = 1.0
    got = _exchange(ros_context, TFMessage, "privpose_test/tf", TFMessage(transforms=[tf]))
    assert len(got.transforms) == 1
    assert got.transforms[0].child_frame_id == "person_0/head"
    assert got.transforms[0].transform.translation.z == pytest.approx(2.5)


LISTENER = textwrap.dedent(
    """
    import sys, time, rclpy
    from std_msgs.msg import String
    rclpy.init()
    node = rclpy.create_node("privpose_test_remote_listener")
    got = []
    node.create_subscription(String, "privpose_test/chatter", lambda m: got.append(m.data), 10)
    deadline = time.monotonic() + 20
    while not got and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.1)
    print("RECEIVED:" + (got[0] if got else ""), flush=True)
    node.destroy_node()
    rclpy.shutdown()
    """
)


def test_a_second_process_receives_what_the_first_publishes(ros_context) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", LISTENER], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    node = rclpy.create_node("privpose_test_remote_talker", context=ros_context)
    publisher = node.create_publisher(String, "privpose_test/chatter", 10)
    try:
        deadline = time.monotonic() + 25
        while proc.poll() is None and time.monotonic() < deadline:
            publisher.publish(String(data="hello from pid 1"))
            time.sleep(0.05)
        out, err = proc.communicate(timeout=10)
    finally:
        node.destroy_node()
        if proc.poll() is None:
            proc.kill()
    assert "RECEIVED:hello from pid 1" in out, err[-2000:]
