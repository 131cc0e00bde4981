"""PoseResult -> geometry_msgs/PoseArray and per-joint TF transforms (pure functions on the one
person type, core.pose.PersonPose).

Joints below the confidence threshold (and joints the joint set cannot derive) are unknown:
NaN positions in the PoseArray (its order is fixed by ``skeleton.joint_names``), and no TF frame.
Every output names the person by tracking id: TF frames ``<prefix>privpose_<id>/<joint>`` (not
``person_<id>``: REP 155 reserves those for fused persons); the PoseArray carries one person
chosen by :func:`select_primary`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Pose, PoseArray, TransformStamped

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.joints import JointSet
from privpose_ros.core.pose import PersonPose, PoseResult, mean_joint_confidence, most_confident
from privpose_ros.core.time import sec_nanosec_from_stamp_ns, stamp_ns_from_sec_nanosec


def select_persons(
    result: PoseResult, joint_set: JointSet, confidence_threshold: float
) -> list[PersonPose]:
    """Every person of ``result`` in ``joint_set``, joints under the threshold set to NaN
    (unknown: no TF frame, no cloud point, NaN in the PoseArray)."""
    persons = []
    for person in result.persons:
        converted = person.to_joint_set(joint_set)
        joints = np.array(converted.joints_cam_m, dtype=np.float64)
        conf = np.nan_to_num(np.asarray(converted.confidence, dtype=np.float64))
        joints[conf < confidence_threshold] = np.nan
        persons.append(replace(converted, joints_cam_m=joints, confidence=conf))
    return persons


def moved_to_frame(
    persons: list[PersonPose], rot: np.ndarray, trans_m: np.ndarray
) -> list[PersonPose]:
    """``persons`` with their joints in another frame: x' = rot @ x + trans_m (rot (3, 3),
    trans_m (3,) metres); the messages then carry that frame's id."""
    return [replace(p, joints_cam_m=p.joints_cam_m @ rot.T + trans_m) for p in persons]


def stamp_msg(stamp_ns: int) -> Time:
    """builtin_interfaces/Time of a stamp in nanoseconds."""
    sec, nanosec = sec_nanosec_from_stamp_ns(stamp_ns)
    return Time(sec=sec, nanosec=nanosec)


def stamp_ns_of(stamp: Time) -> int:
    """Integer nanoseconds of a builtin_interfaces/Time."""
    return stamp_ns_from_sec_nanosec(stamp.sec, stamp.nanosec)


def quaternion_x_to(direction: np.ndarray) -> np.ndarray:
    """(x, y, z, w) rotating the +x axis onto ``direction`` (identity if it is zero or NaN)."""
    d = np.asarray(direction, dtype=np.float64)
    norm = np.linalg.norm(d)
    if not np.isfinite(norm) or norm < 1e-9:
        return np.array([0.0, 0.0, 0.0, 1.0])
    d = d / norm
    if d[0] < -1.0 + 1e-9:  # opposite to +x: half turn about z
        return np.array([0.0, 0.0, 1.0, 0.0])
    q = np.array([0.0, -d[2], d[1], 1.0 + d[0]])  # axis x cross d, angle via half-vector
    return q / np.linalg.norm(q)


def joint_orientations(joints_m: np.ndarray, joint_set: JointSet) -> np.ndarray:
    """(J, 4) quaternions: +x along the bone to the first child joint, identity for leaves."""
    quats = np.tile([0.0, 0.0, 0.0, 1.0], (joint_set.num_joints, 1))
    seen: set[int] = set()
    for parent, child in joint_set.bone_indices():
        if parent not in seen:
            seen.add(int(parent))
            quats[parent] = quaternion_x_to(joints_m[child] - joints_m[parent])
    return quats


