"""Pure metrics of `privpose eval --real` (numpy only; the report is in :mod:`real_eval`).

OKS as cocoapi computes it, restricted to the 12 COCO limb joints; greedy one-to-one matching
by OKS; pelvis-aligned 3D errors; adult bone-length ranges; joints behind a depth surface.
"""

from __future__ import annotations

import numpy as np

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.geometry import project_points_px
from privpose_ros.core.joints import CANONICAL, CANONICAL_JOINTS, JointSet
from privpose_ros.data import real

LIMB_NAMES = real.LIMB_NAMES
# COCO sigmas (cocoapi) of shoulders, elbows, wrists, hips, knees, ankles (left, right each)
COCO_LIMB_SIGMAS = np.array(
    [0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089]
)
ERRORS_3D_KEYS = ("error_2d_px", "mpjpe_rel_mm", "pelvis_error_mm", "pelvis_error_pct")
LIMBS_12 = JointSet("coco_limbs12", LIMB_NAMES, (), LIMB_NAMES)
PELVIS_LIMBS_13 = JointSet(
    "pelvis_limbs13",
    ("pelvis", *LIMB_NAMES),
    (),
    ({"left_hip": 0.5, "right_hip": 0.5}, *LIMB_NAMES),
)
THREEDHP_13_INDEX = np.array(
    [real.MPI_INF_3DHP_17_NAMES.index(n) for n in PELVIS_LIMBS_13.joint_names]
)
# Adult joint-centre segment lengths, metres. Drillis & Contini (1966) fractions of stature H
# (Winter, Biomechanics and Motor Control of Human Movement, fig. 4.1: upper arm 0.186 H,
# forearm 0.146 H, thigh 0.245 H, shank 0.246 H, shoulder width 0.259 H, hip width 0.191 H) for
# H = 1.45-2.00 m, widened ~20 % for joint definitions; the widths' lower ends are lower still
# because joint centres lie inside the biacromial / bi-trochanteric landmarks (3DHP's ground
# truth has 0.28-0.31 m between shoulders, 0.25-0.28 m between hips).
BONE_RANGES_M: dict[str, tuple[float, float]] = {
    "upper_arm": (0.22, 0.45),
    "forearm": (0.17, 0.35),
    "thigh": (0.28, 0.60),
    "shin": (0.28, 0.60),
    "shoulder_width": (0.22, 0.52),
    "hip_width": (0.12, 0.40),
}
BONES: dict[str, tuple[str, str, str]] = {
    "upper_arm_left": ("upper_arm", "left_shoulder", "left_elbow"),
    "upper_arm_right": ("upper_arm", "right_shoulder", "right_elbow"),
    "forearm_left": ("forearm", "left_elbow", "left_wrist"),
    "forearm_right": ("forearm", "right_elbow", "right_wrist"),
    "thigh_left": ("thigh", "left_hip", "left_knee"),
    "thigh_right": ("thigh", "right_hip", "right_knee"),
    "shin_left": ("shin", "left_knee", "left_ankle"),
    "shin_right": ("shin", "right_knee", "right_ankle"),
    "shoulder_width": ("shoulder_width", "left_shoulder", "right_shoulder"),
    "hip_width": ("hip_width", "left_hip", "right_hip"),
}


def convert_canonical(joint_set: JointSet, joints: np.ndarray) -> np.ndarray:
    """Canonical joints (26, D) -> (J, D) of ``joint_set``; NaN only where a source is NaN."""
    joints = np.asarray(joints, dtype=np.float64)
    if joints.shape[:1] != (len(CANONICAL_JOINTS),):
        raise PrivposeInputError(f"expected canonical joints (26, D), got {joints.shape}")
    weights = joint_set.from_canonical
    out = weights @ np.nan_to_num(joints, nan=0.0)
    bad = (weights != 0) @ np.isnan(joints).any(axis=-1) > 0
    out[bad | ~joint_set.derivable] = np.nan
    return out


