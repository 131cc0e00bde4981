"""The multi-person detector: MoveNet MultiPose (imported ONNX) -> person boxes + COCO-17 points.

The image is resized so that its long side is ``long_side_px`` (a multiple of 32) and padded
at the bottom / right to multiples of 32; MoveNet returns up to 6 people with a box, a score
and 17 keypoints normalised to that padded input, mapped back here to source-image pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.runtime.runner import GraphRunner

MAX_PEOPLE = 6
NUM_COCO = 17


@dataclass(frozen=True)
class Detection:
    """One person: ``box_px`` (x0, y0, x1, y1) and ``keypoints_px`` (17, 2) COCO-17 in source
    pixels, ``keypoint_scores`` (17,), ``score`` in [0, 1]."""

    box_px: np.ndarray
    score: float
    keypoints_px: np.ndarray
    keypoint_scores: np.ndarray


def detector_input(rgb: np.ndarray, long_side_px: int) -> tuple[np.ndarray, float]:
    """(1, H, W, 3) int32 MoveNet input (H, W multiples of 32) and the source->input scale."""
    if long_side_px % 32 or long_side_px < 128:
        raise PrivposeInputError(
            f"long_side_px must be a multiple of 32 >= 128, got {long_side_px}"
        )
    h, w = rgb.shape[:2]
    scale = long_side_px / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resized = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_AREA)
    pad_h, pad_w = -(-new_h // 32) * 32, -(-new_w // 32) * 32
    canvas = np.zeros((1, pad_h, pad_w, 3), dtype=np.int32)
    canvas[0, :new_h, :new_w] = resized
    return canvas, scale


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def decode_people(
    people: np.ndarray,
    input_hw: tuple[int, int],
    scale: float,
    min_score: float,
    max_overlap: float = 0.8,
) -> list[Detection]:
    """MoveNet's (1, 6, 56) output -> detections above ``min_score``, best first; a box that
    overlaps a better one by IoU > ``max_overlap`` is a duplicate and dropped."""
    people = np.asarray(people, dtype=np.float64).reshape(MAX_PEOPLE, 56)
    size = np.array([input_hw[1], input_hw[0]], dtype=np.float64) / scale
    found: list[Detection] = []
    for row in people[np.argsort(-people[:, 55])]:
        if row[55] < min_score:
            break
        kps = row[:51].reshape(NUM_COCO, 3)
        # normalised coordinates are pixel-corner based; privpose pixels are centre based
        box = np.array([row[52], row[51], row[54], row[53]]) * np.tile(size, 2) - 0.5
        if any(_iou(box, d.box_px) > max_overlap for d in found):
            continue
        points = kps[:, 1::-1] * size - 0.5
        found.append(Detection(box, float(row[55]), points, kps[:, 2].copy()))
    return found


class PersonDetector:
    """MoveNet MultiPose on a :class:`GraphRunner`."""

    def __init__(self, runner: GraphRunner, long_side_px: int = 512, min_score: float = 0.2):
        self.runner = runner
        self.long_side_px = int(long_side_px)
        self.min_score = float(min_score)

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Persons in ``rgb`` (H, W, 3) uint8, best first."""
        image, scale = detector_input(rgb, self.long_side_px)
        people = self.runner.run({"image": image})["people"]
        return decode_people(people, image.shape[1:3], scale, self.min_score)
