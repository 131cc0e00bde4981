"""What Anny people wear: skin tones, hair, clothing regions, colours and textures.

Every vertex gets a body part from the bone that skins it most (head, torso, upper/lower arm,
hand, pelvis, thigh, shin, foot, and the face's eyeballs, brows and mouth: a real-world detector
tells a face from the back of a head by them); a person's outfit then decides which parts are
skin, top, bottom or shoes: sleeveless / short / elbow / long sleeves, shorts / knee-length
(shorts or a skirt) / trousers, shoes or socks, and hair of a sampled length (or none).
Colours are linear RGB; patterns are solid textures (gl_render's shader) of the rest-pose surface.
"""

from __future__ import annotations

import functools

import numpy as np

from privpose_ros.data.anny_model import landmarks, load_anny
from privpose_ros.data.gl_render import NUM_REGIONS, PersonLook

SKIN, HAIR, TOP, BOTTOM, SHOES, IRIS, SCLERA, LIPS = range(NUM_REGIONS)
PLAIN, STRIPES, CHECKS, NOISE, DOTS = range(5)

# body parts, by the prefix of the dominant bone's name
(P_HEAD, P_NECK, P_TORSO, P_UPPER_ARM_1, P_UPPER_ARM_2, P_FOREARM, P_HAND, P_PELVIS, P_THIGH_1,
 P_THIGH_2, P_SHIN, P_FOOT, P_EYEBALL, P_BROW, P_MOUTH) = range(15)  # fmt: skip
_IRIS_PART, _LIPS_PART = -1, -2  # vertex_parts' marks inside the eyeballs and the mouth
_PART_OF_BONE = (
    ("eye", P_EYEBALL),
    ("oculi", P_BROW),
    ("oris", P_MOUTH),
    ("tongue", P_MOUTH),
    ("upperarm01", P_UPPER_ARM_1),
    ("upperarm02", P_UPPER_ARM_2),
    ("lowerarm", P_FOREARM),
    ("wrist", P_HAND),
    ("finger", P_HAND),
    ("metacarpal", P_HAND),
    ("upperleg01", P_THIGH_1),
    ("upperleg02", P_THIGH_2),
    ("lowerleg", P_SHIN),
    ("foot", P_FOOT),
    ("toe", P_FOOT),
    ("neck", P_NECK),
    ("root", P_PELVIS),
    ("pelvis", P_PELVIS),
    ("spine05", P_PELVIS),
    ("spine", P_TORSO),
    ("breast", P_TORSO),
    ("clavicle", P_TORSO),
    ("shoulder", P_TORSO),
)
# skin tones spanning the Fitzpatrick range (linear RGB), hair colours
SKIN_TONES = np.array(
    [
        [0.87, 0.69, 0.58],
        [0.80, 0.58, 0.45],
        [0.68, 0.46, 0.33],
        [0.52, 0.33, 0.21],
        [0.36, 0.21, 0.12],
        [0.22, 0.12, 0.07],
        [0.12, 0.07, 0.04],
    ]
)
HAIR_COLOURS = np.array(
    [
        [0.02, 0.015, 0.01],
        [0.09, 0.05, 0.025],
        [0.25, 0.14, 0.06],
        [0.62, 0.48, 0.26],
        [0.45, 0.45, 0.45],
        [0.40, 0.12, 0.04],
    ]
)
IRIS_COLOURS = np.array(
    [[0.03, 0.02, 0.01], [0.12, 0.06, 0.02], [0.08, 0.12, 0.2], [0.1, 0.14, 0.06]]
)
SLEEVES = ((), (P_UPPER_ARM_1,), (P_UPPER_ARM_1, P_UPPER_ARM_2),
           (P_UPPER_ARM_1, P_UPPER_ARM_2, P_FOREARM))  # fmt: skip
LEGS = ((P_THIGH_1,), (P_THIGH_1, P_THIGH_2), (P_THIGH_1, P_THIGH_2, P_SHIN))


