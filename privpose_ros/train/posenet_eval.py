"""Validation of a v2 model on held-out person crops: metric errors in the camera frame.

Keys of :func:`v2_metrics` (every finite labelled joint of every crop counts, occluded ones
too; millimetres unless named otherwise):

- ``mpjpe_abs_mm``: mean ||joint_pred - joint_true|| (absolute, camera optical frame);
- ``mpjpe_pelvis_aligned_mm``: the same after subtracting each skeleton's own pelvis;
- ``pelvis_error_mm``: mean ||pelvis_pred - pelvis_true||;
- ``pelvis_error_pct_of_distance``: mean of that error / ||pelvis_true|| (camera distance), %;
- ``pelvis_depth_error_mm``: mean |z_pred - z_true| of the pelvis;
- ``n_crops``, ``n_joints``: how many crops and joints were scored.

:func:`crop_report` is what ``privpose eval --weights`` prints per crop source: the keys of
:func:`privpose_ros.train.metrics.pose_metrics` on the absolute camera-frame joints of every
crop (``mpjpe_mm``, ``pa_mpjpe_mm``, ``map_10cm``, ``per_joint_mm``, ...; mm) plus the pelvis
keys above. :func:`match_detections` assigns detector boxes to labelled person slots (IoU).
"""

from __future__ import annotations

import numpy as np
import torch

from privpose_ros.core.crop import box_iou
from privpose_ros.core.joints import CANONICAL
from privpose_ros.data.person_crops import PersonCropBatch
from privpose_ros.model.posenet.net import Posenet
from privpose_ros.train.metrics import pose_metrics
from privpose_ros.train.posenet_data import crop_tensors
from privpose_ros.train.teacher import PrivilegedPosenet

MIN_MATCH_IOU = 0.3  # a detection belongs to the labelled person it overlaps most, at least this

METRIC_KEYS = (
    "mpjpe_abs_mm",
    "mpjpe_pelvis_aligned_mm",
    "pelvis_error_mm",
    "pelvis_error_pct_of_distance",
    "pelvis_depth_error_mm",
    "n_crops",
    "n_joints",
)


def v2_metrics(
    pred_cam_m: np.ndarray, true_cam_m: np.ndarray, root_index: int
) -> dict[str, float]:
    """Errors of predicted joints (M, J, 3) against labels (M, J, 3), metres -> the keys above."""
    ok = np.isfinite(true_cam_m).all(-1) & np.isfinite(pred_cam_m).all(-1)
    has_root = ok[:, root_index]
    err_m = np.linalg.norm(pred_cam_m - true_cam_m, axis=-1)
    rel_pred = pred_cam_m - pred_cam_m[:, root_index : root_index + 1]
    rel_true = true_cam_m - true_cam_m[:, root_index : root_index + 1]
    rel_err_m = np.linalg.norm(rel_pred - rel_true, axis=-1)
    aligned = ok & has_root[:, None]
    root_err_m = err_m[has_root, root_index]
    root_dist_m = np.linalg.norm(true_cam_m[has_root, root_index], axis=-1)
    dz_m = np.abs(pred_cam_m[has_root, root_index, 2] - true_cam_m[has_root, root_index, 2])

    def mean(x: np.ndarray) -> float:
        return float(np.mean(x)) if x.size else float("nan")

    return {
        "mpjpe_abs_mm": 1000.0 * mean(err_m[ok]),
        "mpjpe_pelvis_aligned_mm": 1000.0 * mean(rel_err_m[aligned]),
        "pelvis_error_mm": 1000.0 * mean(root_err_m),
        "pelvis_error_pct_of_distance": 100.0 * mean(root_err_m / np.maximum(root_dist_m, 1e-6)),
        "pelvis_depth_error_mm": 1000.0 * mean(dz_m),
        "n_crops": float(len(true_cam_m)),
        "n_joints": float(ok.sum()),
    }


