"""Person crops: affine maps, crop intrinsics, boxes outside the image, camera-agnostic depth."""

from __future__ import annotations

import numpy as np
import pytest

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.crop import (
    CropBox,
    box_from_points_px,
    crop_box_from_person_box,
    depth_to_normalized,
    normalized_to_depth,
)
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.geometry import back_project_px, project_points_px

SMALL = CameraIntrinsics(fx=285.0, fy=285.0, cx=159.5, cy=119.5, width=320, height=240)
LARGE = CameraIntrinsics(fx=1400.0, fy=1400.0, cx=963.2, cy=538.7, width=1920, height=1080)
ODD = CameraIntrinsics(fx=612.3, fy=598.1, cx=301.7, cy=250.2, width=640, height=480)


def _person_cam_m(offset_cam_m: tuple[float, float, float], seed: int = 0) -> np.ndarray:
    """A (20, 3) standing 'person' (1.75 m tall, 0.5 m wide, 0.3 m deep) around offset."""
    rng = np.random.default_rng(seed)
    body = rng.uniform([-0.25, -0.9, -0.15], [0.25, 0.85, 0.15], size=(20, 3))
    body[0] = (0.0, -0.9, 0.0)  # head top and a foot fix the extent
    body[1] = (0.1, 0.85, 0.05)
    return body + np.asarray(offset_cam_m)


def _crop_of(person_cam_m: np.ndarray, camera: CameraIntrinsics, size=(256, 256)) -> CropBox:
    box = box_from_points_px(project_points_px(person_cam_m, camera))
    return crop_box_from_person_box(box, crop_size_px=size, margin=1.25)


def test_affine_known_values_and_inverse() -> None:
    crop = CropBox(
        centre_x_src_px=100.0,
        centre_y_src_px=50.0,
        src_px_per_crop_px=2.0,
        width_px=4,
        height_px=2,
    )
    # the raster centre (1.5, 0.5) is the box centre; one crop pixel = 2 source pixels
    assert np.allclose(crop.crop_to_src_px(np.array([1.5, 0.5])), [100.0, 50.0])
    assert np.allclose(crop.crop_to_src_px(np.array([0.0, 0.0])), [97.0, 49.0])
    assert np.allclose(crop.src_box_px, [96.0, 48.0, 104.0, 52.0])
    m = np.vstack([crop.crop_to_src, [0, 0, 1]]) @ np.vstack([crop.src_to_crop, [0, 0, 1]])
    assert np.allclose(m, np.eye(3), atol=1e-12)


def test_crop_pixel_source_pixel_round_trip() -> None:
    crop = crop_box_from_person_box((37.2, 11.9, 141.6, 230.4), crop_size_px=(192, 256))
    uv_crop = np.random.default_rng(1).uniform(-50, 300, size=(500, 2))
    back = crop.src_to_crop_px(crop.crop_to_src_px(uv_crop))
    assert np.max(np.abs(back - uv_crop)) < 1e-9
    # and the scale is isotropic: the box (with margin) fits the 192 x 256 crop exactly in y
    assert crop.src_px_per_crop_px == pytest.approx(1.25 * (230.4 - 11.9) / 256)


def test_margin_and_aspect_cover_the_box() -> None:
    box = np.array([10.0, 20.0, 60.0, 220.0])  # 50 x 200: tall
    crop = crop_box_from_person_box(box, crop_size_px=(256, 256), margin=1.25)
    x0, y0, x1, y1 = crop.src_box_px
    assert y1 - y0 == pytest.approx(250.0) and x1 - x0 == pytest.approx(250.0)
    assert (x0 + x1) / 2 == pytest.approx(35.0) and (y0 + y1) / 2 == pytest.approx(120.0)
    wide = crop_box_from_person_box((0.0, 0.0, 300.0, 30.0), crop_size_px=(200, 100), margin=1.0)
    assert wide.src_px_per_crop_px == pytest.approx(
        1.5
    )  # width-limited: 300 source px over 200 crop px
    assert np.allclose(wide.src_box_px, [0.0, -60.0, 300.0, 90.0])


@pytest.mark.parametrize("camera", [SMALL, LARGE, ODD], ids=["small", "large", "odd"])
def test_crop_intrinsics_project_to_the_crop_pixel(camera: CameraIntrinsics) -> None:
    person = _person_cam_m((0.3, 0.1, 3.2))
    crop = _crop_of(person, camera)
    k_crop = crop.intrinsics(camera)
    assert (k_crop.width, k_crop.height) == (256, 256)
    via_source = crop.src_to_crop_px(project_points_px(person, camera))
    direct = project_points_px(person, k_crop)
    assert np.max(np.abs(direct - via_source)) < 1e-9
    # the person is inside the crop, with the margin on its long side
    assert direct.min() > 0 and direct.max() < 255
    extent = direct.max(axis=0) - direct.min(axis=0)
    assert extent.max() == pytest.approx(256 / 1.25, rel=1e-9)


