"""Per-person crops of a SynthBatch: the samples the top-down v2 model trains on.

One sample per visible person (any joint visible and a finite box): the RGB crop (bilinear,
uint8; an INTER_AREA pre-shrink when the crop covers more than two source pixels per crop pixel),
the registered depth crop (nearest, uint16 mm, 0 = no reading or padding), the person's instance
mask crop (nearest), the crop's own pinhole intrinsics (:meth:`CropBox.intrinsics`: projecting
a camera-frame point with ``k_crop`` gives its crop pixel), and the person's labels: joints in
the camera optical frame (metres, unchanged by cropping) and visibility.

The crop box comes from the labels (``people_boxes_px``, the visible-extent box) or is given
(``box_src_px``: a detector's box later; it must be the box of the same person slot).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import cv2
import numpy as np

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.crop import DEFAULT_MARGIN, crop_box_from_person_box
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.joints import CANONICAL
from privpose_ros.data.synth import SynthBatch
from privpose_ros.model.crops import warp_crop, warp_rgb_crop

CROP_PX = 256


@dataclass(frozen=True)
class PersonCrop:
    """One person's crop and labels (see the module docstring)."""

    rgb: np.ndarray  # (S, S, 3) uint8
    depth_mm: np.ndarray  # (S, S) uint16, 0 = no reading / outside the image
    mask: np.ndarray  # (S, S) bool, this person's pixels
    k_crop: np.ndarray  # (3, 3) float64 intrinsics of the crop
    joints_cam_m: np.ndarray  # (26, 3) float32, camera optical frame
    visible: np.ndarray  # (26,) bool
    box_src_px: np.ndarray  # (4,) float64 the person box (x0, y0, x1, y1) the crop came from
    frame_index: int
    person_index: int


@dataclass(frozen=True)
class PersonCropBatch:
    """M person crops stacked (fields as :class:`PersonCrop`, with a leading M axis)."""

    rgb: np.ndarray  # (M, S, S, 3) uint8
    depth_mm: np.ndarray  # (M, S, S) uint16
    mask: np.ndarray  # (M, S, S) bool
    k_crop: np.ndarray  # (M, 3, 3) float64
    joints_cam_m: np.ndarray  # (M, 26, 3) float32
    visible: np.ndarray  # (M, 26) bool
    box_src_px: np.ndarray  # (M, 4) float64
    frame_index: np.ndarray  # (M,) int64
    person_index: np.ndarray  # (M,) int64

    def __len__(self) -> int:
        return int(self.rgb.shape[0])


def person_crop(
    batch: SynthBatch,
    frame_index: int,
    person_index: int,
    box_src_px: np.ndarray | None = None,
    crop_px: int = CROP_PX,
    margin: float = DEFAULT_MARGIN,
) -> PersonCrop:
    """The crop of person slot ``person_index`` in frame ``frame_index`` (box from the labels
    unless ``box_src_px`` (x0, y0, x1, y1) source pixels is given)."""
    if not (0 <= frame_index < len(batch) and 0 <= person_index < batch.people_boxes_px.shape[1]):
        raise PrivposeInputError(
            f"no frame {frame_index} / person slot {person_index} in a batch of {len(batch)}"
        )
    box = batch.people_boxes_px[frame_index, person_index] if box_src_px is None else box_src_px
    box = np.asarray(box, dtype=np.float64)
    crop = crop_box_from_person_box(box, (crop_px, crop_px), margin)
    k_crop = crop.intrinsics(batch.intrinsics(frame_index)).k
    depth = warp_crop(batch.depth_mm[frame_index], crop, interpolation=cv2.INTER_NEAREST)
    own = (batch.instance_mask[frame_index] == person_index + 1).astype(np.uint8)
    mask = warp_crop(own, crop, interpolation=cv2.INTER_NEAREST) > 0
    return PersonCrop(
        rgb=warp_rgb_crop(batch.rgb[frame_index], crop),
        depth_mm=depth.astype(np.uint16),
        mask=mask,
        k_crop=np.asarray(k_crop, dtype=np.float64),
        joints_cam_m=batch.people_joints_cam_m[frame_index, person_index].astype(np.float32),
        visible=batch.people_visible[frame_index, person_index].astype(bool),
        box_src_px=box,
        frame_index=int(frame_index),
        person_index=int(person_index),
    )


