"""Training augmentation that keeps RGB, depth, 2D and 3D labels and intrinsics consistent.

Geometry: a rotation by angle a about the optical axis is the camera rotating in place, so the
image warp is the homography K' Rz(a) K^-1 (exact for any fx, fy), 3D joints become Rz(a) X and
depth values do not change (z is unchanged). Scale and crop are a zoom of the camera: they only
change the intrinsics (K' = A K). A horizontal flip mirrors the scene (x -> -x), swaps left and
right joints and maps cx to W - 1 - cx. Colour jitter touches RGB only. Depth and masks are
resampled with nearest neighbour (no invented depth values); pixels from outside are 0 / False.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cv2
import numpy as np

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.joints import CANONICAL


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random augmentation; sizes in pixels (None = keep the input size)."""

    out_width: int | None = None
    out_height: int | None = None
    scale_range: tuple[float, float] = (0.8, 1.25)  # zoom factor of the camera
    rotation_deg: float = 20.0  # max |in-plane rotation|
    translate_frac: float = 0.1  # max shift of the crop centre, fraction of the size
    flip_prob: float = 0.5
    brightness: float = 0.25  # additive, fraction of 255
    contrast: float = 0.3  # multiplicative range 1 +- contrast
    saturation: float = 0.3
    channel_gain: float = 0.08  # per-channel white balance


def flip_permutation(joint_names: tuple[str, ...]) -> np.ndarray:
    """Index of each joint's mirror partner (left_x <-> right_x, LShoulder <-> RShoulder)."""
    swaps = (("left", "right"), ("right", "left"), ("L", "R"), ("R", "L"))
    index = {name: i for i, name in enumerate(joint_names)}
    perm = np.arange(len(joint_names))
    for i, name in enumerate(joint_names):
        for a, b in swaps:
            pattern = rf"^{a}(?=[_A-Z])" if len(a) > 1 else rf"^{a}(?=[A-Z])"
            other = re.sub(pattern, b, name)
            if other != name and other in index:
                perm[i] = index[other]
                break
    return perm


def _rot_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def color_jitter(rgb: np.ndarray, rng: np.random.Generator, config: AugmentConfig) -> np.ndarray:
    """Brightness, contrast, saturation and white-balance jitter of (H, W, 3) uint8 RGB."""
    img = rgb.astype(np.float32)
    gray = img.mean(axis=2, keepdims=True)
    sat = 1.0 + rng.uniform(-config.saturation, config.saturation)
    img = gray + (img - gray) * sat
    img *= 1.0 + rng.uniform(-config.channel_gain, config.channel_gain, 3).astype(np.float32)
    contrast = 1.0 + rng.uniform(-config.contrast, config.contrast)
    img = (img - img.mean()) * contrast + img.mean()
    img += 255.0 * rng.uniform(-config.brightness, config.brightness)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def augment_sample(
    sample: dict[str, np.ndarray],
    rng: np.random.Generator,
    config: AugmentConfig = AugmentConfig(),
    joint_names: tuple[str, ...] = CANONICAL.joint_names,
) -> dict[str, np.ndarray]:
    """A randomly zoomed, rotated, shifted, flipped and colour-jittered copy of ``sample``.

    ``sample`` has the privpose keys (rgb, depth_mm, joints_cam_m, joints_px, visible,
    person_mask, k); ``joint_names`` names its joints (for the left/right swap of a flip).
    """
    k = np.asarray(sample["k"], dtype=np.float64)
    rgb = sample["rgb"]
    if k.shape != (3, 3) or rgb.ndim != 3:
        raise PrivposeInputError(
            f"sample needs k (3, 3) and rgb (H, W, 3), got {k.shape} and {rgb.shape}"
        )
    joints = np.asarray(sample["joints_cam_m"], dtype=np.float64)
    if joints.shape != (len(joint_names), 3):
        raise PrivposeInputError(
            f"joints_cam_m is {joints.shape} but {len(joint_names)} joint names were given; "
            "pass joint_names of the sample's joint set"
        )
    h, w = rgb.shape[:2]
    out_w, out_h = config.out_width or w, config.out_height or h
    scale = rng.uniform(*config.scale_range) * min(out_w / w, out_h / h)
    angle = np.deg2rad(rng.uniform(-config.rotation_deg, config.rotation_deg))
    shift = rng.uniform(-config.translate_frac, config.translate_frac, 2) * (out_w, out_h)
    flip = rng.random() < config.flip_prob
    # A: the zoom / crop in pixels; the input centre lands near the output centre
    target = np.array([(out_w - 1) / 2, (out_h - 1) / 2]) + shift
    a = np.array([[scale, 0, 0], [0, scale, 0], [0, 0, 1.0]])
    a[:2, 2] = target - scale * np.array([(w - 1) / 2, (h - 1) / 2])
    new_k = a @ k
    rot = _rot_z(angle)
    if flip:
        mirror = np.diag([-1.0, 1.0, 1.0])
        flip_px = np.array([[-1.0, 0, out_w - 1], [0, 1, 0], [0, 0, 1]])
        new_k = flip_px @ new_k @ mirror  # fx stays positive: mirror x in 3D and in pixels
        rot = mirror @ rot
    warp = new_k @ rot @ np.linalg.inv(k)  # pixel map old -> new (affine: rot is about z)
    m = (warp / warp[2, 2])[:2]
    size = (out_w, out_h)
    out = dict(sample)
    out["rgb"] = color_jitter(cv2.warpAffine(rgb, m, size, flags=cv2.INTER_LINEAR), rng, config)
    out["depth_mm"] = cv2.warpAffine(sample["depth_mm"], m, size, flags=cv2.INTER_NEAREST)
    mask = sample["person_mask"].astype(np.uint8)
    out["person_mask"] = cv2.warpAffine(mask, m, size, flags=cv2.INTER_NEAREST).astype(bool)
    new_joints = joints @ rot.T
    perm = flip_permutation(joint_names) if flip else np.arange(len(joint_names))
    new_joints = new_joints[perm]
    with np.errstate(divide="ignore", invalid="ignore"):
        px = (new_joints @ new_k.T)[:, :2] / new_joints[:, 2:3]
    inside = (px[:, 0] >= -0.5) & (px[:, 0] < out_w - 0.5) & (px[:, 1] >= -0.5)
    inside &= px[:, 1] < out_h - 0.5
    out["joints_cam_m"] = new_joints.astype(np.float32)
    out["joints_px"] = px.astype(np.float32)
    out["visible"] = np.asarray(sample["visible"], dtype=bool)[perm] & inside
    out["k"] = new_k.astype(np.float32)
    return out
