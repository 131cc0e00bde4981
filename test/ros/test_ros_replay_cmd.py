"""`privpose replay` publishes rgb, depth and camera_info with shared, increasing stamps, from the
synthetic generator and from ROS 1 bags written here (looped, with or without camera_info), and,
remapped (``--ros-args -r``, ``--*-out``), onto the topics pose.launch.py's node listens on."""

from __future__ import annotations

import ast
import json
import time
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy not installed: run `make setup`")
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CameraInfo, CompressedImage, Image  # noqa: E402

from privpose_ros.apps.replay import (  # noqa: E402
    FIXTURE_FRAME,
    parse_intrinsics_px,
    repeated,
    synthetic_frames,
)
from privpose_ros.cli import main as cli_main  # noqa: E402
from privpose_ros.core.errors import PrivposeInputError  # noqa: E402
from privpose_ros.core.image_codec import image_msg_to_depth_mm, image_msg_to_rgb  # noqa: E402
from privpose_ros.ros.launch_args import UNSET, UNSET_ARGUMENTS, node_settings  # noqa: E402
from privpose_ros.ros.pose_msgs import stamp_ns_of  # noqa: E402
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


# ---- ROS 1 bags -------------------------------------------------------------------------------

H, W = 6, 8


def _rgb(i: int) -> np.ndarray:
    return (np.arange(H * W * 3).reshape(H, W, 3) * 5 + 40 * i).astype(np.uint8)


def _depth_mm(i: int) -> np.ndarray:
    depth = (1500 + np.arange(H * W).reshape(H, W) * 11 + i).astype(np.uint16)
    depth[0, 1] = 0  # written as NaN metres
    return depth


def _write_ros1_bag(path, count: int, with_info: bool) -> None:
    """``count`` frames: rgb8 colour, 32FC1 depth (metres, NaN = none) 0.1 s before it."""
    from rosbags.rosbag1 import Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS1_NOETIC)
    t_ = store.types

    def header(stamp_ns):
        stamp = t_["builtin_interfaces/msg/Time"](sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9)
        return t_["std_msgs/msg/Header"](seq=0, stamp=stamp, frame_id="head_rgb")

    def image(stamp_ns, encoding, pixels):
        data = np.ascontiguousarray(pixels).reshape(-1).view(np.uint8).copy()
        msg = t_["sensor_msgs/msg/Image"](
            header(stamp_ns), H, W, encoding, 0, data.size // H, data
        )
        return store.serialize_ros1(msg, "sensor_msgs/msg/Image")

    def info(stamp_ns):
        roi = t_["sensor_msgs/msg/RegionOfInterest"](0, 0, 0, 0, False)
        k = np.array([9.0, 0, 4.0, 0, 9.5, 3.0, 0, 0, 1])
        msg = t_["sensor_msgs/msg/CameraInfo"](
            header(stamp_ns), H, W, "plumb_bob", np.zeros(5), k, np.eye(3).ravel(),
            np.zeros(12), 0, 0, roi,
        )  # fmt: skip
        return store.serialize_ros1(msg, "sensor_msgs/msg/CameraInfo")

    with Writer(path) as w:
        img = "sensor_msgs/msg/Image"
        c_rgb = w.add_connection("/hero/rgb/image_raw", img, typestore=store)
        c_dep = w.add_connection("/hero/depth_registered/image", img, typestore=store)
        if with_info:
            c_inf = w.add_connection(
                "/hero/rgb/camera_info", "sensor_msgs/msg/CameraInfo", typestore=store
            )
        for i in range(count):
            t = 1_556_880_098 * 10**9 + i * 10**9
            if with_info:
                w.write(c_inf, t, info(t))
            metres = (_depth_mm(i) / 1000.0).astype(np.float32)
            metres[0, 1] = np.nan
            w.write(c_dep, t, image(t - 100_000_000, "32FC1", metres))
            w.write(c_rgb, t + 1, image(t, "rgb8", _rgb(i)))


def _replay_and_listen(namespace: str, argv: list[str], want: int) -> dict[str, list]:
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("privpose_bag_listener", context=context)
    got: dict[str, list] = {"rgb": [], "info": [], "depth": []}
    qos = QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE)
    ns = namespace.strip("/")
    node.create_subscription(Image, f"{ns}/rgb/image_rect_color", got["rgb"].append, qos)
    node.create_subscription(CameraInfo, f"{ns}/rgb/camera_info", got["info"].append, qos)
    node.create_subscription(Image, f"{ns}/depth_registered/image_rect", got["depth"].append, qos)
    spinner = BackgroundSpinner(node, context)
    try:
        assert (
            cli_main(["replay", "--namespace", namespace, "--wait-subscriber", "15"] + argv) == 0
        )
        deadline = time.monotonic() + 10
        while len(got["rgb"]) < want and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        spinner.close()
        node.destroy_node()
        rclpy.shutdown(context=context)
    return got


