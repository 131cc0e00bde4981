"""REP 155 (ROS4HRI) output: the builders on known skeletons, then the node in a real rclpy graph
(/humans/bodies/tracked, per-body skeleton2d and roi created and destroyed with the body, TF
body_<id> at the mid-hips and its links)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy not installed: run `make setup`")
pytest.importorskip("hri_msgs", reason="hri_msgs not generated: run `make setup`")
from conftest import FAKE_JOINTS_M, RELIABLE, FakeEstimator, frame_msgs  # noqa: E402
from hri_msgs.msg import IdsList, NormalizedRegionOfInterest2D, Skeleton2D  # noqa: E402

from privpose_ros.core.joints import CANONICAL, COCO_17  # noqa: E402
from privpose_ros.core.pose import PersonPose  # noqa: E402
from privpose_ros.ros.compat import quat_to_matrix  # noqa: E402
from privpose_ros.ros.hri import (  # noqa: E402
    BODY_LINKS,
    SKELETON2D_POINTS,
    body_frame,
    body_id,
    body_transforms,
    roi,
    skeleton2d_points,
)
from privpose_ros.ros.pose_msgs import stamp_ns_of  # noqa: E402

S = 1_000_000_000
W, H = 32, 24  # the image of conftest.frame_msgs
RNG = np.random.default_rng(7)
JOINTS_PX = np.column_stack([RNG.uniform(1, W - 1, 26), RNG.uniform(1, H - 1, 26)])
CONF = np.linspace(0.35, 0.95, 26)  # all above the node's threshold 0.3, all different
BOX_PX = np.array([2.0, 1.0, 30.0, 23.0])
# Skeleton2D constants -> canonical joint (the neck is canonical too)
COCO18 = {
    Skeleton2D.NOSE: "nose",
    Skeleton2D.NECK: "neck",
    Skeleton2D.RIGHT_SHOULDER: "right_shoulder",
    Skeleton2D.RIGHT_ELBOW: "right_elbow",
    Skeleton2D.RIGHT_WRIST: "right_wrist",
    Skeleton2D.LEFT_SHOULDER: "left_shoulder",
    Skeleton2D.LEFT_ELBOW: "left_elbow",
    Skeleton2D.LEFT_WRIST: "left_wrist",
    Skeleton2D.RIGHT_HIP: "right_hip",
    Skeleton2D.RIGHT_KNEE: "right_knee",
    Skeleton2D.RIGHT_ANKLE: "right_ankle",
    Skeleton2D.LEFT_HIP: "left_hip",
    Skeleton2D.LEFT_KNEE: "left_knee",
    Skeleton2D.LEFT_ANKLE: "left_ankle",
    Skeleton2D.LEFT_EYE: "left_eye",
    Skeleton2D.RIGHT_EYE: "right_eye",
    Skeleton2D.LEFT_EAR: "left_ear",
    Skeleton2D.RIGHT_EAR: "right_ear",
}
IX = {name: i for i, name in enumerate(CANONICAL.joint_names)}


def _person(person_id: int = 3, joints_m: np.ndarray = FAKE_JOINTS_M) -> PersonPose:
    return PersonPose(
        joints_m, CONF, person_id=person_id, joints_px=JOINTS_PX, box_px=BOX_PX, score=0.8
    )


def _mid(joints: np.ndarray, a: str, b: str) -> np.ndarray:
    return (joints[IX[a]] + joints[IX[b]]) / 2


def test_the_18_points_are_the_pipelines_joints_px_over_the_image_size() -> None:
    assert [n for n, _ in SKELETON2D_POINTS] == [COCO18[i] for i in range(18)]
    points = skeleton2d_points(_person(), W, H)
    for index, name in COCO18.items():
        np.testing.assert_allclose(points[index, :2], JOINTS_PX[IX[name]] / [W, H], atol=1e-12)
        assert points[index, 2] == pytest.approx(CONF[IX[name]])
    # a joint set without a neck (coco17): the mid-shoulders, the lesser confidence
    coco = _person().to_joint_set(COCO_17)
    neck = skeleton2d_points(coco, W, H)[Skeleton2D.NECK]
    shoulders = _mid(JOINTS_PX, "left_shoulder", "right_shoulder")
    np.testing.assert_allclose(neck[:2], shoulders / [W, H], atol=1e-12)
    assert neck[2] == pytest.approx(min(CONF[IX["left_shoulder"]], CONF[IX["right_shoulder"]]))
    # unknown 2D: zeros; out of the image: clipped to the message's [0, 1]
    assert not skeleton2d_points(PersonPose(FAKE_JOINTS_M, CONF), W, H).any()
    outside = JOINTS_PX.copy()
    outside[IX["nose"]] = [-5.0, 2 * H]
    clipped = skeleton2d_points(PersonPose(FAKE_JOINTS_M, CONF, joints_px=outside), W, H)
    assert list(clipped[Skeleton2D.NOSE, :2]) == [0.0, 1.0]


def test_roi_is_the_box_normalised_with_the_score() -> None:
    np.testing.assert_allclose(roi(_person(), W, H), [2 / W, 1 / H, 30 / W, 23 / H, 0.8])
    no_box = PersonPose(FAKE_JOINTS_M, CONF, joints_px=JOINTS_PX, score=0.5)
    lo, hi = JOINTS_PX.min(axis=0), JOINTS_PX.max(axis=0)
    np.testing.assert_allclose(roi(no_box, W, H), [*(lo / [W, H]), *(hi / [W, H]), 0.5])
    assert roi(PersonPose(FAKE_JOINTS_M, CONF), W, H) is None


def _upright_facing_camera() -> np.ndarray:
    """A person 3 m in front of the camera, facing it, upright (camera optical frame: x right,
    y down, z forward), so its left is the camera's +x."""
    joints = np.tile([0.0, 0.0, 3.0], (26, 1))
    for name, xyz in {
        "left_hip": (0.1, 0.0, 3.0),
        "right_hip": (-0.1, 0.0, 3.0),
        "left_shoulder": (0.2, -0.5, 3.0),
        "right_shoulder": (-0.2, -0.5, 3.0),
        "head": (0.0, -0.75, 3.0),
        "left_wrist": (0.3, 0.1, 2.9),
    }.items():
        joints[IX[name]] = xyz
    return joints