@functools.lru_cache(maxsize=1)
def vertex_parts() -> tuple[np.ndarray, np.ndarray]:
    """(V,) body part of each vertex and (V,) scalp rank: how far down the head a vertex is
    (0 at the crown, growing towards the face and neck); hair covers ranks below its length."""
    model = load_anny()
    lm = landmarks()
    names = list(model.joint_names)
    part_of = np.full(len(names), P_HEAD)
    for j, name in enumerate(names):
        for prefix, part in _PART_OF_BONE:
            if name.startswith(prefix):
                part_of[j] = part
                break
    parts = part_of[lm.dominant_bone]
    ident = model.prepare_identity(shape=np.full((1, 6), 0.5))
    verts = ident["rest_vertices"][0]
    pos = ident["rest_skeleton_transforms"][0, :, :3, 3]
    # the front cap of each eyeball is the iris; the mouth's lips are a band 2 cm high
    eye = np.where(verts[:, :1] > 0, pos[lm.bone["eye.L"]], pos[lm.bone["eye.R"]])
    iris = (parts == P_EYEBALL) & (verts[:, 1] < eye[:, 1] - 0.008)
    mouth = parts == P_MOUTH
    mouth_z = np.median(verts[mouth, 2])
    lips = mouth & (np.abs(verts[:, 2] - mouth_z) < 0.01) & (np.abs(verts[:, 0]) < 0.027)
    parts = np.where(iris, _IRIS_PART, np.where(lips, _LIPS_PART, parts))
    top = verts[lm.head_top]
    eye_y = pos[lm.bone["eye.L"], 1]
    # crown distance; the face (in front of the eyes' plane) never gets hair
    rank = np.linalg.norm(verts - top, axis=1)
    face = verts[:, 1] < eye_y + 0.025
    rank = np.where(face & (verts[:, 2] < top[2] - 0.05), np.inf, rank)
    rank = np.where((parts == P_HEAD) | (parts == P_NECK), rank, np.inf)
    return parts, rank.astype(np.float32)


def _colour(rng: np.random.Generator, count: int) -> np.ndarray:
    base = rng.uniform(0.03, 0.9, (count, 3)) ** 1.6
    grey = rng.random(count) < 0.3  # black, white and grey clothes are common
    return np.where(grey[:, None], rng.uniform(0.02, 0.8, (count, 1)) ** 1.5, base)


def sample_looks(rng: np.random.Generator, count: int) -> list[PersonLook]:
    """``count`` random outfits, skin tones and hair."""
    parts, rank = vertex_parts()
    looks = []
    for _ in range(count):
        skin = SKIN_TONES[rng.integers(0, len(SKIN_TONES))] * rng.uniform(0.9, 1.1, 3)
        hair = HAIR_COLOURS[rng.integers(0, len(HAIR_COLOURS))] * rng.uniform(0.8, 1.2)
        top_parts = (P_TORSO, *SLEEVES[rng.choice(4, p=[0.15, 0.4, 0.1, 0.35])])
        bottom_parts = (P_PELVIS, *LEGS[rng.choice(3, p=[0.2, 0.2, 0.6])])
        # the outfit as a table: body part -> region (parts are -2 .. 14, offset by 2)
        table = np.full(P_MOUTH + 3, SKIN, np.float32)
        table[np.array(bottom_parts) + 2] = BOTTOM
        table[np.array(top_parts) + 2] = TOP
        if rng.random() < 0.5:  # a long top or dress covers the pelvis
            table[P_PELVIS + 2] = TOP
        table[P_FOOT + 2] = SHOES if rng.random() < 0.9 else SKIN
        table[[P_BROW + 2, P_EYEBALL + 2, _IRIS_PART + 2, _LIPS_PART + 2]] = (
            HAIR,
            SCLERA,
            IRIS,
            LIPS,
        )
        region = table[parts + 2]
        hair_len = rng.choice([0.0, 0.10, 0.15, 0.22], p=[0.1, 0.4, 0.3, 0.2])
        region[rank < hair_len] = HAIR
        iris = IRIS_COLOURS[rng.integers(0, len(IRIS_COLOURS))]
        lips = skin * np.array([0.8, 0.55, 0.55])
        colour_a = np.stack([skin, hair, *_colour(rng, 3), iris, [0.75, 0.72, 0.68], lips])
        colour_b = colour_a.copy()
        pattern = np.zeros((NUM_REGIONS, 4), np.float32)
        for r in (TOP, BOTTOM, SHOES):
            kind = rng.choice(5, p=[0.45, 0.2, 0.12, 0.13, 0.1]) if r != SHOES else PLAIN
            colour_b[r] = np.clip(
                colour_a[r] * rng.uniform(0.3, 1.8) + rng.normal(0, 0.12, 3), 0, 1
            )
            pattern[r] = (kind, rng.uniform(4.0, 20.0), rng.uniform(0, 1), rng.normal(0, 0.4))
        # skin and hair: faint noise (pores, strands) instead of flat colour
        colour_b[SKIN] = skin * 0.9
        colour_b[HAIR] = hair * 0.7
        pattern[SKIN] = (NOISE, 30.0, rng.uniform(0, 1), 0.0)
        pattern[HAIR] = (STRIPES, 120.0, rng.uniform(0, 1), 1.57)
        looks.append(PersonLook(region, colour_a, colour_b, pattern))
    return looks