def test_replay_plays_a_one_frame_ros1_bag_without_camera_info_as_a_camera(
    tmp_path, capsys
) -> None:
    bag = tmp_path / "one.bag"
    _write_ros1_bag(bag, count=1, with_info=False)
    argv = ["--bag", str(bag), "--intrinsics", "5,6,3.5,2.5", "--slop-s", "0.2", "--loop"]
    argv += ["--frames", "4", "--rate", "20", "--json"]
    got = _replay_and_listen("/bag1", argv, want=4)
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["frames"] == 4
    assert len(got["rgb"]) == len(got["depth"]) == len(got["info"]) == 4
    stamps = [stamp_ns_of(m.header.stamp) for m in got["rgb"]]
    assert stamps == sorted(stamps) and len(set(stamps)) == 4
    assert [stamp_ns_of(m.header.stamp) for m in got["depth"]] == stamps
    for rgb, depth, info in zip(got["rgb"], got["depth"], got["info"], strict=True):
        np.testing.assert_array_equal(image_msg_to_rgb(rgb), _rgb(0))
        np.testing.assert_array_equal(image_msg_to_depth_mm(depth), _depth_mm(0))
        assert (info.width, info.height) == (W, H)  # size from the bag's colour image
        np.testing.assert_allclose(info.k, [5, 0, 3.5, 0, 6, 2.5, 0, 0, 1])


def test_replay_loops_a_ros1_bag_with_camera_info_n_times(tmp_path, capsys) -> None:
    bag = tmp_path / "two.bag"
    _write_ros1_bag(bag, count=2, with_info=True)
    argv = ["--bag", str(bag), "--slop-s", "0.2", "--loop", "2", "--frames", "0"]
    argv += ["--rate", "25", "--depth-encoding", "32FC1", "--json"]
    got = _replay_and_listen("/bag2", argv, want=4)
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["frames"] == 4
    assert len(got["rgb"]) == 4
    for n, (rgb, depth) in enumerate(zip(got["rgb"], got["depth"], strict=True)):
        np.testing.assert_array_equal(image_msg_to_rgb(rgb), _rgb(n % 2))
        np.testing.assert_array_equal(image_msg_to_depth_mm(depth), _depth_mm(n % 2))
    np.testing.assert_allclose(got["info"][3].k, [9.0, 0, 4.0, 0, 9.5, 3.0, 0, 0, 1])


