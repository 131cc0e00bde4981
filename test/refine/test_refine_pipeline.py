from __future__ import annotations

import numpy as np
import pytest

from privpose_ros.core import PersonPose, PoseResult, PrivposeInputError, get_joint_set
from privpose_ros.refine.patches import PatchRefiner, PatchRefinerConfig
from privpose_ros.refine.pipeline import RefineConfig, RefinementPipeline
from privpose_ros.refine.pointcloud import PointCloudRefiner, PointCloudRefinerConfig
from privpose_ros.refine.skeleton import SkeletonRefiner, SkeletonRefinerConfig
from privpose_ros.refine.weights import load_config, save_refiner, weights_path

OFF = RefineConfig(lifting=False, patch_a=False, skeleton_b=False, pointcloud_c=False)


def _result(joints, px, conf=None) -> PoseResult:
    conf = np.full(26, 0.9) if conf is None else conf
    person = PersonPose(joints, conf, joints_px=px, person_id=4)
    return PoseResult((person,), stamp_ns=123, frame_id="cam")


@pytest.fixture
def untrained_weights(tmp_path):
    """Freshly initialised A, B, C (their last layer is zero: they predict zero offsets)."""
    for module, (cfg, net) in {
        "A": (PatchRefinerConfig(), PatchRefiner),
        "B": (SkeletonRefinerConfig(width=64), SkeletonRefiner),
        "C": (PointCloudRefinerConfig(num_points=64), PointCloudRefiner),
    }.items():
        save_refiner(net(cfg), cfg, weights_path(module, tmp_path))
    return tmp_path


def test_disabled_modules_leave_the_pose_unchanged(camera, disk_body) -> None:
    joints, px, depth_mm = disk_body
    model_3d = joints + 0.07
    result = _result(model_3d, px)
    out = RefinementPipeline(OFF).refine(result, depth_mm, camera)
    assert out is not result and out.persons[0] is not result.persons[0]
    np.testing.assert_array_equal(out.persons[0].joints_cam_m, model_3d)
    np.testing.assert_array_equal(out.persons[0].confidence, 0.9)
    np.testing.assert_array_equal(out.persons[0].joints_px, px)
    assert (out.stamp_ns, out.frame_id, out.persons[0].person_id) == (123, "cam", 4)


def test_lifting_only_replaces_model_3d_with_exact_lifted_joints(camera, disk_body) -> None:
    joints, px, depth_mm = disk_body
    conf = np.linspace(0.2, 1.0, 26)
    depth_before = depth_mm.copy()
    result = _result(joints + 0.07, px, conf)
    out = RefinementPipeline(RefineConfig(skeleton_b=False)).refine(result, depth_mm, camera)
    np.testing.assert_allclose(out.persons[0].joints_cam_m, joints, atol=1e-9)
    np.testing.assert_allclose(out.persons[0].confidence, conf)  # lifting confidence is 1
    np.testing.assert_array_equal(result.persons[0].joints_cam_m, joints + 0.07)  # not mutated
    np.testing.assert_array_equal(depth_mm, depth_before)


def test_without_joints_px_lifting_keeps_the_model_3d(camera, disk_body) -> None:
    joints, _, depth_mm = disk_body
    out = RefinementPipeline(RefineConfig(skeleton_b=False)).refine(
        _result(joints + 0.05, None), depth_mm, camera
    )
    np.testing.assert_array_equal(out.persons[0].joints_cam_m, joints + 0.05)
    assert out.persons[0].joints_px is None


def test_zero_offset_modules_reproduce_the_lifting_baseline(
    camera, disk_body, untrained_weights
) -> None:
    joints, px, depth_mm = disk_body
    on = RefineConfig(patch_a=True, pointcloud_c=True, weights_dir=untrained_weights)
    out = RefinementPipeline(on).refine(_result(joints + 0.07, px), depth_mm, camera)
    np.testing.assert_allclose(out.persons[0].joints_cam_m, joints, atol=1e-6)
    np.testing.assert_allclose(out.persons[0].joints_px, px, atol=1e-9)


def test_other_joint_sets_and_empty_results_pass_through(camera, disk_body) -> None:
    _, _, depth_mm = disk_body
    itop = get_joint_set("itop15")
    person = PersonPose(np.ones((15, 3)), np.ones(15), joint_set=itop)
    pipeline = RefinementPipeline(RefineConfig(skeleton_b=False))
    out = pipeline.refine(PoseResult((person,), 7, "cam"), depth_mm, camera)
    np.testing.assert_array_equal(out.persons[0].joints_cam_m, 1.0)
    assert pipeline.refine(PoseResult((), 9, "cam"), depth_mm, camera).persons == ()


def test_bad_depth_and_missing_weights_fail_with_a_hint(camera, disk_body, tmp_path) -> None:
    joints, px, depth_mm = disk_body
    with pytest.raises(PrivposeInputError, match="register depth"):
        RefinementPipeline(OFF).refine(_result(joints, px), depth_mm[:, :200], camera)
    with pytest.raises(FileNotFoundError, match="privpose train --refine"):
        RefinementPipeline(RefineConfig(weights_dir=tmp_path))


def test_weights_round_trip_keeps_config(tmp_path) -> None:
    cfg = PointCloudRefinerConfig(num_points=64, point_widths=(8, 16))
    save_refiner(PointCloudRefiner(cfg), cfg, tmp_path / "c.safetensors")
    assert load_config(tmp_path / "c.safetensors", PointCloudRefinerConfig) == cfg
