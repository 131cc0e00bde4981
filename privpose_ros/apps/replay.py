"""Replay frames as a camera would: rgb, registered depth and camera_info at a fixed rate.

Sources: the synthetic generator's stills or its walking video (no files needed), one of our
datasets (``privpose synth`` output: meta.json + chunk_*/{rgb,depth_mm,k,joints_cam_m}.npy) or a
recording, ROS 1 ``.bag`` or rosbag2 (through privpose_ros.data.rosbag_reader). Every frame is
stamped with the clock at publish time (the capture time for the node) and published under our
fixture camera's optical frame. Frames are :class:`~privpose_ros.core.frame.RGBDFrame` (a bag) or
:class:`~privpose_ros.core.frame.LabeledFrame` with ``joints_cam_m`` (generator, dataset) or
:class:`~privpose_ros.data.sequence.WalkFrame` (the video, every walker's ground truth); the
replayer ignores their own ``stamp_ns`` and ``frame_id``.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.frame import LabeledFrame, RGBDFrame
from privpose_ros.core.geometry import depth_mm_to_m
from privpose_ros.core.image_codec import ImageFields, encode_image
from privpose_ros.ros.compressed import encode_compressed_depth, encode_compressed_rgb
from privpose_ros.ros.pose_msgs import stamp_msg

FIXTURE_FRAME = "privpose_camera_color_optical_frame"
# the pose_node's input names (ros/node_setup.py): what the replayer publishes on by default
CAMERA_TOPICS = {
    "rgb": "rgb/image_rect_color",
    "info": "rgb/camera_info",
    "depth": "depth_registered/image_rect",
}


def synthetic_frames(
    count: int, seed: int, width: int = 640, height: int = 480, camera: str = "kinect_v2"
) -> list[LabeledFrame]:
    """``count`` frames of the synthetic generator (side view), with ground truth: one person
    1-5 m away in each (the ground truth is the primary person's, so /human_pose can be
    compared with it without guessing who was published)."""
    from privpose_ros.data.synth import SynthConfig, SyntheticGenerator

    config = SynthConfig(
        width=width,
        height=height,
        view="side",
        camera=camera,
        people_weights=(0.0, 1.0, 0.0, 0.0, 0.0),
        camera_distance_m=(1.0, 5.0),
    )
    batch = SyntheticGenerator(config).batch(count, seed)
    return [
        LabeledFrame(
            batch.rgb[i],
            batch.intrinsics(i),
            batch.depth_mm[i],
            joints_cam_m=batch.joints_cam_m[i],
        )
        for i in range(len(batch))
    ]


def walking_frames(
    count: int,
    seed: int,
    width: int = 640,
    height: int = 480,
    people: int = 2,
    rate_hz: float = 30.0,
) -> list:  # list[data.sequence.WalkFrame]
    """The first ``count`` frames of the synthetic walking video (``data/sequence.py``) at
    ``rate_hz``, with every walker's ground truth (rendered once, then read from the user
    cache)."""
    from privpose_ros.data.sequence import WalkConfig, WalkSequence

    config = WalkConfig(width=width, height=height, people=people, rate_hz=rate_hz)
    return WalkSequence(config, seed).frames(count)


def dataset_frames(path: str | Path, limit: int = 0) -> Iterator[LabeledFrame]:
    """Frames of a privpose dataset folder (``privpose synth`` output), memory-mapped."""
    root = Path(path)
    meta_path = root / "meta.json"
    if not meta_path.is_file():
        raise PrivposeInputError(f"{root} has no meta.json; pass a `privpose synth` dataset")
    meta = json.loads(meta_path.read_text())
    emitted = 0
    for chunk in meta["chunks"]:
        arrays = {
            key: np.load(root / chunk["name"] / f"{key}.npy", mmap_mode="r")
            for key in ("rgb", "depth_mm", "k", "joints_cam_m")
        }
        for i in range(arrays["rgb"].shape[0]):
            if limit and emitted >= limit:
                return
            h, w = arrays["rgb"].shape[1:3]
            yield LabeledFrame(
                np.asarray(arrays["rgb"][i]),
                CameraIntrinsics.from_k(arrays["k"][i], w, h),
                np.asarray(arrays["depth_mm"][i]),
                joints_cam_m=np.asarray(arrays["joints_cam_m"][i]),
            )
            emitted += 1


def parse_intrinsics_px(text: str) -> tuple[float, float, float, float]:
    """``"fx,fy,cx,cy"`` (pixels, as on the command line) to four floats."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or not all(np.isfinite(values)) or min(values[:2]) <= 0:
        raise PrivposeInputError(
            f"intrinsics {text!r} must be four numbers fx,fy,cx,cy in pixels with fx, fy > 0, "
            "e.g. --intrinsics 537.03,537.56,320.66,227.70"
        )
    return values  # type: ignore[return-value]