def test_replay_without_pairs_at_the_default_slop_publishes_nothing(tmp_path, capsys) -> None:
    bag = tmp_path / "far.bag"
    _write_ros1_bag(bag, count=1, with_info=True)  # depth 0.1 s before colour
    assert cli_main(["replay", "--bag", str(bag), "--frames", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["frames"] == 0


def test_intrinsics_parsing_and_repeated_sources() -> None:
    assert parse_intrinsics_px("537.03,537.56,320.66,227.70") == (537.03, 537.56, 320.66, 227.7)
    for bad in ("537,537,320", "a,b,c,d", "0,537,320,240", "nan,1,1,1"):
        with pytest.raises(PrivposeInputError, match="fx,fy,cx,cy"):
            parse_intrinsics_px(bad)
    opened = []

    def source(n):
        def open_source():
            opened.append(n)
            return iter(range(n))

        return open_source

    assert list(repeated(source(2), passes=3)) == [(0, 0), (1, 1)] * 3
    assert opened == [2]  # a short source is read once
    assert [f for _, f in repeated(source(5), passes=2, cache_limit=3)] == [0, 1, 2, 3, 4] * 2
    assert opened == [2, 5, 5]  # a long one is opened for every pass, frames not kept
    assert list(repeated(source(0), passes=0)) == []  # empty forever ends
    assert list(repeated(source(3), passes=1)) == [(None, 0), (None, 1), (None, 2)]
    forever = repeated(source(1), passes=0)
    assert [next(forever) for _ in range(5)] == [(0, 0)] * 5


# ---- remaps: replay onto a launched node's topics ---------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def _launch_defaults() -> dict[str, str]:
    """pose.launch.py's declared argument defaults, read from the file (no launch API needed)."""
    tree = ast.parse((ROOT / "launch" / "pose.launch.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "ARGUMENTS":
            return {e.elts[0].value: e.elts[1].value for e in node.value.elts}
    raise AssertionError("ARGUMENTS not found in the launch file")


def _listen(argv: list[str], topics: dict[str, tuple[type, str]], want: int) -> dict[str, list]:
    """Run `privpose replay argv` while subscribed to ``topics`` (key -> (type, absolute name))."""
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("privpose_remap_listener", context=context)
    got: dict[str, list] = {key: [] for key in topics}
    qos = QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE)
    for key, (msg_type, name) in topics.items():
        node.create_subscription(msg_type, name, got[key].append, qos)
    spinner = BackgroundSpinner(node, context)
    try:
        assert cli_main(["replay", "--wait-subscriber", "15", *argv]) == 0
        deadline = time.monotonic() + 10
        while min(len(v) for v in got.values()) < want and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        spinner.close()
        node.destroy_node()
        rclpy.shutdown(context=context)
    return got


def _bag_argv(tmp_path) -> list[str]:
    """A looped one-frame bag as the camera (no rendering needed), 3 frames at 20 Hz."""
    bag = tmp_path / "one.bag"
    _write_ros1_bag(bag, count=1, with_info=True)
    return ["--bag", str(bag), "--slop-s", "0.2", "--loop", "--frames", "3", "--rate", "20"]


def test_replay_remapped_with_ros_args_lands_on_the_launch_files_default_topics(
    tmp_path, capsys
) -> None:
    defaults = _launch_defaults()
    values = {n: (UNSET if n in UNSET_ARGUMENTS else d) for n, d in defaults.items()}
    values["fastdds_profile"] = str(ROOT / defaults["fastdds_profile"])
    remaps = node_settings(values, str(ROOT))["remappings"]  # what the launched node hears
    targets = dict(remaps)
    assert targets["rgb/image_rect_color"] == "/camera/color/image_raw"
    ros_args = [arg for source, target in remaps for arg in ("-r", f"{source}:={target}")]
    argv = [*_bag_argv(tmp_path), "--json", "--ros-args", *ros_args]
    topics = {
        "rgb": (Image, targets["rgb/image_rect_color"]),
        "info": (CameraInfo, targets["rgb/camera_info"]),
        "depth": (Image, targets["depth_registered/image_rect"]),
    }
    got = _listen(argv, topics, want=3)
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["frames"] == 3
    assert summary["topics"] == [topics[k][1] for k in ("rgb", "info", "depth")]
    assert [len(got[k]) for k in ("rgb", "info", "depth")] == [3, 3, 3]
    stamps = [stamp_ns_of(m.header.stamp) for m in got["rgb"]]
    assert [stamp_ns_of(m.header.stamp) for m in got["depth"]] == stamps


def test_replay_topic_options_and_a_remapped_compressed_colour_follow_image_transport(
    tmp_path, capsys
) -> None:
    # an Azure Kinect style camera in /k4a: colour compressed (the suffix follows the remap)
    argv = [*_bag_argv(tmp_path), "--namespace", "/k4a", "--info-out", "rgb/camera_info"]
    argv += ["--depth-out", "depth_to_rgb/image_raw", "--rgb-transport", "compressed"]
    argv += ["--rgb-format", "png"]
    argv += ["--json", "--ros-args", "-r", "rgb/image_rect_color:=rgb/image_raw"]
    topics = {
        "rgb": (CompressedImage, "/k4a/rgb/image_raw/compressed"),
        "info": (CameraInfo, "/k4a/rgb/camera_info"),
        "depth": (Image, "/k4a/depth_to_rgb/image_raw"),
    }
    got = _listen(argv, topics, want=3)
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["topics"] == [topics[k][1] for k in ("rgb", "info", "depth")]
    assert [len(got[k]) for k in ("rgb", "info", "depth")] == [3, 3, 3]
    assert got["rgb"][0].format.startswith("rgb8; png compressed")


def test_replay_refuses_a_malformed_remap_and_an_empty_topic(capsys) -> None:
    argv = ["replay", "--frames", "1", "--ros-args", "-r", "no_separator"]
    assert cli_main(argv) == 1
    assert "--ros-args" in capsys.readouterr().err
    assert cli_main(["replay", "--frames", "1", "--rgb-out", ""]) == 1
    assert "topics takes non-empty names" in capsys.readouterr().err
