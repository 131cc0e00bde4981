"""REP 155 (ROS4HRI) output: the bodies privpose sees, as HRI stacks (libhri, pyhri) read them.

Per frame, beside the node's own topics:

- ``/humans/bodies/tracked`` hri_msgs/IdsList: the body id of every person (empty when nobody is
  seen), stamped with the image stamp;
- per body ``/humans/bodies/<id>/skeleton2d`` hri_msgs/Skeleton2D (18 points in OpenPose-COCO
  order, x / y normalised by the image width / height, c = the joint confidence; a point
  privpose does not know is 0, 0, 0) and ``/humans/bodies/<id>/roi``
  hri_msgs/NormalizedRegionOfInterest2D (the person box, c = the detection score). The two
  publishers are created when the body appears and destroyed when it leaves, as
  hri_body_detect does;
- TF (at most ``tf_rate_hz``): ``body_<id>`` under the image frame at the mid-point of the hips,
  x forward (out of the chest), z up (towards the head), y to the person's left, and directly
  under it the links ``<link>_<id>`` of BODY_LINKS at their joints (orientation that of
  ``body_<id>``: privpose estimates joint positions, not the limbs' roll).

Body ids: ``b<person id>`` (:func:`body_id`): the tracking id, which is never reused in a node's
life, so a body id is unique; the letter makes it a valid topic name token (a ROS name token
must not start with a digit). ``person_<id>`` frames are REP 155's fused persons: nothing here
publishes them.

The 18 points and the links are defined on privpose's canonical joints (:mod:`core.joints`) and
resolved in the output joint set: a source the joint set lacks (or the frame does not know) falls
back to the next one, e.g. the neck to the mid-shoulders.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from geometry_msgs.msg import TransformStamped
from hri_msgs.msg import IdsList, NormalizedRegionOfInterest2D, Skeleton2D
from rclpy.qos import QoSProfile, ReliabilityPolicy

from privpose_ros.core.joints import CANONICAL_JOINTS, JointSet
from privpose_ros.core.pose import PersonPose
from privpose_ros.ros import compat
from privpose_ros.ros.pose_msgs import stamp_msg

BODIES_NS = "/humans/bodies"
TRACKED_TOPIC = f"{BODIES_NS}/tracked"
# reliable keep-last 1, like hri_body_detect: matches reliable (libhri) and best-effort readers
HRI_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)

Mix = dict[str, float]  # canonical joint -> weight (weights sum to 1)


def _mid(a: str, b: str) -> Mix:
    return {a: 0.5, b: 0.5}


_SHOULDERS = _mid("left_shoulder", "right_shoulder")
_HIPS = _mid("left_hip", "right_hip")

# Skeleton2D point (its index = the message constant) -> canonical sources, first usable wins
SKELETON2D_POINTS: tuple[tuple[str, tuple[Mix, ...]], ...] = (
    ("nose", ({"nose": 1.0},)),
    ("neck", ({"neck": 1.0}, _SHOULDERS)),
    ("right_shoulder", ({"right_shoulder": 1.0},)),
    ("right_elbow", ({"right_elbow": 1.0},)),
    ("right_wrist", ({"right_wrist": 1.0},)),
    ("left_shoulder", ({"left_shoulder": 1.0},)),
    ("left_elbow", ({"left_elbow": 1.0},)),
    ("left_wrist", ({"left_wrist": 1.0},)),
    ("right_hip", ({"right_hip": 1.0},)),
    ("right_knee", ({"right_knee": 1.0},)),
    ("right_ankle", ({"right_ankle": 1.0},)),
    ("left_hip", ({"left_hip": 1.0},)),
    ("left_knee", ({"left_knee": 1.0},)),
    ("left_ankle", ({"left_ankle": 1.0},)),
    ("left_eye", ({"left_eye": 1.0},)),
    ("right_eye", ({"right_eye": 1.0},)),
    ("left_ear", ({"left_ear": 1.0},)),
    ("right_ear", ({"right_ear": 1.0},)),
)

# REP 155 link (frame <link>_<id>, under body_<id>) -> canonical sources, first usable wins.
# torso: the human_description URDF puts it on the shoulder line, where the arms attach.
BODY_LINKS: tuple[tuple[str, tuple[Mix, ...]], ...] = (
    ("head", ({"head": 1.0}, _mid("left_ear", "right_ear"), {"nose": 1.0})),
    ("torso", (_SHOULDERS, {"neck": 1.0})),
    *(
        (f"{side[0]}_{part}", ({f"{side}_{part}": 1.0},))
        for side in ("left", "right")
        for part in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")
    ),
)
_BODY_ORIGIN = (_HIPS,)
_BODY_UP = (_SHOULDERS, {"neck": 1.0}, {"head": 1.0})
_BODY_LEFT = (
    {"left_hip": 1.0, "right_hip": -1.0},  # a direction: left minus right
    {"left_shoulder": 1.0, "right_shoulder": -1.0},
)


def body_id(person_id: int) -> str:
    """The REP 155 body id of a privpose person (tracking) id: ``b<id>``, e.g. ``b4``."""
    return f"b{int(person_id)}"


def _resolve(joint_set: JointSet, mixes: tuple[Mix, ...]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ``mixes`` the joint set can express: (joint indices, weights) each, in order. A
    canonical joint is in the set when one of its joints is exactly that joint."""
    exact = np.isclose(joint_set.from_canonical, 1.0) & (
        np.count_nonzero(joint_set.from_canonical, axis=1) == 1
    )[:, None]
    resolved = []
    for mix in mixes:
        indices = []
        for name in mix:
            rows = np.flatnonzero(exact[:, CANONICAL_JOINTS.index(name)])
            if not rows.size:
                break
            indices.append(int(rows[0]))
        else:
            resolved.append((np.array(indices), np.array(list(mix.values()), dtype=np.float64)))
    return resolved


