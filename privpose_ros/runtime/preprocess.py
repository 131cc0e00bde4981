"""Letterboxing an RGB image of any size to the network input, with the intrinsics adjusted.

The network sees the source image resized by one uniform factor and centred on a padded canvas
of ``input_hw``. Its intrinsics are those of that canvas (``CameraIntrinsics.scaled`` then
``cropped`` with a negative offset = padding), so the metric joints the model decodes with them
are already in the source camera's optical frame; only pixel coordinates need mapping back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.frame import check_rgb


@dataclass(frozen=True)
class Letterbox:
    """How a source image maps onto the network canvas.

    Source pixel centre u maps to ``(u + 0.5) * scale_x - 0.5 + pad_x_px`` on the canvas (same for
    v with ``scale_y``/``pad_y_px``); ``scale_x`` and ``scale_y`` differ only by the rounding of
    the resized size to whole pixels.
    """

    scale_x: float
    scale_y: float
    pad_x_px: int
    pad_y_px: int
    resized_hw: tuple[int, int]
    input_hw: tuple[int, int]
    source_hw: tuple[int, int]

    @classmethod
    def fit(cls, source_hw: tuple[int, int], input_hw: tuple[int, int]) -> Letterbox:
        """The largest centred uniform resize of ``source_hw`` that fits into ``input_hw``."""
        (src_h, src_w), (net_h, net_w) = (
            _check_hw("source_hw", source_hw),
            _check_hw("input_hw", input_hw),
        )
        scale = min(net_h / src_h, net_w / src_w)
        new_h = min(net_h, max(1, round(src_h * scale)))
        new_w = min(net_w, max(1, round(src_w * scale)))
        return cls(
            scale_x=new_w / src_w,
            scale_y=new_h / src_h,
            pad_x_px=(net_w - new_w) // 2,
            pad_y_px=(net_h - new_h) // 2,
            resized_hw=(new_h, new_w),
            input_hw=(net_h, net_w),
            source_hw=(src_h, src_w),
        )

    def intrinsics_to_input(self, intrinsics: CameraIntrinsics) -> CameraIntrinsics:
        """Intrinsics of the network canvas given those of the source image."""
        if (intrinsics.height, intrinsics.width) != self.source_hw:
            raise PrivposeInputError(
                f"intrinsics are for {intrinsics.width}x{intrinsics.height} but the letterbox "
                f"was fitted to {self.source_hw[1]}x{self.source_hw[0]}; use this image's "
                "camera_info"
            )
        resized = intrinsics.scaled(self.scale_x, self.scale_y)
        return resized.cropped(-self.pad_x_px, -self.pad_y_px, self.input_hw[1], self.input_hw[0])

    def input_px_to_source(self, uv_input_px: np.ndarray) -> np.ndarray:
        """Map pixel coordinates (..., 2) on the network canvas back to the source image."""
        uv = np.asarray(uv_input_px, dtype=np.float64)
        if uv.ndim == 0 or uv.shape[-1] != 2:
            raise PrivposeInputError(f"uv_input_px must have shape (..., 2), got {uv.shape}")
        u = (uv[..., 0] - self.pad_x_px + 0.5) / self.scale_x - 0.5
        v = (uv[..., 1] - self.pad_y_px + 0.5) / self.scale_y - 0.5
        return np.stack([u, v], axis=-1)

    def source_px_to_input(self, uv_source_px: np.ndarray) -> np.ndarray:
        """Map source-image pixel coordinates (..., 2) onto the network canvas."""
        uv = np.asarray(uv_source_px, dtype=np.float64)
        if uv.ndim == 0 or uv.shape[-1] != 2:
            raise PrivposeInputError(f"uv_source_px must have shape (..., 2), got {uv.shape}")
        u = (uv[..., 0] + 0.5) * self.scale_x - 0.5 + self.pad_x_px
        v = (uv[..., 1] + 0.5) * self.scale_y - 0.5 + self.pad_y_px
        return np.stack([u, v], axis=-1)


def _check_hw(name: str, hw: tuple[int, int]) -> tuple[int, int]:
    if len(hw) != 2 or int(hw[0]) <= 0 or int(hw[1]) <= 0:
        raise PrivposeInputError(f"{name} must be a positive (height, width), got {hw}")
    return int(hw[0]), int(hw[1])


def letterbox_rgb(
    rgb: np.ndarray,
    intrinsics: CameraIntrinsics,
    input_hw: tuple[int, int],
    pad_value: int = 0,
) -> tuple[np.ndarray, CameraIntrinsics, Letterbox]:
    """Letterbox an (H, W, 3) uint8 RGB image to the network input.

    Returns the network input (1, 3, H_in, W_in) float32 in [0, 1] (RGB, NCHW), the intrinsics of
    that input (pixels of the canvas) and the :class:`Letterbox` to map pixels back.
    """
    import cv2

    check_rgb(rgb, intrinsics)
    box = Letterbox.fit(rgb.shape[:2], input_hw)
    if not 0 <= int(pad_value) <= 255:
        raise PrivposeInputError(f"pad_value must be a uint8 grey level 0..255, got {pad_value}")
    new_h, new_w = box.resized_hw
    if (new_h, new_w) == rgb.shape[:2]:
        resized = rgb
    else:
        shrinking = new_h < rgb.shape[0]
        interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        resized = cv2.resize(rgb, (new_w, new_h), interpolation=interp)
    net_h, net_w = box.input_hw
    if (new_h, new_w) != (net_h, net_w):
        canvas = np.full((net_h, net_w, 3), int(pad_value), dtype=np.uint8)
        canvas[box.pad_y_px : box.pad_y_px + new_h, box.pad_x_px : box.pad_x_px + new_w] = resized
        resized = canvas
    blob = cv2.dnn.blobFromImage(resized, scalefactor=1.0 / 255.0)
    return blob, box.intrinsics_to_input(intrinsics), box
