"""Parametric synthetic humans: anthropometry, pose families, forward kinematics, primitives.

World frame of a person: z up, the floor at z = 0, metres. Body frame: x = the person's left,
y = forward, z = up. Every function is batched over M people; nothing loops per pixel.
The body is a union of capsules (limbs, neck, hands, feet) and ellipsoids (head, chest, abdomen,
pelvis) hung on the 26 canonical joints; face points (nose, eyes, ears) are rigidly attached to
the head.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from privpose_ros.core.joints import CANONICAL

J = {name: i for i, name in enumerate(CANONICAL.joint_names)}
NUM_JOINTS = len(J)

POSE_FAMILIES: tuple[str, ...] = (
    "standing",
    "walking",
    "reaching",
    "pointing",
    "arms_raised",
    "bending",
    "crouching",
    "sitting",
)

# Clothing / skin regions; a material per region and person is chosen by the shading step.
REGION_SKIN, REGION_HAIR, REGION_SHIRT, REGION_PANTS, REGION_SHOES = 0, 1, 2, 3, 4

# capsules: (joint a, joint b, radius as a fraction of height, region)
_CAPSULES: tuple[tuple[str, str, float, int], ...] = (
    ("neck", "head", 0.028, REGION_SKIN),
    ("left_shoulder", "left_elbow", 0.026, REGION_SHIRT),
    ("right_shoulder", "right_elbow", 0.026, REGION_SHIRT),
    ("left_elbow", "left_wrist", 0.021, REGION_SHIRT),
    ("right_elbow", "right_wrist", 0.021, REGION_SHIRT),
    ("left_wrist", "left_hand", 0.02, REGION_SKIN),
    ("right_wrist", "right_hand", 0.02, REGION_SKIN),
    ("left_hip", "left_knee", 0.041, REGION_PANTS),
    ("right_hip", "right_knee", 0.041, REGION_PANTS),
    ("left_knee", "left_ankle", 0.031, REGION_PANTS),
    ("right_knee", "right_ankle", 0.031, REGION_PANTS),
    ("left_ankle", "left_foot", 0.022, REGION_SHOES),
    ("right_ankle", "right_foot", 0.022, REGION_SHOES),
    ("left_shoulder", "right_shoulder", 0.035, REGION_SHIRT),
)
CAPSULE_REGIONS = np.array([c[3] for c in _CAPSULES], dtype=np.int16)
# ellipsoids: (name, region); semi-axes (fractions of height) along body x, y, z
_ELLIPSOIDS: tuple[tuple[str, int, tuple[float, float, float]], ...] = (
    ("head", REGION_SKIN, (0.044, 0.054, 0.064)),
    ("chest", REGION_SHIRT, (0.088, 0.06, 0.1)),
    ("abdomen", REGION_SHIRT, (0.08, 0.056, 0.085)),
    ("pelvis", REGION_PANTS, (0.092, 0.062, 0.065)),
)
ELLIPSOID_REGIONS = np.array([e[1] for e in _ELLIPSOIDS], dtype=np.int16)
NUM_PRIMITIVES = len(_CAPSULES) + len(_ELLIPSOIDS)


@dataclass(frozen=True)
class Bodies:
    """M posed people in world coordinates (metres, z up)."""

    joints_w_m: np.ndarray  # (M, 26, 3)
    capsule_a_w_m: np.ndarray  # (M, C, 3)
    capsule_b_w_m: np.ndarray  # (M, C, 3)
    capsule_r_m: np.ndarray  # (M, C)
    ellipsoid_c_w_m: np.ndarray  # (M, E, 3)
    ellipsoid_rot_w: np.ndarray  # (M, E, 3, 3) columns = ellipsoid axes in world
    ellipsoid_semi_m: np.ndarray  # (M, E, 3)
    surface_offset_m: np.ndarray  # (M, 26) depth from a joint to the body surface around it
    head_rot_w: np.ndarray  # (M, 3, 3) head frame (x left, y forward, z up) in world
    root_rot_w: np.ndarray  # (M, 3, 3) pelvis frame in world
    family: np.ndarray  # (M,) index into POSE_FAMILIES
    height_m: np.ndarray  # (M,) standing body height


def _rx(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([o, z, z, z, c, -s, z, s, c], -1).reshape(*a.shape, 3, 3)


def _ry(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([c, z, s, z, o, z, -s, z, c], -1).reshape(*a.shape, 3, 3)


def _rz(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([c, -s, z, s, c, z, z, z, o], -1).reshape(*a.shape, 3, 3)


def _apply(rot: np.ndarray, vec: np.ndarray) -> np.ndarray:
    return np.einsum("mij,mj->mi", rot, vec)


# Pose parameters (radians): per person, by name; sides are (left, right) pairs.
_LIMITS = {
    "bend": (-0.3, 1.5),
    "lean": (-0.35, 0.35),
    "twist": (-0.6, 0.6),
    "head_pitch": (-0.5, 0.6),
    "head_yaw": (-1.0, 1.0),
    "sh_flex": (-0.9, 3.1),
    "sh_abd": (-0.3, 3.0),
    "sh_rot": (-0.8, 0.8),
    "elbow": (0.0, 2.6),
    "hip_flex": (-0.5, 2.3),
    "hip_abd": (-0.2, 0.7),
    "knee": (0.0, 2.5),
}
_SIDED = ("sh_flex", "sh_abd", "sh_rot", "elbow", "hip_flex", "hip_abd", "knee")


def sample_poses(
    rng: np.random.Generator, m: int, families: np.ndarray | None = None
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Sample pose parameters for ``m`` people from the pose families, clipped to joint limits.

    Returns ({name: (m,) or (m, 2) radians}, family index (m,)).
    """
    if families is None:
        families = rng.integers(0, len(POSE_FAMILIES), m)
    fam = np.asarray(families)
    u = rng.uniform
    p = {
        "bend": rng.normal(0.05, 0.08, m),
        "lean": rng.normal(0.0, 0.06, m),
        "twist": rng.normal(0.0, 0.15, m),
        "head_pitch": rng.normal(0.05, 0.15, m),
        "head_yaw": rng.normal(0.0, 0.35, m),
        "sh_flex": rng.normal(0.0, 0.2, (m, 2)),
        "sh_abd": u(0.05, 0.35, (m, 2)),
        "sh_rot": rng.normal(0.0, 0.3, (m, 2)),
        "elbow": u(0.0, 0.6, (m, 2)),
        "hip_flex": rng.normal(0.0, 0.08, (m, 2)),
        "hip_abd": u(0.0, 0.15, (m, 2)),
        "knee": u(0.0, 0.15, (m, 2)),
    }
    side = rng.integers(0, 2, m)  # the arm used for one-armed families
    rows = np.arange(m)
    phase = u(0, 2 * np.pi, m)
    f = fam == POSE_FAMILIES.index("walking")
    swing = u(0.25, 0.5, m) * np.sin(phase)
    p["hip_flex"][f] = np.stack([swing, -swing], 1)[f]
    p["knee"][f] = np.stack(
        [0.2 + 0.5 * np.maximum(0, -swing), 0.2 + 0.5 * np.maximum(0, swing)], 1
    )[f]
    p["sh_flex"][f] = np.stack([-0.8 * swing, 0.8 * swing], 1)[f]
    p["elbow"][f] = u(0.2, 0.6, (m, 2))[f]
    for name, flex, abd, elbow, both in (
        ("reaching", (0.8, 1.8), (-0.2, 0.6), (0.0, 0.7), 0.4),
        ("pointing", (1.2, 1.75), (-0.3, 0.9), (0.0, 0.2), 0.0),
        ("arms_raised", (2.3, 3.05), (0.0, 0.6), (0.0, 0.9), 1.0),
    ):
        f = fam == POSE_FAMILIES.index(name)
        arm = np.zeros((m, 2), dtype=bool)
        arm[rows, side] = True
        arm |= (rng.uniform(size=m) < both)[:, None]
        arm &= f[:, None]
        p["sh_flex"][arm] = u(*flex, (m, 2))[arm]
        p["sh_abd"][arm] = u(*abd, (m, 2))[arm]
        p["elbow"][arm] = u(*elbow, (m, 2))[arm]
    f = fam == POSE_FAMILIES.index("arms_raised")
    p["sh_abd"][f] = np.where(u(size=(m, 1)) < 0.4, u(2.2, 2.9, (m, 2)), p["sh_abd"])[f]
    f = fam == POSE_FAMILIES.index("bending")
    p["bend"][f] = u(0.6, 1.4, m)[f]
    p["sh_flex"][f] = (p["bend"][:, None] * u(0.6, 1.1, (m, 2)))[f]
    p["knee"][f] = u(0.0, 0.35, (m, 2))[f]
    f = fam == POSE_FAMILIES.index("crouching")
    p["hip_flex"][f] = u(1.5, 2.1, (m, 2))[f]
    p["knee"][f] = u(1.9, 2.4, (m, 2))[f]
    p["hip_abd"][f] = u(0.1, 0.5, (m, 2))[f]
    p["bend"][f] = u(0.2, 0.7, m)[f]
    p["sh_flex"][f] = u(0.2, 1.2, (m, 2))[f]
    f = fam == POSE_FAMILIES.index("sitting")
    p["hip_flex"][f] = u(1.35, 1.7, (m, 2))[f]
    p["knee"][f] = u(1.2, 1.8, (m, 2))[f]
    p["bend"][f] = u(-0.15, 0.35, m)[f]
    p["sh_flex"][f] = u(0.0, 0.9, (m, 2))[f]
    p["elbow"][f] = u(0.3, 1.5, (m, 2))[f]
    for name, (lo, hi) in _LIMITS.items():
        p[name] = np.clip(p[name], lo, hi)
    return p, fam


