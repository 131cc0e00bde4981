"""Contact sheet of synthetic frames: RGB with every person's skeleton and box, depth
colour-mapped with every person's mask outline."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from privpose_ros.core.joints import CANONICAL
from privpose_ros.data.skeleton_draw import draw_skeleton_px
from privpose_ros.data.synth import SynthBatch

_LEFT = (60, 220, 60)
_RIGHT = (240, 80, 60)
_CENTRE = (250, 230, 60)


def _colour(name: str) -> tuple[int, int, int]:
    return _LEFT if name.startswith("left") else _RIGHT if name.startswith("right") else _CENTRE


def draw_skeleton(rgb: np.ndarray, joints_px: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """A copy of ``rgb`` (H, W, 3) uint8 with bones and joints (hidden joints hollow)."""
    out = np.ascontiguousarray(rgb).copy()
    colours = [_colour(name) for name in CANONICAL.joint_names]
    hollow = ~np.asarray(visible, dtype=bool)
    draw_skeleton_px(out, joints_px, CANONICAL.bone_indices(), colours, 1, 2, hollow=hollow)
    return out


def colorize_depth(depth_mm: np.ndarray, max_mm: float = 6000.0) -> np.ndarray:
    """uint16 mm (H, W) to an RGB turbo image; holes (0) are black."""
    scaled = np.clip(depth_mm.astype(np.float32) / max_mm * 255.0, 0, 255).astype(np.uint8)
    out = cv2.applyColorMap(scaled, cv2.COLORMAP_TURBO)[..., ::-1].copy()
    out[depth_mm == 0] = 0
    return out


def contact_sheet(batch: SynthBatch, columns: int = 4) -> np.ndarray:
    """(rows * H, columns * 2W, 3) uint8: per frame the RGB + skeletons and the depth + masks."""
    tiles = []
    for i in range(len(batch)):
        depth = colorize_depth(batch.depth_mm[i])
        masks = batch.instance_mask[i]
        edge = (masks > 0) & (cv2.erode(masks, np.ones((3, 3), np.uint8)) != masks)
        depth[edge] = 255
        skel = batch.rgb[i]
        for p in range(batch.people_boxes_px.shape[1]):
            box = batch.people_boxes_px[i, p]
            if not np.isfinite(box).all():
                continue
            skel = draw_skeleton(skel, batch.people_joints_px[i, p], batch.people_visible[i, p])
            x0, y0, x1, y1 = np.round(box).astype(int)
            cv2.rectangle(skel, (x0, y0), (x1, y1), (255, 255, 255), 1)
        tiles.append(np.concatenate([skel, depth], 1))
    blank = np.zeros_like(tiles[0])
    tiles += [blank] * (-len(tiles) % columns)
    rows = [np.concatenate(tiles[r : r + columns], 1) for r in range(0, len(tiles), columns)]
    return np.concatenate(rows, 0)


def write_preview(path: str | Path, batch: SynthBatch, columns: int = 4) -> Path:
    """Write the contact sheet as PNG (or JPEG, quality 80, by suffix) and return the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, 80] if out.suffix.lower() in (".jpg", ".jpeg") else []
    if not cv2.imwrite(str(out), contact_sheet(batch, columns)[..., ::-1], params):
        raise ValueError(f"could not write {out}; use a .png or .jpg file name")
    return out
