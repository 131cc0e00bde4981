"""Frames from a privpose dataset directory, letterboxed to the model input, held in memory.

Three frame types, one for each thing: :class:`privpose_ros.core.frame.RGBDFrame` is one camera
frame at its own resolution (what the bag reader, replay, the node and ``privpose infer`` pass
around); :class:`privpose_ros.data.synth.SynthBatch` is N frames as the generator rendered them
(source resolution, every person, masks); :class:`LetterboxedBatch` (here) is the N-frame
training tensor set of the whole-image model: letterboxed to its input, primary person only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import PrivposeInputError

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class LetterboxedBatch:
    """N frames letterboxed to the model input (H, W = ``input_hw``): rgb (N, H, W, 3) uint8,
    depth_mm (N, H, W) uint16 (0 = no reading or padding), joints_cam_m (N, J, 3) float32
    metres (camera optical frame, unchanged by the letterbox), k (N, 3, 3) float32 of the
    letterboxed image. Only frames with a person; not a SynthBatch (no masks, no 2D joints,
    no other people, not at the source resolution)."""

    rgb: np.ndarray
    depth_mm: np.ndarray
    joints_cam_m: np.ndarray
    k: np.ndarray

    def __len__(self) -> int:
        return int(self.rgb.shape[0])


def letterbox(
    rgb: np.ndarray, depth_mm: np.ndarray, k: np.ndarray, input_hw: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resize keeping the aspect ratio, pad (black / no depth) to ``input_hw``; K follows."""
    import cv2

    h, w = rgb.shape[:2]
    out_h, out_w = input_hw
    scale = min(out_h / h, out_w / w)
    new_w, new_h = round(w * scale), round(h * scale)
    x0, y0 = (out_w - new_w) // 2, (out_h - new_h) // 2
    intr = CameraIntrinsics.from_k(k, w, h).scaled(new_w / w, new_h / h)
    intr = intr.cropped(-x0, -y0, out_w, out_h)
    rgb_out = np.zeros((out_h, out_w, 3), np.uint8)
    depth_out = np.zeros((out_h, out_w), np.uint16)
    rgb_out[y0 : y0 + new_h, x0 : x0 + new_w] = cv2.resize(
        rgb, (new_w, new_h), interpolation=cv2.INTER_AREA
    )
    depth_out[y0 : y0 + new_h, x0 : x0 + new_w] = cv2.resize(
        depth_mm, (new_w, new_h), interpolation=cv2.INTER_NEAREST
    )
    return rgb_out, depth_out, intr.k.astype(np.float32)


def load_frames(root: str | Path, input_hw: tuple[int, int], limit: int = 0) -> LetterboxedBatch:
    """All frames (or the first ``limit``) of a dataset written by data.dataset.write_dataset."""
    from privpose_ros.data.dataset import PrivposeDataset

    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"dataset directory {root} does not exist")
    dataset = PrivposeDataset(root)
    n = len(dataset) if limit <= 0 else min(limit, len(dataset))
    if n == 0:
        raise PrivposeInputError(f"dataset {root} has no frames")
    rgbs, depths, joints, ks = [], [], [], []
    for i in range(n):
        item = dataset[i]
        if not np.isfinite(item["joints_cam_m"]).all():
            continue  # a frame with nobody in it: nothing to learn for a single-person model
        rgb, depth, k = letterbox(
            item["rgb"], item["depth_mm"], np.asarray(item["k"], np.float64), input_hw
        )
        rgbs.append(rgb)
        depths.append(depth)
        joints.append(np.asarray(item["joints_cam_m"], np.float32))
        ks.append(k)
    if not joints:
        raise PrivposeInputError(f"dataset {root} has no frame with a person")
    LOG.info(
        "loaded %d of %d frames (with a person) from %s at %s", len(joints), n, root, input_hw
    )
    return LetterboxedBatch(np.stack(rgbs), np.stack(depths), np.stack(joints), np.stack(ks))