def bag_frames(
    path: str | Path,
    limit: int = 0,
    *,
    intrinsics_px: tuple[float, float, float, float] | None = None,
    slop_s: float = 0.02,
    rgb_topic: str | None = None,
    depth_topic: str | None = None,
    info_topic: str | None = None,
) -> Iterator[RGBDFrame]:
    """Frames of a ROS 1 ``.bag`` or a rosbag2 (rgb, depth, camera_info) via the data layer.

    ``intrinsics_px`` (fx, fy, cx, cy in pixels of the colour image) stand in for a missing
    camera_info; the image size is taken from the bag's first colour image.
    """
    from privpose_ros.data import rosbag_reader

    intrinsics = None
    if intrinsics_px is not None:
        width, height = rosbag_reader.colour_image_size(path, rgb_topic)
        intrinsics = CameraIntrinsics(*intrinsics_px, width=width, height=height)
    reader = rosbag_reader.RosbagRGBDReader(
        path, rgb_topic, depth_topic, info_topic, slop_s, intrinsics=intrinsics
    )
    for emitted, frame in enumerate(reader):
        if limit and emitted >= limit:
            return
        yield frame


def repeated(
    open_source: Callable[[], Iterable[RGBDFrame]], passes: int = 1, cache_limit: int = 16
) -> Iterator[tuple[int | None, RGBDFrame]]:
    """(cache key, frame) over ``passes`` plays of a source (0 = forever).

    Played more than once, a source of at most ``cache_limit`` frames is read once and kept (its
    frames carry their index as cache key, so a one-frame bag is decoded and encoded once); a
    longer one is opened again for every pass (key None). An empty source yields nothing, even
    with ``passes=0`` (forever).
    """
    if passes < 0:
        raise PrivposeInputError(f"passes must be >= 0 (0 = forever), got {passes}")
    if passes == 1:  # played once: nothing to keep
        yield from ((None, frame) for frame in open_source())
        return
    first = iter(open_source())
    head = list(itertools.islice(first, cache_limit + 1))
    if not head:
        return
    counter = itertools.count() if passes == 0 else range(passes)
    if len(head) <= cache_limit:
        for _ in counter:
            yield from enumerate(head)
        return
    for n in counter:
        frames = itertools.chain(head, first) if n == 0 else open_source()
        for frame in frames:
            yield None, frame


def _image(fields: Any, stamp_ns: int, frame_id: str) -> Image:
    msg = Image(
        height=fields.height,
        width=fields.width,
        encoding=fields.encoding,
        is_bigendian=fields.is_bigendian,
        step=fields.step,
    )
    msg.data = fields.data
    msg.header.stamp, msg.header.frame_id = stamp_msg(stamp_ns), frame_id
    return msg


def _message(fields: ImageFields | tuple[str, bytes], stamp_ns: int, frame_id: str) -> Any:
    """An Image of ``fields``, or a CompressedImage of (format, data)."""
    if isinstance(fields, ImageFields):
        return _image(fields, stamp_ns, frame_id)
    msg = CompressedImage(format=fields[0])
    msg.data = fields[1]
    msg.header.stamp, msg.header.frame_id = stamp_msg(stamp_ns), frame_id
    return msg


def camera_info_msg(intrinsics: CameraIntrinsics, stamp_ns: int, frame_id: str) -> CameraInfo:
    msg = CameraInfo(width=intrinsics.width, height=intrinsics.height)
    msg.distortion_model = intrinsics.distortion_model
    msg.d = list(intrinsics.distortion) or [0.0] * 5
    msg.k = intrinsics.k.reshape(-1).tolist()
    msg.r = np.eye(3).reshape(-1).tolist()
    p = np.zeros((3, 4))
    p[:, :3] = intrinsics.k
    msg.p = p.reshape(-1).tolist()
    msg.header.stamp, msg.header.frame_id = stamp_msg(stamp_ns), frame_id
    return msg


