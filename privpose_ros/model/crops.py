"""Warp a source image into a :class:`privpose_ros.core.crop.CropBox` (cv2; core stays numpy).

The warp uses the crop's ``crop_to_src`` map with the pixel-centre convention cv2 shares with
:mod:`privpose_ros.core.crop`, so crop pixel (u, v) shows source pixel ``crop_to_src_px((u, v))``
and a point projected with ``CropBox.intrinsics(source)`` lands where the warped image shows it.
"""

from __future__ import annotations

import cv2
import numpy as np

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.crop import CropBox, crop_box_from_person_box
from privpose_ros.core.errors import PrivposeInputError


def warp_crop(
    image: np.ndarray,
    crop: CropBox,
    interpolation: int = cv2.INTER_LINEAR,
    border_value: float = 0.0,
) -> np.ndarray:
    """(crop.height_px, crop.width_px[, C]) crop of ``image`` (H, W[, C]), same dtype; pixels
    outside the image are ``border_value``. Bilinear by default (use INTER_AREA-like
    prefiltering yourself when shrinking by more than ~2x)."""
    if image.ndim not in (2, 3) or image.shape[0] == 0 or image.shape[1] == 0:
        raise PrivposeInputError(f"image must be (H, W) or (H, W, C), got {image.shape}")
    channels = 1 if image.ndim == 2 else image.shape[2]
    return cv2.warpAffine(
        image,
        crop.crop_to_src,
        (crop.width_px, crop.height_px),
        flags=interpolation | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(border_value,) * min(channels, 4),
    )


_MAX_SRC_PX_PER_CROP_PX = 2.0  # above this, shrink the source with INTER_AREA before warping


def warp_rgb_crop(image: np.ndarray, crop: CropBox) -> np.ndarray:
    """An RGB (or any) image's crop: bilinear, and when shrinking by more than 2x first
    INTER_AREA-shrunk by an integer factor (exact for the pixel-centre convention:
    u' = (u + 0.5) / f - 0.5) so the crop is not aliased."""
    factor = int(crop.src_px_per_crop_px // _MAX_SRC_PX_PER_CROP_PX)
    if factor < 2:
        return warp_crop(image, crop)
    h, w = image.shape[:2]
    small = cv2.resize(image, (w // factor, h // factor), interpolation=cv2.INTER_AREA)
    fx, fy = w / (w // factor), h / (h // factor)  # exact per-axis factors after rounding down
    small_crop = CropBox(
        centre_x_src_px=(crop.centre_x_src_px + 0.5) / fx - 0.5,
        centre_y_src_px=(crop.centre_y_src_px + 0.5) / fy - 0.5,
        src_px_per_crop_px=crop.src_px_per_crop_px / fx,
        width_px=crop.width_px,
        height_px=crop.height_px,
    )
    if abs(fx - fy) > 1e-6:  # a non-isotropic rounding: fall back to the plain warp
        return warp_crop(image, crop)
    return warp_crop(small, small_crop)


def crop_batch(
    rgb: np.ndarray,
    intrinsics: CameraIntrinsics,
    boxes_px: list[np.ndarray],
    crop_px: int,
    margin: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The model inputs of person boxes (x0, y0, x1, y1) in source pixels of ``rgb`` (H, W, 3)
    uint8: crops (N, S, S, 3) float32 RGB in [0, 1] (each box grown by ``margin``) and their
    pinhole intrinsics (N, 3, 3) float32."""
    images, ks = [], []
    for box in boxes_px:
        crop = crop_box_from_person_box(box, (crop_px, crop_px), margin)
        images.append(warp_rgb_crop(rgb, crop))
        ks.append(crop.intrinsics(intrinsics).k)
    if not images:
        return np.zeros((0, crop_px, crop_px, 3), np.float32), np.zeros((0, 3, 3), np.float32)
    return np.stack(images).astype(np.float32) / 255.0, np.stack(ks).astype(np.float32)


def resized_crop_affine(crop_to_src: np.ndarray, from_px: int, to_px: int) -> np.ndarray:
    """The (2, 3) crop-to-source map of a ``to_px`` square crop covering the same region as a
    ``from_px`` crop with ``crop_to_src`` (pixel-centre based: pixel d of the new crop is pixel
    (d + 0.5) * from / to - 0.5 of the old one)."""
    a = np.asarray(crop_to_src, dtype=np.float64)
    k = from_px / to_px
    lin = a[:, :2] * k
    return np.hstack([lin, (a[:, 2] + a[:, :2] @ np.full(2, 0.5 * k - 0.5))[:, None]])


def warp_affine_crop(
    image: np.ndarray,
    crop_to_src: np.ndarray,
    size_px: int,
    interpolation: int = cv2.INTER_LINEAR,
    border_value: float = 0.0,
) -> np.ndarray:
    """The ``size_px`` square crop of ``image`` (H, W[, C]) whose pixels map to source pixels by
    the (2, 3) ``crop_to_src`` (e.g. a rotated ROI's; nearest for depth and masks)."""
    if image.ndim not in (2, 3) or image.shape[0] == 0 or image.shape[1] == 0:
        raise PrivposeInputError(f"image must be (H, W) or (H, W, C), got {image.shape}")
    channels = 1 if image.ndim == 2 else image.shape[2]
    return cv2.warpAffine(
        image,
        np.asarray(crop_to_src, dtype=np.float64),
        (int(size_px), int(size_px)),
        flags=interpolation | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(border_value,) * min(channels, 4),
    )