def sample_shapes(rng: np.random.Generator, m: int) -> dict[str, np.ndarray]:
    """Height 1.45-2.00 m, limb proportions (+-5 %) and girth (0.8-1.35) per person."""
    return {
        "height": rng.uniform(1.45, 2.0, m),
        "limb": np.exp(rng.normal(0.0, 0.04, (m, 6))),
        "girth": rng.uniform(0.8, 1.35, m),
        "width": np.exp(rng.normal(0.0, 0.06, m)),
    }


def pose_bodies(
    pose: dict[str, np.ndarray],
    shape: dict[str, np.ndarray],
    yaw: np.ndarray,
    position_xy_m: np.ndarray,
    family: np.ndarray,
) -> Bodies:
    """Forward kinematics: joints and primitives of M people standing on the floor (z = 0)."""
    h = shape["height"]
    m = h.shape[0]
    lim = shape["limb"] * h[:, None]
    width = shape["width"] * h
    # segment lengths (Drillis & Contini fractions of body height)
    l_upper, l_fore, l_thigh, l_shin = (
        0.186 * lim[:, 0],
        0.146 * lim[:, 1],
        0.245 * lim[:, 2],
        (0.246 * lim[:, 3]),
    )
    l_spine, l_chest = 0.13 * lim[:, 4], 0.158 * lim[:, 4]
    l_neck, l_hand, l_foot = 0.1 * lim[:, 5], 0.055 * h, 0.115 * h
    joints = np.zeros((m, NUM_JOINTS, 3))
    r_root = _rz(yaw)
    # bend > 0 leans the torso forward (towards +y)
    r_torso = r_root @ _rz(pose["twist"]) @ _rx(-pose["bend"]) @ _ry(pose["lean"])

    def vec(x: np.ndarray | float, y: np.ndarray | float, z: np.ndarray | float) -> np.ndarray:
        return np.stack(np.broadcast_arrays(x, y, z), -1).astype(np.float64)

    zero = np.zeros(m)
    joints[:, J["spine"]] = _apply(r_torso, vec(zero, zero, l_spine))
    joints[:, J["neck"]] = joints[:, J["spine"]] + _apply(r_torso, vec(zero, zero, l_chest))
    r_head = r_torso @ _rz(pose["head_yaw"]) @ _rx(-pose["head_pitch"])
    head = joints[:, J["neck"]] + _apply(r_head, vec(zero, 0.01 * h, l_neck))
    joints[:, J["head"]] = head
    semi_head = np.array(_ELLIPSOIDS[0][2])[None, :] * h[:, None]
    joints[:, J["head_top"]] = head + _apply(r_head, vec(zero, zero, 0.9 * semi_head[:, 2]))
    face = {
        "nose": (0.0, 0.9, -0.25),
        "left_eye": (0.3, 0.8, 0.12),
        "right_eye": (-0.3, 0.8, 0.12),
        "left_ear": (0.88, 0.0, 0.0),
        "right_ear": (-0.88, 0.0, 0.0),
    }
    for name, (fx, fy, fz) in face.items():
        local = vec(fx * semi_head[:, 0], fy * semi_head[:, 1], fz * semi_head[:, 2])
        joints[:, J[name]] = head + _apply(r_head, local)
    sign = (1.0, -1.0)  # left = +x
    for s, side in enumerate(("left", "right")):
        sh = joints[:, J["neck"]] + _apply(r_torso, vec(sign[s] * 0.115 * width, zero, -0.02 * h))
        joints[:, J[f"{side}_shoulder"]] = sh
        r_arm = r_torso @ _ry(-sign[s] * pose["sh_abd"][:, s]) @ _rx(pose["sh_flex"][:, s])
        r_arm = r_arm @ _rz(sign[s] * pose["sh_rot"][:, s])
        elbow = sh + _apply(r_arm, vec(zero, zero, -l_upper))
        r_fore = r_arm @ _rx(pose["elbow"][:, s])
        wrist = elbow + _apply(r_fore, vec(zero, zero, -l_fore))
        joints[:, J[f"{side}_elbow"]] = elbow
        joints[:, J[f"{side}_wrist"]] = wrist
        joints[:, J[f"{side}_hand"]] = wrist + _apply(r_fore, vec(zero, zero, -l_hand))
        hip = _apply(r_root, vec(sign[s] * 0.052 * width, zero, -0.045 * h))
        r_leg = r_root @ _ry(-sign[s] * pose["hip_abd"][:, s]) @ _rx(pose["hip_flex"][:, s])
        knee = hip + _apply(r_leg, vec(zero, zero, -l_thigh))
        ankle = knee + _apply(r_leg @ _rx(-pose["knee"][:, s]), vec(zero, zero, -l_shin))
        toe = r_root @ _rz(sign[s] * 0.15 * np.ones(m))
        joints[:, J[f"{side}_hip"]] = hip
        joints[:, J[f"{side}_knee"]] = knee
        joints[:, J[f"{side}_ankle"]] = ankle
        joints[:, J[f"{side}_foot"]] = ankle + _apply(
            toe, vec(zero, 0.94 * l_foot, -0.33 * l_foot)
        )
    g = shape["girth"]
    cap_idx = np.array([(J[a], J[b]) for a, b, _, _ in _CAPSULES])
    cap_r = np.array([c[2] for c in _CAPSULES])[None, :] * h[:, None] * np.sqrt(g)[:, None]
    cap_r[:, -1] *= g  # shoulders carry the girth
    # ellipsoid centres and frames
    centres = np.stack(
        [
            head + _apply(r_head, vec(zero, -0.1 * semi_head[:, 1], 0.15 * semi_head[:, 2])),
            joints[:, J["spine"]] + _apply(r_torso, vec(zero, zero, 0.62 * l_chest)),
            joints[:, J["spine"]] + _apply(r_torso, vec(zero, 0.005 * h, -0.35 * l_spine)),
            _apply(r_root, vec(zero, -0.005 * h, -0.025 * h)),
        ],
        1,
    )
    rots = np.stack([r_head, r_torso, r_root @ _rz(pose["twist"] / 2), r_root], 1)
    semi = np.array([e[2] for e in _ELLIPSOIDS])[None] * h[:, None, None]
    semi[:, 1:, :2] *= g[:, None, None] * shape["width"][:, None, None]
    # feet on the floor: the lowest point of any primitive touches z = 0
    low_caps = np.min(joints[:, cap_idx, 2] - cap_r[:, :, None], axis=(1, 2))
    low_ell = np.min(centres[..., 2] - np.linalg.norm(rots[:, :, 2, :] * semi, axis=-1), 1)
    lift = -np.minimum(low_caps, low_ell)
    offset = np.concatenate([position_xy_m, lift[:, None]], 1)[:, None, :]
    joints = joints + offset
    centres = centres + offset
    surface = np.zeros((m, NUM_JOINTS))
    for k, (a, b, _, _) in enumerate(_CAPSULES[:-1]):
        surface[:, J[a]] = np.maximum(surface[:, J[a]], cap_r[:, k])
        surface[:, J[b]] = np.maximum(surface[:, J[b]], cap_r[:, k])
    surface[:, J["head"]] = semi[:, 0].max(-1)
    surface[:, [J["spine"], J["neck"]]] = semi[:, 1:3, 1].max(-1)[:, None]
    surface[:, J["pelvis"]] = semi[:, 3].max(-1)
    for name in ("left_hip", "right_hip", "left_shoulder", "right_shoulder"):
        surface[:, J[name]] = np.maximum(surface[:, J[name]], semi[:, 1:, 1].max(-1))
    for name in ("head_top", "nose", "left_eye", "right_eye", "left_ear", "right_ear"):
        surface[:, J[name]] = 0.02
    return Bodies(
        joints_w_m=joints,
        capsule_a_w_m=joints[:, cap_idx[:, 0]],
        capsule_b_w_m=joints[:, cap_idx[:, 1]],
        capsule_r_m=cap_r,
        ellipsoid_c_w_m=centres,
        ellipsoid_rot_w=rots,
        ellipsoid_semi_m=semi,
        surface_offset_m=surface,
        head_rot_w=r_head,
        root_rot_w=r_root,
        family=family,
        height_m=h,
    )


def random_bodies(
    rng: np.random.Generator, m: int, position_xy_m: np.ndarray, families: np.ndarray | None = None
) -> Bodies:
    """M random people (any yaw, random shape and pose family) standing at ``position_xy_m``."""
    pose, fam = sample_poses(rng, m, families)
    shape = sample_shapes(rng, m)
    yaw = rng.uniform(-np.pi, np.pi, m)
    return pose_bodies(pose, shape, yaw, np.asarray(position_xy_m, dtype=np.float64), fam)
