"""Monocular metric placement: translation from a root-relative skeleton and its 2D joints."""

from __future__ import annotations

import numpy as np
import pytest

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.joints import CANONICAL_JOINTS
from privpose_ros.core.monocular import (
    place_skeleton_m,
    rotation_optical_axis_to,
    solve_translation_m,
)

K = CameraIntrinsics(fx=600.0, fy=610.0, cx=319.5, cy=239.5, width=640, height=480)
T_M = np.array([0.3, -0.2, 3.5])

# a standing adult, pelvis at the origin, camera-aligned axes (x right, y down, z away), metres
_BODY = {
    "pelvis": (0.0, 0.0, 0.0),
    "spine": (0.0, -0.25, 0.02),
    "neck": (0.0, -0.52, 0.03),
    "head": (0.0, -0.65, 0.02),
    "head_top": (0.0, -0.76, 0.02),
    "nose": (0.0, -0.64, -0.09),
    "left_eye": (0.03, -0.67, -0.07),
    "right_eye": (-0.03, -0.67, -0.07),
    "left_ear": (0.07, -0.65, 0.0),
    "right_ear": (-0.07, -0.65, 0.0),
    "left_shoulder": (0.19, -0.48, 0.03),
    "right_shoulder": (-0.19, -0.48, 0.03),
    "left_elbow": (0.24, -0.2, 0.06),
    "right_elbow": (-0.26, -0.22, -0.05),
    "left_wrist": (0.27, 0.04, -0.02),
    "right_wrist": (-0.3, 0.02, -0.2),
    "left_hand": (0.28, 0.11, -0.03),
    "right_hand": (-0.31, 0.09, -0.26),
    "left_hip": (0.1, 0.0, 0.0),
    "right_hip": (-0.1, 0.0, 0.0),
    "left_knee": (0.11, 0.43, -0.03),
    "right_knee": (-0.12, 0.42, 0.05),
    "left_ankle": (0.11, 0.85, 0.02),
    "right_ankle": (-0.13, 0.83, 0.12),
    "left_foot": (0.12, 0.9, -0.12),
    "right_foot": (-0.14, 0.88, -0.02),
}
REL_M = np.array([_BODY[j] for j in CANONICAL_JOINTS], dtype=np.float64)
J = len(REL_M)


def _project(points_m: np.ndarray, k: CameraIntrinsics = K) -> np.ndarray:
    """Ideal pinhole projection, written out here (independent of core.geometry)."""
    x, y, z = points_m[:, 0], points_m[:, 1], points_m[:, 2]
    return np.stack([k.fx * x / z + k.cx, k.fy * y / z + k.cy], axis=1)


def _first_order_gain(rel_m: np.ndarray, t_m: np.ndarray, k: CameraIntrinsics) -> np.ndarray:
    """(3, 2J) d t / d (u_1..u_J, v_1..v_J) of the unweighted least squares, to first order.

    Each joint's equation is tx - x_n tz = x_n Z - X with x_n = (u - cx) / fx; a pixel error du
    changes its residual by -(Z + tz) du / fx, so dt = pinv(A) diag((Z + tz) / f) du.
    """
    cam = rel_m + t_m
    xn = cam[:, 0] / cam[:, 2]
    yn = cam[:, 1] / cam[:, 2]
    n = len(rel_m)
    a = np.zeros((2 * n, 3))
    a[:n, 0], a[:n, 2] = 1.0, -xn
    a[n:, 1], a[n:, 2] = 1.0, -yn
    scale = np.concatenate([cam[:, 2] / k.fx, cam[:, 2] / k.fy])
    return np.linalg.pinv(a) * scale


def test_exact_projection_gives_the_translation_back():
    uv = _project(REL_M + T_M)
    assert np.all((uv >= 0) & (uv < [640, 480])), "the test person must be in the image"
    t = solve_translation_m(REL_M, uv, np.ones(J), K)
    assert t is not None and t.shape == (3,)
    np.testing.assert_allclose(t, T_M, rtol=0, atol=1e-9)


def test_weights_do_not_bias_an_exact_solution():
    uv = _project(REL_M + T_M)
    w = np.random.default_rng(0).uniform(0.05, 1.0, J)
    np.testing.assert_allclose(solve_translation_m(REL_M, uv, w, K), T_M, atol=1e-9)