def oks(
    pred_px: np.ndarray,
    gt_px: np.ndarray,
    gt_visible: np.ndarray,
    area_px2: float,
    sigmas: np.ndarray = COCO_LIMB_SIGMAS,
) -> float:
    """COCO object keypoint similarity over GT joints with v > 0 (NaN prediction = miss)."""
    pred_px, gt_px = np.asarray(pred_px, np.float64), np.asarray(gt_px, np.float64)
    labelled = np.asarray(gt_visible) > 0
    if pred_px.shape != gt_px.shape or gt_px.shape != (len(sigmas), 2):
        raise PrivposeInputError(f"pred/gt must be ({len(sigmas)}, 2), got {pred_px.shape}")
    if not labelled.any() or area_px2 <= 0:
        raise PrivposeInputError("OKS needs at least one labelled GT joint and area_px2 > 0")
    d2 = np.nan_to_num(np.sum((pred_px - gt_px) ** 2, axis=1), nan=np.inf)
    e = d2 / ((2.0 * np.asarray(sigmas)) ** 2 * 2.0 * (area_px2 + np.spacing(1)))
    return float(np.mean(np.exp(-e)[labelled]))


def greedy_match(oks_matrix: np.ndarray) -> list[tuple[int, int, float]]:
    """One-to-one (gt, pred, oks) pairs, highest OKS first; pairs with OKS 0 are not made."""
    matrix = np.asarray(oks_matrix, dtype=np.float64)
    pairs, used_g, used_p = [], set(), set()
    for flat in np.argsort(-matrix, axis=None, kind="stable"):
        g, p = np.unravel_index(flat, matrix.shape)
        if matrix[g, p] <= 0:
            break
        if g not in used_g and p not in used_p:
            pairs.append((int(g), int(p), float(matrix[g, p])))
            used_g.add(g)
            used_p.add(p)
    return pairs


def image_oks(gts: list[real.Person2D], preds_px: list[np.ndarray]) -> list[float]:
    """OKS of each GT person after greedy matching (0 = unmatched); ``preds_px`` (12, 2) each."""
    matrix = np.zeros((len(gts), len(preds_px)))
    for g, gt in enumerate(gts):
        for p, pred in enumerate(preds_px):
            matrix[g, p] = oks(pred, gt.limbs_px, gt.limbs_visible, gt.area_px2)
    scores = [0.0] * len(gts)
    for g, _, value in greedy_match(matrix) if matrix.size else []:
        scores[g] = value
    return scores


def pose_errors_3d(
    pred_cam_m: np.ndarray,
    pred_px: np.ndarray,
    gt_cam_m: np.ndarray,
    gt_px: np.ndarray,
    visible: np.ndarray,
) -> dict[str, float | None]:
    """Errors on (J, .) joints whose row 0 is the pelvis: 2D px, pelvis-relative MPJPE mm,
    absolute pelvis error mm and % of the GT pelvis distance. NaN predictions are skipped."""
    vis = np.asarray(visible, dtype=bool)
    ok_2d = vis & np.isfinite(pred_px).all(axis=1)
    ok_3d = vis & np.isfinite(pred_cam_m).all(axis=1)
    out: dict[str, float | None] = dict.fromkeys(ERRORS_3D_KEYS)
    out["gt_pelvis_distance_m"] = _norm(gt_cam_m[0])
    if ok_2d.any():
        out["error_2d_px"] = float(np.linalg.norm(pred_px - gt_px, axis=1)[ok_2d].mean())
    if ok_3d[0]:
        pelvis_mm = 1000.0 * float(np.linalg.norm(pred_cam_m[0] - gt_cam_m[0]))
        out["pelvis_error_mm"] = pelvis_mm
        out["pelvis_error_pct"] = 100.0 * pelvis_mm / (1000.0 * out["gt_pelvis_distance_m"])
        rel = ok_3d.copy()
        rel[0] = False
        if rel.any():
            diff = (pred_cam_m - pred_cam_m[0]) - (gt_cam_m - gt_cam_m[0])
            out["mpjpe_rel_mm"] = 1000.0 * float(np.linalg.norm(diff, axis=1)[rel].mean())
    return out


