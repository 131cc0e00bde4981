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


def single_size_oracle(
    gt_m: np.ndarray, bone_indices: np.ndarray, n_sizes: int = 400
) -> dict[str, float]:
    """Ceiling of a monocular RGB model that cannot tell body size: perfect 2D joints and a
    perfect skeleton shape, but every person scaled (about the camera centre, which keeps every
    projection) to one body size, the size that maximises mAP@10cm on ``gt_m`` (N, J, 3).

    A body's size is its summed bone length (``bone_indices`` (B, 2)); frames with a non-finite
    bone are left out. Returns the oracle's ``map_10cm``, ``mpjpe_mm``, the chosen
    ``size_m`` (summed bone length) and ``n_frames``.
    """
    gt = np.asarray(gt_m, dtype=np.float64)
    bones = np.asarray(bone_indices, dtype=np.int64)
    size = np.linalg.norm(gt[:, bones[:, 0]] - gt[:, bones[:, 1]], axis=-1).sum(1)
    ok = np.isfinite(size) & (size > 0)
    if not ok.any():
        raise PrivposeInputError("no frame with all bones finite to size the bodies")
    gt, size = gt[ok], size[ok]
    dist = np.linalg.norm(gt, axis=-1)  # error of joint P scaled by s is |1 - s| * |P|
    best = (-1.0, 0.0, 0.0)
    for ref in np.linspace(size.min(), size.max(), n_sizes):
        err = np.abs(1.0 - ref / size)[:, None] * dist
        hit = float(np.nanmean(err < 0.1))
        if hit > best[0]:
            best = (hit, float(np.nanmean(err) * 1e3), float(ref))
    return {"map_10cm": best[0], "mpjpe_mm": best[1], "size_m": best[2], "n_frames": int(ok.sum())}