def test_body_frame_follows_rep_155_x_forward_z_up_at_the_mid_hips() -> None:
    origin, rot = body_frame(_person(joints_m=_upright_facing_camera()))
    np.testing.assert_allclose(origin, [0.0, 0.0, 3.0])
    # x out of the chest = towards the camera (-z), y = the person's left (+x), z up (-y)
    np.testing.assert_allclose(rot, [[0, 1, 0], [0, 0, -1], [-1, 0, 0]], atol=1e-12)
    tfs = {t.child_frame_id: t for t in body_transforms(_person(), 42, "cam")}
    assert tfs["body_b3"].header.frame_id == "cam"
    assert set(tfs) == {"body_b3", *(f"{link}_b3" for link, _ in BODY_LINKS)}
    joints = FAKE_JOINTS_M.copy()
    joints[IX["head"]] = np.nan  # unknown head: the mid-ears
    tfs = {t.child_frame_id: t for t in body_transforms(_person(joints_m=joints), 42, "cam")}
    origin, rot = _pose(tfs["body_b3"])
    head = _at(tfs, "head_b3", origin, rot)
    np.testing.assert_allclose(head, _mid(joints, "left_ear", "right_ear"), atol=1e-9)
    no_hips = joints.copy()
    no_hips[IX["left_hip"]] = np.nan
    assert body_transforms(_person(joints_m=no_hips), 42, "cam") == []


def _pose(tf) -> tuple[np.ndarray, np.ndarray]:
    t, q = tf.transform.translation, tf.transform.rotation
    return np.array([t.x, t.y, t.z]), quat_to_matrix(np.array([q.x, q.y, q.z, q.w]))


