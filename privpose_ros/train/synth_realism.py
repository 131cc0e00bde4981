"""How real the generated people look to a real-world detector: the front end's recall and mean
OKS on synthetic frames against their labels (`privpose synth --realism`).

A person counts when at least ``min_visible_joints`` of the 12 COCO limb joints are visible and
its visible box is at least ``min_height_px`` tall; it is a *visible person* with at least
``visible_joints`` of them (the rest are partly hidden by other people, furniture or the image
border). The OKS scale is its instance-mask area and its labelled joints are those in the image
(visible or occluded, as COCO labels them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.data import real
from privpose_ros.data.synth import SynthBatch
from privpose_ros.train.real_eval import EstimateFn, person_joints_px
from privpose_ros.train.real_metrics import LIMBS_12, convert_canonical, image_oks


@dataclass(frozen=True)
class RealismConfig:
    oks_threshold: float = 0.5
    min_visible_joints: int = 6
    visible_joints: int = 10
    min_height_px: float = 40.0

    def __post_init__(self) -> None:
        if not 0.0 < self.oks_threshold <= 1.0:
            raise PrivposeInputError(f"oks_threshold must be in (0, 1], got {self.oks_threshold}")
        if not 1 <= self.min_visible_joints <= self.visible_joints <= 12:
            raise PrivposeInputError("need 1 <= min_visible_joints <= visible_joints <= 12")


def frame_people(batch: SynthBatch, i: int, config: RealismConfig) -> list[real.Person2D]:
    """The countable people of frame ``i`` as 2D ground truth (limb joints, COCO v, area)."""
    out = []
    for p in range(batch.people_joints_px.shape[1]):
        box = batch.people_boxes_px[i, p]
        if not np.isfinite(box).all() or box[3] - box[1] < config.min_height_px:
            continue
        limbs = convert_canonical(LIMBS_12, batch.people_joints_px[i, p])
        seen = convert_canonical(LIMBS_12, batch.people_visible[i, p, :, None].astype(float))
        visible = np.nan_to_num(seen[:, 0]) > 0.5
        h, w = batch.rgb.shape[1:3]
        inside = np.isfinite(limbs).all(1) & (limbs[:, 0] >= 0) & (limbs[:, 0] < w)
        inside &= (limbs[:, 1] >= 0) & (limbs[:, 1] < h)
        if int(visible.sum()) < config.min_visible_joints:
            continue
        v = np.where(visible, 2, np.where(inside, 1, 0))
        area = float(np.count_nonzero(batch.instance_mask[i] == p + 1))
        out.append(real.Person2D(np.nan_to_num(limbs), v, area, None))
    return out


def _stats(scores: list[float], threshold: float) -> dict[str, Any]:
    n = len(scores)
    return {
        "n_people": n,
        "recall_at_oks": round(float(np.mean(np.array(scores) >= threshold)), 4) if n else None,
        "mean_oks": round(float(np.mean(scores)), 4) if n else None,
    }


def evaluate_realism(
    batch: SynthBatch, estimate: EstimateFn, config: RealismConfig = RealismConfig()
) -> dict[str, Any]:
    """Recall at OKS >= threshold and mean OKS of the countable people of ``batch`` (all of
    them, and the visible ones)."""
    scores: list[float] = []
    seen: list[int] = []
    n_pred = 0
    for i in range(len(batch)):
        gts = frame_people(batch, i, config)
        if not gts:
            continue
        k = batch.intrinsics(i)
        result = estimate(batch.rgb[i], k, None)
        preds = [convert_canonical(LIMBS_12, person_joints_px(p, k)) for p in result.persons]
        n_pred += len(preds)
        scores += image_oks(gts, preds)
        seen += [int(np.count_nonzero(g.limbs_visible == 2)) for g in gts]
    visible = [s for s, v in zip(scores, seen, strict=True) if v >= config.visible_joints]
    return {
        "frames": len(batch),
        "size": f"{batch.rgb.shape[2]}x{batch.rgb.shape[1]}",
        "n_pred_persons": n_pred,
        "visible_people": _stats(visible, config.oks_threshold),
        "all_people": _stats(scores, config.oks_threshold),
        "oks_threshold": config.oks_threshold,
        "visible_joints": config.visible_joints,
        "min_visible_joints": config.min_visible_joints,
        "min_height_px": config.min_height_px,
    }
