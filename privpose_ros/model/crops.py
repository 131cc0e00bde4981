"""Warp a source image into a :class:`privpose_ros.core.crop.CropBox` (cv2; core stays numpy).

The warp uses the crop's ``crop_to_src`` map with the pixel-centre convention cv2 shares with
:mod:`privpose_ros.core.crop`, so crop pixel (u, v) shows source pixel ``crop_to_src_px((u, v))``
and a point projected with ``CropBox.intrinsics(source)`` lands where the warped image shows it.
"""

from __future__ import annotations

import cv2
import numpy as np

from privpose_ros.core.crop import CropBox
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
