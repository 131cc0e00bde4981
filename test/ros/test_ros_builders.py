"""Message builders: PoseArray, keypoint cloud, markers, TF, diagnostics (values, not smoke)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="ROS 2 message packages not installed: run `make setup`")
from diagnostic_msgs.msg import DiagnosticStatus  # noqa: E402
from visualization_msgs.msg import Marker  # noqa: E402

from privpose_ros.core.errors import PrivposeInputError  # noqa: E402
from privpose_ros.core.joints import CANONICAL, get_joint_set  # noqa: E402
from privpose_ros.core.pose import PersonPose, PoseResult, most_confident  # noqa: E402
from privpose_ros.ros.cloud import POINT_DTYPE, keypoints_cloud, read_keypoints  # noqa: E402
from privpose_ros.ros.compat import TfBuffer, quat_to_matrix  # noqa: E402
from privpose_ros.ros.diagnostics import NodeStats, diagnostic_array  # noqa: E402
from privpose_ros.ros.markers import skeleton_markers  # noqa: E402
from privpose_ros.ros.pose_msgs import (  # noqa: E402
    PERSON_SELECTION_RULES,
    joint_transforms,
    median_distance_m,
    pose_array,
    quaternion_x_to,
    select_persons,
    select_primary,
    stamp_msg,
    stamp_ns_of,
)

RNG = np.random.default_rng(3)
JOINTS = RNG.normal([0, 0, 2.5], 0.3, size=(26, 3))


def _result() -> PoseResult:
    low = np.full(26, 0.9)
    low[3] = 0.1  # head below the threshold
    a = PersonPose(JOINTS, low, person_id=4)
    b = PersonPose(JOINTS + [1.0, 0, 0], np.full(26, 0.5), person_id=7)
    return PoseResult((a, b), stamp_ns=5_000_000_123, frame_id="cam")


def test_quaternion_points_x_along_the_bone() -> None:
    for direction in ([0, 0, 1.0], [-1.0, 0, 0], [0.3, -2.0, 0.5], [1.0, 0, 0]):
        q = quaternion_x_to(np.array(direction))
        x_axis = quat_to_matrix(q)[:, 0]
        np.testing.assert_allclose(
            x_axis, np.array(direction) / np.linalg.norm(direction), atol=1e-9
        )
    np.testing.assert_array_equal(quaternion_x_to(np.array([np.nan, 0, 0])), [0, 0, 0, 1])


def test_pose_array_is_the_most_confident_person_in_joint_order() -> None:
    persons = select_persons(_result(), CANONICAL, 0.3)
    best = most_confident(persons)
    assert best.person_id == 4
    msg = pose_array(best, CANONICAL, tuple(range(26)), 5_000_000_123, "cam")
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (5, 123)
    got = np.array([[p.position.x, p.position.y, p.position.z] for p in msg.poses])
    np.testing.assert_allclose(got[[0, 1, 2, 4]], JOINTS[[0, 1, 2, 4]])
    assert np.isnan(got[3]).all()  # head under the confidence threshold
    pelvis_q = msg.poses[0].orientation  # pelvis -> spine is its first bone
    x_axis = quat_to_matrix(np.array([pelvis_q.x, pelvis_q.y, pelvis_q.z, pelvis_q.w]))[:, 0]
    bone = JOINTS[1] - JOINTS[0]
    np.testing.assert_allclose(x_axis, bone / np.linalg.norm(bone), atol=1e-9)
    assert msg.poses[25].orientation.w == 1.0  # right_foot is a leaf
    assert pose_array(None, CANONICAL, (0,), 1, "cam").poses == []
    itop = get_joint_set("itop15")
    msg = pose_array(select_persons(_result(), itop, 0.3)[1], itop, (1, 0), 1, "cam")
    np.testing.assert_allclose(msg.poses[0].position.z, JOINTS[2, 2])  # Neck = neck


def test_keypoint_cloud_round_trips_every_known_joint() -> None:
    persons = select_persons(_result(), CANONICAL, 0.3)
    cloud = keypoints_cloud(persons, 42, "cam")
    points = read_keypoints(cloud)
    assert cloud.width == 51 and cloud.point_step == 22 and cloud.header.frame_id == "cam"
    first = points[points["person"] == 4]
    assert 3 not in first["joint"]
    np.testing.assert_allclose(first["z"], JOINTS[first["joint"], 2], atol=1e-6)
    np.testing.assert_allclose(points[points["person"] == 7]["confidence"], 0.5)
    assert keypoints_cloud([], 42, "cam").width == 0


def test_keypoint_cloud_carries_each_persons_id() -> None:
    far_id = 4_000_000_000  # any uint32 tracking id survives
    a = PersonPose(JOINTS.copy(), np.full(26, 0.8), person_id=3)
    b_joints = JOINTS + [0.5, -0.25, 1.0]
    b_joints[[5, 9]] = np.nan  # unknown joints are left out
    b = PersonPose(b_joints, np.linspace(0.1, 0.9, 26), person_id=far_id)
    points = read_keypoints(keypoints_cloud([a, b], 42, "cam"))
    assert points.dtype == POINT_DTYPE and points["person"].dtype == np.uint32
    assert sorted(set(points["person"].tolist())) == [3, far_id]
    for person, n in ((a, 26), (b, 24)):
        mine = points[points["person"] == person.person_id]
        assert len(mine) == n
        xyz = np.stack([mine["x"], mine["y"], mine["z"]], axis=1)
        np.testing.assert_array_equal(xyz, person.joints_cam_m[mine["joint"]].astype(np.float32))
        np.testing.assert_array_equal(
            mine["confidence"], person.confidence[mine["joint"]].astype(np.float32)
        )
    assert 5 not in points[points["person"] == far_id]["joint"]
    with pytest.raises(PrivposeInputError, match="uint32"):
        keypoints_cloud([PersonPose(JOINTS, np.ones(26), person_id=-1)], 42, "cam")


def test_read_keypoints_accepts_padded_points_and_refuses_other_clouds() -> None:
    cloud = keypoints_cloud([PersonPose(JOINTS, np.full(26, 0.7), person_id=6)], 42, "cam")
    raw = np.frombuffer(bytes(cloud.data), np.uint8).reshape(26, 22)
    cloud.data = np.concatenate([raw, np.zeros((26, 10), np.uint8)], axis=1).tobytes()
    cloud.point_step, cloud.row_step = 32, 32 * 26  # a relay padded each point
    points = read_keypoints(cloud)
    np.testing.assert_array_equal(points["person"], 6)
    np.testing.assert_array_equal(points["z"], JOINTS[:, 2].astype(np.float32))
    cloud.fields = [f for f in cloud.fields if f.name != "person"]
    with pytest.raises(PrivposeInputError, match="'person' missing"):
        read_keypoints(cloud)


def _standing(z_m: float, conf: float, person_id: int) -> PersonPose:
    joints = JOINTS - JOINTS.mean(axis=0) * [1, 1, 0] + [0, 0, z_m - JOINTS[:, 2].mean()]
    return PersonPose(joints, np.full(26, conf), person_id=person_id)


def test_select_primary_nearest_and_most_confident_pick_different_persons() -> None:
    assert PERSON_SELECTION_RULES == ("most_confident", "nearest")
    far_sure = _standing(4.0, 0.9, person_id=1)
    near_unsure = _standing(1.5, 0.4, person_id=2)
    unknown = PersonPose(np.full((26, 3), np.nan), np.zeros(26), person_id=3)
    persons = [far_sure, near_unsure, unknown]
    assert select_primary(persons, "most_confident") is most_confident(persons) is far_sure
    assert select_primary(persons, "nearest") is near_unsure
    assert median_distance_m(near_unsure) == pytest.approx(1.5, abs=0.3)
    assert median_distance_m(unknown) == float("inf")
    # in a target frame the camera is elsewhere: standing at z = 5 m, the far person is nearer
    assert select_primary(persons, "nearest", origin_m=np.array([0, 0, 5.0])) is far_sure
    twin = _standing(1.5, 0.8, person_id=4)  # same distance: the more confident wins
    assert select_primary([near_unsure, twin], "nearest") is twin
    for rule in PERSON_SELECTION_RULES:
        assert select_primary([], rule) is None
    assert select_primary([unknown], "nearest") is None
    with pytest.raises(PrivposeInputError, match="most_confident"):
        select_primary(persons, "largest")
    with pytest.raises(PrivposeInputError, match="origin_m"):
        select_primary(persons, "nearest", origin_m=np.array([0.0, 1.0]))


def test_markers_stable_ids_and_deleteall() -> None:
    persons = select_persons(_result(), CANONICAL, 0.3)
    msg = skeleton_markers(persons, CANONICAL, 42, "cam", lifetime_s=0.25)
    keys = [(m.ns, m.id, m.type) for m in msg.markers]
    assert keys == [
        ("privpose/person_4", 0, Marker.SPHERE_LIST),
        ("privpose/person_4", 1, Marker.LINE_LIST),
        ("privpose/person_7", 0, Marker.SPHERE_LIST),
        ("privpose/person_7", 1, Marker.LINE_LIST),
    ]
    assert len(msg.markers[0].points) == 25
    assert len(msg.markers[1].points) == 2 * (25 - 3)  # 3 bones touch the head
    assert msg.markers[2].lifetime.nanosec == 250_000_000
    empty = skeleton_markers([], CANONICAL, 42, "cam", 0.25)
    assert [m.action for m in empty.markers] == [Marker.DELETEALL]


def test_transforms_name_each_known_joint() -> None:
    persons = select_persons(_result(), CANONICAL, 0.3)
    tfs = joint_transforms(persons, CANONICAL, "h/", 42, "cam")
    assert len(tfs) == 51
    assert tfs[0].child_frame_id == "h/privpose_4/pelvis" and tfs[0].header.frame_id == "cam"
    names = {t.child_frame_id for t in tfs}
    assert "h/privpose_4/head" not in names
    assert not any("person_" in n for n in names)  # REP 155 reserves person_<id>
    assert stamp_ns_of(stamp_msg(5_000_000_123)) == 5_000_000_123


def test_stats_percentiles_rates_and_diagnostic_levels() -> None:
    stats = NodeStats()
    for i in range(11):
        stats.frame_in(i * 100_000_000)
        stats.frame_out(i * 100_000_000 + 10_000_000 * (i + 1), i * 100_000_000)
    stats.skip("bad_rgb")
    values = stats.summary(1_000_000_000, dropped=2)
    assert values["latency_ms_p50"] == pytest.approx(60.0)
    assert values["input_rate_hz"] == pytest.approx(10.0)
    assert values["skipped.bad_rgb"] == 1 and values["dropped"] == 2
    msg = diagnostic_array("n", "hw", values, True, 7)
    assert msg.status[0].level == DiagnosticStatus.WARN
    assert "1 frames skipped in the last 10 s" in msg.status[0].message
    assert diagnostic_array("n", "hw", {}, False, 7).status[0].level == DiagnosticStatus.ERROR
    idle = diagnostic_array("n", "hw", {"skipped.no_subscribers": 3}, True, 7)
    assert idle.status[0].level == DiagnosticStatus.OK
    stalled = diagnostic_array("n", "hw", {"worker": "stalled"}, True, 7)
    assert stalled.status[0].level == DiagnosticStatus.ERROR


def test_diagnostics_return_to_ok_once_skipped_frames_are_old(monkeypatch) -> None:
    """A bad frame at start-up must not keep the node WARN forever (a window, not lifetime)."""
    from privpose_ros.ros import diagnostics

    clock = [100.0]
    monkeypatch.setattr(diagnostics.time, "monotonic", lambda: clock[0])
    stats = NodeStats()
    stats.skip("bad_rgb")
    now = diagnostic_array("n", "hw", stats.summary(0, 0), True, 7)
    assert now.status[0].level == DiagnosticStatus.WARN
    clock[0] += diagnostics.RECENT_S + 0.1
    values = stats.summary(0, 0)
    later = diagnostic_array("n", "hw", values, True, 7)
    assert later.status[0].level == DiagnosticStatus.OK
    assert values["skipped.bad_rgb"] == 1 and values["recent_skipped"] == 0  # still counted


class _FakeNode:
    def create_subscription(self, *args, **kwargs):
        return None


def test_fallback_tf_buffer_interpolates_at_the_stamp_and_chains() -> None:
    from geometry_msgs.msg import TransformStamped
    from tf2_msgs.msg import TFMessage

    from privpose_ros.ros import compat

    if compat.HAVE_TF2_ROS:
        pytest.skip("tf2_ros is installed: the real buffer is used")
    buffer = TfBuffer(_FakeNode())

    def tf(parent, child, stamp_ns, x, qz=0.0):
        t = TransformStamped()
        t.header.frame_id, t.child_frame_id = parent, child
        t.header.stamp = stamp_msg(stamp_ns)
        t.transform.translation.x = x
        t.transform.rotation.z, t.transform.rotation.w = qz, float(np.sqrt(1 - qz * qz))
        return t

    buffer._store(
        TFMessage(transforms=[tf("map", "base", 0, 0.0), tf("map", "base", 10, 1.0)]), False
    )
    half = np.sqrt(0.5)
    buffer._store(TFMessage(transforms=[tf("base", "cam", 0, 0.5, qz=half)]), True)
    rot, trans = buffer.lookup("map", "cam", 5, timeout_s=0.0)
    np.testing.assert_allclose(trans, [1.0, 0, 0], atol=1e-9)  # 0.5 interpolated + 0.5 static
    np.testing.assert_allclose(rot @ [1, 0, 0], [0, 1, 0], atol=1e-9)  # 90 deg about z
    rot, trans = buffer.lookup("cam", "map", 5, timeout_s=0.0)
    np.testing.assert_allclose(rot @ [1.0, 0, 0] + trans, [0, 0, 0], atol=1e-9)
    with pytest.raises(LookupError, match="extrapolate"):
        buffer.lookup("map", "cam", 11, timeout_s=0.0)
    with pytest.raises(LookupError, match="not connected"):
        buffer.lookup("odom", "cam", 5, timeout_s=0.0)