def unlabelled_crop(
    rgb: np.ndarray,
    intrinsics: CameraIntrinsics,
    box_src_px: np.ndarray,
    crop_px: int = CROP_PX,
    margin: float = DEFAULT_MARGIN,
) -> PersonCrop:
    """The crop of a person box (x0, y0, x1, y1) in an RGB photo without labels or depth
    (NaN joints, no depth, an empty mask)."""
    box = np.asarray(box_src_px, dtype=np.float64)
    crop = crop_box_from_person_box(box, (crop_px, crop_px), margin)
    return PersonCrop(
        rgb=warp_rgb_crop(rgb, crop),
        depth_mm=np.zeros((crop_px, crop_px), np.uint16),
        mask=np.zeros((crop_px, crop_px), bool),
        k_crop=np.asarray(crop.intrinsics(intrinsics).k, dtype=np.float64),
        joints_cam_m=np.full((CANONICAL.num_joints, 3), np.nan, np.float32),
        visible=np.zeros(CANONICAL.num_joints, bool),
        box_src_px=box,
        frame_index=-1,
        person_index=-1,
    )


def visible_people(batch: SynthBatch) -> list[tuple[int, int]]:
    """(frame, person slot) of every person with a visible joint and a finite box."""
    seen = batch.people_visible.any(axis=-1) & np.isfinite(batch.people_boxes_px).all(axis=-1)
    return [(int(i), int(p)) for i, p in zip(*np.nonzero(seen), strict=True)]


def person_crops(
    batch: SynthBatch,
    boxes_src_px: np.ndarray | None = None,
    crop_px: int = CROP_PX,
    margin: float = DEFAULT_MARGIN,
) -> list[PersonCrop]:
    """One crop per visible person. ``boxes_src_px`` (N, P, 4) replaces the label boxes slot by
    slot (NaN rows: that slot has no box and is skipped)."""
    if boxes_src_px is not None and np.shape(boxes_src_px) != batch.people_boxes_px.shape:
        raise PrivposeInputError(
            f"boxes_src_px must be {batch.people_boxes_px.shape}, got {np.shape(boxes_src_px)}"
        )
    out = []
    for i, p in visible_people(batch):
        box = None if boxes_src_px is None else np.asarray(boxes_src_px[i, p], dtype=np.float64)
        if box is not None and not np.isfinite(box).all():
            continue
        out.append(person_crop(batch, i, p, box, crop_px, margin))
    return out


def stack_person_crops(crops: list[PersonCrop], crop_px: int = CROP_PX) -> PersonCropBatch:
    """Stack crops into arrays (an empty list gives M = 0 arrays of the right shapes)."""
    if not crops:
        s = crop_px
        return PersonCropBatch(
            rgb=np.zeros((0, s, s, 3), np.uint8),
            depth_mm=np.zeros((0, s, s), np.uint16),
            mask=np.zeros((0, s, s), bool),
            k_crop=np.zeros((0, 3, 3)),
            joints_cam_m=np.zeros((0, 26, 3), np.float32),
            visible=np.zeros((0, 26), bool),
            box_src_px=np.zeros((0, 4)),
            frame_index=np.zeros(0, np.int64),
            person_index=np.zeros(0, np.int64),
        )
    return PersonCropBatch(
        **{f.name: np.stack([getattr(c, f.name) for c in crops]) for f in fields(PersonCrop)}
    )


def person_crop_batch(
    batch: SynthBatch,
    boxes_src_px: np.ndarray | None = None,
    crop_px: int = CROP_PX,
    margin: float = DEFAULT_MARGIN,
) -> PersonCropBatch:
    """Every visible person of ``batch`` as stacked arrays (see :func:`person_crops`)."""
    return stack_person_crops(person_crops(batch, boxes_src_px, crop_px, margin), crop_px)


def jitter_box_px(
    box_src_px: np.ndarray, rng: np.random.Generator, scale_std: float, shift_std: float
) -> np.ndarray:
    """(4,) box (x0, y0, x1, y1) source pixels, rescaled by exp(N(0, scale_std)) about a centre
    moved by N(0, shift_std) box widths / heights: what a detector's box looks like."""
    x0, y0, x1, y1 = (float(v) for v in box_src_px)
    w_px, h_px = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    cx = 0.5 * (x0 + x1) + rng.normal(0.0, shift_std) * w_px
    cy = 0.5 * (y0 + y1) + rng.normal(0.0, shift_std) * h_px
    s = float(np.exp(np.clip(rng.normal(0.0, scale_std), -3 * scale_std, 3 * scale_std)))
    return np.array(
        [cx - 0.5 * s * w_px, cy - 0.5 * s * h_px, cx + 0.5 * s * w_px, cy + 0.5 * s * h_px]
    )


def crops_of_frames(
    frames: SynthBatch,
    crop_px: int,
    rng: np.random.Generator | None = None,
    scale_std: float = 0.0,
    shift_std: float = 0.0,
) -> PersonCropBatch:
    """Every visible person's crop; boxes jittered when ``rng`` is given."""
    crops = []
    for f, p in visible_people(frames):
        box = frames.people_boxes_px[f, p].astype(np.float64)
        if rng is not None:
            box = jitter_box_px(box, rng, scale_std, shift_std)
        crops.append(person_crop(frames, f, p, box, crop_px))
    return stack_person_crops(crops, crop_px)
