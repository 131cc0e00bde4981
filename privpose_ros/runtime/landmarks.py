"""BlazePose landmarks per person: rotated square crops, one batched inference, decoding.

A region of interest (ROI) is a square of ``side_px`` centred at ``centre_px`` and rotated by
``rotation_rad`` (clockwise in the image, 0 = upright). As in MediaPipe, it is centred on the
hip centre with the body upright and covers 1.25 x the circle that holds the body. The crop
(256 x 256, RGB in [0, 1], zero outside the image) goes to the landmark model; its 39 landmarks
(33 body points + 6 alignment points) come back in crop pixels, are refined on the 64 x 64
heatmaps and mapped back to source pixels, and its metric world points are rotated by the ROI
rotation (they are expressed in the upright crop's axes).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from privpose_ros.core.blazepose import NUM_LANDMARKS
from privpose_ros.core.landmarks import LANDMARK_CROP_PX as CROP_PX
from privpose_ros.core.landmarks import Landmarks, Roi
from privpose_ros.runtime.detection import Detection
from privpose_ros.runtime.runner import GraphRunner

HEATMAP_PX = 64
ROI_SCALE = 1.25
_ALL = 39  # landmarks in the model output: 33 body + hip centre, body-size point, 4 more
_HIP_CENTRE, _BODY_TOP = 33, 34
# COCO-17 indices used to build an ROI from a detection
_COCO_SHOULDERS, _COCO_HIPS = (5, 6), (11, 12)


def _normalise_angle(angle: float) -> float:
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def roi_from_points(centre_px: np.ndarray, top_px: np.ndarray, radius_px: float) -> Roi:
    """Upright direction from ``centre_px`` towards ``top_px``; side = 2 x radius x 1.25."""
    dx, dy = top_px - centre_px
    rotation = _normalise_angle(math.pi / 2 - math.atan2(-dy, dx))
    return Roi(np.asarray(centre_px, dtype=np.float64), 2 * radius_px * ROI_SCALE, rotation)


def roi_from_detection(det: Detection, min_score: float = 0.2) -> Roi:
    """The ROI of a MoveNet detection: hip centre, hips -> shoulders upright, and a radius that
    reaches the farthest confident keypoint (+15 % for the head top and the feet).

    A person cut off at the hips (close to the camera, behind a table) has no hip keypoints: as
    MediaPipe's detector does, the ROI is then centred on a virtual hip centre below the
    shoulders (1.3 shoulder widths along the body axis, the head giving "up") and sized for the
    whole virtual body (radius 2.2 shoulder widths), so the landmark model sees the scale and
    framing it was trained on.
    """
    ok = det.keypoint_scores >= min_score
    kps = det.keypoints_px
    box = det.box_px
    box_centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    hips, shoulders = list(_COCO_HIPS), list(_COCO_SHOULDERS)
    points = kps[ok] if ok.sum() >= 2 else box.reshape(2, 2)
    min_radius = 0.5 * float(max(box[2] - box[0], box[3] - box[1])) / ROI_SCALE
    if ok[shoulders].all() and not ok[hips].all():
        top = kps[shoulders].mean(axis=0)
        width = float(np.linalg.norm(kps[shoulders[0]] - kps[shoulders[1]]))
        head = kps[:5][ok[:5]]
        up = head.mean(axis=0) - top if len(head) else np.array([0.0, -1.0])
        up = up / max(float(np.linalg.norm(up)), 1e-6)
        centre = top - up * 1.3 * width
        min_radius = max(min_radius, 2.2 * width)
    else:
        centre = kps[hips].mean(axis=0) if ok[hips].all() else box_centre
        top = kps[shoulders].mean(axis=0) if ok[shoulders].all() else None
        if top is None or np.linalg.norm(top - centre) < 1.0:
            top = centre - np.array([0.0, 1.0])  # no torso direction: assume upright
    radius = max(float(np.linalg.norm(points - centre, axis=1).max()) * 1.15, min_radius, 4.0)
    return roi_from_points(centre, top, radius)


def crop(rgb: np.ndarray, roi: Roi) -> np.ndarray:
    """(256, 256, 3) float32 RGB in [0, 1] of ``roi`` (zero outside the image)."""
    patch = cv2.warpAffine(
        rgb,
        roi.crop_to_image(),
        (CROP_PX, CROP_PX),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
    )
    return patch.astype(np.float32) * (1.0 / 255.0)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))


def refine_on_heatmap(
    points_crop: np.ndarray, heatmaps: np.ndarray, kernel: int = 7, min_confidence: float = 0.5
) -> np.ndarray:
    """MediaPipe's heatmap refinement: each landmark (crop pixels, (39, 2)) moves to the
    confidence-weighted mean of the ``kernel`` x ``kernel`` heatmap cells around it when the
    best of them reaches ``min_confidence``. ``heatmaps``: (64, 64, 39) logits."""
    out = points_crop.astype(np.float64, copy=True)
    count = min(points_crop.shape[0], heatmaps.shape[2])
    cell = CROP_PX / HEATMAP_PX
    with np.errstate(invalid="ignore"):
        cols = np.floor(out[:count, 0] / cell)
        rows = np.floor(out[:count, 1] / cell)
    inside = (cols >= 0) & (cols < HEATMAP_PX) & (rows >= 0) & (rows < HEATMAP_PX)
    offsets = np.arange(kernel) - kernel // 2
    r = np.nan_to_num(rows).astype(np.int64)[:, None, None] + offsets[None, :, None]
    c = np.nan_to_num(cols).astype(np.int64)[:, None, None] + offsets[None, None, :]
    valid = (r >= 0) & (r < HEATMAP_PX) & (c >= 0) & (c < HEATMAP_PX)
    j = np.arange(count)[:, None, None]
    logits = heatmaps[np.clip(r, 0, HEATMAP_PX - 1), np.clip(c, 0, HEATMAP_PX - 1), j]
    conf = np.where(valid, _sigmoid(logits.astype(np.float64)), 0.0)
    total = conf.sum(axis=(1, 2))
    ok = inside & (conf.max(axis=(1, 2)) >= min_confidence) & (total > 0)
    safe = np.where(total > 0, total, 1.0)
    mean_col = (conf * c).sum(axis=(1, 2)) / safe
    mean_row = (conf * r).sum(axis=(1, 2)) / safe
    out[:count, 0] = np.where(ok, (mean_col + 0.5) * cell, out[:count, 0])
    out[:count, 1] = np.where(ok, (mean_row + 0.5) * cell, out[:count, 1])
    return out


class LandmarkModel:
    """The BlazePose landmark graph on a :class:`GraphRunner`, batched over ROIs."""

    def __init__(self, runner: GraphRunner, refine_heatmap: bool = True) -> None:
        self.runner = runner
        self.refine_heatmap = refine_heatmap

    def infer(self, rgb: np.ndarray, rois: list[Roi]) -> list[Landmarks]:
        if not rois:
            return []
        crops = np.stack([crop(rgb, roi) for roi in rois])
        out = self.runner.run({"crop_rgb": crops})
        raw = out["landmarks"].reshape(len(rois), _ALL, 5)
        world = out["world_landmarks"].reshape(len(rois), _ALL, 3)[:, :NUM_LANDMARKS]
        results = []
        for i, roi in enumerate(rois):
            points = raw[i, :, :2].astype(np.float64)
            if self.refine_heatmap:
                points = refine_on_heatmap(points, out["heatmaps"][i])
            affine = roi.crop_to_image()
            # model coordinates are pixel-corner based; the affine map is centre based
            image_px = (points - 0.5) @ affine[:, :2].T + affine[:, 2]
            c, s = math.cos(roi.rotation_rad), math.sin(roi.rotation_rad)
            rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
            radius = float(np.linalg.norm(image_px[_BODY_TOP] - image_px[_HIP_CENTRE]))
            results.append(
                Landmarks(
                    points_px=image_px[:NUM_LANDMARKS],
                    depth_rel=raw[i, :NUM_LANDMARKS, 2].astype(np.float64),
                    visibility=_sigmoid(raw[i, :NUM_LANDMARKS, 3].astype(np.float64)),
                    presence=_sigmoid(raw[i, :NUM_LANDMARKS, 4].astype(np.float64)),
                    world_m=world[i].astype(np.float64) @ rot.T,
                    pose_score=float(out["pose_flag"][i, 0]),
                    next_roi=roi_from_points(
                        image_px[_HIP_CENTRE], image_px[_BODY_TOP], max(radius, 4.0)
                    ),
                    roi=roi,
                )
            )
        return results
