"""Keypoints as sensor_msgs/PointCloud2: every person, every known joint (pure builder + reader).

Fields: x, y, z (float32, metres), confidence (float32), joint (uint16 index in the joint set),
person (uint32 person id); little-endian, dense (unknown joints are left out).
"""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import PointCloud2, PointField

from privpose_ros.ros.pose_msgs import OutputPerson, stamp_msg

POINT_DTYPE = np.dtype(
    [
        ("x", "<f4"),
        ("y", "<f4"),
        ("z", "<f4"),
        ("confidence", "<f4"),
        ("joint", "<u2"),
        ("person", "<u4"),
    ],
    align=False,
)
_FIELD_TYPES = {"<f4": PointField.FLOAT32, "<u2": PointField.UINT16, "<u4": PointField.UINT32}


def keypoints_cloud(persons: list[OutputPerson], stamp_ns: int, frame_id: str) -> PointCloud2:
    """An unorganised cloud (height 1) of the known joints of ``persons``."""
    rows = []
    for person in persons:
        known = np.flatnonzero(np.all(np.isfinite(person.joints_m), axis=1))
        block = np.zeros(known.size, dtype=POINT_DTYPE)
        block["x"], block["y"], block["z"] = person.joints_m[known].T
        block["confidence"] = person.confidence[known]
        block["joint"] = known
        block["person"] = person.person_id
        rows.append(block)
    points = np.concatenate(rows) if rows else np.zeros(0, dtype=POINT_DTYPE)
    msg = PointCloud2()
    msg.header.stamp = stamp_msg(stamp_ns)
    msg.header.frame_id = frame_id
    msg.height, msg.width = 1, int(points.size)
    msg.fields = [
        PointField(
            name=name,
            offset=POINT_DTYPE.fields[name][1],
            datatype=_FIELD_TYPES[POINT_DTYPE.fields[name][0].str],
            count=1,
        )
        for name in POINT_DTYPE.names
    ]
    msg.is_bigendian = False
    msg.point_step = POINT_DTYPE.itemsize
    msg.row_step = msg.point_step * msg.width
    msg.data = points.tobytes()
    msg.is_dense = True
    return msg


def read_keypoints(msg: PointCloud2) -> np.ndarray:
    """The structured points (POINT_DTYPE) of a cloud built by :func:`keypoints_cloud`."""
    names = [f.name for f in msg.fields]
    if names != list(POINT_DTYPE.names) or msg.point_step != POINT_DTYPE.itemsize:
        raise ValueError(f"not a privpose keypoint cloud: fields {names}, step {msg.point_step}")
    return np.frombuffer(bytes(msg.data), dtype=POINT_DTYPE, count=msg.width * msg.height)
