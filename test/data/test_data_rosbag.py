"""Bag reader on bags the test writes (rosbag2 sqlite3 / mcap, ROS 1), Image decoding, and the
real ROS 1 bags of ../shared/data/rgbd_tue when present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.data.rosbag_reader import RosbagRGBDReader, read_frames

STORE = get_typestore(Stores.LATEST)
T = STORE.types
H, W = 6, 8


def _header(stamp_ns, frame="cam_color_optical"):
    stamp = T["builtin_interfaces/msg/Time"](sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9)
    return T["std_msgs/msg/Header"](stamp=stamp, frame_id=frame)


def _image(stamp_ns, encoding, pixels: np.ndarray, pad=0, big=False):
    arr = pixels.astype(pixels.dtype.newbyteorder(">" if big else "<"))
    rows = arr.reshape(H, -1).view(np.uint8).reshape(H, -1)
    rows = np.concatenate([rows, np.full((H, pad), 0xAB, np.uint8)], 1)
    return T["sensor_msgs/msg/Image"](
        header=_header(stamp_ns),
        height=H,
        width=W,
        encoding=encoding,
        is_bigendian=big,
        step=rows.shape[1],
        data=rows.reshape(-1).copy(),
    )


def _info(stamp_ns):
    roi = T["sensor_msgs/msg/RegionOfInterest"](
        x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
    )
    return T["sensor_msgs/msg/CameraInfo"](
        header=_header(stamp_ns),
        height=H,
        width=W,
        distortion_model="plumb_bob",
        d=np.zeros(5),
        k=np.array([10.0, 0, 3.5, 0, 11.0, 2.5, 0, 0, 1]),
        r=np.eye(3).ravel(),
        p=np.zeros(12),
        binning_x=0,
        binning_y=0,
        roi=roi,
    )


def _rgb(i):
    return (np.arange(H * W * 3).reshape(H, W, 3) * 3 + i).astype(np.uint8)


def _depth_mm(i):
    return (1000 + np.arange(H * W).reshape(H, W) * 7 + i).astype(np.uint16)


def _write_bag(path, plugin):
    with Writer(path, version=9, storage_plugin=plugin) as w:
        c_rgb = w.add_connection("/cam/color/image_raw", "sensor_msgs/msg/Image", typestore=STORE)
        c_dep = w.add_connection("/cam/depth/image_raw", "sensor_msgs/msg/Image", typestore=STORE)
        c_inf = w.add_connection(
            "/cam/color/camera_info", "sensor_msgs/msg/CameraInfo", typestore=STORE
        )
        t0 = 1_700_000_000 * 10**9
        period = 33_000_000
        for i in range(4):
            t = t0 + i * period
            rgb_px = _rgb(i)
            if i == 1:  # bgr8 with row padding
                rgb_msg = _image(t, "bgr8", rgb_px[..., ::-1].copy(), pad=5)
            else:
                rgb_msg = _image(t, "rgb8", rgb_px)
            if i == 2:  # 32FC1 metres, big-endian with padding
                metres = (_depth_mm(i) / 1000.0).astype(np.float32)
                dep = _image(t + 4_000_000, "32FC1", metres, pad=4, big=True)
            else:
                dep = _image(t - 3_000_000, "16UC1", _depth_mm(i))
            if i == 0:
                w.write(c_inf, t, STORE.serialize_cdr(_info(t), "sensor_msgs/msg/CameraInfo"))
            w.write(c_rgb, t, STORE.serialize_cdr(rgb_msg, "sensor_msgs/msg/Image"))
            w.write(c_dep, t + 1, STORE.serialize_cdr(dep, "sensor_msgs/msg/Image"))
        # a colour frame without any depth near it is dropped
        late = t0 + 10 * period
        w.write(
            c_rgb,
            late,
            STORE.serialize_cdr(_image(late, "rgb8", _rgb(9)), "sensor_msgs/msg/Image"),
        )
    return t0, period


@pytest.mark.parametrize("plugin", [StoragePlugin.SQLITE3, StoragePlugin.MCAP])
def test_rosbag_round_trip(tmp_path, plugin) -> None:
    bag = tmp_path / f"bag_{plugin.name.lower()}"
    t0, period = _write_bag(bag, plugin)
    reader = RosbagRGBDReader(bag)  # topics found by type and name
    assert reader.rgb_topic == "/cam/color/image_raw"
    assert reader.depth_topic == "/cam/depth/image_raw"
    assert reader.info_topic == "/cam/color/camera_info"
    frames = list(reader)
    assert [f.stamp_ns for f in frames] == [t0 + i * period for i in range(4)]
    for i, frame in enumerate(frames):
        np.testing.assert_array_equal(frame.rgb, _rgb(i))
        np.testing.assert_array_equal(frame.depth_mm, _depth_mm(i))
        assert frame.frame_id == "cam_color_optical"
        assert frame.intrinsics.fx == 10.0 and frame.intrinsics.cy == 2.5
        assert frame.intrinsics.distortion == (0.0,) * 5


def test_tight_slop_drops_unmatched_frames(tmp_path) -> None:
    bag = tmp_path / "bag"
    t0, period = _write_bag(bag, StoragePlugin.SQLITE3)
    frames = list(read_frames(bag, slop_s=0.0035))
    assert [f.stamp_ns for f in frames] == [t0, t0 + period, t0 + 3 * period]
    with pytest.raises(PrivposeInputError, match="depth topic"):
        RosbagRGBDReader(bag, depth_topic="/nope")


# ---- ROS 1 bags ---------------------------------------------------------------------------

STORE1 = get_typestore(Stores.ROS1_NOETIC)
T1 = STORE1.types
REPO_ROOT = Path(__file__).resolve().parents[2]
TUE_BAGS = REPO_ROOT.parent / "shared" / "data" / "rgbd_tue"
K1 = np.array([10.0, 0, 3.5, 0, 11.0, 2.5, 0, 0, 1])


def _header1(stamp_ns, seq=0):
    stamp = T1["builtin_interfaces/msg/Time"](sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9)
    return T1["std_msgs/msg/Header"](seq=seq, stamp=stamp, frame_id="head_rgb_frame")


def _image1(stamp_ns, encoding, pixels):
    rows = np.ascontiguousarray(pixels).reshape(H, -1).view(np.uint8).reshape(H, -1)
    return T1["sensor_msgs/msg/Image"](
        header=_header1(stamp_ns),
        height=H,
        width=W,
        encoding=encoding,
        is_bigendian=0,
        step=rows.shape[1],
        data=rows.reshape(-1).copy(),
    )


def _info1(stamp_ns):
    roi = T1["sensor_msgs/msg/RegionOfInterest"](
        x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
    )
    return T1["sensor_msgs/msg/CameraInfo"](
        header=_header1(stamp_ns),
        height=H,
        width=W,
        distortion_model="plumb_bob",
        D=np.array([0.1, -0.2, 0.0, 0.0, 0.05]),
        K=K1,
        R=np.eye(3).ravel(),
        P=np.zeros(12),
        binning_x=0,
        binning_y=0,
        roi=roi,
    )


def _depth_m(i):
    """32FC1 metres with a NaN, a zero and an exact-millimetre value everywhere else."""
    metres = (_depth_mm(i) / 1000.0).astype(np.float32)
    metres[0, 0], metres[1, 2] = np.nan, 0.0
    return metres


def _write_ros1_bag(path, with_info: bool, count: int = 3, info_connection: bool = True):
    """colour (rgb8) + 32FC1 depth on the TUE topic names, camera_info optional."""
    from rosbags.rosbag1 import Writer as Writer1

    ns = "/hero/head_rgbd_sensor"
    t0, period = 1_556_880_098 * 10**9, 100_000_000
    with Writer1(path) as w:
        if with_info or info_connection:  # a declared topic may carry no messages
            c_inf = w.add_connection(
                f"{ns}/rgb/camera_info", "sensor_msgs/msg/CameraInfo", typestore=STORE1
            )
        c_rgb = w.add_connection(f"{ns}/rgb/image_raw", "sensor_msgs/msg/Image", typestore=STORE1)
        c_dep = w.add_connection(
            f"{ns}/depth_registered/image", "sensor_msgs/msg/Image", typestore=STORE1
        )
        for i in range(count):
            t = t0 + i * period
            if with_info:
                w.write(c_inf, t, STORE1.serialize_ros1(_info1(t), "sensor_msgs/msg/CameraInfo"))
            rgb = STORE1.serialize_ros1(_image1(t, "rgb8", _rgb(i)), "sensor_msgs/msg/Image")
            dep = _image1(t - 5_000_000, "32FC1", _depth_m(i))
            w.write(c_rgb, t + 1, rgb)
            w.write(c_dep, t + 2, STORE1.serialize_ros1(dep, "sensor_msgs/msg/Image"))
    return t0, period


def _expected_depth_mm(i):
    expected = _depth_mm(i).copy()
    expected[0, 0] = expected[1, 2] = 0  # NaN and 0 m are "no reading"
    return expected


def test_ros1_bag_round_trip_with_camera_info(tmp_path) -> None:
    bag = tmp_path / "cam.bag"
    t0, period = _write_ros1_bag(bag, with_info=True)
    reader = RosbagRGBDReader(bag)
    assert reader.is_ros1
    assert reader.rgb_topic == "/hero/head_rgbd_sensor/rgb/image_raw"
    assert reader.depth_topic == "/hero/head_rgbd_sensor/depth_registered/image"
    assert reader.info_topic == "/hero/head_rgbd_sensor/rgb/camera_info"
    assert reader.colour_size() == (W, H)
    frames = list(reader)
    assert [f.stamp_ns for f in frames] == [t0 + i * period for i in range(3)]
    for i, frame in enumerate(frames):
        np.testing.assert_array_equal(frame.rgb, _rgb(i))
        assert frame.depth_mm.dtype == np.uint16
        np.testing.assert_array_equal(frame.depth_mm, _expected_depth_mm(i))
        assert frame.frame_id == "head_rgb_frame"
        np.testing.assert_array_equal(frame.intrinsics.k.reshape(-1), K1)  # from upper-case K
        assert frame.intrinsics.distortion == (0.1, -0.2, 0.0, 0.0, 0.05)
        assert (frame.intrinsics.width, frame.intrinsics.height) == (W, H)


@pytest.mark.parametrize("info_connection", [False, True])
def test_ros1_bag_without_camera_info_needs_intrinsics(tmp_path, info_connection) -> None:
    bag = tmp_path / "no_info.bag"
    t0, period = _write_ros1_bag(bag, False, count=2, info_connection=info_connection)
    with pytest.raises(PrivposeInputError, match="camera_info.*intrinsics="):
        RosbagRGBDReader(bag)
    fallback = CameraIntrinsics(537.03, 537.56, 320.66, 227.70, W, H)
    reader = RosbagRGBDReader(bag, intrinsics=fallback)
    assert reader.info_topic is None
    frames = list(read_frames(bag, intrinsics=fallback))
    assert [f.stamp_ns for f in frames] == [t0, t0 + period]
    assert all(f.intrinsics == fallback for f in frames)
    np.testing.assert_array_equal(frames[1].rgb, _rgb(1))
    np.testing.assert_array_equal(frames[1].depth_mm, _expected_depth_mm(1))
    with pytest.raises(PrivposeInputError, match="CameraIntrinsics"):
        RosbagRGBDReader(bag, intrinsics=(537.0, 537.0, 320.0, 240.0))


def test_camera_info_wins_over_fallback_intrinsics(tmp_path) -> None:
    bag = tmp_path / "cam.bag"
    _write_ros1_bag(bag, with_info=True, count=1)
    fallback = CameraIntrinsics(99.0, 99.0, 4.0, 3.0, W, H)
    (frame,) = read_frames(bag, intrinsics=fallback)
    assert frame.intrinsics.fx == 10.0 and frame.intrinsics.fy == 11.0


def test_ros1_bag_needs_the_bag_suffix(tmp_path) -> None:
    bag = tmp_path / "cam.bag"
    _write_ros1_bag(bag, with_info=True, count=1)
    renamed = bag.rename(tmp_path / "cam.rosbag")
    with pytest.raises(PrivposeInputError, match=r"rename it to cam\.bag"):
        RosbagRGBDReader(renamed)


def test_real_tue_ros1_bags() -> None:
    bags = sorted(TUE_BAGS.glob("*.bag"))
    if not bags:
        print(f"skipping: no ROS 1 bags at {TUE_BAGS} (../shared/data/rgbd_tue of the repo)")
        pytest.skip(f"real TUE bags absent: {TUE_BAGS} does not exist or is empty")
    assert len(bags) == 5
    for bag in bags:
        # colour and depth stamps of these bags are 0.11-0.34 s apart: the default
        # slop_s=0.02 pairs nothing, a wide slop pairs the one frame of each bag
        assert list(read_frames(bag)) == []
        (frame,) = read_frames(bag, slop_s=0.5)
        assert frame.rgb.shape == (480, 640, 3) and frame.depth_mm.shape == (480, 640)
        valid = frame.depth_mm > 0
        assert 0.30 < valid.mean() < 0.36, (bag.name, valid.mean())  # about a third
        depth_m = frame.depth_mm[valid] / 1000.0
        assert 1.4 < depth_m.min() < 1.8 and 9.8 < depth_m.max() <= 9.9, bag.name
        k = frame.intrinsics
        np.testing.assert_allclose(
            [k.fx, k.fy, k.cx, k.cy], [537.03, 537.56, 320.66, 227.70], atol=0.01
        )
        assert frame.frame_id == "head_rgbd_sensor_rgb_frame"
        assert 60 < frame.rgb.mean() < 160  # a real, lit colour image


def test_topics_found_by_name_prefer_registered_depth_and_rgb() -> None:
    img, inf = "sensor_msgs/msg/Image", "sensor_msgs/msg/CameraInfo"
    types = {
        "/cam/depth/image_raw": img,
        "/cam/depth_registered/image": img,
        "/cam/ir/image": img,
        "/cam/rgb/image_raw": img,
        "/cam/depth/camera_info": inf,
        "/cam/rgb/camera_info": inf,
    }
    assert RosbagRGBDReader._resolve(types, None, None, None, False) == (
        "/cam/rgb/image_raw",
        "/cam/depth_registered/image",
        "/cam/rgb/camera_info",
    )