class CameraReplayer:
    """Publishes frames on ``rgb/image_rect_color``, ``rgb/camera_info`` and
    ``depth_registered/image_rect`` (16UC1 mm or 32FC1 m) of ``node``; with ``rgb_transport``
    compressed / ``depth_transport`` compressedDepth as image_transport does, CompressedImage on
    ``<topic>/compressed`` (``rgb_format`` jpeg | png) / ``<topic>/compressedDepth`` (png | rvl).
    ``topics`` replaces some of those names (keys of ``CAMERA_TOPICS``); the node's remap rules
    (``--ros-args -r from:=to``) apply to every name, the transport suffixes included.
    """

    def __init__(
        self,
        node: Any,
        frame_id: str = FIXTURE_FRAME,
        depth_encoding: str = "16UC1",
        *,
        rgb_transport: str = "raw",
        rgb_format: str = "jpeg",
        depth_transport: str = "raw",
        depth_format: str = "png",
        topics: dict[str, str] | None = None,
    ) -> None:
        names = {**CAMERA_TOPICS, **(topics or {})}
        if set(names) != set(CAMERA_TOPICS) or not all(names.values()):
            raise PrivposeInputError(
                f"topics takes non-empty names for {sorted(CAMERA_TOPICS)}, got {topics}"
            )
        if depth_encoding not in ("16UC1", "32FC1"):
            raise PrivposeInputError(
                f"depth_encoding must be 16UC1 or 32FC1, got {depth_encoding}"
            )
        if rgb_transport not in ("raw", "compressed") or rgb_format not in ("jpeg", "png"):
            raise PrivposeInputError(
                f"rgb transport must be raw|compressed and format jpeg|png, got {rgb_transport}, "
                f"{rgb_format}"
            )
        if depth_transport not in ("raw", "compressedDepth") or depth_format not in ("png", "rvl"):
            raise PrivposeInputError(
                f"depth transport must be raw|compressedDepth and format png|rvl, got "
                f"{depth_transport}, {depth_format}"
            )
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        self.node = node
        self.frame_id = frame_id
        self.depth_encoding = depth_encoding
        self.rgb_format = rgb_format if rgb_transport == "compressed" else None
        self.depth_format = depth_format if depth_transport == "compressedDepth" else None
        self.rgb_pub = self._publisher(names["rgb"], rgb_transport, qos)
        self.info_pub = node.create_publisher(CameraInfo, names["info"], qos)
        self.depth_pub = self._publisher(names["depth"], depth_transport, qos)
        self._encoded: dict[int, tuple[Any, Any]] = {}

    def _publisher(self, topic: str, transport: str, qos: QoSProfile) -> Any:
        if transport == "raw":
            return self.node.create_publisher(Image, topic, qos)
        name = f"{self.node.resolve_topic_name(topic)}/{transport}"  # image_transport's naming
        return self.node.create_publisher(CompressedImage, name, qos)

    def subscribers(self) -> int:
        return self.rgb_pub.get_subscription_count()

    def _encode(self, frame: RGBDFrame, key: int | None) -> tuple[Any, Any]:
        if key is None or key not in self._encoded:
            depth = None
            if frame.depth_mm is not None and self.depth_format is not None:
                depth = encode_compressed_depth(
                    np.asarray(frame.depth_mm, np.uint16), self.depth_format, self.depth_encoding
                )
            elif frame.depth_mm is not None:
                pixels = frame.depth_mm
                if self.depth_encoding == "32FC1":
                    pixels = np.nan_to_num(depth_mm_to_m(pixels), nan=0.0)
                depth = encode_image(pixels, self.depth_encoding)
            rgb = np.asarray(frame.rgb, np.uint8)
            if self.rgb_format is not None:
                encoded = (encode_compressed_rgb(rgb, self.rgb_format), depth)
            else:
                encoded = (encode_image(frame.rgb, "rgb8"), depth)
            if key is None:
                return encoded
            self._encoded[key] = encoded
        return self._encoded[key]

    def publish(
        self, frame: RGBDFrame, stamp_ns: int | None = None, cache_key: int | None = None
    ) -> int:
        """Publish one frame stamped ``stamp_ns`` (default: now); returns the stamp.

        Frames published repeatedly can pass a ``cache_key`` to encode them only once.
        """
        rgb_fields, depth_fields = self._encode(frame, cache_key)
        stamp = time.time_ns() if stamp_ns is None else int(stamp_ns)
        self.info_pub.publish(camera_info_msg(frame.intrinsics, stamp, self.frame_id))
        if depth_fields is not None:
            self.depth_pub.publish(_message(depth_fields, stamp, self.frame_id))
        self.rgb_pub.publish(_message(rgb_fields, stamp, self.frame_id))
        return stamp


def paced(count: int, rate_hz: float) -> Iterator[int]:
    """Yield 0..count-1, sleeping so that item i is released at start + i / rate_hz."""
    if rate_hz <= 0:
        raise PrivposeInputError(f"rate must be positive, got {rate_hz} Hz")
    start = time.monotonic()
    for i in range(count):
        delay = start + i / rate_hz - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield i
