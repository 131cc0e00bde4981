"""Evaluation of a person pipeline on the real data of ``../shared/data`` (`privpose eval --real`).

The evaluated thing is an :data:`EstimateFn` (rgb (H, W, 3) uint8, the intrinsics of that image,
depth_mm (H, W) uint16 or None) -> :class:`PoseResult` of canonical 26-joint persons, so this
module needs no model. Readers and joint-order choices: :mod:`privpose_ros.data.real`.

- real2d: OKS on the 12 COCO limb joints (:data:`LIMB_NAMES`) with the COCO sigmas of those
  joints, OKS_j = exp(-d^2 / (2 s^2 k^2)), k = 2 sigma, s^2 = the GT area; the mean over GT
  joints labelled v > 0. Per image, GT and predicted persons are matched one-to-one greedily by
  OKS; recall = matched GT with OKS >= ``oks_threshold`` / GT persons; mean OKS over GT persons
  (unmatched = 0). GT persons with fewer than ``min_limb_joints`` labelled limb joints are
  skipped (COCO's num_keypoints == 0 rule when 1). There are no intrinsics: the pipeline gets
  fx = fy = max(w, h), principal point at the image centre; 3D is not scored. RGB only.
- real3d (MPI-INF-3DHP): the compared joints are the 12 limbs and the pelvis defined as the
  midpoint of the hips on both sides (3DHP's root is exactly that; our canonical pelvis sits
  above the hip line). Its head, neck and spine joints are defined differently and not used.
  2D error (px) over compared joints with GT; MPJPE (mm) after subtracting each pelvis;
  absolute pelvis error (mm, and % of the GT pelvis distance). The person scored is the
  prediction with the lowest 2D error. RGB only.
- rgbd_tue: persons per frame; the standing person is the prediction with >= 75 % of its 2D
  joints inside the reference box (+10 px) and spanning >= half its height; its bone lengths
  against :data:`BONE_RANGES_M`; the fraction of its joints more than ``behind_margin_m``
  behind the depth surface at their pixel (valid depth only). A joint legitimately occluded by
  something nearer (an arm in front of the torso) also counts, hence the margin.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.geometry import project_points_px
from privpose_ros.core.joints import CANONICAL
from privpose_ros.core.pose import PersonPose, PoseResult
from privpose_ros.data import real
from privpose_ros.train.real_metrics import (
    BONE_RANGES_M,
    BONES,
    ERRORS_3D_KEYS,
    LIMB_NAMES,
    LIMBS_12,
    PELVIS_LIMBS_13,
    THREEDHP_13_INDEX,
    behind_surface_counts,
    bone_lengths_m,
    bones_in_range,
    convert_canonical,
    image_oks,
    pose_errors_3d,
    standing_person_index,
)

EstimateFn = Callable[[np.ndarray, CameraIntrinsics, np.ndarray | None], PoseResult]


@dataclass(frozen=True)
class RealEvalConfig:
    """Choices of `privpose eval --real` (reported in its JSON)."""

    oks_threshold: float = 0.5
    min_limb_joints: int = 1
    behind_margin_m: float = 0.15
    tue_slop_s: float = 0.5
    standing_inside_fraction: float = 0.75
    standing_min_height_fraction: float = 0.5
    standing_box_margin_px: float = 10.0
    max_images: int = 0  # per set; 0 = all

    def __post_init__(self) -> None:
        if not 0.0 < self.oks_threshold <= 1.0 or self.min_limb_joints < 1:
            raise PrivposeInputError("oks_threshold must be in (0, 1] and min_limb_joints >= 1")
        if self.behind_margin_m < 0 or self.max_images < 0 or self.tue_slop_s < 0:
            raise PrivposeInputError("behind_margin_m, max_images and tue_slop_s must be >= 0")


def guess_intrinsics(width: int, height: int) -> CameraIntrinsics:
    """Intrinsics for a photo without calibration: fx = fy = max(w, h) px, centred."""
    f = float(max(width, height))
    return CameraIntrinsics(f, f, (width - 1) / 2.0, (height - 1) / 2.0, width, height)


def person_joints_px(person: PersonPose, intrinsics: CameraIntrinsics) -> np.ndarray:
    """(26, 2) canonical pixels: ``joints_px``, or the projection of ``joints_cam_m``."""
    if person.joint_set.name != CANONICAL.name:
        raise PrivposeInputError(
            f"the estimator must return canonical persons, got {person.joint_set.name}"
        )
    if person.joints_px is not None:
        return np.asarray(person.joints_px, dtype=np.float64)
    return project_points_px(person.joints_cam_m, intrinsics)


def _timed(estimate: EstimateFn, times: list[float], *args: Any) -> PoseResult:
    start = time.perf_counter()
    result = estimate(*args)
    times.append(time.perf_counter() - start)
    if not isinstance(result, PoseResult):
        raise PrivposeInputError(f"the estimator must return a PoseResult, got {type(result)}")
    return result


def _ms(times: list[float]) -> float | None:
    return round(1000.0 * float(np.mean(times)), 2) if times else None


def _set_stats(scores: list[float], threshold: float, **counts: int) -> dict[str, Any]:
    n = len(scores)
    return {
        **counts,
        "n_gt_persons": n,
        "recall_at_oks": float(np.mean(np.array(scores) >= threshold)) if n else None,
        "mean_oks": float(np.mean(scores)) if n else None,
    }


def evaluate_real2d(
    sets: dict[str, tuple[real.Image2D, ...]], estimate: EstimateFn, config: RealEvalConfig
) -> dict[str, Any]:
    """Recall at OKS >= threshold and mean OKS per set and pooled over all GT persons."""
    per_set, pooled, totals = {}, [], {"n_images": 0, "n_skipped_persons": 0, "n_pred_persons": 0}
    for name, images in sets.items():
        images = images[: config.max_images] if config.max_images else images
        scores, skipped, n_pred, times = [], 0, 0, []
        for image in images:
            rgb = real.load_rgb(image.image_path)
            k = guess_intrinsics(rgb.shape[1], rgb.shape[0])
            result = _timed(estimate, times, rgb, k, None)
            preds = [convert_canonical(LIMBS_12, person_joints_px(p, k)) for p in result.persons]
            gts = [p for p in image.persons if p.n_labelled >= config.min_limb_joints]
            skipped += len(image.persons) - len(gts)
            n_pred += len(preds)
            scores += image_oks(gts, preds)
        counts = {"n_images": len(images), "n_skipped_persons": skipped, "n_pred_persons": n_pred}
        per_set[name] = _set_stats(scores, config.oks_threshold, **counts)
        per_set[name]["estimate_ms_mean"] = _ms(times)
        pooled += scores
        totals = {k: totals[k] + v for k, v in counts.items()}
    return {
        "joints": list(LIMB_NAMES),
        "oks_threshold": config.oks_threshold,
        "min_limb_joints": config.min_limb_joints,
        "per_set": per_set,
        "overall": _set_stats(pooled, config.oks_threshold, **totals),
    }


def _mean_of(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return float(np.mean(values)) if values else None


def evaluate_real3d(
    frames: tuple[real.Frame3D, ...], estimate: EstimateFn, config: RealEvalConfig
) -> dict[str, Any]:
    """Per-frame and mean 2D / 3D errors on MPI-INF-3DHP (pelvis + 12 limb joints)."""
    frames = frames[: config.max_images] if config.max_images else frames
    rows, times = [], []
    for frame in frames:
        rgb = real.load_rgb(frame.image_path)
        result = _timed(estimate, times, rgb, frame.intrinsics, None)
        gt_cam, gt_px = frame.joints_cam_m[THREEDHP_13_INDEX], frame.joints_px[THREEDHP_13_INDEX]
        visible = frame.visible[THREEDHP_13_INDEX]
        best, best_err = None, np.inf
        for person in result.persons:
            px = convert_canonical(PELVIS_LIMBS_13, person_joints_px(person, frame.intrinsics))
            cam = convert_canonical(PELVIS_LIMBS_13, person.joints_cam_m)
            err = pose_errors_3d(cam, px, gt_cam, gt_px, visible)
            if err["error_2d_px"] is not None and err["error_2d_px"] < best_err:
                best, best_err = err, err["error_2d_px"]
        row = {"image": frame.image_path.name, "n_persons": len(result.persons)}
        row["found"] = best is not None
        missed = {
            **dict.fromkeys(ERRORS_3D_KEYS),
            "gt_pelvis_distance_m": float(np.linalg.norm(gt_cam[0])),
        }
        row.update(best or missed)
        rows.append(row)
    mean = {k: _mean_of(rows, k) for k in ERRORS_3D_KEYS}
    mean["found_rate"] = float(np.mean([r["found"] for r in rows])) if rows else None
    return {
        "joints": list(PELVIS_LIMBS_13.joint_names),
        "per_frame": rows,
        "mean": mean,
        "estimate_ms_mean": _ms(times),
    }


def evaluate_rgbd_tue(
    frames: tuple[real.TueFrame, ...], estimate: EstimateFn, config: RealEvalConfig
) -> dict[str, Any]:
    """Persons, standing-person detection, bone lengths and behind-surface joints per frame."""
    frames = frames[: config.max_images] if config.max_images else frames
    rows, times, sums = [], [], np.zeros(4, dtype=np.int64)  # behind, checked (standing, all)
    for item in frames:
        f = item.frame
        result = _timed(estimate, times, f.rgb, f.intrinsics, f.depth_mm)
        pxs = [person_joints_px(p, f.intrinsics) for p in result.persons]
        index = (
            None
            if item.standing_box_px is None
            else standing_person_index(
                pxs,
                item.standing_box_px,
                config.standing_inside_fraction,
                config.standing_min_height_fraction,
                config.standing_box_margin_px,
            )
        )
        row: dict[str, Any] = {"bag": item.name, "n_persons": len(result.persons)}
        row["standing_found"] = index is not None
        all_counts = np.zeros(2, dtype=np.int64)
        for p in result.persons if f.depth_mm is not None else ():
            all_counts += behind_surface_counts(
                p.joints_cam_m, f.depth_mm, f.intrinsics, config.behind_margin_m
            )
        counts = np.zeros(2, dtype=np.int64)
        lengths: dict[str, float | None] = dict.fromkeys(BONES)
        if index is not None:
            standing = result.persons[index]
            lengths = bone_lengths_m(standing.joints_cam_m)
        if index is not None and f.depth_mm is not None:
            counts += behind_surface_counts(
                standing.joints_cam_m, f.depth_mm, f.intrinsics, config.behind_margin_m
            )
        in_range = bones_in_range(lengths)
        row["bone_lengths_m"] = lengths
        row["bones_in_range"] = in_range
        row["n_bones_out_of_range"] = sum(v is False for v in in_range.values())
        row["behind_surface_fraction"] = float(counts[0] / counts[1]) if counts[1] else None
        row["n_joints_on_depth"] = int(counts[1])
        row["behind_surface_fraction_all"] = (
            float(all_counts[0] / all_counts[1]) if all_counts[1] else None
        )
        sums += np.concatenate([counts, all_counts])
        rows.append(row)
    checked = [v for r in rows for v in r["bones_in_range"].values() if v is not None]
    summary = {
        "n_frames": len(rows),
        "mean_persons": _mean_of(rows, "n_persons"),
        "standing_found_rate": _mean_of(rows, "standing_found"),
        "bones_in_range_fraction": float(np.mean(checked)) if checked else None,
        "behind_surface_fraction": float(sums[0] / sums[1]) if sums[1] else None,
        "behind_surface_fraction_all": float(sums[2] / sums[3]) if sums[3] else None,
    }
    return {
        "bone_ranges_m": {k: list(v) for k, v in BONE_RANGES_M.items()},
        "behind_margin_m": config.behind_margin_m,
        "per_frame": rows,
        "summary": summary,
        "estimate_ms_mean": _ms(times),
    }


def evaluate_real(
    root: str | Path,
    estimate: EstimateFn,
    sections: tuple[str, ...] = real.REAL_SECTIONS,
    config: RealEvalConfig | None = None,
) -> dict[str, Any]:
    """The `privpose eval --real` report: one dict, one key per section found in ``root``."""
    config = config or RealEvalConfig()
    unknown = set(sections) - set(real.REAL_SECTIONS)
    if unknown:
        raise PrivposeInputError(f"unknown sets {sorted(unknown)}; use {list(real.REAL_SECTIONS)}")
    dirs = real.resolve_real_dirs(root)
    report: dict[str, Any] = {"mode": "real", "data": str(root), "config": asdict(config)}
    report["sets"] = [s for s in sections if s in dirs]
    start = time.perf_counter()
    for section in sections:
        if section not in dirs:
            report[section] = {"skipped": f"no {section} data under {root}"}
        elif section == "real2d":
            sets = {n: real.read_real2d_set(p, n) for n, p in dirs["real2d"].items()}
            report[section] = evaluate_real2d(sets, estimate, config)
        elif section == "real3d":
            frames = tuple(f for p in dirs["real3d"].values() for f in real.read_3dhp(p))
            report[section] = evaluate_real3d(frames, estimate, config)
        else:
            frames = tuple(
                f for p in dirs[section].values() for f in real.read_rgbd_tue(p, config.tue_slop_s)
            )
            report[section] = evaluate_rgbd_tue(frames, estimate, config)
    report["seconds"] = round(time.perf_counter() - start, 3)
    return report
