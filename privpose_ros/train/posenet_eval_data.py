"""`privpose eval --weights`: a v2 model on the person crops of a privpose dataset directory.

The dataset (data.dataset.write_dataset, format version 2: every person's labels) is read in
blocks of frames as :class:`privpose_ros.data.synth.SynthBatch` and every visible labelled
person is cropped twice:

- ``label_boxes``: from its label box (the visible-pixel extent; the recipe's validation
  protocol);
- ``frontend_boxes``: from the box of the detection a detector (``DetectFn``: the front end,
  built by eval_cmd since train/ may not import runtime/) gave on the RGB frame, each detection
  matched to the labelled person it overlaps most (IoU >= 0.3, :func:`v2_eval.match_detections`);
  persons without a matched detection are counted in ``n_missed`` and not scored.

Each section holds the keys of :func:`v2_eval.crop_report` (mm; ``pelvis_error_pct_of_distance``
in %), ``n_frames`` (frames read), ``n_persons`` (visible labelled persons), ``crop_source``,
and for the detector also ``n_matched`` / ``n_missed``. A section with nothing to score holds
``skipped`` (the reason) instead of the error keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.data.person_crops import person_crop_batch, visible_people
from privpose_ros.data.synth import SynthBatch
from privpose_ros.train import posenet_eval as v2_eval
from privpose_ros.train.teacher import PrivilegedPosenet

# RGB (H, W, 3) uint8 + intrinsics -> detected person boxes (D, 4) x0, y0, x1, y1 pixels
DetectFn = Callable[[np.ndarray, CameraIntrinsics], np.ndarray]
BLOCK_FRAMES = 16  # frames held in memory at once


def load_posenet_variant(path: str | Path, variant: str | None) -> PrivilegedPosenet:
    """The training network of a v2 weights file in eval mode; ``variant`` (None: any) must be
    the stage the file holds. Old whole-image files fail in read_posenet_weights ("not a
    privpose v2 ...")."""
    from privpose_ros.model.posenet.weights import read_posenet_weights

    config, state, meta = read_posenet_weights(path)
    stage = meta.get("stage", config.variant)
    if variant is not None and variant != stage:
        raise PrivposeInputError(
            f"--variant {variant} but {path} holds the v2 {stage} model; pass --variant {stage}"
        )
    net = PrivilegedPosenet(config)
    net.load_state_dict(state)
    return net.eval()


def read_blocks(root: str | Path, limit: int = 0, block: int = BLOCK_FRAMES) -> list[SynthBatch]:
    """The first ``limit`` frames (0: all) of a dataset directory as SynthBatch blocks."""
    from privpose_ros.data.dataset import SAMPLE_KEYS, PrivposeDataset

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset directory {root} does not exist")
    dataset = PrivposeDataset(root)
    if dataset.keys != SAMPLE_KEYS:
        raise PrivposeInputError(
            f"{root} is a version 1 dataset without every person's labels; the v2 evaluation "
            "needs version 2 (write it again with `privpose synth`)"
        )
    n = len(dataset) if limit <= 0 else min(limit, len(dataset))
    if n == 0:
        raise PrivposeInputError(f"dataset {root} has no frames")
    out = []
    for start in range(0, n, block):
        samples = [dataset[i] for i in range(start, min(n, start + block))]
        arrays = {key: np.stack([s[key] for s in samples]) for key in SAMPLE_KEYS}
        arrays["k"] = arrays["k"].astype(np.float64)
        out.append(SynthBatch(**arrays))
    return out


def detector_boxes(batch: SynthBatch, detect: DetectFn) -> np.ndarray:
    """(N, P, 4) detector boxes matched to the person slots of ``batch`` (NaN: no match)."""
    boxes = np.full(batch.people_boxes_px.shape, np.nan)
    for i in range(len(batch)):
        found = np.asarray(detect(batch.rgb[i], batch.intrinsics(i)), np.float64).reshape(-1, 4)
        boxes[i] = v2_eval.match_detections(found, batch.people_boxes_px[i])
    return boxes


@dataclass
class _Scores:
    """Predictions and labels (M, J, 3) metres gathered over the blocks of one crop source."""

    pred: list[np.ndarray] = field(default_factory=list)
    true: list[np.ndarray] = field(default_factory=list)

    def add(self, pred: np.ndarray, true: np.ndarray) -> None:
        self.pred.append(np.asarray(pred, np.float64))
        self.true.append(np.asarray(true, np.float64))

    def report(self, root_index: int) -> dict[str, object]:
        true = np.concatenate(self.true) if self.true else np.zeros((0, 1, 3))
        if not len(true):
            return {"skipped": "no person crop to score"}
        return v2_eval.crop_report(np.concatenate(self.pred), true, root_index)


def evaluate_posenet_dataset(
    net: PrivilegedPosenet,
    blocks: list[SynthBatch],
    detect: DetectFn | None = None,
    batch_size: int = 16,
    device: str = "cpu",
) -> dict[str, object]:
    """The label-box section (top level) and, with ``detect``, ``frontend_boxes`` (see the
    module docstring) of ``net`` on every visible person of ``blocks``."""
    labelled, detected = _Scores(), _Scores()
    n_frames = n_persons = 0
    for batch in blocks:
        n_frames += len(batch)
        n_persons += len(visible_people(batch))
        sources = [(labelled, None)]
        if detect is not None:
            sources.append((detected, detector_boxes(batch, detect)))
        for scores, boxes in sources:
            crops = person_crop_batch(batch, boxes, crop_px=net.config.crop_px)
            if len(crops):
                pred = v2_eval.predict_joints_m(net, crops, device, batch_size)
                scores.add(pred, crops.joints_cam_m)
    root = net.config.root_index
    counts = {"n_frames": n_frames, "n_persons": n_persons}
    report = {**labelled.report(root), **counts, "crop_source": "label_boxes"}
    if detect is not None:
        n_matched = int(sum(len(t) for t in detected.true))
        report["frontend_boxes"] = {
            **detected.report(root),
            **counts,
            "crop_source": "frontend_boxes",
            "n_matched": n_matched,
            "n_missed": n_persons - n_matched,
        }
    return report
