"""The teacher's synthetic data keeps its primary person inside the sensor's depth range."""

from __future__ import annotations

import numpy as np
import pytest

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.data.scene import SENSORS
from privpose_ros.data.synth import SyntheticGenerator
from privpose_ros.data.synth_config import in_range_distance_m, teacher_synth_config


def test_in_range_distance_follows_the_sensor_presets() -> None:
    near, far = in_range_distance_m("itop")
    assert near == pytest.approx(1.0) and far == pytest.approx(np.sqrt(5.5**2 - 1.5**2))
    assert in_range_distance_m("mixed")[1] < in_range_distance_m("kinect_v2")[1] + 1e-9
    cfg = teacher_synth_config(camera="azure_kinect", width=64, height=48)
    assert cfg.camera_distance_m == in_range_distance_m("azure_kinect")
    with pytest.raises(PrivposeInputError):
        teacher_synth_config(camera="nope")


def test_teacher_frames_have_the_primary_person_in_range() -> None:
    cfg = teacher_synth_config(width=160, height=120, body="capsule", camera="itop")
    batch = SyntheticGenerator(cfg).batch(16, seed=424242)
    pelvis_z = batch.joints_cam_m[:, 0, 2]
    assert (pelvis_z < SENSORS["itop"].max_range_m - 0.3).all()
    for depth, mask in zip(batch.depth_mm, batch.person_mask, strict=True):
        if mask.any():  # a person in the image has readings on it
            assert (depth[mask] > 0).mean() > 0.2
