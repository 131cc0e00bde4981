"""Multi-person test sequences made of REAL people: walkers crossing each other in front of a
camera, for tracking (id switches) and multi-person recall.

The four MPI-INF-3DHP frames of ../shared/data are green-screen studio shots: each person is
keyed out (not green) inside the box of their annotated 2D joints and becomes a sprite with an
alpha mask. ``crossing_sequence`` walks 2-4 sprites left and right at different distances
(scaled by a pinhole camera, the farther pasted first so nearer people occlude them), at 30 Hz,
with ground-truth boxes and identities, and a depth image (each person at their distance).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.data.real import load_rgb, read_3dhp

PERSON_HEIGHT_M = 1.75
BACKGROUND_MM = 6000


@dataclass(frozen=True)
class Sprite:
    """A keyed-out person: ``rgb`` (h, w, 3) uint8, ``alpha`` (h, w) bool."""

    rgb: np.ndarray
    alpha: np.ndarray
    source: str


@dataclass(frozen=True)
class SequenceFrame:
    """``rgb``, ``depth_mm`` (uint16, 0 = none), ``intrinsics``, ``stamp_ns``, ground truth
    ``boxes_px`` (P, 4) x0, y0, x1, y1 of each person in the image, their ``ids`` (P,) and
    ``visible`` (P,) the fraction of their silhouette not hidden by nearer people."""

    rgb: np.ndarray
    depth_mm: np.ndarray
    intrinsics: CameraIntrinsics
    stamp_ns: int
    boxes_px: np.ndarray
    ids: np.ndarray
    visible: np.ndarray


# bones of the MPI-INF-3DHP 17-joint order (head_top, neck, r_shoulder ... spine, head)
_BONES_3DHP = (
    (0, 16),
    (16, 1),
    (1, 2),
    (2, 3),
    (3, 4),
    (1, 5),
    (5, 6),
    (6, 7),
    (1, 15),
    (15, 14),
    (14, 8),
    (8, 9),
    (9, 10),
    (14, 11),
    (11, 12),
    (12, 13),
)


def _limbs_mask(shape_hw: tuple[int, int], joints_px: np.ndarray, ok: np.ndarray, width: int):
    mask = np.zeros(shape_hw, np.uint8)
    for a, b in _BONES_3DHP:
        if ok[a] and ok[b]:
            pa, pb = np.round(joints_px[[a, b]]).astype(int)
            cv2.line(mask, tuple(pa), tuple(pb), 1, max(1, width))
    return mask.astype(bool)


def green_screen_sprites(folder: str | Path) -> list[Sprite]:
    """The people of the MPI-INF-3DHP frames in ``folder``, keyed out of the green screen: a
    pixel is the person when it is not screen green (dark pixels, whose hue means nothing,
    count as not green) and lies near the annotated skeleton; thin limb cores always are."""
    sprites = []
    for frame in read_3dhp(folder):
        image = load_rgb(frame.image_path)
        pts = frame.joints_px[frame.visible]
        (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
        size = float(y1 - y0)
        pad = 0.12 * size
        x0, y0 = max(0, int(x0 - pad)), max(0, int(y0 - pad))
        x1 = min(image.shape[1], int(x1 + pad) + 1)
        y1 = min(image.shape[0], int(y1 + pad) + 1)
        hsv = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_RGB2HSV).astype(np.int32)
        hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
        green = (hue > 35) & (hue < 90) & (sat > 70) & (val > 45)
        local = frame.joints_px - [x0, y0]
        shape = green.shape
        near = _limbs_mask(shape, local, frame.visible, int(0.22 * size))
        core = _limbs_mask(shape, local, frame.visible, int(0.05 * size))
        alpha = (~green & near) | core
        alpha = cv2.morphologyEx(alpha.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((7, 7)))
        sprites.append(
            Sprite(image[y0:y1, x0:x1].copy(), alpha.astype(bool), frame.image_path.name)
        )
    return sprites


def _background(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A room-like backdrop: a wall with soft stripes over a darker floor."""
    rows = np.linspace(0.0, 1.0, height)[:, None]
    cols = np.linspace(0.0, 1.0, width)[None, :]
    wall = 150 + 25 * np.sin(2 * np.pi * (cols * 3 + rng.uniform()))
    floor = 90 + 20 * cols
    grey = np.where(rows < 0.6, wall, floor)
    tint = rng.uniform(0.85, 1.15, 3)
    return np.clip(grey[..., None] * tint, 0, 255).astype(np.uint8)


