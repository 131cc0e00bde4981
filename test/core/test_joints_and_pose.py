from __future__ import annotations

import numpy as np
import pytest

from privpose_ros.core import CANONICAL, JOINT_SETS, PersonPose, PoseResult, PrivposeInputError
from privpose_ros.core.joints import CANONICAL_JOINTS, get_joint_set


def _canonical_skeleton() -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.normal(size=(len(CANONICAL_JOINTS), 3))


@pytest.mark.parametrize("name", sorted(JOINT_SETS))
def test_joint_sets_are_affine_and_bones_valid(name: str) -> None:
    s = get_joint_set(name)
    rows = s.from_canonical[s.derivable]
    np.testing.assert_allclose(rows.sum(axis=1), 1.0)
    assert s.bone_indices().shape == (len(s.bones), 2)
    # affine maps commute with rigid motion
    joints = _canonical_skeleton()
    rot = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    shift = np.array([0.1, -2.0, 3.0])
    a = s.convert_joints(joints @ rot.T + shift)[s.derivable]
    b = (s.convert_joints(joints) @ rot.T + shift)[s.derivable]
    np.testing.assert_allclose(a, b, atol=1e-12)


def test_named_mappings_pick_the_right_joints() -> None:
    joints = _canonical_skeleton()
    idx = {n: i for i, n in enumerate(CANONICAL_JOINTS)}
    itop = get_joint_set("itop15").convert_joints(joints)
    assert itop.shape == (15, 3)
    np.testing.assert_allclose(itop[8], joints[idx["spine"]])  # Torso
    np.testing.assert_allclose(itop[6], joints[idx["right_hand"]])  # RHand
    coco = get_joint_set("coco17").convert_joints(joints)
    np.testing.assert_allclose(coco[0], joints[idx["nose"]])
    np.testing.assert_allclose(coco[16], joints[idx["right_ankle"]])
    h36m = get_joint_set("h36m17").convert_joints(joints)
    np.testing.assert_allclose(h36m[10], joints[idx["head_top"]])
    kinect = get_joint_set("kinect_v2_25")
    k = kinect.convert_joints(joints)
    np.testing.assert_allclose(k[2], 0.5 * (joints[idx["neck"]] + joints[idx["head"]]))
    assert np.isnan(k[21:]).all() and not np.isnan(k[:21]).any()
    assert kinect.derivable.sum() == 21


def test_confidence_mapping_takes_minimum_and_zero_for_missing() -> None:
    conf = np.linspace(0.1, 1.0, len(CANONICAL_JOINTS))
    kinect = get_joint_set("kinect_v2_25")
    out = kinect.convert_confidence(conf)
    idx = {n: i for i, n in enumerate(CANONICAL_JOINTS)}
    assert out[2] == pytest.approx(min(conf[idx["neck"]], conf[idx["head"]]))
    assert (out[21:] == 0).all()


def test_unknown_joint_set_lists_choices() -> None:
    with pytest.raises(PrivposeInputError, match="coco17"):
        get_joint_set("openpose25")


def test_person_pose_validation_conversion_and_result() -> None:
    joints = _canonical_skeleton() + [0, 0, 3]
    a = PersonPose(joints, np.full(26, 0.4), person_id=1)
    b = PersonPose(joints, np.full(26, 0.9), person_id=2)
    with pytest.raises(ValueError):
        a.joints_cam_m[0, 0] = 1.0  # results are immutable
    assert PoseResult((a, b)).most_confident().person_id == 2
    assert PoseResult().most_confident() is None
    coco = b.to_joint_set(get_joint_set("coco17"))
    assert coco.joints_cam_m.shape == (17, 3) and coco.person_id == 2
    with pytest.raises(PrivposeInputError, match=r"\(26, 3\)"):
        PersonPose(np.zeros((15, 3)), np.zeros(15), joint_set=CANONICAL)
