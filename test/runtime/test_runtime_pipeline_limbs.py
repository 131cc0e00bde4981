"""The depth/RGB consistency step of the pipeline: limb bones the depth placed at an
implausible length are rebuilt from the RGB skeleton, scaled by the depth-measured torso."""

from __future__ import annotations

import numpy as np

from privpose_ros.core.joints import CANONICAL
from privpose_ros.core.pose import PersonPose
from privpose_ros.refine.fusion import limbs_from_rgb

J = {n: i for i, n in enumerate(CANONICAL.joint_names)}


def _skeleton() -> np.ndarray:
    rng = np.random.default_rng(3)
    joints = rng.normal(0.0, 0.05, (CANONICAL.num_joints, 3)) + [0.0, 0.0, 3.0]
    layout = {
        "left_shoulder": (0.2, -0.5), "right_shoulder": (-0.2, -0.5),
        "left_elbow": (0.25, -0.2), "right_elbow": (-0.25, -0.2),
        "left_wrist": (0.27, 0.05), "right_wrist": (-0.27, 0.05),
        "left_hand": (0.28, 0.13), "right_hand": (-0.28, 0.13),
        "left_hip": (0.12, 0.0), "right_hip": (-0.12, 0.0),
        "left_knee": (0.13, 0.45), "right_knee": (-0.13, 0.45),
        "left_ankle": (0.13, 0.87), "right_ankle": (-0.13, 0.87),
        "left_foot": (0.13, 0.92), "right_foot": (-0.13, 0.92),
    }  # fmt: skip
    for name, (x, y) in layout.items():
        joints[J[name]] = (x, y, 3.0)
    return joints


def _person(joints: np.ndarray) -> PersonPose:
    return PersonPose(joints, np.ones(CANONICAL.num_joints))


def test_consistent_depth_skeleton_is_left_alone() -> None:
    rgb = _skeleton()
    depth = rgb * 1.1 + [0.02, -0.01, 0.3]  # a 10 % larger person, elsewhere: all consistent
    out = limbs_from_rgb(_person(depth), _person(rgb))
    np.testing.assert_array_equal(out.joints_cam_m, depth)


def test_a_collapsed_forearm_is_rebuilt_from_the_rgb_bone_at_the_depth_scale() -> None:
    rgb = _skeleton()
    depth = rgb * 1.1
    wrist, elbow, hand = J["right_wrist"], J["right_elbow"], J["right_hand"]
    depth[wrist] = depth[elbow] + [0.0, 0.0, 0.03]  # lifted onto the torso: a 3 cm forearm
    out = limbs_from_rgb(_person(depth), _person(rgb)).joints_cam_m
    np.testing.assert_allclose(out[wrist], depth[elbow] + 1.1 * (rgb[wrist] - rgb[elbow]))
    # the hand is consistent with the rebuilt wrist, so it stays; nothing else moves
    untouched = [i for i in range(CANONICAL.num_joints) if i != wrist]
    np.testing.assert_array_equal(out[untouched], depth[untouched])
    assert hand in untouched
