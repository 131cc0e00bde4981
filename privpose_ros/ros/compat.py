"""The only module that knows whether message_filters, cv_bridge and tf2_ros are installed.

On a ROS 2 install the real packages are used; on the PyPI runtime (no message_filters,
cv_bridge, tf2_ros) the same few calls are provided here: an approximate-time synchroniser over
rclpy subscriptions (privpose_ros.ros.sync, message_filters' semantics), image decoding honouring
encoding / step / endianness, a TransformBroadcaster publishing tf2_msgs/TFMessage on /tf, and a
TF buffer that looks a transform up at a given stamp (interpolated, never "latest").
"""

from __future__ import annotations

import copy
import importlib.util
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from privpose_ros.core import image_codec
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.ros.pose_msgs import stamp_ns_of
from privpose_ros.ros.sync import COLOUR, DEPTH, INFO, ApproxTimeSync, InputMonitor


def has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


HAVE_MESSAGE_FILTERS = has("message_filters")
HAVE_CV_BRIDGE = has("cv_bridge")
HAVE_TF2_ROS = has("tf2_ros")


def decode_image(msg: Any) -> np.ndarray:
    """Image pixels as (H, W[, C]) in the encoding's dtype (cv_bridge passthrough if present)."""
    if HAVE_CV_BRIDGE and msg.encoding in image_codec.ENCODINGS:
        from cv_bridge import CvBridge, CvBridgeError

        try:
            return np.asarray(CvBridge().imgmsg_to_cv2(msg, desired_encoding="passthrough"))
        except (CvBridgeError, TypeError, ValueError) as exc:
            raise PrivposeInputError(f"{msg.encoding} image rejected by cv_bridge: {exc}") from exc
    return image_codec.decode_image(msg)


