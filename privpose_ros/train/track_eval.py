"""Tracking on a multi-person sequence with ground-truth identities: recall, precision and id
switches (CLEAR-MOT style counting on boxes).

Each frame, predicted persons (their ``box_px``) are matched one-to-one to the ground-truth
boxes by IoU (scipy's linear_sum_assignment, pairs under ``min_iou`` rejected). A ground-truth
person whose matched track id differs from the id it was last matched to counts one id switch.
Recall counts the people at least ``min_visible`` visible (the others may be hidden).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from privpose_ros.core.crop import box_iou
from privpose_ros.core.pose import PoseResult
from privpose_ros.data.crossing import SequenceFrame

SequenceEstimateFn = Callable[[SequenceFrame], PoseResult]


def evaluate_tracking(
    frames: Iterable[SequenceFrame],
    estimate: SequenceEstimateFn,
    min_iou: float = 0.3,
    min_visible: float = 0.5,
) -> dict[str, Any]:
    """Counts over the whole sequence (see the module docstring)."""
    last_id: dict[int, int] = {}
    switches, n_frames, gt_visible, matched_visible, n_pred, n_matched = 0, 0, 0, 0, 0, 0
    ids_per_gt: dict[int, set[int]] = {}
    all_ids: set[int] = set()
    for frame in frames:
        n_frames += 1
        result = estimate(frame)
        boxes = [p.box_px for p in result.persons if p.box_px is not None]
        pred_ids = [p.person_id for p in result.persons if p.box_px is not None]
        all_ids.update(pred_ids)
        n_pred += len(boxes)
        visible = frame.visible >= min_visible
        gt_visible += int(visible.sum())
        if not boxes or not len(frame.ids):
            continue
        iou = box_iou(frame.boxes_px, np.array(boxes))
        rows, cols = linear_sum_assignment(-iou)
        for g, p in zip(rows, cols, strict=True):
            if iou[g, p] < min_iou:
                continue
            n_matched += 1
            gt, pid = int(frame.ids[g]), int(pred_ids[p])
            matched_visible += int(visible[g])
            if gt in last_id and last_id[gt] != pid:
                switches += 1
            last_id[gt] = pid
            ids_per_gt.setdefault(gt, set()).add(pid)
    return {
        "frames": n_frames,
        "gt_visible_person_frames": gt_visible,
        "recall_visible": matched_visible / gt_visible if gt_visible else None,
        "precision": n_matched / n_pred if n_pred else None,
        "id_switches": switches,
        "track_ids_used": len(all_ids),
        "ids_per_person": {str(k): sorted(v) for k, v in sorted(ids_per_gt.items())},
        "min_iou": min_iou,
        "min_visible": min_visible,
    }
