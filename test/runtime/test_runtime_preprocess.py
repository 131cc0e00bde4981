"""Letterboxing: geometry golden numbers, pixel round trips, and intrinsics consistency."""

from __future__ import annotations

import numpy as np
import pytest

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.geometry import project_points_px
from privpose_ros.runtime.preprocess import Letterbox, letterbox_rgb


@pytest.mark.parametrize(
    ("source_hw", "scale", "resized_hw", "pad_xy"),
    [
        ((480, 640), (0.2, 0.2), (96, 128), (0, 0)),  # same aspect: a plain resize
        ((720, 1280), (0.1, 0.1), (72, 128), (0, 12)),  # wider: bars top and bottom
        ((640, 480), (72 / 480, 0.15), (96, 72), (28, 0)),  # portrait: bars left and right
    ],
)
def test_fit_golden_numbers(source_hw, scale, resized_hw, pad_xy) -> None:
    box = Letterbox.fit(source_hw, (96, 128))
    assert (box.scale_x, box.scale_y) == pytest.approx(scale, abs=1e-12)
    assert box.resized_hw == resized_hw
    assert (box.pad_x_px, box.pad_y_px) == pad_xy


def test_pixel_round_trip_and_projection_consistency() -> None:
    rng = np.random.default_rng(3)
    intr = CameraIntrinsics(fx=910.0, fy=905.0, cx=641.2, cy=355.7, width=1280, height=720)
    box = Letterbox.fit((720, 1280), (96, 128))
    uv = rng.uniform(-50, 1300, (40, 2))
    np.testing.assert_allclose(box.source_px_to_input(box.input_px_to_source(uv)), uv, atol=1e-9)
    # A point projects to the same canvas pixel through the adjusted intrinsics as through the
    # source intrinsics + the letterbox: joints decoded with the adjusted K are in the source
    # camera frame, unchanged by letterboxing.
    points_cam_m = np.column_stack(
        [rng.uniform(-1, 1, 40), rng.uniform(-1, 1, 40), rng.uniform(1, 6, 40)]
    )
    k_input = box.intrinsics_to_input(intr)
    assert (k_input.width, k_input.height) == (128, 96)
    via_source = box.source_px_to_input(project_points_px(points_cam_m, intr))
    np.testing.assert_allclose(project_points_px(points_cam_m, k_input), via_source, atol=1e-9)


def test_letterbox_image_content_and_padding() -> None:
    rgb = np.zeros((720, 1280, 3), dtype=np.uint8)
    rgb[300:420, 600:720] = (255, 128, 0)  # a square of 120 px -> 12 px on the canvas
    intr = CameraIntrinsics(fx=900.0, fy=900.0, cx=639.5, cy=359.5, width=1280, height=720)
    blob, k_input, box = letterbox_rgb(rgb, intr, (96, 128), pad_value=51)
    assert blob.shape == (1, 3, 96, 128) and blob.dtype == np.float32
    np.testing.assert_allclose(blob[0, :, :12], 0.2, atol=1e-6)  # top bar = 51 / 255
    np.testing.assert_allclose(blob[0, :, 84:], 0.2, atol=1e-6)  # bottom bar
    u, v = np.round(box.source_px_to_input(np.array([659.5, 359.5]))).astype(int)
    assert (u, v) == (66, 48)
    np.testing.assert_allclose(blob[0, :, v, u], [1.0, 128 / 255, 0.0], atol=1e-6)  # RGB order
    assert k_input.fx == pytest.approx(90.0) and k_input.cy == pytest.approx(47.5)
    assert k_input.cx == pytest.approx(63.5)


def test_rejects_bad_inputs() -> None:
    intr = CameraIntrinsics(fx=500.0, fy=500.0, cx=319.5, cy=239.5, width=640, height=480)
    with pytest.raises(PrivposeInputError, match="uint8"):
        letterbox_rgb(np.zeros((480, 640, 3), np.float32), intr, (96, 128))
    with pytest.raises(PrivposeInputError, match="camera_info"):
        letterbox_rgb(np.zeros((240, 320, 3), np.uint8), intr, (96, 128))
    with pytest.raises(PrivposeInputError, match="input_hw"):
        Letterbox.fit((480, 640), (0, 128))
    with pytest.raises(PrivposeInputError, match="pad_value"):
        letterbox_rgb(np.zeros((480, 640, 3), np.uint8), intr, (96, 128), pad_value=300)