@pytest.mark.parametrize("camera", [SMALL, LARGE, ODD], ids=["small", "large", "odd"])
def test_pixel_ray_point_crop_pixel_round_trip(camera: CameraIntrinsics) -> None:
    crop = _crop_of(_person_cam_m((-0.4, 0.2, 2.5)), camera)
    k_crop = crop.intrinsics(camera)
    rng = np.random.default_rng(2)
    uv_crop = rng.uniform(0, 255, size=(300, 2))
    depth_m = rng.uniform(0.5, 9.0, size=300)
    ray = back_project_px(uv_crop, 1.0, k_crop)  # z = 1 ray through each crop pixel
    points = ray * depth_m[:, None]
    # through the source camera and the affine map back to the crop
    uv_src = project_points_px(points, camera)
    assert np.max(np.abs(crop.src_to_crop_px(uv_src) - uv_crop)) < 1e-9
    assert np.max(np.abs(project_points_px(points, k_crop) - uv_crop)) < 1e-9
    assert np.max(np.abs(back_project_px(uv_crop, depth_m, k_crop) - points)) < 1e-9


def test_box_partly_outside_the_image() -> None:
    # a person cut by the left and top borders of the small camera: not clamped, not shifted
    box = (-60.0, -20.0, 40.0, 200.0)
    crop = crop_box_from_person_box(box, crop_size_px=(256, 256))
    assert crop.centre_x_src_px == pytest.approx(-10.0)
    k_crop = crop.intrinsics(SMALL)
    points = back_project_px(np.array([[-60.0, -20.0], [40.0, 200.0], [0.0, 0.0]]), 2.0, SMALL)
    direct = project_points_px(points, k_crop)
    assert np.max(np.abs(direct - crop.src_to_crop_px(project_points_px(points, SMALL)))) < 1e-9
    # source pixel (0, 0)'s outer corner is the crop's image region's top-left corner
    x0, y0, x1, y1 = crop.image_region_crop_px(SMALL.width, SMALL.height)
    corner = crop.src_to_crop_px(np.array([-0.5, -0.5]))
    assert (x0, y0) == pytest.approx(tuple(corner))
    assert x0 > 50 and y0 > 10  # the padding on the left and on top
    assert (x1, y1) == (255.5, 255.5)  # the image covers the rest of the crop
    fraction = crop.image_fraction(SMALL.width, SMALL.height)
    assert fraction == pytest.approx((255.5 - x0) * (255.5 - y0) / 256**2)
    outside = crop_box_from_person_box((400.0, 300.0, 500.0, 400.0))
    assert outside.image_fraction(SMALL.width, SMALL.height) == 0.0
    assert crop_box_from_person_box((20.0, 20.0, 120.0, 120.0)).image_fraction(320, 240) == 1.0


def test_two_cameras_same_person_same_crop_camera_and_normalized_depth() -> None:
    """fx = 285 at 320 x 240 and fx = 1400 at 1920 x 1080 see the same person at the same place:
    the crops differ in source pixels by 4.9x but are the same virtual camera."""
    person = _person_cam_m((0.5, -0.2, 3.7), seed=3)
    crops = {name: _crop_of(person, cam) for name, cam in (("small", SMALL), ("large", LARGE))}
    k_small = crops["small"].intrinsics(SMALL)
    k_large = crops["large"].intrinsics(LARGE)
    assert crops["large"].src_px_per_crop_px / crops["small"].src_px_per_crop_px == pytest.approx(
        1400 / 285, rel=1e-9
    )
    for field in ("fx", "fy", "cx", "cy"):
        assert getattr(k_small, field) == pytest.approx(getattr(k_large, field), rel=1e-9)
    z_m = 3.7
    zeta_small = depth_to_normalized(z_m, k_small)
    zeta_large = depth_to_normalized(z_m, k_large)
    assert zeta_small == pytest.approx(zeta_large, rel=1e-9)
    # it is the crop's metric width at the person's depth: margin x the 1.75 m body height
    # seen from 3.7 m (the tight box of the projected points sets the exact value)
    assert 1.25 * 1.6 < zeta_small < 1.25 * 1.9
    assert normalized_to_depth(zeta_small, k_large) == pytest.approx(z_m, rel=1e-12)
    # fx_crop = fx / s in both
    assert SMALL.fx / crops["small"].src_px_per_crop_px == pytest.approx(k_small.fx, rel=1e-12)
    assert LARGE.fx / crops["large"].src_px_per_crop_px == pytest.approx(k_large.fx, rel=1e-12)