def pose_array(
    person: PersonPose | None,
    joint_set: JointSet,
    output_indices: tuple[int, ...],
    stamp_ns: int,
    frame_id: str,
) -> PoseArray:
    """One pose per output joint of ``person`` (empty PoseArray when nobody is seen)."""
    msg = PoseArray()
    msg.header.stamp = stamp_msg(stamp_ns)
    msg.header.frame_id = frame_id
    if person is None:
        return msg
    quats = joint_orientations(person.joints_cam_m, joint_set)
    for index in output_indices:
        pose = Pose()
        x, y, z = (float(v) for v in person.joints_cam_m[index])
        pose.position.x, pose.position.y, pose.position.z = x, y, z
        qx, qy, qz, qw = (float(v) for v in quats[index])
        pose.orientation.x, pose.orientation.y = qx, qy
        pose.orientation.z, pose.orientation.w = qz, qw
        msg.poses.append(pose)
    return msg


PERSON_SELECTION_RULES = ("most_confident", "nearest")


def median_distance_m(person: PersonPose, origin_m: np.ndarray | None = None) -> float:
    """Median distance (metres) of the known joints of ``person`` from ``origin_m`` (default: the
    origin of the output frame, the camera in the camera optical frame); inf with no known joint.
    """
    origin = np.zeros(3) if origin_m is None else np.asarray(origin_m, dtype=np.float64)
    if origin.shape != (3,) or not np.all(np.isfinite(origin)):
        raise PrivposeInputError(
            f"origin_m must be 3 finite metres (x, y, z) in the output frame, got {origin_m!r}"
        )
    distances = np.linalg.norm(np.asarray(person.joints_cam_m, dtype=np.float64) - origin, axis=1)
    distances = distances[np.isfinite(distances)]
    return float(np.median(distances)) if distances.size else float("inf")


def select_primary(
    persons: list[PersonPose], rule: str, origin_m: np.ndarray | None = None
) -> PersonPose | None:
    """The one person ``/human_pose`` carries, by ``rule`` (one of PERSON_SELECTION_RULES).

    ``"most_confident"``: highest mean joint confidence
    (:func:`~privpose_ros.core.pose.most_confident`). ``"nearest"``: smallest finite median
    joint distance from the camera, ``origin_m`` (metres, the camera's
    position in the frame of ``joints_m``; default the origin, right for the camera optical
    frame; pass the camera position when publishing in a ``target_frame``); ties go to the more
    confident person, persons without a known joint are never nearest. None when ``persons`` is
    empty (or, for "nearest", when nobody has a known joint).
    """
    if rule not in PERSON_SELECTION_RULES:
        raise PrivposeInputError(
            f"person selection rule {rule!r} is unknown; use one of {PERSON_SELECTION_RULES}"
        )
    if rule == "most_confident":
        return most_confident(persons)
    ranked = [
        (median_distance_m(p, origin_m), -mean_joint_confidence(p.confidence), i)
        for i, p in enumerate(persons)
    ]
    finite = [r for r in ranked if np.isfinite(r[0])]
    return persons[min(finite)[2]] if finite else None


def joint_transforms(
    persons: list[PersonPose], joint_set: JointSet, prefix: str, stamp_ns: int, frame_id: str
) -> list[TransformStamped]:
    """A transform ``<prefix>privpose_<id>/<joint>`` under ``frame_id`` per known joint."""
    transforms = []
    for person in persons:
        quats = joint_orientations(person.joints_cam_m, joint_set)
        for index, name in enumerate(joint_set.joint_names):
            position = person.joints_cam_m[index]
            if not np.all(np.isfinite(position)):
                continue
            tf = TransformStamped()
            tf.header.stamp = stamp_msg(stamp_ns)
            tf.header.frame_id = frame_id
            tf.child_frame_id = f"{prefix}privpose_{person.person_id}/{name}"
            t = tf.transform.translation
            t.x, t.y, t.z = (float(v) for v in position)
            r = tf.transform.rotation
            r.x, r.y, r.z, r.w = (float(v) for v in quats[index])
            transforms.append(tf)
    return transforms
