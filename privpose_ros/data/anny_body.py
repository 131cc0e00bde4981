"""Posed Anny people in the generator's world: poses retargeted from the pose families, labels.

Poses: the capsule pose families (``data/body.py``: bend, lean, twist, head, shoulders, elbows,
hips, knees within their joint limits) give target joint positions; their body frame (x left,
y forward) is mirrored onto Anny's model frame (x left, y backward). The torso rotation is spread
over Anny's five spine bones, the head rotation over the three neck bones and the head; every
limb bone (upper arm, forearm, hand, thigh, shin, foot) is then swung, in order from the root,
by the smallest rotation that points it at its target segment, so limb twist follows the parent.

Canonical joints (26) from Anny's rig and mesh, consistent with the front end's BlazePose map
(``core/blazepose.py``):

- shoulders ``upperarm01``, elbows ``lowerarm01``, wrists ``wrist``, hips ``upperleg01``,
  knees ``lowerleg01``, ankles ``foot`` (joint centres of the rig);
- hands: midpoint of the index and little-finger knuckles (``finger2-1``, ``finger5-1``);
- feet: each foot's most forward toe vertex (the front end's foot-index point);
- eyes: the eyeball centres (``eye.L/R``); nose, ears, head top: mesh vertices
  (``anny_model.landmarks``);
- pelvis: midpoint of the hips; neck: midpoint of the shoulders; spine: 0.55 pelvis + 0.45 neck;
  head: midpoint of the ears (the skull's centre).

World frame: z up, floor at z = 0 (the lowest vertex touches it), metres.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.spatial.transform import Rotation

from privpose_ros.core.joints import CANONICAL
from privpose_ros.data.anny_model import identity_pool, landmarks, load_anny, skin, skin_matrix
from privpose_ros.data.body import J, pose_bodies, sample_poses, sample_shapes

_SIDES = ((".L", "left"), (".R", "right"))
_MIRROR = np.diag([1.0, -1.0, 1.0])  # capsule body frame (y forward) <-> Anny (y backward)
_SPINE = ("spine05", "spine04", "spine03", "spine02", "spine01")
_NECK = ("neck01", "neck02", "neck03", "head")
# limb bone: (its rest segment end bone, target segment as canonical joints)
_LIMBS: tuple[tuple[str, str, str, str], ...] = tuple(
    item
    for s, side in _SIDES
    for item in (
        (f"upperarm01{s}", f"lowerarm01{s}", f"{side}_shoulder", f"{side}_elbow"),
        (f"lowerarm01{s}", f"wrist{s}", f"{side}_elbow", f"{side}_wrist"),
        (f"wrist{s}", f"finger3-1{s}", f"{side}_wrist", f"{side}_hand"),
        (f"upperleg01{s}", f"lowerleg01{s}", f"{side}_hip", f"{side}_knee"),
        (f"lowerleg01{s}", f"foot{s}", f"{side}_knee", f"{side}_ankle"),
        (f"foot{s}", f"toe2-1{s}", f"{side}_ankle", f"{side}_foot"),
    )
)
# bones whose vertices measure each joint's depth below the body surface (visibility test)
_SURFACE_BONES = {
    "pelvis": ("root", "pelvis.L", "pelvis.R", "spine05"),
    "spine": ("spine04", "spine03", "spine02"),
    "neck": ("spine01", "neck01", "clavicle.L", "clavicle.R"),
    "shoulder": ("shoulder01", "upperarm01"),
    "elbow": ("upperarm02", "lowerarm01"),
    "wrist": ("lowerarm02", "wrist"),
    "hip": ("pelvis", "upperleg01"),
    "knee": ("upperleg02", "lowerleg01"),
    "ankle": ("lowerleg02", "foot"),
}
_RIG_JOINTS = (
    ("shoulder", "upperarm01"),
    ("elbow", "lowerarm01"),
    ("wrist", "wrist"),
    ("hip", "upperleg01"),
    ("knee", "lowerleg01"),
    ("ankle", "foot"),
    ("eye", "eye"),
)
SURFACE_POINT_OFFSET_M = 0.02  # nose, eyes, ears, head top, hands, feet: on or near the skin


@dataclass(frozen=True)
class AnnyPeople:
    """M posed Anny people in world coordinates (metres, z up)."""

    bones_w: np.ndarray  # (M, 163, 3, 4) skinning matrices: rest (model frame) -> posed world
    joints_w_m: np.ndarray  # (M, 26, 3) canonical joints
    surface_offset_m: np.ndarray  # (M, 26) depth of each joint below the skin facing a camera
    identity: np.ndarray  # (M,) index into the identity pool
    family: np.ndarray  # (M,) index into POSE_FAMILIES
    height_m: np.ndarray  # (M,) rest standing height
    seat_top_m: np.ndarray  # (M,) height of the lowest buttock/thigh vertex (stools)


def _swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(M, 3, 3) smallest rotations taking directions a (M, 3) onto b (M, 3)."""
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    axis = np.cross(a, b)
    sin = np.linalg.norm(axis, axis=1)
    angle = np.arctan2(sin, np.einsum("mi,mi->m", a, b))
    flip = sin < 1e-9
    perp = np.cross(a, np.where(np.abs(a[:, :1]) < 0.9, [[1.0, 0, 0]], [[0, 1.0, 0]]))
    axis = np.where(flip[:, None], perp, axis)
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    return Rotation.from_rotvec(axis * angle[:, None]).as_matrix()


