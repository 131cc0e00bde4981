"""BlazePose's 33 landmarks -> the canonical 26 joints: an affine map, checked by hand values."""

from __future__ import annotations

import numpy as np
import pytest

from privpose_ros.core.blazepose import (
    BLAZEPOSE_LANDMARKS,
    CANONICAL_FROM_BLAZEPOSE,
    NUM_LANDMARKS,
    confidence_to_canonical,
    landmarks_to_canonical,
)
from privpose_ros.core.joints import CANONICAL_JOINTS

LM = {name: i for i, name in enumerate(BLAZEPOSE_LANDMARKS)}
CJ = {name: i for i, name in enumerate(CANONICAL_JOINTS)}

# written out independently of the module: canonical joint -> the one BlazePose landmark
DIRECT = {
    **{
        f"{side}_{part}": f"{side}_{part}"
        for side in ("left", "right")
        for part in ("eye", "ear", "shoulder", "elbow", "wrist", "hip", "knee", "ankle")
    },
    "nose": "nose",
    "left_foot": "left_foot_index",
    "right_foot": "right_foot_index",
}
DERIVED = ("pelvis", "spine", "neck", "head", "head_top", "left_hand", "right_hand")


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


def test_matrix_shape_rows_sum_to_one_and_read_only():
    assert NUM_LANDMARKS == 33 and len(BLAZEPOSE_LANDMARKS) == 33
    assert CANONICAL_FROM_BLAZEPOSE.shape == (26, 33)
    np.testing.assert_allclose(CANONICAL_FROM_BLAZEPOSE.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    with pytest.raises(ValueError):
        CANONICAL_FROM_BLAZEPOSE[0, 0] = 2.0


def test_every_canonical_joint_is_direct_or_derived():
    assert set(DIRECT) | set(DERIVED) == set(CANONICAL_JOINTS)
    assert not set(DIRECT) & set(DERIVED)


@pytest.mark.parametrize("joint", sorted(DIRECT))
def test_direct_joints_pick_one_landmark(joint):
    row = CANONICAL_FROM_BLAZEPOSE[CJ[joint]]
    expected = np.zeros(33)
    expected[LM[DIRECT[joint]]] = 1.0
    np.testing.assert_array_equal(row, expected)


def test_derived_joints_hand_values():
    rng = np.random.default_rng(3)
    lm = rng.normal(size=(33, 3))
    out = landmarks_to_canonical(lm)

    def mid(a: str, b: str) -> np.ndarray:
        return (lm[LM[a]] + lm[LM[b]]) / 2

    pelvis, neck = mid("left_hip", "right_hip"), mid("left_shoulder", "right_shoulder")
    head = mid("left_ear", "right_ear")
    face_up = mid("left_eye", "right_eye") - mid("mouth_left", "mouth_right")
    expected = {
        "pelvis": pelvis,
        "neck": neck,
        "spine": 0.55 * pelvis + 0.45 * neck,
        "head": head,
        "head_top": head + 2 * face_up,
        "left_hand": mid("left_index", "left_pinky"),
        "right_hand": mid("right_index", "right_pinky"),
    }
    for joint, value in expected.items():
        np.testing.assert_allclose(out[CJ[joint]], value, rtol=0, atol=1e-12, err_msg=joint)
    for joint, source in DIRECT.items():
        np.testing.assert_array_equal(out[CJ[joint]], lm[LM[source]])


def test_hand_is_index_pinky_midpoint_in_pixels():
    lm = np.zeros((33, 2))
    lm[LM["left_index"]] = (100.0, 40.0)
    lm[LM["left_pinky"]] = (110.0, 60.0)
    lm[LM["left_thumb"]] = (500.0, 500.0)  # not used
    lm[LM["left_wrist"]] = (90.0, 20.0)  # not used for the hand
    out = landmarks_to_canonical(lm)
    np.testing.assert_allclose(out[CJ["left_hand"]], (105.0, 50.0), atol=1e-12)
    np.testing.assert_allclose(out[CJ["right_hand"]], (0.0, 0.0), atol=1e-12)
    np.testing.assert_allclose(out[CJ["left_wrist"]], (90.0, 20.0), atol=1e-12)


def test_map_commutes_with_a_rigid_transform():
    rng = np.random.default_rng(7)
    for _ in range(5):
        lm = rng.normal(0.0, 0.5, size=(33, 3))
        rot, t = _random_rotation(rng), rng.normal(0.0, 3.0, size=3)
        assert np.isclose(np.linalg.det(rot), 1.0)
        moved_then_mapped = landmarks_to_canonical(lm @ rot.T + t)
        mapped_then_moved = landmarks_to_canonical(lm) @ rot.T + t
        np.testing.assert_allclose(moved_then_mapped, mapped_then_moved, rtol=0, atol=1e-12)


def test_batched_landmarks_map_per_item():
    rng = np.random.default_rng(11)
    lm = rng.normal(size=(2, 4, 33, 3))
    out = landmarks_to_canonical(lm)
    assert out.shape == (2, 4, 26, 3) and out.dtype == np.float64
    np.testing.assert_allclose(out[1, 2], landmarks_to_canonical(lm[1, 2]), atol=1e-12)
    np.testing.assert_allclose(out[1, 2], CANONICAL_FROM_BLAZEPOSE @ lm[1, 2], atol=1e-12)


def test_confidence_is_the_min_over_used_landmarks():
    rng = np.random.default_rng(5)
    conf = rng.uniform(0.0, 1.0, size=33)
    out = confidence_to_canonical(conf)
    assert out.shape == (26,)
    for joint, source in DIRECT.items():
        assert out[CJ[joint]] == conf[LM[source]]
    used = {
        "pelvis": ("left_hip", "right_hip"),
        "neck": ("left_shoulder", "right_shoulder"),
        "spine": ("left_hip", "right_hip", "left_shoulder", "right_shoulder"),
        "head": ("left_ear", "right_ear"),
        "head_top": (
            "left_ear",
            "right_ear",
            "left_eye",
            "right_eye",
            "mouth_left",
            "mouth_right",
        ),
        "left_hand": ("left_index", "left_pinky"),
        "right_hand": ("right_index", "right_pinky"),
    }
    for joint, names in used.items():
        assert out[CJ[joint]] == min(conf[LM[n]] for n in names), joint
    # a landmark with a NEGATIVE weight (the mouth in head_top) still counts
    low = conf.copy()
    low[LM["mouth_left"]] = 0.01
    assert confidence_to_canonical(low)[CJ["head_top"]] == 0.01
    # an unused landmark (the thumb) changes nothing
    thumb = conf.copy()
    thumb[LM["left_thumb"]] = 0.0
    np.testing.assert_array_equal(confidence_to_canonical(thumb), out)


def test_confidence_batched():
    rng = np.random.default_rng(6)
    conf = rng.uniform(size=(3, 33))
    out = confidence_to_canonical(conf)
    assert out.shape == (3, 26)
    np.testing.assert_array_equal(out[2], confidence_to_canonical(conf[2]))


@pytest.mark.parametrize("shape", [(32, 3), (33,), (3, 33), (34, 2), ()])
def test_bad_landmark_shapes_raise(shape):
    with pytest.raises(ValueError, match="33"):
        landmarks_to_canonical(np.zeros(shape))


@pytest.mark.parametrize(
    "shape",
    [
        (32,),
        (26,),
        (1,),
        (33, 1),
        (),
    ],
)
def test_bad_confidence_shapes_raise(shape):
    with pytest.raises(ValueError):
        confidence_to_canonical(np.full(shape, 0.5))
