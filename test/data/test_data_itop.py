"""ITOP reader on small HDF5 files written in the public layout (Y-up metres, f = 285.714)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.joints import ITOP_15
from privpose_ros.data.itop import ITOP_INTRINSICS, ItopDataset, itop_world_to_cam_m

F, CX, CY = 285.714, 160.0, 120.0


def _write_itop(tmp_path, n=4, valid=(1, 0, 1, 1)):
    rng = np.random.default_rng(0)
    ids = np.array([f"04_{i:05d}".encode() for i in range(n)])
    # camera-centred, Y up: a person 2-3 m in front, head above the optical axis
    world = np.zeros((n, 15, 3), np.float32)
    world[..., 0] = rng.uniform(-0.4, 0.4, (n, 15))
    world[..., 1] = np.linspace(0.7, -0.8, 15)[None] + rng.normal(0, 0.02, (n, 15))
    world[..., 2] = rng.uniform(2.0, 3.0, (n, 1)) + rng.normal(0, 0.05, (n, 15))
    # ITOP image coordinates: u = f x / z + cx, v = -f y / z + cy (rounded to integers)
    image = np.stack(
        [F * world[..., 0] / world[..., 2] + CX, -F * world[..., 1] / world[..., 2] + CY], -1
    )
    depth = np.full((n, 240, 320), 3.5, np.float32)
    depth[:, 100:140, 150:170] = 2.5
    depth[:, :10] = 0.0
    seg = np.full((n, 240, 320), -1, np.int8)
    seg[:, 100:140, 150:170] = 3
    with h5py.File(tmp_path / "ITOP_side_test_depth_map.h5", "w") as f:
        f["id"] = ids
        f["data"] = depth.astype(np.float16)
    with h5py.File(tmp_path / "ITOP_side_test_labels.h5", "w") as f:
        f["id"] = ids
        f["is_valid"] = np.array(valid, np.uint8)
        f["visible_joints"] = (rng.random((n, 15)) > 0.2).astype(np.int16)
        f["image_coordinates"] = np.round(image).astype(np.int16)
        f["real_world_coordinates"] = world
        f["segmentation"] = seg
    return world, image


def test_itop_round_trip_into_the_optical_frame(tmp_path) -> None:
    world, image = _write_itop(tmp_path)
    ds = ItopDataset(
        tmp_path / "ITOP_side_test_depth_map.h5", tmp_path / "ITOP_side_test_labels.h5"
    )
    assert len(ds) == 3 and ds.frame_id(1) == "04_00002"  # frame 1 is invalid
    assert ds.joint_set is ITOP_15
    sample = ds[1]
    joints = sample["joints_cam_m"]
    assert joints.shape == (15, 3) and joints.dtype == np.float32
    np.testing.assert_allclose(joints, world[2] * [1, -1, 1], atol=1e-6)
    # optical frame: the head is above the image centre (y down -> negative y, v < cy)
    assert joints[ITOP_15.index("Head"), 1] < 0 < joints[ITOP_15.index("LFoot"), 1]
    # the projection with f = 285.714, c = (160, 120) lands on ITOP's image coordinates
    np.testing.assert_allclose(sample["joints_px"], image[2], atol=1e-3)
    with h5py.File(tmp_path / "ITOP_side_test_labels.h5") as f:
        stored = f["image_coordinates"][2]
    assert np.abs(sample["joints_px"] - stored).max() <= 0.5 + 1e-3
    assert sample["depth_mm"].dtype == np.uint16
    assert sample["depth_mm"][120, 160] == 2500 and sample["depth_mm"][0, 0] == 0
    assert sample["depth_mm"][200, 20] == 3500
    assert sample["person_mask"].sum() == 40 * 20
    np.testing.assert_allclose(sample["k"], ITOP_INTRINSICS.k)
    assert sample["rgb"].shape == (240, 320, 3) and sample["visible"].dtype == bool
    all_frames = ItopDataset(
        tmp_path / "ITOP_side_test_depth_map.h5",
        tmp_path / "ITOP_side_test_labels.h5",
        valid_only=False,
    )
    assert len(all_frames) == 4
    ds.close()


def test_itop_errors(tmp_path) -> None:
    _write_itop(tmp_path)
    with pytest.raises(FileNotFoundError, match="ITOP"):
        ItopDataset(tmp_path / "nope.h5", tmp_path / "ITOP_side_test_labels.h5")
    with h5py.File(tmp_path / "other_labels.h5", "w") as f:
        f["id"] = np.array([b"x"] * 4)
        f["is_valid"] = np.ones(4, np.uint8)
        f["visible_joints"] = np.ones((4, 15))
        f["real_world_coordinates"] = np.ones((4, 15, 3))
    with pytest.raises(PrivposeInputError, match="ids differ"):
        ItopDataset(tmp_path / "ITOP_side_test_depth_map.h5", tmp_path / "other_labels.h5")
    with pytest.raises(PrivposeInputError):
        itop_world_to_cam_m(np.zeros((3, 2)))