def _fraction(rot: np.ndarray, fraction: float) -> np.ndarray:
    return Rotation.from_rotvec(Rotation.from_matrix(rot).as_rotvec() * fraction).as_matrix()


def retarget(targets_body_m: np.ndarray, torso_rot: np.ndarray, head_rot: np.ndarray, rest):
    """Local bone rotations (M, 163, 3, 3) that put Anny into the capsule pose.

    ``targets_body_m`` (M, 26, 3) capsule joints in its body frame; ``torso_rot`` / ``head_rot``
    (M, 3, 3) the capsule torso rotation and the head rotation relative to it (body frame);
    ``rest`` (M, 163, 4, 4) the identities' rest skeletons.
    """
    model = load_anny()
    bone = landmarks().bone
    m = len(targets_body_m)
    base = rest[:, :, :3, :3]  # B_j: rest bone orientations, model frame
    pos = rest[:, :, :3, 3]
    targets = targets_body_m @ _MIRROR
    torso = _MIRROR @ torso_rot @ _MIRROR
    head = _MIRROR @ head_rot @ _MIRROR
    world = np.broadcast_to(np.eye(3), (m, len(model.parents), 3, 3)).copy()  # C_j
    driven = np.zeros(len(model.parents), bool)
    for k, name in enumerate(_SPINE):
        world[:, bone[name]] = _fraction(torso, (k + 1) / len(_SPINE))
        driven[bone[name]] = True
    for k, name in enumerate(_NECK):
        world[:, bone[name]] = torso @ _fraction(head, (k + 1) / len(_NECK))
        driven[bone[name]] = True
    limbs = {b: (end, a, c) for b, end, a, c in _LIMBS}
    parents = np.asarray(model.parents)
    for j in range(1, len(parents)):
        name = model.joint_names[j]
        if name in limbs:
            end, a, c = limbs[name]
            inherited = world[:, parents[j]]
            rest_dir = pos[:, bone[end]] - pos[:, j]
            current = np.einsum("mij,mj->mi", inherited, rest_dir)
            goal = targets[:, J[c]] - targets[:, J[a]]
            world[:, j] = _swing(current, goal) @ inherited
            driven[j] = True
        elif not driven[j]:
            world[:, j] = world[:, parents[j]]
    local = np.broadcast_to(np.eye(3), world.shape).copy()
    idx = np.nonzero(driven)[0]
    par = parents[idx]
    b_t = np.swapaxes(base[:, idx], -1, -2)
    local[:, idx] = b_t @ np.swapaxes(world[:, par], -1, -2) @ world[:, idx] @ base[:, idx]
    return local


