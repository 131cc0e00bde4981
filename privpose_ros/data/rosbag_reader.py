"""Synchronised RGB-D frames from a recorded rosbag2 (sqlite3 or mcap), without ROS.

Uses the ``rosbags`` library. Colour and depth images are paired by header stamp (nearest depth
within ``slop_s``, the rule of an approximate time synchroniser); each pair takes the latest
camera_info received so far (colour intrinsics). Depth must be registered to the colour image
(e.g. RealSense ``aligned_depth_to_color``); frames are stamped with the colour header stamp.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import PrivposeInputError, optional_import
from privpose_ros.core.frame import RGBDFrame
from privpose_ros.core.image_codec import image_msg_to_depth_mm, image_msg_to_rgb

log = logging.getLogger(__name__)

IMAGE_TYPE = "sensor_msgs/msg/Image"
INFO_TYPE = "sensor_msgs/msg/CameraInfo"
_MAX_QUEUE = 64  # unmatched messages kept per stream
_HINT = "install it with `pip install rosbags` to read rosbag2 files"


def _stamp_ns(msg: Any) -> int:
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


def intrinsics_from_camera_info(msg: Any) -> CameraIntrinsics:
    """CameraIntrinsics from a sensor_msgs/CameraInfo-like message (K, size, distortion)."""
    return CameraIntrinsics.from_k(
        np.asarray(msg.k, dtype=np.float64),
        int(msg.width),
        int(msg.height),
        tuple(np.asarray(msg.d, dtype=np.float64).tolist()),
        msg.distortion_model or "plumb_bob",
    )


class RosbagRGBDReader:
    """Iterate synchronised :class:`RGBDFrame` objects of a rosbag2 directory or file.

    Topics left as None are found by type: the Image topic whose name contains "depth" is the
    depth, the other Image topic the colour, and the CameraInfo topic next to the colour.
    """

    def __init__(
        self,
        path: str | Path,
        rgb_topic: str | None = None,
        depth_topic: str | None = None,
        info_topic: str | None = None,
        slop_s: float = 0.02,
    ) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"rosbag2 {self.path} does not exist")
        if slop_s < 0:
            raise PrivposeInputError(f"slop_s must be >= 0, got {slop_s}")
        self.slop_ns = int(round(slop_s * 1e9))
        rosbag2 = optional_import("rosbags.rosbag2", _HINT)
        with rosbag2.Reader(self.path) as reader:
            types = {c.topic: c.msgtype for c in reader.connections}
        self.rgb_topic, self.depth_topic, self.info_topic = self._resolve(
            types, rgb_topic, depth_topic, info_topic
        )

    @staticmethod
    def _resolve(
        types: dict[str, str], rgb: str | None, depth: str | None, info: str | None
    ) -> tuple[str, str, str]:
        images = sorted(t for t, m in types.items() if m == IMAGE_TYPE)
        infos = sorted(t for t, m in types.items() if m == INFO_TYPE)
        if depth is None:
            depth = next((t for t in images if "depth" in t.lower()), None)
        if rgb is None:
            rgb = next((t for t in images if t != depth and "depth" not in t.lower()), None)
        if info is None and rgb is not None:
            prefix = rgb.rsplit("/", 1)[0]
            info = next((t for t in infos if t.startswith(prefix)), infos[0] if infos else None)
        for name, topic, want in (
            ("rgb", rgb, IMAGE_TYPE),
            ("depth", depth, IMAGE_TYPE),
            ("camera_info", info, INFO_TYPE),
        ):
            if topic is None or types.get(topic) != want:
                raise PrivposeInputError(
                    f"{name} topic {topic!r} is not a {want} topic of the bag; "
                    f"it has {sorted(types.items())}"
                )
        return rgb, depth, info

    def __iter__(self) -> Iterator[RGBDFrame]:
        rosbag2 = optional_import("rosbags.rosbag2", _HINT)
        typesys = optional_import("rosbags.typesys", _HINT)
        store = typesys.get_typestore(typesys.Stores.LATEST)
        rgb_queue: list[tuple[int, object]] = []
        depth_queue: list[tuple[int, object]] = []
        info = None
        with rosbag2.Reader(self.path) as reader:
            wanted = {self.rgb_topic, self.depth_topic, self.info_topic}
            conns = [c for c in reader.connections if c.topic in wanted]
            for conn, _, raw in reader.messages(connections=conns):
                msg = store.deserialize_cdr(raw, conn.msgtype)
                if conn.topic == self.info_topic:
                    info = msg
                    continue
                queue = rgb_queue if conn.topic == self.rgb_topic else depth_queue
                queue.append((_stamp_ns(msg), msg))
                del queue[:-_MAX_QUEUE]
                yield from self._match(rgb_queue, depth_queue, info, final=False)
            yield from self._match(rgb_queue, depth_queue, info, final=True)

    def _match(
        self, rgb_queue: list, depth_queue: list, info: Any, final: bool
    ) -> Iterator[RGBDFrame]:
        while rgb_queue and depth_queue:
            stamp, rgb = rgb_queue[0]
            newest_depth = depth_queue[-1][0]
            if not final and newest_depth < stamp:
                return  # a closer depth may still arrive
            gaps = [abs(d - stamp) for d, _ in depth_queue]
            best = int(np.argmin(gaps))
            rgb_queue.pop(0)
            if gaps[best] > self.slop_ns:
                log.debug("no depth within slop for colour at %d ns; dropped", stamp)
                continue
            depth = depth_queue[best][1]
            del depth_queue[: best + 1]
            if info is None:
                log.warning("colour frame at %d ns before any camera_info; dropped", stamp)
                continue
            yield RGBDFrame(
                rgb=image_msg_to_rgb(rgb),
                intrinsics=intrinsics_from_camera_info(info),
                depth_mm=image_msg_to_depth_mm(depth),
                stamp_ns=stamp,
                frame_id=rgb.header.frame_id,
            )
        if final:
            rgb_queue.clear()


def read_frames(
    path: str | Path,
    rgb_topic: str | None = None,
    depth_topic: str | None = None,
    info_topic: str | None = None,
    slop_s: float = 0.02,
) -> Iterator[RGBDFrame]:
    """Synchronised frames of a rosbag2 (see :class:`RosbagRGBDReader`)."""
    yield from RosbagRGBDReader(path, rgb_topic, depth_topic, info_topic, slop_s)