class Synchronizer:
    """Subscribe to ``topics`` [(msg_type, name, qos)]: colour image, camera_info and optionally
    depth, in this order, and call ``callback(colour, camera_info[, depth])`` per match.

    With depth, a colour image and its camera_info alone make an RGB-only set
    (``callback(colour, camera_info, None)``) while no depth message came for
    ``depth_timeout_s``; a latched camera_info (published once) serves later images of its frame
    id (both: :class:`privpose_ros.ros.sync.InputMonitor`, ``self.monitor``). A camera_info
    publisher with transient-local durability gets a matching subscription of its own once it is
    seen in the graph (never before: a volatile publisher would report incompatible QoS).
    ``on_input(index)`` is told of every message (index 0: colour), ``on_skip(reason)`` of every
    colour image that could not be used.
    """

    def __init__(
        self,
        node: Any,
        topics: Sequence[tuple[type, str, Any]],
        queue_size: int,
        slop_s: float,
        callback: Callable[..., None],
        depth_timeout_s: float | None = None,
        on_input: Callable[[int], None] | None = None,
        on_skip: Callable[[str], None] | None = None,
    ) -> None:
        self.node = node
        self.callback = callback
        self.on_input = on_input
        self.monitor = InputMonitor(len(topics), queue_size, slop_s, depth_timeout_s, on_skip)
        self._info_type, self._info_topic = topics[INFO][0], topics[INFO][1]
        self._latched_sub: Any = None
        self._graph_checked_s = -1e9
        self._subscriptions: list[Any] = []
        self._injecting = False
        if HAVE_MESSAGE_FILTERS:
            import message_filters

            subs = [message_filters.Subscriber(node, t, n, qos_profile=q) for t, n, q in topics]
            for index, sub in enumerate(subs):  # before the synchronisers: runs first
                sub.registerCallback(lambda m, i=index: self._note_mf(i, m))
            self._mf_subs = subs
            self._mf_sync = message_filters.ApproximateTimeSynchronizer(subs, queue_size, slop_s)
            self._mf_sync.registerCallback(self._full)
            self._mf_rgb_sync = None
            if len(subs) > DEPTH:
                self._mf_rgb_sync = message_filters.ApproximateTimeSynchronizer(
                    subs[:DEPTH], queue_size, slop_s
                )
                self._mf_rgb_sync.registerCallback(self._rgb_only)
            self._subscriptions = [s.sub for s in subs]
            return
        self._sync = ApproxTimeSync(len(topics), queue_size, slop_s, self._full)
        self._rgb_sync = None
        if len(topics) > DEPTH:
            self._rgb_sync = ApproxTimeSync(DEPTH, queue_size, slop_s, self._rgb_only)
        # rclpy's executor serves ready subscriptions in creation order: the small messages
        # (camera_info) first, so they are not starved behind the images (measured: p95 107 ms
        # -> 3.5 ms for camera_info at 640x480 / 30 Hz)
        for index, (msg_type, name, qos) in reversed(list(enumerate(topics))):
            self._subscriptions.append(
                node.create_subscription(msg_type, name, lambda m, i=index: self._add(i, m), qos)
            )

    @property
    def arrivals(self) -> list[int]:
        """Messages received per input."""
        return self.monitor.arrivals

    @property
    def since_last(self) -> list[int]:
        """Colour images received since the last message of each input."""
        return self.monitor.since_last

    def _note(self, index: int, msg: Any) -> list[tuple[int, Any]]:
        """Count ``msg``; the (image stamp, kept camera_info) pairs to offer the synchroniser."""
        if self.on_input is not None:
            self.on_input(index)
        header = msg.header
        stamp = stamp_ns_of(header.stamp)
        pairs = self.monitor.arrived(index, stamp, header.frame_id, msg)
        if index == COLOUR and not pairs and not self.monitor.info_near(stamp):
            if self._watch_latched_info():  # a latched camera_info serves this image at once
                pairs = self.monitor.pair_lagging(str(header.frame_id))
        return pairs

    def _add(self, index: int, msg: Any) -> None:
        stamp = stamp_ns_of(msg.header.stamp)
        pairs = self._note(index, msg)
        for image_stamp, info in pairs:  # oldest first, before this image can match: the
            self._pair(image_stamp, info)  # callbacks keep the images' order
        self._sync.add(index, stamp, msg)
        if self._rgb_sync is not None and index < DEPTH:
            self._rgb_sync.add(index, stamp, msg)

    def _note_mf(self, index: int, msg: Any) -> None:
        if self._injecting:
            return
        pairs = self._note(index, msg)
        for image_stamp, info in pairs:  # oldest first, before message_filters queues this
            self._pair(image_stamp, info)  # image (it reads the stamp from a copy's header)

    def _pair(self, stamp_ns: int, info: Any) -> None:
        """Offer camera_info ``info`` to the colour image of ``stamp_ns`` (filed under its stamp;
        message_filters reads the stamp from the header: a copy with the image's)."""
        if not HAVE_MESSAGE_FILTERS:
            for sync in (self._sync, self._rgb_sync):
                if sync is not None:
                    sync.add(INFO, stamp_ns, info)
            return
        from privpose_ros.ros.pose_msgs import stamp_msg

        paired = copy.copy(info)
        paired.header = copy.copy(info.header)
        paired.header.stamp = stamp_msg(stamp_ns)
        self._injecting = True
        try:
            self._mf_subs[INFO].signalMessage(paired)
        finally:
            self._injecting = False

    def _full(self, *msgs: Any) -> None:
        if self.monitor.claim(stamp_ns_of(msgs[COLOUR].header.stamp), with_depth=True):
            self.callback(*msgs)

    def _rgb_only(self, colour: Any, info: Any) -> None:
        if self.monitor.claim(stamp_ns_of(colour.header.stamp), with_depth=False):
            self.callback(colour, info, None)

    def _watch_latched_info(self) -> bool:
        """A colour image came before (or without) its camera_info: look at the camera_info
        publishers (at most once a second). A transient-local one latches camera_info: the kept
        one then serves images at once (``monitor.info_latched``), and a transient-local
        subscription gets one published before we subscribed. True when newly latched."""
        now = time.monotonic()
        if now - self._graph_checked_s < 1.0:
            return False
        self._graph_checked_s = now
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

        topic = self.node.resolve_topic_name(self._info_topic)
        offered = [i.qos_profile for i in self.node.get_publishers_info_by_topic(topic)]
        latched = [q for q in offered if q.durability == DurabilityPolicy.TRANSIENT_LOCAL]
        was_latched, self.monitor.info_latched = self.monitor.info_latched, bool(latched)
        if not latched or self._latched_sub is not None:
            return self.monitor.info_latched and not was_latched
        reliable = all(q.reliability == ReliabilityPolicy.RELIABLE for q in latched)
        qos = QoSProfile(
            depth=1,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
            reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
        )
        if HAVE_MESSAGE_FILTERS:
            deliver = self._mf_subs[INFO].signalMessage
        else:
            deliver = lambda m: self._add(INFO, m)  # noqa: E731
        self._latched_sub = self.node.create_subscription(self._info_type, topic, deliver, qos)
        self._subscriptions.append(self._latched_sub)
        return not was_latched

    def reset(self) -> None:
        """Forget every queued message (a clock jump: old stamps must not match new ones)."""
        self.monitor.reset()
        if HAVE_MESSAGE_FILTERS:
            for sync in (self._mf_sync, self._mf_rgb_sync):
                if sync is not None:
                    with sync.lock:
                        for queue in sync.queues:
                            queue.clear()
            return
        for sync in (self._sync, self._rgb_sync):
            if sync is not None:
                sync.reset()

    def destroy(self) -> None:
        for sub in self._subscriptions:
            self.node.destroy_subscription(sub)
        self._subscriptions = []
        self._latched_sub = None


