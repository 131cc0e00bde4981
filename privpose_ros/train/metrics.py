"""3D pose metrics on metric joints (camera frame, metres in, millimetres out).

A joint counts when its ground truth is finite. mAP@10cm follows the ITOP convention: the
fraction of joints whose 3D error is below 10 cm.
"""

from __future__ import annotations

import numpy as np

from privpose_ros.core.errors import PrivposeInputError

PCK_THRESHOLDS_MM = tuple(float(t) for t in range(0, 301, 10))


def _check(pred_m: np.ndarray, gt_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred_m, dtype=np.float64)
    gt = np.asarray(gt_m, dtype=np.float64)
    if gt.ndim != 3 or gt.shape[-1] != 3 or pred.shape != gt.shape:
        raise PrivposeInputError(
            f"pred and gt must both be (N, J, 3) metres, got {pred.shape} and {gt.shape}"
        )
    return pred, gt


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``pred`` (J, 3) moved by the similarity transform (scale, rotation, shift) that best
    fits ``gt`` (J, 3) in least squares (Umeyama); rows with non-finite values are ignored."""
    ok = np.isfinite(pred).all(1) & np.isfinite(gt).all(1)
    if ok.sum() < 3:
        return pred.copy()
    p, g = pred[ok], gt[ok]
    mp, mg = p.mean(0), g.mean(0)
    p0, g0 = p - mp, g - mg
    u, s, vt = np.linalg.svd(p0.T @ g0)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.diag([1.0, 1.0, d])
    rot = u @ fix @ vt
    scale = (s * np.diag(fix)).sum() / max((p0**2).sum(), 1e-12)
    return (pred - mp) @ rot * scale + mg


def joint_errors_mm(pred_m: np.ndarray, gt_m: np.ndarray, align: bool = False) -> np.ndarray:
    """(N, J) Euclidean errors in mm (NaN where the ground truth is not finite)."""
    pred, gt = _check(pred_m, gt_m)
    if align:
        pred = np.stack([procrustes_align(p, g) for p, g in zip(pred, gt, strict=True)])
    err = np.linalg.norm(pred - gt, axis=-1) * 1e3
    err[~np.isfinite(gt).all(-1)] = np.nan
    return err


def pose_metrics(
    pred_m: np.ndarray, gt_m: np.ndarray, joint_names: tuple[str, ...] | None = None
) -> dict[str, object]:
    """MPJPE, PA-MPJPE, root-relative MPJPE (root = joint 0), mAP@10cm, PCK curve, per joint."""
    err = joint_errors_mm(pred_m, gt_m)
    pa = joint_errors_mm(pred_m, gt_m, align=True)
    pred, gt = _check(pred_m, gt_m)
    rel = joint_errors_mm(pred - pred[:, :1], gt - gt[:, :1])
    counted = np.isfinite(err)
    if not counted.any():
        raise PrivposeInputError("no finite ground-truth joints to evaluate")
    per_joint = np.nanmean(np.where(counted, err, np.nan), axis=0)
    names = joint_names or tuple(str(i) for i in range(err.shape[1]))
    below = [float((err[counted] <= t).mean()) for t in PCK_THRESHOLDS_MM]
    return {
        "n_frames": int(err.shape[0]),
        "n_joints": int(counted.sum()),
        "mpjpe_mm": float(np.nanmean(err)),
        "pa_mpjpe_mm": float(np.nanmean(pa)),
        "root_rel_mpjpe_mm": float(np.nanmean(rel)),
        "median_error_mm": float(np.nanmedian(err)),
        "map_10cm": float((err[counted] < 100.0).mean()),
        "pck_thresholds_mm": list(PCK_THRESHOLDS_MM),
        "pck": below,
        "per_joint_mm": {n: float(v) for n, v in zip(names, per_joint, strict=True)},
    }