def test_normalized_depth_is_distance_invariant_for_a_flat_person() -> None:
    """A fronto-parallel person: zeta is the same at 1.5 m and at 8 m, in both cameras."""
    flat = _person_cam_m((0.0, 0.0, 0.0))
    flat[:, 2] = 0.0
    zetas = []
    for camera in (SMALL, LARGE):
        for z_m in (1.5, 4.0, 8.0):
            crop = _crop_of(flat + np.array([0.2, 0.1, z_m]), camera)
            zetas.append(float(depth_to_normalized(z_m, crop.intrinsics(camera))))
    assert np.ptp(zetas) < 1e-9 * zetas[0]
    assert zetas[0] == pytest.approx(1.25 * 1.75, rel=1e-9)


def test_normalized_depth_round_trip_and_arrays() -> None:
    crop = _crop_of(_person_cam_m((0.0, 0.0, 2.0)), ODD).intrinsics(ODD)
    z_m = np.array([0.4, 2.0, 11.5])
    zeta = depth_to_normalized(z_m, crop)
    assert zeta.shape == (3,)
    assert np.allclose(normalized_to_depth(zeta, crop), z_m, rtol=1e-12, atol=0)
    assert zeta[1] == pytest.approx(2.0 * 256 / crop.fx)


def test_invalid_boxes_and_crops_are_rejected() -> None:
    with pytest.raises(PrivposeInputError, match="x1 >= x0"):
        crop_box_from_person_box((10.0, 10.0, 5.0, 20.0))
    with pytest.raises(PrivposeInputError, match="finite"):
        crop_box_from_person_box((np.nan, 0.0, 1.0, 1.0))
    with pytest.raises(PrivposeInputError, match="margin"):
        crop_box_from_person_box((0.0, 0.0, 1.0, 1.0), margin=0.0)
    with pytest.raises(PrivposeInputError, match="src_px_per_crop_px"):
        CropBox(0.0, 0.0, 0.0, 256, 256)
    with pytest.raises(PrivposeInputError, match="box units"):
        crop_box_from_person_box((0.0, 0.0, 1e6, 1e6)).intrinsics(SMALL)
    # a zero-size box still gives a usable crop of min_side_src_px
    assert (
        crop_box_from_person_box((5.0, 5.0, 5.0, 5.0), min_side_src_px=8.0).src_px_per_crop_px
        == 8 / 256
    )


def test_warp_matches_the_affine_map_and_the_crop_intrinsics() -> None:
    """The cv2 warp (model/crops.py) shows each source pixel where the crop geometry puts it."""
    from privpose_ros.model.crops import warp_crop

    # an image whose two channels are its own source pixel coordinates (u, v)
    v_src, u_src = np.mgrid[0 : SMALL.height, 0 : SMALL.width].astype(np.float32)
    image = np.dstack([u_src, v_src])
    crop = crop_box_from_person_box((250.0, 60.0, 300.0, 180.0), crop_size_px=(96, 128))
    patch = warp_crop(image, crop, border_value=-1.0)
    assert patch.shape == (128, 96, 2)
    v_crop, u_crop = np.mgrid[0:128, 0:96].astype(np.float64)
    expected = crop.crop_to_src_px(np.dstack([u_crop, v_crop]))
    inside = np.all((expected >= 0) & (expected <= [SMALL.width - 1, SMALL.height - 1]), axis=-1)
    assert inside.mean() > 0.5 and not inside.all()  # the crop hangs over the right border
    # bilinear of a linear ramp is exact up to cv2's 1/32 px sub-pixel steps
    assert np.max(np.abs(patch[inside] - expected[inside])) < 1 / 32 + 1e-4
    outside = np.any((expected < -1) | (expected > [SMALL.width, SMALL.height]), axis=-1)
    assert outside.any() and np.all(patch[outside] == -1.0)
    # a 3D point projected with the crop intrinsics lands on the crop pixel showing it
    point_cam_m = back_project_px(np.array([271.0, 113.0]), 2.7, SMALL)
    u, v = np.round(project_points_px(point_cam_m, crop.intrinsics(SMALL))).astype(int)
    assert patch[v, u] == pytest.approx(crop.crop_to_src_px(np.array([u, v])), abs=0.04)
