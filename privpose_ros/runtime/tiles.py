"""Where the persons of one image are: detector tiles, merging detections, and whether a
skeleton belongs to one person (pure numpy; the detector and the front end use them).

MoveNet MultiPose returns at most 6 people per pass. For more, the image is also cut into
overlapping tiles (2 x 1 for a wide image, 1 x 2 for a tall one, 2 x 2 otherwise, ``overlap``
of a tile's side shared with its neighbour), each tile is detected on its own at a higher
resolution, and the detections of all passes are merged: two detections are one person when
their boxes overlap by IoU >= ``max_iou`` or their confident keypoints agree (keypoint
similarity >= ``max_similarity``); the better score is kept. A tile detection that touches an
inner tile edge is a cut person, seen whole in the neighbour tile or in the full frame: dropped.

A skeleton "spans two people" when the landmark model, given one person's crop, put part of
the body on someone else. :func:`span_reason` finds it from pixels only: landmarks far outside
the person's own detection box, its landmarks far from the detector's own keypoints for that
person, or its two hips in two different persons' boxes. All coordinates are source pixels
(pixel centres), boxes (x0, y0, x1, y1).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from privpose_ros.core.crop import box_iou
from privpose_ros.core.errors import PrivposeInputError

if TYPE_CHECKING:  # detector.py imports this module
    from privpose_ros.runtime.detection import Detection

DEFAULT_OVERLAP = 0.2
# BlazePose 33 -> COCO 17 (nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles)
BLAZEPOSE_TO_COCO = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
_BODY = np.array(BLAZEPOSE_TO_COCO[5:])  # shoulders .. ankles: the points a box must hold
_HIPS = (23, 24)
# COCO keypoint sigmas (the OKS constants), COCO-17 order
COCO_SIGMAS = np.array(
    [.026, .025, .025, .035, .035, .079, .079, .072, .072, .062, .062, .107, .107, .087, .087,
     .089, .089]
)  # fmt: skip


def tile_grid(height: int, width: int) -> tuple[int, int]:
    """(columns, rows) of the tiling of an image: 2 x 1 when width >= 1.5 height, 1 x 2 when
    height >= 1.5 width, else 2 x 2."""
    if height < 1 or width < 1:
        raise PrivposeInputError(f"image size must be positive, got {height} x {width}")
    if width >= 1.5 * height:
        return 2, 1
    if height >= 1.5 * width:
        return 1, 2
    return 2, 2


def _spans(length: int, count: int, overlap: float) -> list[tuple[int, int]]:
    side = length / (count - (count - 1) * overlap)
    step = side * (1.0 - overlap)
    return [
        (round(i * step), length if i == count - 1 else round(i * step + side))
        for i in range(count)
    ]


def tile_boxes(
    height: int, width: int, grid: tuple[int, int], overlap: float = DEFAULT_OVERLAP
) -> np.ndarray:
    """(cols x rows, 4) int tiles (x0, y0, x1, y1), x1 / y1 exclusive, row by row; each shares
    ``overlap`` of its side with its neighbour and together they cover the image exactly."""
    cols, rows = grid
    if not (1 <= cols <= 8 and 1 <= rows <= 8) or not 0.0 <= overlap < 0.5:
        raise PrivposeInputError(
            f"grid must be 1..8 x 1..8 and overlap in [0, 0.5), got {grid}, {overlap}"
        )
    if height < 1 or width < 1:
        raise PrivposeInputError(f"image size must be positive, got {height} x {width}")
    xs, ys = _spans(width, cols, overlap), _spans(height, rows, overlap)
    return np.array([(x0, y0, x1, y1) for y0, y1 in ys for x0, x1 in xs], dtype=np.int64)


def shift_detection(det: Detection, dx_px: float, dy_px: float) -> Detection:
    """``det`` moved by (dx, dy) pixels: a tile's detection in the whole image's pixels."""
    offset = np.array([dx_px, dy_px], dtype=np.float64)
    return replace(
        det, box_px=det.box_px + np.tile(offset, 2), keypoints_px=det.keypoints_px + offset
    )


def keypoint_similarity(a: Detection, b: Detection, min_score: float = 0.3) -> float:
    """COCO OKS between two detections' body keypoints (shoulders to ankles: MoveNet gives
    an occluded person's head points to the face next to it) over those confident in both
    (scale: the smaller box's area, so a small person beside a big one is not its duplicate);
    0 when fewer than 3 are confident in both."""
    both = (a.keypoint_scores >= min_score) & (b.keypoint_scores >= min_score)
    both[:5] = False
    if both.sum() < 3:
        return 0.0
    area = max(min(_area(a.box_px), _area(b.box_px)), 1.0)
    d2 = np.sum((a.keypoints_px[both] - b.keypoints_px[both]) ** 2, axis=1)
    return float(np.mean(np.exp(-d2 / (2.0 * area * (2.0 * COCO_SIGMAS[both]) ** 2))))


def _area(box: np.ndarray) -> float:
    return float(max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1]))


def touches_inner_edge(
    box_px: np.ndarray, tile: np.ndarray, image_hw: tuple[int, int], margin: float = 0.01
) -> bool:
    """True when ``box_px`` reaches within ``margin`` x the tile side of a tile edge that is not
    an image edge (the person is cut by the tile)."""
    x0, y0, x1, y1 = (float(v) for v in tile)
    mx, my = margin * (x1 - x0), margin * (y1 - y0)
    h, w = image_hw
    return bool(
        (x0 > 0 and box_px[0] <= x0 + mx)
        or (y0 > 0 and box_px[1] <= y0 + my)
        or (x1 < w and box_px[2] >= x1 - 1 - mx)
        or (y1 < h and box_px[3] >= y1 - 1 - my)
    )


def merge_detections(
    passes: list[list[Detection]],
    max_iou: float = 0.5,
    max_similarity: float = 0.5,
    max_count: int | None = None,
) -> list[Detection]:
    """The detections of every pass (full frame, tiles), one per person, best score first: a
    detection that is the same person as a better one (box IoU >= ``max_iou`` or keypoint
    similarity >= ``max_similarity``) is dropped. At most ``max_count``."""
    merged: list[Detection] = []
    for det in sorted((d for p in passes for d in p), key=lambda d: -d.score):
        same = any(
            box_iou(det.box_px, kept.box_px)[0, 0] >= max_iou
            or keypoint_similarity(det, kept) >= max_similarity
            for kept in merged
        )
        if not same:
            merged.append(det)
        if max_count is not None and len(merged) >= max_count:
            break
    return merged


def _inside(points: np.ndarray, box: np.ndarray, margin_px: float) -> np.ndarray:
    return (
        (points[:, 0] >= box[0] - margin_px)
        & (points[:, 0] <= box[2] + margin_px)
        & (points[:, 1] >= box[1] - margin_px)
        & (points[:, 1] <= box[3] + margin_px)
    )


def span_reason(
    points_px: np.ndarray,
    visibility: np.ndarray,
    det: Detection,
    other_boxes: list[np.ndarray] | tuple[np.ndarray, ...] = (),
    box_margin: float = 0.5,
    max_outside: float = 0.5,
    max_keypoint_distance: float = 0.15,
    min_visibility: float = 0.5,
    min_keypoint_score: float = 0.3,
) -> str | None:
    """Why one person's BlazePose skeleton (``points_px`` (33, 2), ``visibility`` (33,)) is
    not only the person ``det`` found, or None when it is:

    - "outside_box": more than ``max_outside`` of its visible body points (shoulders to ankles)
      lie outside ``det``'s box grown by ``box_margin`` x its larger side;
    - "far_from_detection": the median distance between its body points and ``det``'s
      confident body keypoints exceeds ``max_keypoint_distance`` x the box's larger side (the
      landmarks went to someone else; needs >= 4 confident in both). Measured on real2d: 0.02
      to 0.07 for right skeletons, 0.17 for one that moved onto the person beside;
    - "hips_apart": its two hips lie in two different other persons' boxes and not in
      ``det``'s own (one hip on each of two people).
    """
    points = np.asarray(points_px, dtype=np.float64)
    if points.shape != (33, 2) or np.shape(visibility) != (33,):
        raise PrivposeInputError(
            f"points_px must be (33, 2) and visibility (33,), got {points.shape}, "
            f"{np.shape(visibility)}"
        )
    vis = np.asarray(visibility) >= min_visibility
    box = det.box_px
    side = max(float(box[2] - box[0]), float(box[3] - box[1]), 1.0)
    body = _BODY[vis[_BODY]]
    if len(body) >= 4:
        outside = ~_inside(points[body], box, box_margin * side)
        if outside.mean() > max_outside:
            return "outside_box"
    dist = keypoint_distance_px(points, vis, det, min_keypoint_score)
    if dist is not None and dist > max_keypoint_distance * side:
        return "far_from_detection"
    hips = points[list(_HIPS)]
    own = _inside(hips, box, 0.0)
    if not own.any() and other_boxes:
        homes = [
            set(np.flatnonzero([_inside(h[None], b, 0.0)[0] for b in other_boxes])) for h in hips
        ]
        if homes[0] and homes[1] and not homes[0] & homes[1]:
            return "hips_apart"
    return None


def keypoint_distance_px(
    points_px: np.ndarray, visible: np.ndarray, det: Detection, min_keypoint_score: float = 0.3
) -> float | None:
    """Median pixel distance between a skeleton's body points (``points_px`` (33, 2) BlazePose,
    ``visible`` (33,) bool) and ``det``'s confident COCO body keypoints; None with fewer than
    4 in both."""
    coco = np.asarray(points_px, dtype=np.float64)[list(BLAZEPOSE_TO_COCO)]
    both = (det.keypoint_scores >= min_keypoint_score) & np.asarray(visible)[
        list(BLAZEPOSE_TO_COCO)
    ]
    both[:5] = False  # MoveNet's head points are the least reliable (and shared in crowds)
    if both.sum() < 4:
        return None
    return float(np.median(np.linalg.norm(coco[both] - det.keypoints_px[both], axis=1)))


def ceil32(value: float) -> int:
    """The smallest multiple of 32 >= ``value`` (and >= 128): a MoveNet input side."""
    return max(128, 32 * math.ceil(value / 32))