def crossing_sequence(
    sprites: list[Sprite],
    persons: int = 3,
    frames: int = 300,
    width: int = 640,
    height: int = 480,
    rate_hz: float = 30.0,
    seed: int = 0,
) -> Iterator[SequenceFrame]:
    """``persons`` people walking across the image and back (they cross each other several
    times), each at their own distance in [2.5, 5] m and speed in [0.6, 1.4] m/s."""
    if not 1 <= persons <= len(sprites):
        raise PrivposeInputError(f"persons must be in [1, {len(sprites)}], got {persons}")
    rng = np.random.default_rng(seed)
    focal = 525.0 * width / 640.0
    k = CameraIntrinsics(focal, focal, (width - 1) / 2, (height - 1) / 2, width, height)
    background = _background(height, width, rng)
    dist_m = np.linspace(2.5, 5.0, persons) + rng.uniform(-0.2, 0.2, persons)
    speed = rng.uniform(0.6, 1.4, persons) * rng.choice([-1.0, 1.0], persons)
    half_m = 0.45 * width / focal * dist_m  # half the visible width at each distance
    x_m = rng.uniform(-1.0, 1.0, persons) * half_m * 0.8
    order = np.argsort(-dist_m)  # far first
    scaled = []
    for i in range(persons):
        sprite = sprites[i]
        h_px = focal * PERSON_HEIGHT_M / dist_m[i]
        s = h_px / sprite.rgb.shape[0]
        size = (max(2, round(sprite.rgb.shape[1] * s)), max(2, round(h_px)))
        rgb = cv2.resize(sprite.rgb, size, interpolation=cv2.INTER_AREA)
        alpha = cv2.resize(sprite.alpha.astype(np.uint8), size, cv2.INTER_NEAREST).astype(bool)
        scaled.append((rgb, alpha))
    dt = 1.0 / rate_hz
    for n in range(frames):
        rgb = background.copy()
        depth = np.full((height, width), BACKGROUND_MM, np.uint16)
        label = np.full((height, width), -1, np.int64)
        boxes, ids, areas = [], [], []
        for i in order:
            patch, alpha = scaled[i]
            ph, pw = alpha.shape
            u = k.cx + focal * x_m[i] / dist_m[i] - pw / 2
            v = k.cy + focal * 1.0 / dist_m[i] - ph  # feet on a floor 1 m below the camera
            x0, y0 = int(round(u)), int(round(v))
            xa, ya = max(0, x0), max(0, y0)
            xb, yb = min(width, x0 + pw), min(height, y0 + ph)
            if xb - xa < pw // 2 or yb - ya < ph // 2:
                continue
            sub = alpha[ya - y0 : yb - y0, xa - x0 : xb - x0]
            rgb[ya:yb, xa:xb][sub] = patch[ya - y0 : yb - y0, xa - x0 : xb - x0][sub]
            depth[ya:yb, xa:xb][sub] = int(dist_m[i] * 1000)
            label[ya:yb, xa:xb][sub] = i
            boxes.append((xa, ya, xb - 1, yb - 1))
            ids.append(i)
            areas.append(max(1, int(sub.sum())))
        seen = np.bincount(label[label >= 0], minlength=persons)
        yield SequenceFrame(
            rgb,
            depth,
            k,
            int((n + 1) * dt * 1e9),
            np.array(boxes, float).reshape(-1, 4),
            np.array(ids, dtype=np.int64),
            np.array([seen[i] / a for i, a in zip(ids, areas, strict=True)], dtype=np.float64),
        )
        x_m = x_m + speed * dt
        bounce = np.abs(x_m) > half_m
        speed = np.where(bounce, -speed, speed)
        x_m = np.clip(x_m, -half_m, half_m)