def _norm(vector: np.ndarray) -> float:
    return float(np.linalg.norm(vector))


def bone_lengths_m(joints_cam_m: np.ndarray) -> dict[str, float | None]:
    """Lengths (metres) of :data:`BONES` from canonical joints (26, 3); None where NaN."""
    joints = np.asarray(joints_cam_m, dtype=np.float64)
    if joints.shape != (len(CANONICAL_JOINTS), 3):
        raise PrivposeInputError(f"expected canonical joints_cam_m (26, 3), got {joints.shape}")
    out = {}
    for name, (_, a, b) in BONES.items():
        length = float(np.linalg.norm(joints[CANONICAL.index(a)] - joints[CANONICAL.index(b)]))
        out[name] = length if np.isfinite(length) else None
    return out


def bones_in_range(lengths_m: dict[str, float | None]) -> dict[str, bool | None]:
    """Whether each bone lies in its :data:`BONE_RANGES_M` range (None = not measured)."""
    out = {}
    for name, length in lengths_m.items():
        low, high = BONE_RANGES_M[BONES[name][0]]
        out[name] = None if length is None else bool(low <= length <= high)
    return out


def behind_surface_counts(
    joints_cam_m: np.ndarray,
    depth_mm: np.ndarray,
    intrinsics: CameraIntrinsics,
    margin_m: float,
) -> tuple[int, int]:
    """(behind, checked): joints (N, 3, metres, optical frame) whose pixel has valid depth,
    and of those the ones with z > depth + margin_m (behind the visible surface)."""
    depth = np.asarray(depth_mm)
    if depth.ndim != 2 or depth.shape != (intrinsics.height, intrinsics.width):
        raise PrivposeInputError(
            f"depth_mm must be (H, W) = ({intrinsics.height}, {intrinsics.width}) of the "
            f"intrinsics, got {depth.shape}"
        )
    joints = np.asarray(joints_cam_m, dtype=np.float64).reshape(-1, 3)
    joints = joints[np.isfinite(joints).all(axis=1) & (joints[:, 2] > 0)]
    uv = np.rint(project_points_px(joints, intrinsics))
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < depth.shape[1]) & (uv[:, 1] >= 0)
    inside &= uv[:, 1] < depth.shape[0]
    joints, uv = joints[inside], uv[inside].astype(np.int64)
    surface_m = depth[uv[:, 1], uv[:, 0]].astype(np.float64) / 1000.0
    valid = surface_m > 0
    behind = joints[valid, 2] > surface_m[valid] + margin_m
    return int(np.count_nonzero(behind)), int(np.count_nonzero(valid))


def standing_person_index(
    persons_px: list[np.ndarray],
    box_px: tuple[float, float, float, float],
    inside_fraction: float = 0.75,
    min_height_fraction: float = 0.5,
    margin_px: float = 10.0,
) -> int | None:
    """Index of the person (2D joints (J, 2) px each) standing in ``box_px`` (x0, y0, x1, y1):
    >= ``inside_fraction`` of its finite joints inside the box grown by ``margin_px``, spanning
    >= ``min_height_fraction`` of the box height; the most inside wins. None when nobody is."""
    x0, y0, x1, y1 = box_px
    m = margin_px
    best, best_inside = None, -1.0
    for i, px in enumerate(persons_px):
        px = px[np.isfinite(px).all(axis=1)]
        if len(px) == 0:
            continue
        inside = (px[:, 0] >= x0 - m) & (px[:, 0] <= x1 + m)
        inside &= (px[:, 1] >= y0 - m) & (px[:, 1] <= y1 + m)
        frac = float(np.mean(inside))
        span = float(np.ptp(px[:, 1]))
        tall = span >= min_height_fraction * (y1 - y0)
        if frac >= inside_fraction and tall and frac > best_inside:
            best, best_inside = i, frac
    return best
