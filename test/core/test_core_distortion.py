"""Lens distortion: undistort_px inverts distort_px, and both agree with OpenCV."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.geometry import distort_px, undistort_px

PLUMB_BOB = (-0.3, 0.1, 1e-3, -1e-3, 0.0)
RATIONAL = (-0.3, 0.1, 1e-3, -1e-3, 0.02, 0.1, -0.05, 0.02)
MODELS = {"plumb_bob": PLUMB_BOB, "rational_polynomial": RATIONAL}


def _camera(model: str = "plumb_bob", distortion: tuple[float, ...] = PLUMB_BOB):
    return CameraIntrinsics(500.0, 505.0, 319.5, 239.5, 640, 480, distortion, model)


def _grid() -> np.ndarray:
    """(N, 2) pixels covering the whole 640 x 480 image, corners included."""
    u, v = np.meshgrid(np.linspace(0.0, 639.0, 81), np.linspace(0.0, 479.0, 61))
    return np.stack([u, v], axis=-1).reshape(-1, 2)


def _cv2_exact_undistort(uv: np.ndarray, k: CameraIntrinsics) -> np.ndarray:
    # OpenCV's default stops after 5 iterations (0.13 px off at this lens's corners); ask it
    # to converge so the comparison measures the model, not the iteration count
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 200, 1e-14)
    pts = uv.reshape(-1, 1, 2).astype(np.float64)
    d = np.asarray(k.distortion, dtype=np.float64)
    return cv2.undistortPoints(pts, k.k, d, None, None, k.k, criteria).reshape(-1, 2)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_lens_does_not_fold_inside_the_image(model):
    """Precondition for a unique inverse: the radial map r -> r * radial(r) grows up to the
    image corners (a folding lens would make the round trip ill-posed there)."""
    k = _camera(model, MODELS[model])
    corner = np.array([[0.0, 0.0]])
    r_max = np.linalg.norm((corner - [k.cx, k.cy]) / [k.fx, k.fy])
    r = np.linspace(0.0, 1.1 * r_max, 2000)
    pts = np.stack([k.cx + k.fx * r / np.sqrt(2), k.cy + k.fy * r / np.sqrt(2)], axis=-1)
    rd = np.linalg.norm((distort_px(pts, k) - [k.cx, k.cy]) / [k.fx, k.fy], axis=-1)
    assert np.all(np.diff(rd) > 0)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_undistort_inverts_distort_over_the_image(model):
    k = _camera(model, MODELS[model])
    ideal = _grid()
    raw = distort_px(ideal, k)
    shift = np.linalg.norm(raw - ideal, axis=-1).max()
    assert shift > 30.0, f"the lens must move the corners visibly, moved {shift} px"
    np.testing.assert_allclose(undistort_px(raw, k), ideal, rtol=0, atol=1e-6)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_distort_inverts_undistort_over_the_image(model):
    k = _camera(model, MODELS[model])
    raw = _grid()
    np.testing.assert_allclose(distort_px(undistort_px(raw, k), k), raw, rtol=0, atol=1e-6)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_undistort_matches_opencv(model):
    k = _camera(model, MODELS[model])
    raw = _grid()
    ours = undistort_px(raw, k)
    np.testing.assert_allclose(ours, _cv2_exact_undistort(raw, k), rtol=0, atol=1e-3)
    # OpenCV's default (5 iterations) is close at the centre only
    default = cv2.undistortPoints(raw.reshape(-1, 1, 2), k.k, np.asarray(k.distortion), P=k.k)
    centre = np.linalg.norm(raw - [k.cx, k.cy], axis=-1) < 100
    np.testing.assert_allclose(ours[centre], default.reshape(-1, 2)[centre], atol=1e-3)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_distort_matches_opencv_project_points(model):
    k = _camera(model, MODELS[model])
    ideal = _grid()
    rays = np.concatenate([(ideal - [k.cx, k.cy]) / [k.fx, k.fy], np.ones((len(ideal), 1))], 1)
    projected, _ = cv2.projectPoints(
        rays, np.zeros(3), np.zeros(3), k.k, np.asarray(k.distortion, dtype=np.float64)
    )
    np.testing.assert_allclose(distort_px(ideal, k), projected.reshape(-1, 2), atol=1e-6)


def test_hand_value_radial_only():
    k = _camera("plumb_bob", (-0.3, 0.0, 0.0, 0.0, 0.0))
    # x_n = 0.5, y_n = 0 -> r^2 = 0.25, radial = 1 - 0.075 -> x_d = 0.4625
    ideal = np.array([[319.5 + 250.0, 239.5]])
    np.testing.assert_allclose(distort_px(ideal, k), [[319.5 + 231.25, 239.5]], atol=1e-9)
    np.testing.assert_allclose(undistort_px([[319.5 + 231.25, 239.5]], k), ideal, atol=1e-9)


@pytest.mark.parametrize("distortion", [(), (0.0, 0.0, 0.0, 0.0, 0.0), (0.0,) * 8])
def test_zero_or_empty_distortion_is_the_identity(distortion):
    model = "rational_polynomial" if len(distortion) == 8 else "plumb_bob"
    k = _camera(model, distortion)
    uv = _grid()
    np.testing.assert_array_equal(undistort_px(uv, k), uv)  # returned as is
    np.testing.assert_allclose(distort_px(uv, k), uv, rtol=0, atol=1e-9)  # (u - c) / f * f + c
    out = undistort_px(uv, k)
    out[0, 0] = -1.0  # a copy, not a view of the input
    assert uv[0, 0] == 0.0


def test_shapes_are_kept_and_nan_stays_nan():
    k = _camera()
    uv = np.random.default_rng(0).uniform(0, 480, (2, 3, 2))
    assert undistort_px(uv, k).shape == (2, 3, 2)
    assert distort_px(uv, k).shape == (2, 3, 2)
    out = undistort_px(np.array([[np.nan, 100.0], [100.0, 100.0]]), k)
    assert np.isnan(out[0]).all() and np.isfinite(out[1]).all()
    with pytest.raises(PrivposeInputError):
        undistort_px(np.zeros((4, 3)), k)
    with pytest.raises(PrivposeInputError):
        distort_px(np.zeros((4, 3)), k)


def test_unknown_model_raises_on_undistort():
    k = _camera("equidistant", (0.1, 0.01, 0.0, 0.0))
    with pytest.raises(PrivposeInputError, match="equidistant"):
        undistort_px(_grid(), k)


def test_too_many_coefficients_raise_on_undistort():
    k = _camera("rational_polynomial", (*RATIONAL, 0.01, 0.0, 0.0, 0.0))  # 12: thin prism
    with pytest.raises(PrivposeInputError):
        undistort_px(_grid(), k)


@pytest.mark.parametrize(
    ("model", "distortion"),
    [("equidistant", (0.1, 0.01, 0.0, 0.0)), ("rational_polynomial", (*RATIONAL, 0.01, 0, 0, 0))],
)
def test_unsupported_model_raises_on_distort(model, distortion):
    with pytest.raises(PrivposeInputError):
        distort_px(_grid(), _camera(model, distortion))