def _split_pose(local: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    spec = load_anny().pose_joint_indices
    return tuple(local[:, list(spec[key])] for key in ("body_pose", "head_pose", "hand_pose"))


@functools.lru_cache(maxsize=1)
def _surface_vertex_sets() -> dict[str, np.ndarray]:
    """Canonical joint -> the vertices skinned mostly to the bones around it."""
    lm = landmarks()
    out = {}
    for key, names in _SURFACE_BONES.items():
        sides = (("", ""),) if key in ("pelvis", "spine", "neck") else _SIDES
        for suffix, side in sides:
            ids = [lm.bone.get(n + suffix, lm.bone.get(n)) for n in names]
            out[f"{side}_{key}" if side else key] = np.nonzero(np.isin(lm.dominant_bone, ids))[0]
    return out


def canonical_from_rig(joints_rig: np.ndarray, surface: dict[str, np.ndarray]) -> np.ndarray:
    """Canonical joints (M, 26, 3) from rig joint positions (M, 163, 3) and the posed surface
    keypoints ``surface`` (name -> (M, 3): nose, left/right_ear, head_top, left/right_foot)."""
    b = landmarks().bone
    out = np.empty((len(joints_rig), CANONICAL.num_joints, 3))
    for s, side in _SIDES:
        for name, rig in _RIG_JOINTS:
            out[:, J[f"{side}_{name}"]] = joints_rig[:, b[rig + s]]
        out[:, J[f"{side}_hand"]] = 0.5 * (
            joints_rig[:, b["finger2-1" + s]] + joints_rig[:, b["finger5-1" + s]]
        )
    for name, point in surface.items():
        out[:, J[name]] = point
    out[:, J["head"]] = 0.5 * (out[:, J["left_ear"]] + out[:, J["right_ear"]])
    out[:, J["pelvis"]] = 0.5 * (out[:, J["left_hip"]] + out[:, J["right_hip"]])
    out[:, J["neck"]] = 0.5 * (out[:, J["left_shoulder"]] + out[:, J["right_shoulder"]])
    out[:, J["spine"]] = 0.55 * out[:, J["pelvis"]] + 0.45 * out[:, J["neck"]]
    return out


@dataclass(frozen=True)
class _Support:
    """The vertices skinned in numpy (every 5th plus the keypoints): floor contact, keypoints,
    seat height and joint depths below the skin come from them; the renderer skins all."""

    index: np.ndarray  # (S,) vertex indices
    weights: sparse.csr_matrix  # (S, 163) skin weights
    keypoint: dict[str, int]  # canonical name -> position in index
    sets: dict[str, np.ndarray]  # canonical joint -> positions of its surface vertices
    seat: np.ndarray  # positions of buttock and thigh vertices


@functools.lru_cache(maxsize=1)
def _support() -> _Support:
    lm = landmarks()
    keypoints = {
        "nose": lm.nose,
        "left_ear": lm.left_ear,
        "right_ear": lm.right_ear,
        "head_top": lm.head_top,
        "left_foot": lm.left_toe,
        "right_foot": lm.right_toe,
    }
    index = np.union1d(np.arange(0, len(lm.dominant_bone), 5), list(keypoints.values()))
    sets = {
        name: np.nonzero(np.isin(index, ids))[0] for name, ids in _surface_vertex_sets().items()
    }
    return _Support(
        index=index,
        weights=skin_matrix()[index],
        keypoint={name: int(np.searchsorted(index, v)) for name, v in keypoints.items()},
        sets=sets,
        seat=np.concatenate([sets["pelvis"], sets["left_hip"], sets["right_hip"]]),
    )


def surface_offsets(joints_m: np.ndarray, points_m: np.ndarray) -> np.ndarray:
    """(M, 26) depth of each joint below the skin: the 15th percentile distance to its surface
    vertices among the support points ``points_m`` (M, S, 3); keypoints on the skin get 2 cm."""
    out = np.full(joints_m.shape[:2], SURFACE_POINT_OFFSET_M)
    for label, ids in _support().sets.items():
        d = np.linalg.norm(points_m[:, ids] - joints_m[:, J[label], None], axis=-1)
        out[:, J[label]] = np.percentile(d, 15, axis=1)
    return out


def pose_people(
    rng: np.random.Generator,
    m: int,
    position_xy_m: np.ndarray,
    families: np.ndarray | None = None,
) -> AnnyPeople:
    """M random Anny people (pool identity, any yaw, pose family) standing at ``position_xy_m``."""
    pose, fam = sample_poses(rng, m, families)
    shape = sample_shapes(rng, m)
    yaw = rng.uniform(-np.pi, np.pi, m)
    ident = rng.integers(0, len(identity_pool()), m)
    return posed_people(pose, shape, yaw, ident, fam, position_xy_m)


def posed_people(
    pose: dict[str, np.ndarray],
    shape: dict[str, np.ndarray],
    yaw: np.ndarray,
    identity: np.ndarray,
    family: np.ndarray,
    position_xy_m: np.ndarray,
) -> AnnyPeople:
    """M Anny people in given capsule poses, standing on the floor at ``position_xy_m`` (M, 2).

    ``pose`` / ``shape`` as ``body.sample_poses`` / ``body.sample_shapes`` give them (radians;
    the shape sets the capsule targets the limbs are pointed at), ``yaw`` (M,) radians (forward
    = +y at 0), ``identity`` (M,) indices into the identity pool, ``family`` (M,) POSE_FAMILIES
    indices (kept as a label). The lowest vertex touches z = 0.
    """
    model = load_anny()
    pool = identity_pool()
    yaw = np.asarray(yaw, dtype=np.float64)
    m = len(yaw)
    fam, ident = np.asarray(family), np.asarray(identity)
    if m == 0:
        z = np.zeros(0)
        return AnnyPeople(
            np.zeros((0, 163, 3, 4)), np.zeros((0, 26, 3)), np.zeros((0, 26)), ident, fam, z, z
        )
    caps = pose_bodies(pose, shape, np.zeros(m), np.zeros((m, 2)), fam)
    body = pool.identity(ident)
    rest = body["rest_skeleton_transforms"]
    local = retarget(caps.joints_w_m, _torso_rotation(pose), _head_rotation(pose), rest)
    posed = model.forward_skeleton(*_split_pose(local), identity=body)
    # model frame (y backward) -> world: turn by the yaw (+180 deg: forward = +y at yaw 0)
    world = np.zeros((m, 4, 4))
    world[:, :3, :3] = Rotation.from_rotvec(np.outer(yaw + np.pi, [0.0, 0.0, 1.0])).as_matrix()
    world[:, 3, 3] = 1.0
    bones = (world[:, None] @ posed @ np.linalg.inv(rest))[:, :, :3, :]
    support = _support()
    rest_points = pool.rest_vertices_m[ident][:, support.index]
    points = np.stack([skin(bones[i], rest_points[i], support.weights) for i in range(m)]).astype(
        np.float64
    )
    shift = np.concatenate([position_xy_m, -points[:, :, 2].min(1, keepdims=True)], 1)
    bones[..., 3] += shift[:, None]
    points += shift[:, None]
    rig = np.einsum("mij,mbj->mbi", world[:, :3, :3], posed[:, :, :3, 3]) + shift[:, None]
    surface = {name: points[:, i] for name, i in support.keypoint.items()}
    joints = canonical_from_rig(rig, surface)
    return AnnyPeople(
        bones_w=bones,
        joints_w_m=joints,
        surface_offset_m=surface_offsets(joints, points),
        identity=ident,
        family=fam,
        height_m=pool.height_m[ident].astype(np.float64),
        seat_top_m=points[:, support.seat, 2].min(1),
    )


def _rot(axis: int, angle: np.ndarray) -> np.ndarray:
    vec = np.zeros((len(angle), 3))
    vec[:, axis] = angle
    return Rotation.from_rotvec(vec).as_matrix()


def _torso_rotation(pose: dict[str, np.ndarray]) -> np.ndarray:
    """The capsule torso rotation twist-bend-lean (body frame, as ``body.pose_bodies``)."""
    return _rot(2, pose["twist"]) @ _rot(0, -pose["bend"]) @ _rot(1, pose["lean"])


def _head_rotation(pose: dict[str, np.ndarray]) -> np.ndarray:
    """The capsule head rotation relative to the torso (yaw, then pitch)."""
    return _rot(2, pose["head_yaw"]) @ _rot(0, -pose["head_pitch"])
