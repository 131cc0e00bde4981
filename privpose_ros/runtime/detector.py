"""The multi-person detector: MoveNet MultiPose (imported ONNX) -> person boxes + COCO-17 points.

The image is resized so that its long side is ``long_side_px`` (a multiple of 32) and padded
at the bottom / right to multiples of 32; MoveNet returns up to 6 people with a box, a score
and 17 keypoints normalised to that padded input, mapped back here to source-image pixels.

For more than 6 people (:mod:`privpose_ros.runtime.tiles`), ``tiles`` "auto" also detects on
overlapping tiles when the full-frame pass is full (6 found) and more are wanted
(``max_count`` > 6); "always" tiles every image, "off" never. Each tile runs at the smaller of
``long_side_px`` and its own long side (rounded up to 32), so a person in a tile is seen at
a higher resolution than in the full frame; all passes are merged, one detection per person.
"""

from __future__ import annotations

import cv2
import numpy as np

from privpose_ros.core.crop import box_iou
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.runtime.detection import Detection
from privpose_ros.runtime.runner import GraphRunner
from privpose_ros.runtime.tiles import (
    DEFAULT_OVERLAP,
    ceil32,
    merge_detections,
    shift_detection,
    tile_boxes,
    tile_grid,
    touches_inner_edge,
)

MAX_PEOPLE = 6
NUM_COCO = 17
TILE_MODES = ("off", "auto", "always")


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
        if any(box_iou(box, d.box_px)[0, 0] > max_overlap for d in found):
            continue
        points = kps[:, 1::-1] * size - 0.5
        found.append(Detection(box, float(row[55]), points, kps[:, 2].copy()))
    return found


class PersonDetector:
    """MoveNet MultiPose on a :class:`GraphRunner`, on the full frame and (``tiles``) on
    overlapping tiles. ``passes``: MoveNet runs of the last ``detect`` (1 = full frame only)."""

    def __init__(
        self,
        runner: GraphRunner,
        long_side_px: int = 512,
        min_score: float = 0.2,
        tiles: str = "auto",
        max_count: int = MAX_PEOPLE,
        overlap: float = DEFAULT_OVERLAP,
    ):
        if tiles not in TILE_MODES:
            raise PrivposeInputError(f"tiles must be one of {TILE_MODES}, got {tiles!r}")
        self.runner = runner
        self.long_side_px = int(long_side_px)
        self.min_score = float(min_score)
        self.tiles = tiles
        self.max_count = int(max_count)
        self.overlap = float(overlap)
        self.passes = 0

    def _run(self, rgb: np.ndarray, long_side_px: int) -> list[Detection]:
        image, scale = detector_input(rgb, long_side_px)
        people = self.runner.run({"image": image})["people"]
        self.passes += 1
        return decode_people(people, image.shape[1:3], scale, self.min_score)

    def wants_tiles(self, full: list[Detection]) -> bool:
        """Whether the tiles run after a full-frame pass that found ``full``."""
        if self.tiles == "auto":
            return len(full) >= MAX_PEOPLE and self.max_count > MAX_PEOPLE
        return self.tiles == "always"

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Persons in ``rgb`` (H, W, 3) uint8, best first, at most ``max_count``."""
        self.passes = 0
        full = self._run(rgb, self.long_side_px)
        if not self.wants_tiles(full):
            return full[: self.max_count]
        h, w = rgb.shape[:2]
        passes = [full]
        for tile in tile_boxes(h, w, tile_grid(h, w), self.overlap):
            x0, y0, x1, y1 = (int(v) for v in tile)
            side = min(self.long_side_px, ceil32(max(x1 - x0, y1 - y0)))
            found = [shift_detection(d, x0, y0) for d in self._run(rgb[y0:y1, x0:x1], side)]
            passes.append([d for d in found if not touches_inner_edge(d.box_px, tile, (h, w))])
        return merge_detections(passes, max_count=self.max_count)
