"""Pinhole camera intrinsics (a sensor_msgs/CameraInfo without ROS).

All pixel quantities are in pixels of the image the intrinsics belong to; images are assumed
rectified (``distortion`` is kept for provenance and for cameras publishing raw images, but the
projection functions in :mod:`privpose_ros.core.geometry` use the pinhole model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from privpose_ros.core.errors import PrivposeInputError


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics of an image of ``width`` x ``height`` pixels.

    ``fx, fy`` focal lengths and ``cx, cy`` principal point, all in pixels; ``distortion`` are the
    coefficients of ``distortion_model`` (as in sensor_msgs/CameraInfo ``D``).
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    distortion: tuple[float, ...] = field(default=())
    distortion_model: str = "plumb_bob"

    def __post_init__(self) -> None:
        values = {"fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy}
        bad = [k for k, v in values.items() if not math.isfinite(float(v))]
        if bad:
            raise PrivposeInputError(
                f"camera intrinsics {bad} are not finite ({values}); check camera_info K"
            )
        if self.fx <= 0 or self.fy <= 0:
            raise PrivposeInputError(
                f"focal lengths must be positive, got fx={self.fx}, fy={self.fy}; "
                "an all-zero K means the camera is not calibrated"
            )
        if int(self.width) <= 0 or int(self.height) <= 0:
            raise PrivposeInputError(
                f"image size must be positive, got {self.width}x{self.height}"
            )
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))
        object.__setattr__(self, "distortion", tuple(float(d) for d in self.distortion))

    @classmethod
    def from_k(
        cls,
        k: np.ndarray | list[float],
        width: int,
        height: int,
        distortion: tuple[float, ...] | list[float] = (),
        distortion_model: str = "plumb_bob",
    ) -> CameraIntrinsics:
        """Build from a 3x3 (or row-major 9-element, CameraInfo.k) camera matrix in pixels."""
        k_arr = np.asarray(k, dtype=np.float64)
        if k_arr.size != 9:
            raise PrivposeInputError(
                f"K must have 9 elements (3x3 row-major), got shape {k_arr.shape}"
            )
        k_arr = k_arr.reshape(3, 3)
        return cls(
            fx=float(k_arr[0, 0]),
            fy=float(k_arr[1, 1]),
            cx=float(k_arr[0, 2]),
            cy=float(k_arr[1, 2]),
            width=width,
            height=height,
            distortion=tuple(distortion),
            distortion_model=distortion_model,
        )

    @property
    def k(self) -> np.ndarray:
        """The 3x3 camera matrix (float64, pixels)."""
        return np.array(
            [[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]], dtype=np.float64
        )

    def scaled(self, scale_x: float, scale_y: float) -> CameraIntrinsics:
        """Intrinsics of the image resized by (scale_x, scale_y), pixel-centre convention.

        A pixel centre u maps to (u + 0.5) * s - 0.5, so cx follows the same rule.
        """
        return CameraIntrinsics(
            fx=self.fx * scale_x,
            fy=self.fy * scale_y,
            cx=(self.cx + 0.5) * scale_x - 0.5,
            cy=(self.cy + 0.5) * scale_y - 0.5,
            width=round(self.width * scale_x),
            height=round(self.height * scale_y),
            distortion=self.distortion,
            distortion_model=self.distortion_model,
        )

    def cropped(self, x0_px: float, y0_px: float, width: int, height: int) -> CameraIntrinsics:
        """Intrinsics of the crop with top-left corner (x0_px, y0_px) (negative = padding;
        fractional for a resampled crop: pixel x0_px of this image becomes the crop's 0)."""
        return CameraIntrinsics(
            fx=self.fx,
            fy=self.fy,
            cx=self.cx - x0_px,
            cy=self.cy - y0_px,
            width=width,
            height=height,
            distortion=self.distortion,
            distortion_model=self.distortion_model,
        )
