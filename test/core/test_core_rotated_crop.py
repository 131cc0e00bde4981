"""The rotated crop camera (core/crop.py): exact pinhole geometry through a rotated ROI."""

from __future__ import annotations

import math

import numpy as np
import pytest

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.crop import crop_box_from_person_box, rotated_crop_camera
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.landmarks import LANDMARK_CROP_PX, Roi


def _points(rng: np.random.Generator, n: int = 50) -> np.ndarray:
    return np.column_stack([rng.uniform(-1, 1, n), rng.uniform(-1, 1, n), rng.uniform(2, 6, n)])


@pytest.mark.parametrize("fy", [600.0, 640.0])
@pytest.mark.parametrize("rotation", [0.0, 0.4, -2.6, math.pi])
def test_crop_k_round_trip_through_a_rotated_roi(rotation: float, fy: float) -> None:
    rng = np.random.default_rng(3)
    cam = CameraIntrinsics(600.0, fy, 319.5, 241.0, 640, 480)
    roi = Roi(np.array([300.0, 200.0]), 333.0, rotation)
    crop_cam = rotated_crop_camera(roi.crop_to_image(), LANDMARK_CROP_PX, cam)
    pts = _points(rng)
    src_px = pts[:, :2] / pts[:, 2:] * [cam.fx, cam.fy] + [cam.cx, cam.cy]
    # camera -> source pixels -> crop pixels (the image warp) == the crop camera's projection
    crop_px = crop_cam.project_px(pts)
    np.testing.assert_allclose(crop_cam.src_to_crop_px(src_px), crop_px, atol=1e-9)
    np.testing.assert_allclose(crop_cam.crop_to_src_px(crop_px), src_px, atol=1e-9)
    # back-projection at the true depth gives the points back (depth survives the roll)
    z = crop_cam.cam_to_crop_frame(pts)[:, 2]
    np.testing.assert_allclose(z, pts[:, 2], atol=1e-12)
    back = crop_cam.crop_frame_to_cam(crop_cam.back_project_m(crop_px, z))
    np.testing.assert_allclose(back, pts, atol=1e-9)
    k = crop_cam.k_crop
    assert k[1, 0] == 0 and k[2, 0] == 0 and k[2, 1] == 0 and k[2, 2] == 1
    r = crop_cam.rot_cam_to_crop
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert r[2, 2] == 1.0
    if fy == cam.fx:  # square pixels: no skew, one focal length f / s
        s = roi.side_px / LANDMARK_CROP_PX
        assert abs(k[0, 1]) < 1e-9
        np.testing.assert_allclose([k[0, 0], k[1, 1]], [cam.fx / s, cam.fx / s], rtol=1e-12)
        # the crop's image axes turn with the ROI (clockwise in the image): roll = -rotation
        d = (crop_cam.roll_rad + rotation + math.pi) % (2 * math.pi) - math.pi
        assert abs(d) < 1e-9


def test_upright_roi_matches_the_axis_aligned_crop_camera() -> None:
    cam = CameraIntrinsics(500.0, 500.0, 320.0, 240.0, 640, 480)
    box = crop_box_from_person_box((100.0, 50.0, 300.0, 400.0), (256, 256))
    crop_cam = rotated_crop_camera(box.crop_to_src, 256, cam)
    np.testing.assert_allclose(crop_cam.k_crop, box.intrinsics(cam).k, atol=1e-9)
    np.testing.assert_allclose(crop_cam.rot_cam_to_crop, np.eye(3), atol=1e-12)


def test_mirror_or_shear_is_refused() -> None:
    cam = CameraIntrinsics(500.0, 500.0, 320.0, 240.0, 640, 480)
    with pytest.raises(PrivposeInputError, match="rotation with an isotropic scale"):
        rotated_crop_camera(np.array([[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), 256, cam)
    with pytest.raises(PrivposeInputError, match="rotation with an isotropic scale"):
        rotated_crop_camera(np.array([[1.0, 0.3, 0.0], [0.0, 1.0, 0.0]]), 256, cam)
