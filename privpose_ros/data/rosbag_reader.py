"""Synchronised RGB-D frames from a recorded ROS 1 bag or rosbag2 (sqlite3 or mcap), without ROS.

Uses the ``rosbags`` library (``rosbags.highlevel.AnyReader``): a ``.bag`` file is read as ROS 1
(message types from the definitions the bag embeds; CameraInfo has upper-case ``K``/``D``), a
folder or any other file as rosbag2 (lower-case ``k``/``d``). Colour and depth images are paired by
header stamp (nearest depth within ``slop_s``, the rule of an approximate time synchroniser); each
pair takes the latest camera_info received so far (colour intrinsics), or the ``intrinsics``
passed in when the bag has none yet. Depth must be registered to the colour image (e.g. RealSense
``aligned_depth_to_color``); 16UC1 = mm, 32FC1 = m (NaN / 0 = no reading) come out as uint16 mm.
Frames are stamped with the colour header stamp.
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
from privpose_ros.core.time import stamp_ns_from_sec_nanosec

log = logging.getLogger(__name__)

IMAGE_TYPE = "sensor_msgs/msg/Image"
INFO_TYPE = "sensor_msgs/msg/CameraInfo"
ROS1_MAGIC = b"#ROSBAG V2.0"
_MAX_QUEUE = 64  # unmatched messages kept per stream
_HINT = "install it with `pip install rosbags` to read ROS 1 bags and rosbag2 recordings"
_INTRINSICS_HINT = (
    "pass the colour camera's intrinsics (Python: intrinsics=CameraIntrinsics(fx, fy, cx, cy, "
    "width, height); `privpose replay`: --intrinsics fx,fy,cx,cy)"
)


_DEPTH_PREFER = ("registered", "aligned")  # depth registered to the colour camera
_COLOUR_PREFER = ("rgb", "color", "colour")


def _pick(topics: list[str], prefer: tuple[str, ...]) -> str | None:
    """The first topic (sorted) whose name contains one of ``prefer``, else the first one."""
    return min(topics, key=lambda t: (not any(p in t.lower() for p in prefer), t), default=None)


def _stamp_ns(msg: Any) -> int:
    return stamp_ns_from_sec_nanosec(msg.header.stamp.sec, msg.header.stamp.nanosec)


def _field(msg: Any, name: str) -> Any:
    """``msg.k`` (ROS 2) or ``msg.K`` (ROS 1 as rosbags deserialises it)."""
    value = getattr(msg, name, None)
    return getattr(msg, name.upper()) if value is None else value


def intrinsics_from_camera_info(msg: Any) -> CameraIntrinsics:
    """CameraIntrinsics from a ROS 2 (``k``, ``d``) or ROS 1 (``K``, ``D``) CameraInfo message."""
    return CameraIntrinsics.from_k(
        np.asarray(_field(msg, "k"), dtype=np.float64),
        int(msg.width),
        int(msg.height),
        tuple(np.asarray(_field(msg, "d"), dtype=np.float64).tolist()),
        msg.distortion_model or "plumb_bob",
    )


def is_ros1_bag(path: str | Path) -> bool:
    """True when ``path`` is a ROS 1 bag file (starts with ``#ROSBAG V2.0``)."""
    path = Path(path)
    if not path.is_file():
        return False
    with path.open("rb") as handle:
        return handle.read(len(ROS1_MAGIC)) == ROS1_MAGIC


def _open_reader(path: Path) -> Any:
    """An unopened ``rosbags.highlevel.AnyReader`` for a ROS 1 bag or a rosbag2."""
    highlevel = optional_import("rosbags.highlevel", _HINT)
    typesys = optional_import("rosbags.typesys", _HINT)
    ros1 = is_ros1_bag(path)
    if ros1 and path.suffix != ".bag":
        raise PrivposeInputError(
            f"{path} is a ROS 1 bag without the .bag suffix; rename it to {path.stem}.bag"
        )
    store = typesys.Stores.ROS1_NOETIC if ros1 else typesys.Stores.LATEST
    return highlevel.AnyReader([path], default_typestore=typesys.get_typestore(store))


def colour_image_size(path: str | Path, rgb_topic: str | None = None) -> tuple[int, int]:
    """(width, height) in pixels of the first colour image of a bag (topic found as the reader
    finds it when None): the size to give fallback intrinsics of a bag without camera_info."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"bag {path} does not exist")
    with _open_reader(path) as reader:
        if rgb_topic is None:
            images = [c.topic for c in reader.connections if c.msgtype == IMAGE_TYPE]
            rgb_topic = _pick([t for t in images if "depth" not in t.lower()], _COLOUR_PREFER)
        conns = [c for c in reader.connections if c.topic == rgb_topic]
        for conn, _, raw in reader.messages(connections=conns):
            msg = reader.deserialize(raw, conn.msgtype)
            return int(msg.width), int(msg.height)
    raise PrivposeInputError(
        f"colour topic {rgb_topic!r} of {path} has no messages; name the colour Image topic"
    )


class RosbagRGBDReader:
    """Iterate synchronised :class:`RGBDFrame` objects of a ROS 1 ``.bag`` or a rosbag2.

    Topics left as None are found by type and name: the depth is an Image topic whose name
    contains "depth" (preferably "registered" / "aligned"), the colour another Image topic
    (preferably named rgb / color), the camera_info the CameraInfo topic next to the colour.
    ``intrinsics`` (pixels of the colour image) are used for colour frames that come before any
    camera_info, and make the camera_info topic optional; without both, PrivposeInputError.
    """

    def __init__(
        self,
        path: str | Path,
        rgb_topic: str | None = None,
        depth_topic: str | None = None,
        info_topic: str | None = None,
        slop_s: float = 0.02,
        *,
        intrinsics: CameraIntrinsics | None = None,
    ) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"bag {self.path} does not exist")
        if slop_s < 0:
            raise PrivposeInputError(f"slop_s must be >= 0, got {slop_s}")
        if intrinsics is not None and not isinstance(intrinsics, CameraIntrinsics):
            raise PrivposeInputError(
                f"intrinsics must be a CameraIntrinsics, got {type(intrinsics).__name__}"
            )
        self.slop_s = float(slop_s)
        self.slop_ns = int(round(slop_s * 1e9))
        self.intrinsics = intrinsics
        self.is_ros1 = is_ros1_bag(self.path)
        with _open_reader(self.path) as reader:
            # topics without messages (a declared but silent camera_info) count as absent
            types = {c.topic: c.msgtype for c in reader.connections if c.msgcount > 0}
        self.rgb_topic, self.depth_topic, self.info_topic = self._resolve(
            types, rgb_topic, depth_topic, info_topic, intrinsics is not None
        )

    @staticmethod
    def _resolve(
        types: dict[str, str],
        rgb: str | None,
        depth: str | None,
        info: str | None,
        has_fallback: bool,
    ) -> tuple[str, str, str | None]:
        images = sorted(t for t, m in types.items() if m == IMAGE_TYPE)
        infos = sorted(t for t, m in types.items() if m == INFO_TYPE)
        if depth is None:
            depth = _pick([t for t in images if "depth" in t.lower()], _DEPTH_PREFER)
        if rgb is None:
            colour = [t for t in images if t != depth and "depth" not in t.lower()]
            rgb = _pick(colour, _COLOUR_PREFER)
        info_given = info is not None
        if info is None and rgb is not None:
            prefix = rgb.rsplit("/", 1)[0]
            info = next((t for t in infos if t.startswith(prefix)), infos[0] if infos else None)
        wanted = [("rgb", rgb, IMAGE_TYPE), ("depth", depth, IMAGE_TYPE)]
        if info_given or info is not None or not has_fallback:
            wanted.append(("camera_info", info, INFO_TYPE))
        for name, topic, want in wanted:
            if topic is None or types.get(topic) != want:
                fix = f"; or {_INTRINSICS_HINT}" if name == "camera_info" else ""
                raise PrivposeInputError(
                    f"{name} topic {topic!r} is not a {want} topic of the bag; "
                    f"it has {sorted(types.items())}{fix}"
                )
        return rgb, depth, info

    def colour_size(self) -> tuple[int, int]:
        """(width, height) in pixels of the first colour image of the bag."""
        return colour_image_size(self.path, self.rgb_topic)

    def __iter__(self) -> Iterator[RGBDFrame]:
        rgb_queue: list[tuple[int, object]] = []
        depth_queue: list[tuple[int, object]] = []
        self._dropped: list[float] = []  # colour-to-nearest-depth gaps (s) of dropped frames
        info = None
        with _open_reader(self.path) as reader:
            wanted = {self.rgb_topic, self.depth_topic, self.info_topic}
            conns = [c for c in reader.connections if c.topic in wanted]
            for conn, _, raw in reader.messages(connections=conns):
                msg = reader.deserialize(raw, conn.msgtype)
                if conn.topic == self.info_topic:
                    info = msg
                    continue
                queue = rgb_queue if conn.topic == self.rgb_topic else depth_queue
                queue.append((_stamp_ns(msg), msg))
                del queue[:-_MAX_QUEUE]
                yield from self._match(rgb_queue, depth_queue, info, final=False)
            yield from self._match(rgb_queue, depth_queue, info, final=True)
        if self._dropped:
            log.warning(
                "%s: %d colour frame(s) dropped with no depth within slop_s=%.3f s (nearest "
                "depth %.3f s away at best); pass a larger slop_s (`privpose replay --slop-s`)",
                self.path.name,
                len(self._dropped),
                self.slop_s,
                min(self._dropped),
            )

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
                self._dropped.append(gaps[best] / 1e9)
                continue
            depth = depth_queue[best][1]
            del depth_queue[: best + 1]
            if info is not None:
                intrinsics = intrinsics_from_camera_info(info)
            elif self.intrinsics is not None:
                intrinsics = self.intrinsics
            else:
                log.warning("colour frame at %d ns before any camera_info; dropped", stamp)
                continue
            yield RGBDFrame(
                rgb=image_msg_to_rgb(rgb),
                intrinsics=intrinsics,
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
    *,
    intrinsics: CameraIntrinsics | None = None,
) -> Iterator[RGBDFrame]:
    """Synchronised frames of a ROS 1 bag or rosbag2 (see :class:`RosbagRGBDReader`)."""
    yield from RosbagRGBDReader(
        path, rgb_topic, depth_topic, info_topic, slop_s, intrinsics=intrinsics
    )