def test_one_pixel_noise_stays_within_the_first_order_bound():
    uv = _project(REL_M + T_M)
    gain = _first_order_gain(REL_M, T_M, K)
    # |noise| <= 1 px per coordinate -> |dt_k| <= sum_i |gain_ki| (first order)
    bound_m = np.abs(gain).sum(axis=1)
    assert bound_m[2] < 0.05 and bound_m[:2].max() < 0.015, f"bound {bound_m} m"
    rng = np.random.default_rng(1)
    worst = np.zeros(3)
    for _ in range(300):
        noisy = uv + rng.uniform(-1.0, 1.0, uv.shape)
        err = np.abs(solve_translation_m(REL_M, noisy, np.ones(J), K) - T_M)
        worst = np.maximum(worst, err)
    assert np.all(worst <= 1.05 * bound_m), f"worst {worst} m vs bound {bound_m} m"
    assert worst[2] > 0.1 * bound_m[2]  # the noise did move it: the bound is not vacuous


def test_gaussian_pixel_noise_matches_the_predicted_spread():
    uv = _project(REL_M + T_M)
    gain = _first_order_gain(REL_M, T_M, K)
    predicted_std = np.sqrt((gain**2).sum(axis=1))  # sigma = 1 px
    rng = np.random.default_rng(2)
    errs = np.array(
        [
            solve_translation_m(REL_M, uv + rng.normal(0.0, 1.0, uv.shape), np.ones(J), K) - T_M
            for _ in range(1500)
        ]
    )
    rms = np.sqrt((errs**2).mean(axis=0))
    np.testing.assert_allclose(rms, predicted_std, rtol=0.12)
    assert predicted_std[2] < 0.02  # 1 px at 3.5 m: about a centimetre in depth


def test_zero_weight_and_nan_joints_are_ignored():
    uv = _project(REL_M + T_M)
    bad_uv = uv.copy()
    bad_uv[[3, 7, 20]] += [[300.0, -80.0], [-120.0, 40.0], [55.0, 500.0]]  # wildly wrong
    w = np.ones(J)
    w[[3, 7]] = 0.0
    w[20] = -1.0  # negative counts as "no weight"
    np.testing.assert_allclose(solve_translation_m(REL_M, bad_uv, w, K), T_M, atol=1e-9)
    # the wrong joints DO matter when weighted, so the test above can fail
    assert np.abs(solve_translation_m(REL_M, bad_uv, np.ones(J), K) - T_M).max() > 0.05

    rel_nan, uv_nan, w_nan = REL_M.copy(), bad_uv.copy(), np.ones(J)
    uv_nan[3] = (np.nan, 10.0)
    rel_nan[7, 2] = np.nan
    w_nan[20] = np.nan
    np.testing.assert_allclose(solve_translation_m(rel_nan, uv_nan, w_nan, K), T_M, atol=1e-9)


def test_fewer_than_three_joints_give_none():
    uv = _project(REL_M + T_M)
    w = np.zeros(J)
    w[[0, 10]] = 1.0
    assert solve_translation_m(REL_M, uv, w, K) is None
    w[15] = 1.0
    np.testing.assert_allclose(solve_translation_m(REL_M, uv, w, K), T_M, atol=1e-9)
    assert solve_translation_m(REL_M[:2], uv[:2], np.ones(2), K) is None
    placed = place_skeleton_m(REL_M[:2], uv[:2], np.ones(2), K)
    assert placed.shape == (2, 3) and np.isnan(placed).all()


def test_a_solution_behind_the_camera_gives_none():
    behind = REL_M + np.array([0.1, 0.0, -3.0])  # all joints at z < 0
    with np.errstate(divide="ignore"):
        uv = _project(behind)
    assert solve_translation_m(REL_M, uv, np.ones(J), K) is None


def test_bad_shapes_raise():
    uv = _project(REL_M + T_M)
    with pytest.raises(PrivposeInputError):
        solve_translation_m(REL_M[:, :2], uv, np.ones(J), K)
    with pytest.raises(PrivposeInputError):
        solve_translation_m(REL_M, uv[:-1], np.ones(J), K)
    with pytest.raises(PrivposeInputError):
        solve_translation_m(REL_M, uv, np.ones(J - 1), K)


