"""The node with the shipped front end on REAL robot RGB-D frames (../shared/data/rgbd_tue, a
Toyota HSR head Xtion), in a real rclpy graph: every person published, the same answers as the
pipeline run offline, and nobody on a blank wall."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from conftest import image_msg  # noqa: E402

from privpose_ros.ros.cloud import read_keypoints

TUE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "rgbd_tue"
S = 1_000_000_000
# the bags hold image_raw with its plumb_bob distortion: a raw topic (K + D, joints undistorted)
PARAMS = {"threads": 1, "confidence_threshold": 0.3, "camera.rectified": False}


def _tue_frames():
    if not TUE.is_dir():
        pytest.skip(
            f"real RGB-D frames not found at {TUE} (../shared/data is not beside the repo)"
        )
    from privpose_ros.data.rosbag_reader import read_frames

    frames = [f for bag in sorted(TUE.glob("*.bag")) for f in read_frames(bag, slop_s=0.5)]
    assert len(frames) == 5
    return frames


def _info(intrinsics, stamp_ns: int, frame_id: str):
    from sensor_msgs.msg import CameraInfo

    from privpose_ros.ros.pose_msgs import stamp_msg

    msg = CameraInfo(width=intrinsics.width, height=intrinsics.height)
    msg.distortion_model = intrinsics.distortion_model
    msg.d = list(intrinsics.distortion)
    msg.k = intrinsics.k.reshape(-1).tolist()
    msg.p = np.hstack([intrinsics.k, np.zeros((3, 1))]).reshape(-1).tolist()
    msg.header.stamp, msg.header.frame_id = stamp_msg(stamp_ns), frame_id
    return msg


def _msgs(frame, stamp_ns: int):
    return (
        image_msg(frame.rgb, "rgb8", stamp_ns, "xtion"),
        _info(frame.intrinsics, stamp_ns, "xtion"),
        image_msg(frame.depth_mm, "16UC1", stamp_ns, "xtion"),
    )


def test_node_publishes_every_person_of_real_rgbd_frames_like_the_offline_pipeline(
    make_graph,
) -> None:
    from privpose_ros.ros.params import config_from_values
    from privpose_ros.ros.pose_msgs import select_persons, select_primary
    from privpose_ros.ros.processing import pipeline_config
    from privpose_ros.runtime.pipeline import PosePipeline

    frames = _tue_frames()
    graph = make_graph(real=True, **PARAMS)
    offline = PosePipeline.from_config(pipeline_config(config_from_values(PARAMS)))
    config = graph.node.config
    for i, frame in enumerate(frames):
        stamp = (10 + i) * S
        assert graph.send_and_wait(_msgs(frame, stamp), timeout_s=60.0)
        assert graph.wait_for(lambda n=i + 1: len(graph.received["cloud"]) >= n)
        expected = offline.process(dataclasses.replace(frame, stamp_ns=stamp, frame_id="xtion"))
        persons = select_persons(expected, config.joint_set, 0.3)
        cloud = read_keypoints(graph.received["cloud"][i])
        # every person the pipeline finds is published, under its track id
        assert sorted(set(cloud["person"].tolist())) == sorted(p.person_id for p in persons)
        assert len(persons) >= 1
        primary = select_primary(persons, "most_confident")
        pose = graph.received["pose"][i]
        got = np.array([[p.position.x, p.position.y, p.position.z] for p in pose.poses])
        np.testing.assert_allclose(got, primary.joints_cam_m, atol=1e-4)
        # a real person at a real distance: the standing person is 1.5-3.5 m from the Xtion
        assert 1.5 < np.nanmedian(got[:, 2]) < 3.5
        markers = graph.received["markers"][i]
        spaces = {m.ns for m in markers.markers}
        assert spaces == {f"privpose/person_{p.person_id}" for p in persons}
    assert graph.node.stats.frames_out == 5
    offline.close()


def test_node_reports_nobody_on_a_blank_wall(make_graph) -> None:
    from visualization_msgs.msg import Marker

    from privpose_ros.core.camera import CameraIntrinsics
    from privpose_ros.core.frame import RGBDFrame

    graph = make_graph(real=True, **PARAMS)
    intrinsics = CameraIntrinsics(525.0, 525.0, 319.5, 239.5, 640, 480)
    wall = RGBDFrame(
        np.full((480, 640, 3), 128, np.uint8), intrinsics, np.full((480, 640), 2000, np.uint16)
    )
    assert graph.send_and_wait(_msgs(wall, 5 * S), timeout_s=60.0)
    assert graph.wait_for(lambda: graph.received["markers"] and graph.received["pose"])
    assert graph.received["pose"][-1].poses == []
    assert [m.action for m in graph.received["markers"][-1].markers] == [Marker.DELETEALL]
    assert read_keypoints(graph.received["cloud"][-1]).size == 0