def transform_broadcaster(node: Any) -> Any:
    """tf2_ros.TransformBroadcaster(node), or an equivalent publisher of TFMessage on /tf."""
    if HAVE_TF2_ROS:
        import tf2_ros

        return tf2_ros.TransformBroadcaster(node)
    return _Broadcaster(node)


class _Broadcaster:
    def __init__(self, node: Any) -> None:
        from rclpy.qos import QoSProfile
        from tf2_msgs.msg import TFMessage

        self._msg_type = TFMessage
        self.publisher = node.create_publisher(TFMessage, "/tf", QoSProfile(depth=100))

    def sendTransform(self, transforms: Any) -> None:  # noqa: N802 - tf2_ros' name
        items = list(transforms) if isinstance(transforms, list | tuple) else [transforms]
        self.publisher.publish(self._msg_type(transforms=items))


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """(x, y, z, w) unit quaternion to a 3x3 rotation matrix."""
    x, y, z, w = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def _slerp(q0: np.ndarray, q1: np.ndarray, t: float) -> np.ndarray:
    if np.dot(q0, q1) < 0:
        q1 = -q1
    angle = np.arccos(np.clip(np.dot(q0, q1), -1.0, 1.0))
    if angle < 1e-9:
        return q0
    return (np.sin((1 - t) * angle) * q0 + np.sin(t * angle) * q1) / np.sin(angle)


