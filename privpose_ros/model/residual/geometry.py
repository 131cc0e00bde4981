"""Residuals on the front end's 3D: how the residual model's three outputs move a skeleton.

The base is the front end's own output for one person (``model: blazepose``:
:class:`~privpose_ros.runtime.placement.MonocularLifter`), joints P_j in metres in the source
camera's optical frame, seen through that person's rotated crop camera
(:class:`~privpose_ros.core.crop.RotatedCropCamera`, the front end's ROI): Q_j = R_roll P_j
in the crop camera's frame, crop pixels c_j = proj(K_crop, Q_j), depth z_j.

The model predicts, per person,

- ``uv_px`` (J, 2): a 2D residual in crop pixels (the joint moves in the crop image at its depth),
- ``dz_m`` (J,): a per-joint depth residual in metres (the joint moves along its own ray),
- ``log_root`` (): the log of the root distance's ratio: the whole skeleton scales about the
  camera centre by exp(log_root), so the root moves along its own ray and every 2D stays
  (size and distance are what one image cannot tell apart).

:func:`apply_residuals`: Q'_j = Q_j + (B(c_j + du_j, z_j + dz_j) - B(c_j, z_j)) (B the crop
camera's back-projection), P'_j = exp(log_root) (P_j + R_roll^T (Q'_j - Q_j)). Zero residuals
give back the base bit for bit (the difference of two identical back-projections is exactly
zero and exp(0) = 1), which is what lets an untrained model reproduce the front end exactly.
:func:`residual_targets` is the inverse: the residuals that turn the base into a target
skeleton exactly (the round trip is a test).
"""

from __future__ import annotations

import numpy as np

from privpose_ros.core.crop import RotatedCropCamera
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.joints import CANONICAL

ROOT_INDEX = CANONICAL.joint_names.index("pelvis")


def _check(base_cam_m: np.ndarray, n: int | None = None) -> np.ndarray:
    p = np.asarray(base_cam_m, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3 or (n is not None and len(p) != n):
        raise PrivposeInputError(f"expected joints (J, 3) metres, got {p.shape}")
    return p


def apply_residuals(
    base_cam_m: np.ndarray,
    camera: RotatedCropCamera,
    uv_px: np.ndarray,
    dz_m: np.ndarray,
    log_root: float,
) -> np.ndarray:
    """The base joints (J, 3) metres (source optical frame) moved by the residuals (see the
    module docstring); NaN joints stay NaN."""
    p = _check(base_cam_m)
    du = np.asarray(uv_px, dtype=np.float64)
    dz = np.asarray(dz_m, dtype=np.float64)
    if du.shape != (len(p), 2) or dz.shape != (len(p),):
        raise PrivposeInputError(
            f"residuals must be uv_px ({len(p)}, 2) and dz_m ({len(p)},), got {du.shape}, "
            f"{dz.shape}"
        )
    q = camera.cam_to_crop_frame(p)
    c = camera.project_px(p)
    z = q[:, 2]
    delta_crop = camera.back_project_m(c + du, z + dz) - camera.back_project_m(c, z)
    moved = p + camera.crop_frame_to_cam(delta_crop)
    return moved * float(np.exp(log_root))


def residual_targets(
    base_cam_m: np.ndarray,
    target_cam_m: np.ndarray,
    camera: RotatedCropCamera,
    root_index: int = ROOT_INDEX,
) -> tuple[np.ndarray, np.ndarray, float]:
    """(uv_px (J, 2), dz_m (J,), log_root) that :func:`apply_residuals` turns ``base_cam_m``
    into ``target_cam_m`` with (both (J, 3) metres, source optical frame). log_root is the log
    ratio of the two roots' distances from the camera; NaN where a joint is not finite."""
    p = _check(base_cam_m)
    g = _check(target_cam_m, len(p))
    log_root = float(np.log(np.linalg.norm(g[root_index]) / np.linalg.norm(p[root_index])))
    g_unscaled = g * float(np.exp(-log_root))
    du = camera.project_px(g_unscaled) - camera.project_px(p)
    dz = camera.cam_to_crop_frame(g_unscaled)[:, 2] - camera.cam_to_crop_frame(p)[:, 2]
    return du, dz, log_root


N_DESC = 3  # per-joint base descriptors: relative depth (m), front-end confidence, finite
N_GLOBAL = 1  # per-person: log of the base zeta (the crop's metric width at the root)


def base_inputs(
    base_cam_m: np.ndarray,
    confidence: np.ndarray,
    camera: RotatedCropCamera,
    root_index: int = ROOT_INDEX,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the residual model knows of the base besides the image: ``uv`` (J, 2) the base
    joints' (crop pixels + 0.5) / crop size (0..1 from the crop's first pixel edge to its last,
    ``grid_sample``'s ``align_corners=False`` convention), ``desc`` (J, 3) = (z_j - z_root
    metres, confidence, 1), ``glob`` (1,) = log(zeta_root), zeta = z_root x S / fx_crop (metres:
    the crop's width at the root, camera-agnostic). float32; non-finite joints get zeros."""
    p = _check(base_cam_m)
    conf = np.asarray(confidence, dtype=np.float64).reshape(-1)
    if conf.shape != (len(p),):
        raise PrivposeInputError(f"confidence must be ({len(p)},), got {conf.shape}")
    ok = np.isfinite(p).all(1)
    if not ok[root_index]:
        raise PrivposeInputError("the base root joint is not finite: nothing to correct")
    uv = (camera.project_px(p) + 0.5) / camera.size_px
    z = camera.cam_to_crop_frame(p)[:, 2]
    desc = np.stack([z - z[root_index], np.clip(conf, 0, 1), np.ones_like(z)], axis=1)
    uv = np.where(ok[:, None], uv, 0.0)
    desc = np.where(ok[:, None], desc, 0.0)
    zeta = z[root_index] * camera.size_px / camera.k_crop[0, 0]
    glob = np.array([np.log(max(zeta, 1e-3))])
    return uv.astype(np.float32), desc.astype(np.float32), glob.astype(np.float32)
