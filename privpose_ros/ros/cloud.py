"""Keypoints as sensor_msgs/PointCloud2: every person, every known joint (pure builder + reader).

Fields: x, y, z (float32, metres), confidence (float32), joint (uint16 index in the joint set),
person (uint32 tracking id of the person, the ``<id>`` of the TF frames and marker namespaces);
little-endian, dense (unknown joints are left out).
"""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import PointCloud2, PointField

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.pose import PersonPose
from privpose_ros.ros.pose_msgs import stamp_msg

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


def keypoints_cloud(persons: list[PersonPose], stamp_ns: int, frame_id: str) -> PointCloud2:
    """An unorganised cloud (height 1) of the known joints of ``persons``."""
    rows = []
    for person in persons:
        if not 0 <= int(person.person_id) < 2**32:
            raise PrivposeInputError(
                f"person id {person.person_id} does not fit the uint32 'person' field; "
                "tracking ids must be >= 0"
            )
        known = np.flatnonzero(np.all(np.isfinite(person.joints_cam_m), axis=1))
        block = np.zeros(known.size, dtype=POINT_DTYPE)
        block["x"], block["y"], block["z"] = person.joints_cam_m[known].T
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
    """The points (POINT_DTYPE: x, y, z metres, confidence, joint, person id) of a keypoint cloud.

    Fields are found by name, offset and type, so a cloud whose points carry extra fields or
    padding (a larger ``point_step``) after a relay is read too.
    """
    fields = {f.name: f for f in msg.fields}
    for name in POINT_DTYPE.names:
        want_type = _FIELD_TYPES[POINT_DTYPE.fields[name][0].str]
        got = fields.get(name)
        if got is None or got.datatype != want_type or got.count != 1:
            raise PrivposeInputError(
                f"not a privpose keypoint cloud: field {name!r} missing or not "
                f"{POINT_DTYPE.fields[name][0]} (fields {sorted(fields)}); subscribe to "
                "human_pose/keypoints of pose_node"
            )
    if msg.is_bigendian:
        raise PrivposeInputError("keypoint cloud is big-endian; pose_node publishes little-endian")
    count = int(msg.width) * int(msg.height)
    step = int(msg.point_step)
    data = bytes(msg.data)
    if step < POINT_DTYPE.itemsize or len(data) < count * step:
        raise PrivposeInputError(
            f"keypoint cloud has point_step {step} and {len(data)} bytes for {count} points; "
            f"each point needs at least {POINT_DTYPE.itemsize} bytes"
        )
    layout = np.dtype(
        {
            "names": list(POINT_DTYPE.names),
            "formats": [POINT_DTYPE.fields[n][0] for n in POINT_DTYPE.names],
            "offsets": [fields[n].offset for n in POINT_DTYPE.names],
            "itemsize": step,
        }
    )
    return np.frombuffer(data, dtype=layout, count=count).astype(POINT_DTYPE)
