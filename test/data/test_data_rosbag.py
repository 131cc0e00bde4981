"""rosbag2 reader on bags the test writes (sqlite3 and mcap), and Image decoding."""

from __future__ import annotations

import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

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
