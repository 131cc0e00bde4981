"""A person's BlazePose landmarks and the rotated region of interest they were cut from (numpy).

A region of interest (ROI) is a square of ``side_px`` centred at ``centre_px`` and rotated by
``rotation_rad`` (clockwise in the image, 0 = upright); the landmark model sees it as a
``LANDMARK_CROP_PX`` square crop. The front end (runtime/people.py) gives every person its
landmarks; the 3D lifters (runtime/placement.py, runtime/lifter.py) place them in metres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LANDMARK_CROP_PX = 256


@dataclass(frozen=True)
class Roi:
    centre_px: np.ndarray  # (2,) source pixels
    side_px: float
    rotation_rad: float

    def crop_to_image(self) -> np.ndarray:
        """(2, 3) affine map from crop pixels to source pixels (both pixel-centre based)."""
        c, s = math.cos(self.rotation_rad), math.sin(self.rotation_rad)
        rot = np.array([[c, -s], [s, c]]) * (self.side_px / LANDMARK_CROP_PX)
        offset = self.centre_px + rot @ np.full(2, 0.5 - LANDMARK_CROP_PX / 2)
        return np.hstack([rot, offset[:, None]])


@dataclass(frozen=True)
class Landmarks:
    """One person's BlazePose output in source pixels: ``points_px`` (33, 2), ``depth_rel``
    (33,) relative z in crop-pixel units, ``visibility`` / ``presence`` (33,) probabilities,
    ``world_m`` (33, 3) metres around the hip centre in camera-aligned axes, ``pose_score``
    the model's person-presence probability, ``next_roi`` the ROI its alignment points give,
    ``roi`` the ROI the landmarks were cut from (None where the producer does not say: the
    residual lifter then crops along ``next_roi``, see :meth:`crop_roi`)."""

    points_px: np.ndarray
    depth_rel: np.ndarray
    visibility: np.ndarray
    presence: np.ndarray
    world_m: np.ndarray
    pose_score: float
    next_roi: Roi
    roi: Roi | None = None

    def crop_roi(self) -> Roi:
        """The rotated ROI a crop-based model should see: the one the landmarks came from,
        else the one they give (tight around these landmarks, as the next frame's crop)."""
        return self.roi if self.roi is not None else self.next_roi
