"""The node in a real rclpy graph with a fake estimator: outputs, bad input, laziness."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy not installed: run `make setup`")
from conftest import FAKE_JOINTS_M, FakeEstimator, frame_msgs, image_msg, info_msg  # noqa: E402
from sensor_msgs.msg import CameraInfo  # noqa: E402
from visualization_msgs.msg import Marker  # noqa: E402

from privpose_ros.ros.cloud import read_keypoints  # noqa: E402
from privpose_ros.ros.pose_msgs import stamp_ns_of  # noqa: E402

S = 1_000_000_000


def test_a_good_frame_gives_every_output_with_the_source_stamp(make_graph) -> None:
    graph = make_graph(**{"tf.enabled": True, "tf.prefix": "t/"})
    stamp = 1_700_000_000 * S + 123_456_789
    assert graph.send_and_wait(frame_msgs(stamp))
    assert graph.wait_for(lambda: graph.received["markers"] and graph.received["tf"])
    pose = graph.received["pose"][0]
    assert stamp_ns_of(pose.header.stamp) == stamp and pose.header.frame_id == "cam"
    got = np.array([[p.position.x, p.position.y, p.position.z] for p in pose.poses])
    np.testing.assert_allclose(got, FAKE_JOINTS_M, atol=1e-9)
    cloud = graph.received["cloud"][0]
    assert stamp_ns_of(cloud.header.stamp) == stamp
    np.testing.assert_allclose(read_keypoints(cloud)["z"], FAKE_JOINTS_M[:, 2], atol=1e-6)
    markers = graph.received["markers"][0].markers
    assert [m.type for m in markers] == [Marker.SPHERE_LIST, Marker.LINE_LIST]
    assert all(stamp_ns_of(m.header.stamp) == stamp for m in markers)
    tf = graph.received["tf"][0].transforms
    assert len(tf) == 26 and tf[3].child_frame_id == "t/privpose_0/head"
    assert tf[3].transform.translation.z == pytest.approx(FAKE_JOINTS_M[3, 2])


def test_bad_input_is_logged_counted_skipped_and_a_good_frame_still_answered(make_graph) -> None:
    graph = make_graph()
    rgb, info, depth = frame_msgs(10 * S)
    yuv = image_msg(np.zeros((24, 32), np.uint8), "mono8", 10 * S, "cam")
    yuv.encoding = "yuv422"
    short = frame_msgs(11 * S)[0]
    short.data = bytes(short.data)[:-5]
    zero = image_msg(np.zeros((24, 32), np.uint16), "16UC1", 12 * S, "cam")
    nan_info = info_msg(32, 24, 13 * S, "cam", f=float("nan"))
    other_fov = image_msg(np.full((24, 24), 900, np.uint16), "16UC1", 14 * S, "cam")
    cases = [
        ((yuv, info_msg(32, 24, 10 * S, "cam"), frame_msgs(10 * S)[2]), "bad_rgb"),
        ((short, *frame_msgs(11 * S)[1:]), "bad_rgb"),
        ((*frame_msgs(12 * S)[:2], zero), "empty_depth"),
        ((frame_msgs(13 * S)[0], nan_info, frame_msgs(13 * S)[2]), "bad_camera_info"),
        ((*frame_msgs(14 * S)[:2], other_fov), "depth_size"),
        (frame_msgs(20 * S), None),
        (frame_msgs(19 * S), "out_of_order"),
    ]
    for msgs, reason in cases:
        assert graph.send_and_wait(msgs), f"the node did not handle the {reason} frame"
        if reason is not None:
            assert graph.node.stats.skipped[reason] >= 1, dict(graph.node.stats.skipped)
    # missing camera_info (none ever for this frame id, so no latched one either): colour and
    # depth arrive, nothing synchronises, each image that leaves the queue of 5 is counted
    for i in range(10):
        rgb, _, depth = frame_msgs((30 + i) * S, frame="cam_b")
        graph.publish((rgb, None, depth))
        time.sleep(0.03)  # the node's reader keeps 5: do not outrun it
    assert graph.wait_for(lambda: graph.node.stats.skipped["missing_camera_info"] >= 5)
    # half-resolution depth with the same field of view is rescaled, and answered
    half = image_msg(np.full((12, 16), 2500, np.uint16), "16UC1", 40 * S, "cam")
    assert graph.send_and_wait((*frame_msgs(40 * S)[:2], half))
    assert graph.send_and_wait(frame_msgs(41 * S))
    stamps = [stamp_ns_of(p.header.stamp) for p in graph.received["pose"]]
    assert graph.wait_for(lambda: len(graph.received["pose"]) >= 3)
    stamps = [stamp_ns_of(p.header.stamp) for p in graph.received["pose"]]
    assert stamps == [20 * S, 40 * S, 41 * S]
    assert sum(graph.node.stats.skipped[r] for r in ("bad_rgb", "out_of_order")) == 3
    assert graph.wait_for(
        lambda: any(
            kv.key == "skipped.empty_depth" and kv.value == "1"
            for d in graph.received["diag"]
            for kv in d.status[0].values
        )
    )


def test_nobody_subscribed_means_no_inference(make_graph) -> None:
    graph = make_graph()
    estimator = graph.node._pipeline.frontend
    graph.io.destroy_node()  # the only listener goes away
    graph.wait_for(lambda: graph.node._pubs["pose"].get_subscription_count() == 0)
    assert graph.node._pubs["pose"].get_subscription_count() == 0
    graph.node.process_msgs(*frame_msgs(5 * S))  # direct call still works (publishes to nobody)
    calls = estimator.calls
    graph.node._on_synced(*frame_msgs(6 * S))
    assert graph.node.stats.skipped["no_subscribers"] == 1
    assert estimator.calls == calls


def test_target_frame_uses_tf_at_the_image_stamp(make_graph) -> None:
    from geometry_msgs.msg import TransformStamped
    from rclpy.qos import DurabilityPolicy, QoSProfile
    from tf2_msgs.msg import TFMessage

    graph = make_graph(**{"target_frame": "base_link", "tf_timeout_s": 2.0})
    static_qos = QoSProfile(depth=10, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    publisher = graph.io.create_publisher(TFMessage, "/tf_static", static_qos)
    tf = TransformStamped()
    tf.header.frame_id, tf.child_frame_id = "base_link", "cam"
    tf.transform.translation.x, tf.transform.translation.z = 0.5, 1.2
    half = float(np.sqrt(0.5))
    tf.transform.rotation.x, tf.transform.rotation.w = -half, half  # optical z -> base +y
    publisher.publish(TFMessage(transforms=[tf]))
    assert graph.send_and_wait(frame_msgs(50 * S))
    assert graph.wait_for(lambda: graph.received["pose"])
    pose = graph.received["pose"][0]
    assert pose.header.frame_id == "base_link" and stamp_ns_of(pose.header.stamp) == 50 * S
    got = np.array([[p.position.x, p.position.y, p.position.z] for p in pose.poses])
    x, y, z = FAKE_JOINTS_M.T
    expected = np.stack([x + 0.5, z, -y + 1.2], axis=1)  # rotation of -90 deg about x
    np.testing.assert_allclose(got, expected, atol=1e-9)


class IntrinsicsSeer(FakeEstimator):
    """Records the focal length of every frame it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.fx: list[float] = []

    def find_persons(self, frame):
        self.fx.append(frame.intrinsics.fx)
        return super().find_persons(frame)


