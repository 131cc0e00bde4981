from __future__ import annotations

import numpy as np
import pytest

from privpose_ros.core import (
    CameraIntrinsics,
    PrivposeInputError,
    back_project_px,
    depth_image_to_points_m,
    depth_m_to_mm,
    depth_mm_to_m,
    project_points_px,
)

KINECT = CameraIntrinsics(fx=365.5, fy=365.1, cx=257.3, cy=206.8, width=512, height=424)


def test_projection_back_projection_round_trip_below_1e6_m() -> None:
    rng = np.random.default_rng(0)
    points = np.column_stack(
        [rng.uniform(-2, 2, 1000), rng.uniform(-1.5, 1.5, 1000), rng.uniform(0.3, 8, 1000)]
    )
    uv = project_points_px(points, KINECT)
    back = back_project_px(uv, points[:, 2], KINECT)
    assert np.max(np.abs(back - points)) < 1e-6


def test_projection_known_value() -> None:
    uv = project_points_px(np.array([0.5, -0.25, 2.0]), KINECT)
    np.testing.assert_allclose(uv, [257.3 + 365.5 * 0.25, 206.8 - 365.1 * 0.125])


def test_points_behind_camera_are_nan() -> None:
    uv = project_points_px(np.array([[0.0, 0.0, -1.0], [0.0, 0.0, 0.0]]), KINECT)
    assert np.isnan(uv).all()


def test_bad_shapes_say_what_to_fix() -> None:
    with pytest.raises(PrivposeInputError, match=r"\(\.\.\., 3\)"):
        project_points_px(np.zeros((4, 2)), KINECT)
    with pytest.raises(PrivposeInputError, match="uint16"):
        depth_mm_to_m(np.zeros((2, 2), dtype=np.float32))


def test_depth_unit_conversions() -> None:
    depth_mm = np.array([[0, 1000], [1234, 65535]], dtype=np.uint16)
    depth_m = depth_mm_to_m(depth_mm)
    assert np.isnan(depth_m[0, 0])
    np.testing.assert_allclose(depth_m[0, 1:], [1.0])
    np.testing.assert_allclose(depth_m[1], [1.234, 65.535], rtol=1e-6)
    back = depth_m_to_mm(np.array([[np.nan, 1.0], [1.234, np.inf]]))
    np.testing.assert_array_equal(back, [[0, 1000], [1234, 0]])


def test_organised_cloud_matches_back_projection() -> None:
    cam = CameraIntrinsics(fx=100, fy=100, cx=1.5, cy=1.0, width=4, height=3)
    depth = np.full((3, 4), 2.0)
    depth[0, 0] = np.nan
    cloud = depth_image_to_points_m(depth, cam)
    assert cloud.shape == (3, 4, 3)
    np.testing.assert_allclose(cloud[2, 3], [(3 - 1.5) / 100 * 2, (2 - 1.0) / 100 * 2, 2.0])
    assert np.isnan(cloud[0, 0]).all()
    with pytest.raises(PrivposeInputError, match="register"):
        depth_image_to_points_m(np.ones((2, 2)), cam)


def test_intrinsics_from_k_scale_and_validation() -> None:
    k = [525.0, 0, 319.5, 0, 525.0, 239.5, 0, 0, 1]
    cam = CameraIntrinsics.from_k(k, 640, 480, distortion=[0.1, 0, 0, 0, 0])
    np.testing.assert_allclose(cam.k.ravel(), k)
    assert cam.distortion == (0.1, 0.0, 0.0, 0.0, 0.0)
    half = cam.scaled(0.5, 0.5)
    assert (half.width, half.height) == (320, 240)
    # the same 3D point lands on the corresponding pixel of the half-size image
    p = np.array([0.3, 0.2, 2.0])
    uv_full, uv_half = project_points_px(p, cam), project_points_px(p, half)
    np.testing.assert_allclose(uv_half, (uv_full + 0.5) * 0.5 - 0.5, atol=1e-9)
    crop = cam.cropped(100, 50, 200, 200)
    np.testing.assert_allclose(project_points_px(p, crop), uv_full - [100, 50], atol=1e-9)
    with pytest.raises(PrivposeInputError, match="not finite"):
        CameraIntrinsics(fx=float("nan"), fy=1, cx=0, cy=0, width=2, height=2)
    with pytest.raises(PrivposeInputError, match="not calibrated"):
        CameraIntrinsics.from_k([0] * 9, 640, 480)