class TfBuffer:
    """``lookup(target, source, stamp_ns, timeout_s) -> (rotation 3x3, translation 3)`` mapping
    points in ``source`` to ``target`` at ``stamp_ns``; raises LookupError when unavailable."""

    HISTORY = 200

    def __init__(self, node: Any) -> None:
        self.node = node
        if HAVE_TF2_ROS:
            import tf2_ros

            self._buffer = tf2_ros.Buffer()
            self._listener = tf2_ros.TransformListener(self._buffer, node)
            return
        from rclpy.qos import DurabilityPolicy, QoSProfile
        from tf2_msgs.msg import TFMessage

        # child -> (parent, deque of (stamp_ns, translation, quaternion)); static: stamp -1
        self._edges: dict[str, tuple[str, deque]] = {}
        self._lock = threading.Lock()
        static_qos = QoSProfile(depth=100, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self._subscriptions = [
            node.create_subscription(TFMessage, "/tf", lambda m: self._store(m, False), 100),
            node.create_subscription(
                TFMessage, "/tf_static", lambda m: self._store(m, True), static_qos
            ),
        ]

    def _store(self, msg: Any, static: bool) -> None:
        with self._lock:
            self._store_locked(msg, static)

    def _store_locked(self, msg: Any, static: bool) -> None:
        for tf in msg.transforms:
            t, r = tf.transform.translation, tf.transform.rotation
            sample = (
                -1 if static else stamp_ns_of(tf.header.stamp),
                np.array([t.x, t.y, t.z]),
                np.array([r.x, r.y, r.z, r.w]),
            )
            parent, history = self._edges.get(tf.child_frame_id, (None, None))
            if parent != tf.header.frame_id:
                history = deque(maxlen=self.HISTORY)
                self._edges[tf.child_frame_id] = (tf.header.frame_id, history)
            history.append(sample)

    def _edge_at(self, child: str, stamp_ns: int) -> np.ndarray:
        parent, history = self._edges[child]
        samples = sorted(history, key=lambda s: s[0])
        if samples[0][0] == -1:
            _, t, q = samples[-1]
        else:
            stamps = [s[0] for s in samples]
            if not stamps[0] <= stamp_ns <= stamps[-1]:
                raise LookupError(
                    f"no {parent}->{child} transform at {stamp_ns} ns (would extrapolate)"
                )
            i = int(np.searchsorted(stamps, stamp_ns))
            (s0, t0, q0), (s1, t1, q1) = samples[max(i - 1, 0)], samples[i]
            w = 0.0 if s1 == s0 else (stamp_ns - s0) / (s1 - s0)
            t, q = (1 - w) * t0 + w * t1, _slerp(q0, q1, w)
        matrix = np.eye(4)
        matrix[:3, :3], matrix[:3, 3] = quat_to_matrix(q), t
        return matrix

    def _to_root(self, frame: str, stamp_ns: int) -> dict[str, np.ndarray]:
        """{ancestor: T_ancestor_frame} for the frame and each of its ancestors."""
        chain = {frame: np.eye(4)}
        current, total = frame, np.eye(4)
        while current in self._edges and len(chain) < 64:
            parent = self._edges[current][0]
            total = self._edge_at(current, stamp_ns) @ total
            chain[parent] = total
            current = parent
        return chain

    def destroy(self) -> None:
        """Stop listening (lifecycle cleanup)."""
        if HAVE_TF2_ROS:
            self._listener.unregister()
            return
        for sub in self._subscriptions:
            self.node.destroy_subscription(sub)
        self._subscriptions = []

    def clear(self) -> None:
        """Forget every dynamic transform (a clock jump); static ones stay."""
        if HAVE_TF2_ROS:
            self._buffer.clear()
            return
        with self._lock:
            self._edges = {c: e for c, e in self._edges.items() if e[1] and e[1][0][0] == -1}

    def lookup(
        self, target: str, source: str, stamp_ns: int, timeout_s: float
    ) -> tuple[np.ndarray, np.ndarray]:
        if HAVE_TF2_ROS:
            from rclpy.duration import Duration
            from rclpy.time import Time

            try:
                tf = self._buffer.lookup_transform(
                    target, source, Time(nanoseconds=stamp_ns), timeout=Duration(seconds=timeout_s)
                )
            except Exception as exc:  # tf2 raises its own exception family
                raise LookupError(str(exc)) from exc
            t, r = tf.transform.translation, tf.transform.rotation
            return quat_to_matrix(np.array([r.x, r.y, r.z, r.w])), np.array([t.x, t.y, t.z])
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with self._lock:
                    from_source = self._to_root(source, stamp_ns)
                    from_target = self._to_root(target, stamp_ns)
                common = next((f for f in from_source if f in from_target), None)
                if common is not None:
                    matrix = np.linalg.inv(from_target[common]) @ from_source[common]
                    return matrix[:3, :3], matrix[:3, 3]
                error = f"frames '{source}' and '{target}' are not connected in TF"
            except LookupError as exc:
                error = str(exc)
            if time.monotonic() >= deadline:
                raise LookupError(error)
            time.sleep(0.005)
