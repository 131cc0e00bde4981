"""A person detection: what the detector (runtime/detector.py) gives, and tiling
(runtime/tiles.py), the span check and the landmark ROIs read."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Detection:
    """One person: ``box_px`` (x0, y0, x1, y1) and ``keypoints_px`` (17, 2) COCO-17 in source
    pixels, ``keypoint_scores`` (17,), ``score`` in [0, 1]."""

    box_px: np.ndarray
    score: float
    keypoints_px: np.ndarray
    keypoint_scores: np.ndarray
