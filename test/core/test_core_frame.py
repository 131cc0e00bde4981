"""One frame type: RGBDFrame checks its arrays, LabeledFrame adds ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.frame import LabeledFrame, RGBDFrame, ground_truth_cam_m

K = CameraIntrinsics(50.0, 50.0, 15.5, 11.5, 32, 24)


def test_ground_truth_only_of_labelled_frames() -> None:
    rgb = np.zeros((24, 32, 3), np.uint8)
    joints = np.arange(78, dtype=np.float32).reshape(26, 3)
    plain = RGBDFrame(rgb, K, np.full((24, 32), 1500, np.uint16), stamp_ns=7, frame_id="cam")
    labelled = LabeledFrame(rgb, K, joints_cam_m=joints)
    assert ground_truth_cam_m(plain) is None
    np.testing.assert_array_equal(ground_truth_cam_m(labelled), joints)
    assert (plain.stamp_ns, plain.frame_id, int(plain.depth_mm[3, 4])) == (7, "cam", 1500)
    assert labelled.depth_mm is None and labelled.frame_id == "camera_color_optical_frame"


def test_frame_refuses_depth_of_another_size() -> None:
    with pytest.raises(PrivposeInputError, match="depth is 16x12 but colour is 32x24"):
        RGBDFrame(np.zeros((24, 32, 3), np.uint8), K, np.zeros((12, 16), np.uint16))