def _latching_publisher(graph):
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    latched = QoSProfile(
        depth=1,
        durability=DurabilityPolicy.TRANSIENT_LOCAL,
        reliability=ReliabilityPolicy.RELIABLE,
    )
    return graph.io.create_publisher(CameraInfo, "rgb/camera_info", latched)


def test_a_latched_camera_info_serves_every_later_frame(make_graph) -> None:
    """A driver that latches camera_info (transient local) publishes it once: every image of
    its frame id is paired with it as it arrives."""
    seer = IntrinsicsSeer()
    graph = make_graph(seer)
    _latching_publisher(graph).publish(info_msg(32, 24, 59 * S, "cam"))
    time.sleep(0.2)
    stamps = [60 * S + i * S // 30 for i in range(10)]
    for stamp in stamps:
        rgb, _, depth = frame_msgs(stamp)
        assert graph.send_and_wait((rgb, None, depth)), stamp
    assert graph.wait_for(lambda: len(graph.received["pose"]) >= 10)
    assert [stamp_ns_of(p.header.stamp) for p in graph.received["pose"]] == stamps
    assert seer.fx == [50.0] * 10
    assert sum(graph.node.stats.skipped.values()) == 0


def test_a_camera_info_published_once_serves_the_later_frames(make_graph) -> None:
    """A volatile publisher that sent camera_info once: each image waits for its own until two
    images came after the kept one (it lags), then they are paired with it."""
    seer = IntrinsicsSeer()
    graph = make_graph(seer)
    stamps = [60 * S + i * S // 30 for i in range(10)]
    graph.publish((None, info_msg(32, 24, stamps[0], "cam"), None))  # once
    time.sleep(0.2)
    for stamp in stamps:  # a camera at 30 Hz
        rgb, _, depth = frame_msgs(stamp)
        graph.publish((rgb, None, depth))
        time.sleep(1 / 30)
    assert graph.wait_for(lambda: graph.handled() + graph.node._slot.dropped >= 10, 5.0)
    answered = [stamp_ns_of(p.header.stamp) for p in graph.received["pose"]]
    # image 2 is paired with image 3 and the latest-frame slot keeps image 3 (never a backlog)
    assert answered == stamps[:1] + stamps[2:] or answered == stamps, answered
    assert seer.fx == [50.0] * len(answered)
    assert sum(graph.node.stats.skipped.values()) == 0
    # camera_info of the image's own stamp is preferred to the kept one (here: it came first;
    # while camera_info lags, an image is paired with the kept one as it arrives)
    graph.publish((None, info_msg(32, 24, 61 * S, "cam", f=80.0), None))
    time.sleep(0.1)
    rgb, _, depth = frame_msgs(61 * S)
    assert graph.send_and_wait((rgb, None, depth))
    assert seer.fx[-1] == 80.0
    # camera_info comes per image again: each image waits for its own, however late
    rgb, _, depth = frame_msgs(62 * S)
    graph.publish((rgb, None, depth))
    time.sleep(0.5)
    assert graph.send_and_wait((None, info_msg(32, 24, 62 * S, "cam", f=90.0), None))
    assert seer.fx[-1] == 90.0 and len(seer.fx) == len(answered) + 2
    # a kept camera_info of another size is refused at decode, never guessed
    for i in range(2):
        rgb, _, depth = frame_msgs(63 * S + i * S // 30, width=64, height=48)
        graph.publish((rgb, None, depth))
        time.sleep(1 / 30)
    assert graph.wait_for(lambda: graph.node.stats.skipped["camera_info_size"] >= 1)
    assert len(seer.fx) == len(answered) + 2  # none of them reached the estimator


def test_a_latched_camera_info_sent_before_activation_reaches_the_node(make_graph) -> None:
    """A transient-local camera_info publisher (a driver that latches it) published before the
    node subscribed: the node subscribes transient-local once it sees one and gets it."""
    graph = make_graph()
    graph.node.trigger_deactivate()
    _latching_publisher(graph).publish(info_msg(32, 24, 70 * S, "cam"))
    time.sleep(0.2)
    graph.node.trigger_activate()  # new subscriptions: the volatile one misses the latched info
    assert graph.wait_for(lambda: graph.pubs[0].get_subscription_count() > 0)
    stamp = 71 * S
    deadline = time.monotonic() + 5.0
    while not graph.received["pose"] and time.monotonic() < deadline:
        rgb, _, depth = frame_msgs(stamp)
        graph.publish((rgb, None, depth))
        stamp += S // 30
        time.sleep(1 / 30)
    assert graph.received["pose"], "the latched camera_info never reached the node"
    assert graph.node._sync._latched_sub is not None
    before = len(graph.received["pose"])
    for i in range(10):
        rgb, _, depth = frame_msgs(stamp + i * S // 30)
        assert graph.send_and_wait((rgb, None, depth))
    assert graph.wait_for(lambda: len(graph.received["pose"]) >= before + 10)


def test_person_ids_are_never_reused_across_cleanup_and_configure(make_graph) -> None:
    """Each configure builds a new pipeline with a new tracker: ids go on from the node's."""
    from privpose_ros.runtime.pipeline import PosePipeline
    from privpose_ros.track.tracker import PersonTracker

    estimator = FakeEstimator()
    built = []

    def with_tracker(config):
        built.append(PosePipeline(estimator, estimator, None, PersonTracker()))
        return built[-1]

    graph = make_graph(pipeline_factory=with_tracker)
    node = graph.node

    def person_ids() -> list[int]:
        return [int(i) for i in set(read_keypoints(graph.received["cloud"][-1])["person"])]

    for i in range(3):
        assert graph.send_and_wait(frame_msgs((80 + i) * S))
    assert graph.wait_for(lambda: len(graph.received["cloud"]) >= 3)
    assert person_ids() == [1]
    seen = {1}
    for period in range(2):
        for transition in ("deactivate", "cleanup", "configure", "activate"):
            assert getattr(node, f"trigger_{transition}")() is not None
        assert graph.wait_for(lambda: node._pubs["pose"].get_subscription_count() > 0)
        count = len(graph.received["cloud"])
        assert graph.send_and_wait(frame_msgs((90 + 10 * period) * S))
        assert graph.wait_for(lambda c=count: len(graph.received["cloud"]) > c)
        (new,) = person_ids()
        assert new not in seen, (new, seen)
        seen.add(new)
    assert len(built) == 3 and seen == {1, 2, 3}
