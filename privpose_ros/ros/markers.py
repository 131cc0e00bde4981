"""Skeleton markers for RViz: per person a namespace ``privpose/person_<id>`` (the tracking id, as
in the keypoint cloud's ``person`` field and the TF frames) with a SPHERE_LIST (joints, id 0) and a
LINE_LIST (bones, id 1), stable ids, a lifetime of a few frames, DELETE of a departed person's
markers (SkeletonMarkers) and DELETEALL when nobody is seen."""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from privpose_ros.core.joints import JointSet
from privpose_ros.core.pose import PersonPose
from privpose_ros.ros.pose_msgs import stamp_msg

JOINT_DIAMETER_M = 0.05
BONE_WIDTH_M = 0.02
# distinct colours, one per person id (cycled)
PALETTE = ((0.1, 0.8, 0.2), (0.9, 0.3, 0.1), (0.2, 0.4, 1.0), (0.9, 0.8, 0.1), (0.7, 0.2, 0.9))


def person_namespace(person_id: int) -> str:
    """The marker namespace of one tracked person."""
    return f"privpose/person_{person_id}"


def _base(kind: int, marker_id: int, person_id: int, stamp_ns: int, frame_id: str) -> Marker:
    marker = Marker()
    marker.header.stamp = stamp_msg(stamp_ns)
    marker.header.frame_id = frame_id
    marker.ns = person_namespace(person_id)
    marker.id = marker_id
    marker.type = kind
    marker.action = Marker.ADD
    marker.pose.orientation.w = 1.0
    r, g, b = PALETTE[person_id % len(PALETTE)]
    marker.color = ColorRGBA(r=r, g=g, b=b, a=1.0)
    return marker


def _point(xyz: np.ndarray) -> Point:
    return Point(x=float(xyz[0]), y=float(xyz[1]), z=float(xyz[2]))


def skeleton_markers(
    persons: list[PersonPose],
    joint_set: JointSet,
    stamp_ns: int,
    frame_id: str,
    lifetime_s: float,
) -> MarkerArray:
    """Markers for ``persons``; a single DELETEALL marker when the list is empty."""
    out = MarkerArray()
    if not persons:
        clear = Marker()
        clear.header.stamp = stamp_msg(stamp_ns)
        clear.header.frame_id = frame_id
        clear.action = Marker.DELETEALL
        out.markers.append(clear)
        return out
    lifetime = Duration(sec=int(lifetime_s), nanosec=int(round((lifetime_s % 1) * 1e9)))
    bones = joint_set.bone_indices()
    for person in persons:
        known = np.all(np.isfinite(person.joints_cam_m), axis=1)
        joints = _base(Marker.SPHERE_LIST, 0, person.person_id, stamp_ns, frame_id)
        joints.scale.x = joints.scale.y = joints.scale.z = JOINT_DIAMETER_M
        joints.points = [_point(p) for p in person.joints_cam_m[known]]
        lines = _base(Marker.LINE_LIST, 1, person.person_id, stamp_ns, frame_id)
        lines.scale.x = BONE_WIDTH_M
        for parent, child in bones:
            if known[parent] and known[child]:
                lines.points += [
                    _point(person.joints_cam_m[parent]),
                    _point(person.joints_cam_m[child]),
                ]
        for marker in (joints, lines):
            marker.lifetime = lifetime
            out.markers.append(marker)
    return out


class SkeletonMarkers:
    """:func:`skeleton_markers` plus a DELETE of both markers of every person shown in the
    previous frame and gone now, so a departed person leaves no ghost (whatever
    ``marker.lifetime_s``, 0 = forever included). One per publisher; call it every frame."""

    def __init__(self) -> None:
        self._shown: set[int] = set()

    def __call__(
        self,
        persons: list[PersonPose],
        joint_set: JointSet,
        stamp_ns: int,
        frame_id: str,
        lifetime_s: float,
    ) -> MarkerArray:
        out = skeleton_markers(persons, joint_set, stamp_ns, frame_id, lifetime_s)
        current = {p.person_id for p in persons}
        if persons:  # (an empty frame is one DELETEALL already)
            for person_id in sorted(self._shown - current):
                for marker_id in (0, 1):
                    gone = _base(Marker.SPHERE_LIST, marker_id, person_id, stamp_ns, frame_id)
                    gone.action = Marker.DELETE
                    out.markers.append(gone)
        self._shown = current
        return out