def test_centred_person_is_unchanged_by_the_view_ray_rotation():
    t = np.array([0.0, 0.0, 3.5])  # ray through the pelvis = the optical axis
    uv = _project(REL_M + t)
    with_rot = place_skeleton_m(REL_M, uv, np.ones(J), K, view_ray_rotation=True)
    without = place_skeleton_m(REL_M, uv, np.ones(J), K, view_ray_rotation=False)
    np.testing.assert_allclose(with_rot, REL_M + t, rtol=0, atol=1e-9)
    np.testing.assert_allclose(without, REL_M + t, rtol=0, atol=1e-9)


def test_view_ray_rotation_places_an_off_axis_crop_view():
    """A crop model sees the person straight ahead; the real person at t is that skeleton turned
    by the rotation onto the ray. Placing the crop view with the rotation recovers it."""
    t = np.array([1.2, -0.4, 3.0])
    truth = REL_M @ rotation_optical_axis_to(t).T + t
    uv = _project(truth)
    with_rot = place_skeleton_m(REL_M, uv, np.ones(J), K, view_ray_rotation=True)
    without = place_skeleton_m(REL_M, uv, np.ones(J), K, view_ray_rotation=False)
    err_rot = np.abs(with_rot - truth).max()
    err_plain = np.abs(without - truth).max()
    assert err_rot < 0.015, err_rot  # measured 2.1 mm (the first solve's ray is approximate)
    assert err_plain > 0.15, err_plain  # measured 22 cm
    # the rotation is rigid: every pairwise distance of the skeleton is kept
    d_in = np.linalg.norm(REL_M[:, None] - REL_M[None], axis=-1)
    d_out = np.linalg.norm(with_rot[:, None] - with_rot[None], axis=-1)
    np.testing.assert_allclose(d_out, d_in, atol=1e-12)


def test_scale_multiplies_the_skeleton_before_placement():
    t = np.array([0.0, 0.0, 3.5])
    uv = _project(1.2 * REL_M + t)
    placed = place_skeleton_m(REL_M, uv, np.ones(J), K, scale=1.2)
    np.testing.assert_allclose(placed, 1.2 * REL_M + t, atol=1e-9)
    # an unscaled (too small) skeleton lands proportionally closer
    small = place_skeleton_m(REL_M, uv, np.ones(J), K, scale=1.0)
    assert small[0, 2] == pytest.approx(3.5 / 1.2, rel=0.02)


@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan"), float("inf")])
def test_non_positive_or_non_finite_scale_raises(scale):
    uv = _project(REL_M + T_M)
    with pytest.raises(PrivposeInputError, match="scale"):
        place_skeleton_m(REL_M, uv, np.ones(J), K, scale=scale)


@pytest.mark.parametrize(
    "direction",
    [
        (0.3, -0.2, 3.5),
        (1.0, 0.0, 0.0),
        (0.0, -1.0, 0.0),
        (-2.0, 5.0, -1.0),
        (0.0, 0.0, 1.0),
        (0.0, 0.0, 7.0),
        (0.0, 0.0, -1.0),
        (1e-9, 0.0, -1.0),
        (1e-14, 0.0, -1.0),
    ],
)
def test_rotation_optical_axis_to(direction):
    d = np.asarray(direction, dtype=np.float64)
    rot = rotation_optical_axis_to(d)
    assert rot.shape == (3, 3)
    np.testing.assert_allclose(rot @ np.array([0.0, 0.0, 1.0]), d / np.linalg.norm(d), atol=1e-9)
    np.testing.assert_allclose(rot.T @ rot, np.eye(3), atol=1e-12)
    assert np.linalg.det(rot) == pytest.approx(1.0, abs=1e-12)


def test_rotation_is_the_shortest_arc():
    d = np.array([0.6, 0.0, 0.8])
    rot = rotation_optical_axis_to(d)
    # axis (0, 0, 1) x d is along +y: the y axis is fixed and the angle is acos(0.8)
    np.testing.assert_allclose(rot @ [0.0, 1.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)
    angle = np.arccos((np.trace(rot) - 1) / 2)
    assert angle == pytest.approx(np.arccos(0.8), abs=1e-12)


def test_zero_direction_raises():
    with np.errstate(invalid="ignore"), pytest.raises(ValueError):
        rotation_optical_axis_to(np.zeros(3))