def _at(tfs: dict, child: str, origin: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """The position of link ``child`` in the camera frame (body pose composed with the link's)."""
    link, link_rot = _pose(tfs[child])
    np.testing.assert_allclose(link_rot, np.eye(3), atol=1e-12)
    return origin + rot @ link


class HriEstimator(FakeEstimator):
    """FakeEstimator with the 2D a real front end gives (joints_px, box_px) and a settable
    person list: ``ids`` the person ids found in the next frames (empty: nobody)."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: tuple[int, ...] = (3,)

    def find_persons(self, frame):
        self.calls += 1
        return tuple(_person(i) for i in self.ids)


def _collect(graph, msg_type, topic: str) -> list:
    got: list = []
    graph.io.create_subscription(msg_type, topic, got.append, RELIABLE)
    return got


def _send_until(graph, stamp_ns: int, done) -> int:
    """Frames (1 ms apart from ``stamp_ns``) until ``done()``; the next unused stamp."""
    for _ in range(50):
        assert graph.send_and_wait(frame_msgs(stamp_ns))
        stamp_ns += 1_000_000
        if graph.wait_for(done, timeout_s=0.3):
            return stamp_ns
    raise AssertionError("REP 155 output never arrived")


def test_node_publishes_rep_155_bodies_and_removes_a_departed_one(make_graph) -> None:
    estimator = HriEstimator()
    graph = make_graph(estimator, **{"tf.rate_hz": 1000.0})
    tracked = _collect(graph, IdsList, "/humans/bodies/tracked")
    skel = _collect(graph, Skeleton2D, "/humans/bodies/b3/skeleton2d")
    rois = _collect(graph, NormalizedRegionOfInterest2D, "/humans/bodies/b3/roi")
    stamp = 5 * S
    stamp = _send_until(graph, stamp, lambda: skel and rois and tracked and graph.received["tf"])
    assert body_id(3) == "b3" and tracked[-1].ids == ["b3"]
    msg = skel[-1]
    sent = stamp_ns_of(msg.header.stamp)
    assert 5 * S <= sent < stamp and msg.header.frame_id == "cam"
    assert len(msg.skeleton) == 18
    for index, name in COCO18.items():
        p = msg.skeleton[index]
        np.testing.assert_allclose([p.x, p.y], JOINTS_PX[IX[name]] / [W, H], atol=1e-6)
        assert p.c == pytest.approx(CONF[IX[name]], abs=1e-6)
    r = rois[-1]
    np.testing.assert_allclose([r.xmin, r.ymin, r.xmax, r.ymax, r.c], roi(_person(), W, H), 1e-6)

    # TF: body_b3 under the camera frame at the mid-hips, every link under it at its joint
    tfs = {t.child_frame_id: t for m in graph.received["tf"] for t in m.transforms}
    assert tfs["body_b3"].header.frame_id == "cam"
    origin, rot = _pose(tfs["body_b3"])
    np.testing.assert_allclose(origin, _mid(FAKE_JOINTS_M, "left_hip", "right_hip"), atol=1e-9)
    np.testing.assert_allclose(rot.T @ rot, np.eye(3), atol=1e-9)
    assert np.linalg.det(rot) == pytest.approx(1.0)
    up = _mid(FAKE_JOINTS_M, "left_shoulder", "right_shoulder") - origin
    np.testing.assert_allclose(rot[:, 2], up / np.linalg.norm(up), atol=1e-9)
    for link, mixes in BODY_LINKS:
        assert tfs[f"{link}_b3"].header.frame_id == "body_b3"
        expected = sum(w * FAKE_JOINTS_M[IX[j]] for j, w in mixes[0].items())
        np.testing.assert_allclose(_at(tfs, f"{link}_b3", origin, rot), expected, atol=1e-9)
    assert not any("person_" in name for name in tfs)  # REP 155 reserves person_<id>

    # the body leaves: an empty tracked list, its publishers gone; a new body gets its own
    assert graph.io.count_publishers("/humans/bodies/b3/skeleton2d") == 1
    estimator.ids = ()
    stamp = _send_until(graph, stamp, lambda: tracked[-1].ids == [])
    assert graph.wait_for(lambda: graph.io.count_publishers("/humans/bodies/b3/skeleton2d") == 0)
    assert graph.io.count_publishers("/humans/bodies/b3/roi") == 0
    assert graph.node._hri.body_ids == ()
    estimator.ids = (5,)
    _send_until(graph, stamp, lambda: tracked[-1].ids == ["b5"])
    assert graph.wait_for(lambda: graph.io.count_publishers("/humans/bodies/b5/roi") == 1)
    assert graph.io.count_publishers("/humans/bodies/b3/roi") == 0


def test_rep_155_shares_the_joint_tf_and_goes_with_hri_disabled(make_graph) -> None:
    graph = make_graph(HriEstimator(), **{"tf.enabled": True, "tf.prefix": "t/"})
    assert graph.node._hri is not None
    assert len(_own_publishers(graph.node, "/tf")) == 1  # one /tf publisher for both

    def indices(name: str) -> list[int]:
        got = graph.received["tf"]
        return [i for i, m in enumerate(got) if m.transforms[0].child_frame_id == name]

    _send_until(graph, 7 * S, lambda: indices("body_b3"))
    got, body = graph.received["tf"], indices("body_b3")[-1]
    body_tf, joint_tf = got[body], got[body - 1]  # one frame: the node's joint TF, then REP 155
    assert joint_tf.transforms[0].child_frame_id == "t/privpose_3/pelvis"  # renamed
    assert len(joint_tf.transforms) == 26
    assert joint_tf.transforms[0].header.stamp == body_tf.transforms[0].header.stamp
    links = {"body_b3", *(f"{n}_b3" for n, _ in BODY_LINKS)}
    assert {t.child_frame_id for t in body_tf.transforms} == links

    off = make_graph(HriEstimator(), **{"hri.enabled": False})
    assert off.node._hri is None and not _own_publishers(off.node, "/humans/bodies/tracked")


def _own_publishers(node, topic: str) -> list:
    return [p for p in node.publishers if p.topic_name == topic]