def _mix(
    values: np.ndarray, confidence: np.ndarray, options: list[tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray | None, float]:
    """The first option whose joints are all known in ``values`` (J, D): its weighted sum and
    the least confidence of its joints; (None, 0.0) when none is."""
    for indices, weights in options:
        picked = values[indices]
        if np.all(np.isfinite(picked)):
            return weights @ picked, float(np.min(confidence[indices]))
    return None, 0.0


def skeleton2d_points(person: PersonPose, width: int, height: int) -> np.ndarray:
    """(18, 3) x, y, c of the Skeleton2D points of ``person`` (x, y = joints_px / image size,
    clipped to [0, 1] as the message requires); unknown points (no joints_px, a joint the set
    lacks or NaN) are 0, 0, 0."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    out = np.zeros((len(SKELETON2D_POINTS), 3))
    if person.joints_px is None:
        return out
    scale = np.array([width, height], dtype=np.float64)
    for row, (_, mixes) in enumerate(SKELETON2D_POINTS):
        point, conf = _mix(person.joints_px, person.confidence, _resolve(person.joint_set, mixes))
        if point is not None:
            out[row, :2] = np.clip(point / scale, 0.0, 1.0)
            out[row, 2] = np.clip(conf, 0.0, 1.0)
    return out


def roi(person: PersonPose, width: int, height: int) -> np.ndarray | None:
    """xmin, ymin, xmax, ymax (normalised, clipped to [0, 1]) and c (the detection score) of the
    person box ``box_px``; without a box, of the known ``joints_px``; None without either."""
    box = person.box_px
    if box is None and person.joints_px is not None:
        known = person.joints_px[np.all(np.isfinite(person.joints_px), axis=1)]
        if len(known):
            box = np.concatenate([known.min(axis=0), known.max(axis=0)])
    if box is None:
        return None
    norm = np.clip(np.asarray(box, dtype=np.float64) / [width, height, width, height], 0, 1)
    return np.append(norm, np.clip(person.score, 0.0, 1.0))


def body_frame(person: PersonPose) -> tuple[np.ndarray, np.ndarray] | None:
    """``body_<id>`` in the frame of ``joints_cam_m``: origin (3,) metres (the mid-hips) and
    rotation (3, 3) whose columns are its x (forward), y (left), z (up) axes; identity when the
    joints give no up and left direction; None when the hips are unknown."""
    joints, conf = person.joints_cam_m, person.confidence
    origin, _ = _mix(joints, conf, _resolve(person.joint_set, _BODY_ORIGIN))
    if origin is None:
        return None
    up_point, _ = _mix(joints, conf, _resolve(person.joint_set, _BODY_UP))
    left, _ = _mix(joints, conf, _resolve(person.joint_set, _BODY_LEFT))
    rot = np.eye(3)
    if up_point is not None and left is not None:
        z = up_point - origin
        if np.linalg.norm(z) > 1e-6:
            z = z / np.linalg.norm(z)
            y = left - (left @ z) * z
            if np.linalg.norm(y) > 1e-6:
                y = y / np.linalg.norm(y)
                rot = np.column_stack([np.cross(y, z), y, z])
    return origin, rot


def _quaternion(rot: np.ndarray) -> np.ndarray:
    """(x, y, z, w) of a rotation matrix."""
    w = np.sqrt(max(0.0, 1.0 + np.trace(rot))) / 2.0
    if w > 1e-6:
        x = (rot[2, 1] - rot[1, 2]) / (4 * w)
        y = (rot[0, 2] - rot[2, 0]) / (4 * w)
        z = (rot[1, 0] - rot[0, 1]) / (4 * w)
        return np.array([x, y, z, w])
    i = int(np.argmax(np.diag(rot)))  # a half turn: the largest diagonal axis
    j, k = (i + 1) % 3, (i + 2) % 3
    q = np.zeros(4)
    q[i] = np.sqrt(max(0.0, 1.0 + rot[i, i] - rot[j, j] - rot[k, k])) / 2.0
    q[j] = (rot[j, i] + rot[i, j]) / (4 * q[i])
    q[k] = (rot[k, i] + rot[i, k]) / (4 * q[i])
    q[3] = (rot[k, j] - rot[j, k]) / (4 * q[i])
    return q


def _transform(stamp_ns: int, parent: str, child: str, xyz: np.ndarray, quat) -> TransformStamped:
    tf = TransformStamped()
    tf.header.stamp = stamp_msg(stamp_ns)
    tf.header.frame_id = parent
    tf.child_frame_id = child
    t = tf.transform.translation
    t.x, t.y, t.z = (float(v) for v in xyz)
    r = tf.transform.rotation
    r.x, r.y, r.z, r.w = (float(v) for v in quat)
    return tf


def body_transforms(person: PersonPose, stamp_ns: int, frame_id: str) -> list[TransformStamped]:
    """``body_<id>`` under ``frame_id`` and each known link ``<link>_<id>`` under it (translation
    in the body frame, identity rotation); [] when the hips are unknown."""
    frame = body_frame(person)
    if frame is None:
        return []
    origin, rot = frame
    bid = body_id(person.person_id)
    body = f"body_{bid}"
    transforms = [_transform(stamp_ns, frame_id, body, origin, _quaternion(rot))]
    joints, conf = person.joints_cam_m, person.confidence
    for link, mixes in BODY_LINKS:
        point, _ = _mix(joints, conf, _resolve(person.joint_set, mixes))
        if point is not None:
            xyz = rot.T @ (point - origin)
            transforms.append(_transform(stamp_ns, body, f"{link}_{bid}", xyz, (0, 0, 0, 1)))
    return transforms


class HriPublisher:
    """Publishes the REP 155 body outputs of a node, like ``tf2_ros.TransformBroadcaster(node)``
    takes the node: ``publish`` once per frame, ``destroy`` when the node cleans up.

    ``tf_broadcaster``: the node's own (tf2_ros or compat) broadcaster to share, or None to make
    one; TF is sent at most ``tf_rate_hz`` on the node's clock.
    """

    def __init__(self, node: Any, tf_rate_hz: float = 10.0, tf_broadcaster: Any = None) -> None:
        if not tf_rate_hz > 0:
            raise ValueError(f"tf_rate_hz must be > 0, got {tf_rate_hz}")
        self._node = node
        self._tf_period_ns = 1e9 / tf_rate_hz
        self._last_tf_ns: int | None = None
        self._own_broadcaster = tf_broadcaster is None
        self._broadcaster = tf_broadcaster or compat.transform_broadcaster(node)
        self._tracked = node.create_publisher(IdsList, TRACKED_TOPIC, HRI_QOS)
        self._bodies: dict[str, tuple[Any, Any]] = {}  # body id -> (skeleton2d, roi) publishers

    @property
    def body_ids(self) -> tuple[str, ...]:
        """The bodies with publishers now (those of the last frame)."""
        return tuple(self._bodies)

    def publishers(self) -> list[Any]:
        """Every publisher this helper holds (the node's lazy check counts their subscribers)."""
        pubs = [self._tracked, *(p for pair in self._bodies.values() for p in pair)]
        if self._own_broadcaster:
            pubs += [getattr(self._broadcaster, n, None) for n in ("pub_tf", "publisher")]
        return [p for p in pubs if p is not None]

    def publish(
        self,
        persons: list[PersonPose],
        stamp_ns: int,
        frame_id: str,
        image_wh: tuple[int, int],
    ) -> None:
        """One frame: ``persons`` (joints_cam_m in ``frame_id``, joints_px / box_px in pixels of
        the ``image_wh`` = (width, height) source image), stamped ``stamp_ns``."""
        width, height = image_wh
        by_id: dict[str, PersonPose] = {}
        for person in persons:
            bid = body_id(person.person_id)
            if bid in by_id:
                self._node.get_logger().warning(
                    f"REP 155: two persons share id {person.person_id} (tracking off?); "
                    f"body {bid} is the first of them",
                    throttle_duration_sec=10.0,
                )
                continue
            by_id[bid] = person
        for gone in [b for b in self._bodies if b not in by_id]:
            self._destroy_body(gone)
        header_stamp = stamp_msg(stamp_ns)
        tracked = IdsList(ids=list(by_id))
        tracked.header.stamp, tracked.header.frame_id = header_stamp, frame_id
        self._tracked.publish(tracked)
        for bid, person in by_id.items():
            skel_pub, roi_pub = self._body_publishers(bid)
            skel = Skeleton2D()
            skel.header.stamp, skel.header.frame_id = header_stamp, frame_id
            for point, (x, y, c) in zip(
                skel.skeleton, skeleton2d_points(person, width, height), strict=True
            ):
                point.x, point.y, point.c = float(x), float(y), float(c)
            skel_pub.publish(skel)
            box = roi(person, width, height)
            if box is not None:
                msg = NormalizedRegionOfInterest2D()
                msg.header.stamp, msg.header.frame_id = header_stamp, frame_id
                msg.xmin, msg.ymin, msg.xmax, msg.ymax, msg.c = (float(v) for v in box)
                roi_pub.publish(msg)
        self._send_tf(list(by_id.values()), stamp_ns, frame_id)

    def _send_tf(self, persons: list[PersonPose], stamp_ns: int, frame_id: str) -> None:
        if not persons:
            return
        now_ns = self._node.get_clock().now().nanoseconds
        last = self._last_tf_ns
        if last is not None and last <= now_ns < last + self._tf_period_ns:
            return
        self._last_tf_ns = now_ns
        transforms = [t for p in persons for t in body_transforms(p, stamp_ns, frame_id)]
        if transforms:
            self._broadcaster.sendTransform(transforms)

    def _body_publishers(self, bid: str) -> tuple[Any, Any]:
        if bid not in self._bodies:
            create, topic = self._node.create_publisher, f"{BODIES_NS}/{bid}"
            self._bodies[bid] = (
                create(Skeleton2D, f"{topic}/skeleton2d", HRI_QOS),
                create(NormalizedRegionOfInterest2D, f"{topic}/roi", HRI_QOS),
            )
        return self._bodies[bid]

    def _destroy_body(self, bid: str) -> None:
        for pub in self._bodies.pop(bid):
            self._node.destroy_publisher(pub)

    def destroy(self) -> None:
        """Destroy every publisher this helper made (the node's shared broadcaster stays)."""
        for bid in list(self._bodies):
            self._destroy_body(bid)
        self._node.destroy_publisher(self._tracked)
        if self._own_broadcaster:
            for name in ("pub_tf", "publisher"):
                pub = getattr(self._broadcaster, name, None)
                if pub is not None:
                    self._node.destroy_publisher(pub)
