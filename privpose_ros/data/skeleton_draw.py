"""The one skeleton drawing (OpenCV): bones and joints in pixels of an image, drawn in place.

The synthetic-data preview, the demo's overlays and ``privpose infer --draw`` all draw through
:func:`draw_skeleton_px`; colours are in the image's own channel order (RGB or BGR).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from privpose_ros.core.errors import optional_import

Colour = tuple[int, int, int]


def draw_skeleton_px(
    image: np.ndarray,
    joints_px: np.ndarray,
    bone_indices: np.ndarray,
    joint_colours: Sequence[Colour],
    line_px: int = 2,
    radius_px: int = 3,
    drawn: np.ndarray | None = None,
    hollow: np.ndarray | None = None,
) -> None:
    """Draw (J, 2) pixel joints and their (B, 2) parent-child bones onto ``image`` in place.

    ``joint_colours`` holds one colour per joint; a bone takes its child's colour. Only joints
    in the (J,) mask ``drawn`` (default: every joint) and bones between two of them are drawn;
    joints in the (J,) mask ``hollow`` are 1-pixel rings instead of filled discs.
    """
    cv2 = optional_import("cv2", "pip install opencv-python-headless")
    joints_px = np.asarray(joints_px, dtype=np.float64)
    if drawn is None:
        drawn = np.ones(len(joints_px), dtype=bool)
    pts = np.nan_to_num(np.round(np.where(drawn[:, None], joints_px, 0.0))).astype(np.int32)
    for parent, child in bone_indices:
        if drawn[parent] and drawn[child]:
            start, end = tuple(pts[parent]), tuple(pts[child])
            cv2.line(image, start, end, joint_colours[child], line_px, cv2.LINE_AA)
    for index in np.flatnonzero(drawn):
        fill = 1 if hollow is not None and hollow[index] else -1
        cv2.circle(image, tuple(pts[index]), radius_px, joint_colours[index], fill, cv2.LINE_AA)