@torch.no_grad()
def predict_posenet(
    net: Posenet | PrivilegedPosenet,
    crops: PersonCropBatch,
    device: str = "cpu",
    batch_size: int = 16,
) -> tuple[np.ndarray, np.ndarray]:
    """Peak-decoded joints (M, J, 3) metres (camera optical frame) and confidence (M, J); the
    depth teacher sees the depth crop (and the person mask), the RGB variants the RGB crop."""
    net = net.to(device).eval()
    joints_out, conf_out = [], []
    for i in range(0, len(crops), batch_size):
        sl = slice(i, i + batch_size)
        sub = PersonCropBatch(**{k: v[sl] for k, v in crops.__dict__.items()})
        t = crop_tensors(sub, device)
        if net.config.variant == "depth":
            maps = net.forward_train(t.crop_k, crop_depth_m=t.crop_depth_m, crop_mask=t.crop_mask)
        else:
            maps = net.forward_train(t.crop_k, crop_rgb_nhwc=t.crop_rgb_nhwc)
        joints, conf = net.decode(maps, t.crop_k)
        joints_out.append(joints.float().cpu().numpy())
        conf_out.append(conf.float().cpu().numpy())
    n_j = net.config.n_joints
    if not joints_out:
        return np.zeros((0, n_j, 3), np.float32), np.zeros((0, n_j), np.float32)
    return np.concatenate(joints_out), np.concatenate(conf_out)


def predict_joints_m(
    net: Posenet | PrivilegedPosenet,
    crops: PersonCropBatch,
    device: str = "cpu",
    batch_size: int = 16,
) -> np.ndarray:
    """The joints (M, J, 3) metres of :func:`predict_posenet`."""
    return predict_posenet(net, crops, device, batch_size)[0]


def evaluate_posenet(
    net: Posenet | PrivilegedPosenet,
    crops: PersonCropBatch,
    device: str = "cpu",
    batch_size: int = 16,
) -> dict[str, float]:
    """:func:`v2_metrics` of ``net`` on ``crops`` (see the module docstring for the keys)."""
    pred = predict_joints_m(net, crops, device, batch_size)
    return v2_metrics(pred, crops.joints_cam_m.astype(np.float64), net.config.root_index)


def crop_report(
    pred_cam_m: np.ndarray, true_cam_m: np.ndarray, root_index: int
) -> dict[str, object]:
    """pose_metrics of predicted joints (M, J, 3) metres against labels (M, J, 3) (absolute,
    camera optical frame; mm out) plus ``mpjpe_pelvis_aligned_mm``, ``pelvis_error_mm``,
    ``pelvis_error_pct_of_distance`` (%) and ``pelvis_depth_error_mm`` of :func:`v2_metrics`.
    ``n_frames`` here counts crops (the caller replaces it with the frames evaluated)."""
    pred = np.asarray(pred_cam_m, np.float64)
    true = np.asarray(true_cam_m, np.float64)
    names = CANONICAL.joint_names if true.shape[1] == CANONICAL.num_joints else None
    report: dict[str, object] = dict(pose_metrics(pred, true, names))
    pelvis = v2_metrics(pred, true, root_index)
    for key in (
        "mpjpe_pelvis_aligned_mm",
        "pelvis_error_mm",
        "pelvis_error_pct_of_distance",
        "pelvis_depth_error_mm",
    ):
        report[key] = pelvis[key]
    return report


def match_detections(
    detected_px: np.ndarray, label_boxes_px: np.ndarray, min_iou: float = MIN_MATCH_IOU
) -> np.ndarray:
    """(P, 4) boxes: slot p gets the detection (D, 4) matched to label box p (P, 4, NaN rows:
    empty slots), NaN where none is. Each detection goes to the labelled person it overlaps
    most (IoU >= ``min_iou``); two detections of one person: the higher IoU wins."""
    labels = np.asarray(label_boxes_px, np.float64).reshape(-1, 4)
    out = np.full(labels.shape, np.nan)
    dets = np.asarray(detected_px, np.float64).reshape(-1, 4)
    if not len(dets) or not len(labels):
        return out
    iou = box_iou(dets, labels)
    iou[:, ~np.isfinite(labels).all(1)] = 0.0
    best = iou.argmax(1)
    best_iou = np.zeros(len(labels))
    for d, p in enumerate(best):
        if iou[d, p] >= min_iou and iou[d, p] > best_iou[p]:
            best_iou[p] = iou[d, p]
            out[p] = dets[d]
    return out
