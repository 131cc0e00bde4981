"""Re-identification: a person who leaves and comes back gets their old id.

A track that expires is remembered for ``ReidConfig.window_s`` with its signature:

- **metric body proportions**: the lengths in metres of ten long bones (upper / lower arms and
  legs, shoulder and hip widths, the torso), the median over the track's observations. Only a
  metric system has them, and they do not change when a person turns or changes pose;
- **appearance**: a colour histogram of the torso and thighs (rg chromaticity 6 x 6 plus 4
  brightness bins weighted 3 : 1, pixels sampled between the person's 2D joints), averaged
  over the track.

A new detection that no live track explains is compared with the remembered tracks; the best
one-to-one assignment (``scipy.optimize.linear_sum_assignment``) above ``min_similarity``
(appearance required; bone lengths weigh in where both signatures have them) gives the old id
back. Image regions cut by the image border are not sampled (they would show the background).
A remembered id is handed out once and only while its track is gone, so no id is ever held by
two people at once.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.joints import CANONICAL
from privpose_ros.core.pose import PersonPose

_J = {name: i for i, name in enumerate(CANONICAL.joint_names)}
BONES: tuple[tuple[int, int], ...] = tuple(
    (_J[a], _J[b])
    for a, b in (
        ("left_shoulder", "left_elbow"),
        ("right_shoulder", "right_elbow"),
        ("left_elbow", "left_wrist"),
        ("right_elbow", "right_wrist"),
        ("left_hip", "left_knee"),
        ("right_hip", "right_knee"),
        ("left_knee", "left_ankle"),
        ("right_knee", "right_ankle"),
        ("left_shoulder", "right_shoulder"),
        ("left_hip", "right_hip"),
    )
)
_TORSO = (_J["neck"], _J["pelvis"])
CHROMA_BINS, BRIGHT_BINS = 6, 4
HISTOGRAM_SIZE = CHROMA_BINS * CHROMA_BINS + BRIGHT_BINS
BRIGHT_WEIGHT = 0.25  # share of the brightness bins in the histogram
BONE_WEIGHT = 0.4  # share of the bone lengths in the similarity (appearance: the rest)
MIN_BONES = 4  # bone lengths two signatures must share to be compared on them
# regions sampled for the appearance: (from joints, to joints) -> a quadrilateral grid
_REGIONS = (
    ((_J["left_shoulder"], _J["right_shoulder"]), (_J["left_hip"], _J["right_hip"])),
    ((_J["left_hip"], _J["right_hip"]), (_J["left_knee"], _J["right_knee"])),
)


@dataclass(frozen=True)
class ReidConfig:
    """``window_s`` (s): how long a departed person is remembered (0: no re-identification).
    ``min_similarity`` (0-1): the least combined similarity to give an old id back.
    ``bone_tolerance`` (relative): a mean bone-length difference of this much scores 0 (half of
    it 0.5; monocular bones of one person vary by 10-30 % between views).
    ``min_appearance`` (0-1): the least histogram intersection, whatever the bones say.
    ``min_joint_confidence``: joints used for bones and sampling. ``history``: observations
    kept per track for the median bone lengths. ``settle_s`` (s): a new track first seen too
    little to be compared (a person walking in, seen in part) that matches a departed person
    within this time of appearing takes that person's id; a track comparable from its first
    frame is decided then and never renamed."""

    window_s: float = 30.0
    min_similarity: float = 0.6
    bone_tolerance: float = 0.4
    min_appearance: float = 0.5
    min_joint_confidence: float = 0.5
    history: int = 30
    settle_s: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.window_s) and self.window_s >= 0):
            raise PrivposeInputError(f"ReidConfig.window_s must be >= 0, got {self.window_s}")
        for name in ("min_similarity", "min_appearance", "min_joint_confidence"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise PrivposeInputError(f"ReidConfig.{name} must be in [0, 1]")
        if not self.settle_s >= 0:
            raise PrivposeInputError(f"ReidConfig.settle_s must be >= 0, got {self.settle_s}")
        if not self.bone_tolerance > 0 or int(self.history) < 1:
            raise PrivposeInputError("ReidConfig.bone_tolerance must be > 0 and history >= 1")


def bone_lengths_m(person: PersonPose, min_confidence: float) -> np.ndarray:
    """(11,) metres: the ten BONES and the torso (neck-pelvis) of a canonical person; NaN where
    a joint is unknown or below ``min_confidence``."""
    if person.joint_set.name != CANONICAL.name:
        return np.full(len(BONES) + 1, np.nan)
    joints = person.joints_cam_m
    ok = np.isfinite(joints).all(axis=1) & (np.nan_to_num(person.confidence) >= min_confidence)
    out = []
    for a, b in (*BONES, _TORSO):
        out.append(float(np.linalg.norm(joints[a] - joints[b])) if ok[a] and ok[b] else np.nan)
    return np.asarray(out)


def appearance_histogram(
    rgb: np.ndarray, person: PersonPose, min_confidence: float
) -> np.ndarray | None:
    """(HISTOGRAM_SIZE,) colour histogram (sums to 1) of the torso and thighs of ``person`` in
    ``rgb`` (H, W, 3) uint8, None when those joints are not confidently in the image."""
    if person.joints_px is None or person.joint_set.name != CANONICAL.name:
        return None
    px, conf = person.joints_px, np.nan_to_num(person.confidence)
    h, w = rgb.shape[:2]
    samples = []
    steps = (np.arange(8) + 0.5) / 8
    for (a0, a1), (b0, b1) in _REGIONS:
        corners = (a0, a1, b0, b1)
        if not all(np.isfinite(px[j]).all() and conf[j] >= min_confidence for j in corners):
            continue
        inside = [0 <= px[j][0] < w and 0 <= px[j][1] < h for j in corners]
        if not all(inside):  # a region cut by the image border samples the background
            continue
        top = px[a0][None] + steps[:, None] * (px[a1] - px[a0])[None]  # (8, 2) along the top
        bottom = px[b0][None] + steps[:, None] * (px[b1] - px[b0])[None]
        grid = top[None] + steps[:, None, None] * (bottom - top)[None]  # (8, 8, 2)
        samples.append(grid.reshape(-1, 2))
    if not samples:
        return None
    uv = np.rint(np.concatenate(samples)).astype(np.int64)
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
    if inside.sum() < 16:
        return None
    colours = rgb[uv[inside, 1], uv[inside, 0]].astype(np.float64)
    total = colours.sum(axis=1) + 1e-6
    r, g = colours[:, 0] / total, colours[:, 1] / total
    chroma = np.clip((r * CHROMA_BINS).astype(int), 0, CHROMA_BINS - 1) * CHROMA_BINS
    chroma += np.clip((g * CHROMA_BINS).astype(int), 0, CHROMA_BINS - 1)
    bright = np.clip((total / (3 * 256.0) * BRIGHT_BINS).astype(int), 0, BRIGHT_BINS - 1)
    chroma_hist = np.bincount(chroma, minlength=CHROMA_BINS**2) / len(chroma)
    bright_hist = np.bincount(bright, minlength=BRIGHT_BINS) / len(bright)
    # colour says more than brightness, which changes with the light on the way
    return np.concatenate([(1.0 - BRIGHT_WEIGHT) * chroma_hist, BRIGHT_WEIGHT * bright_hist])


@dataclass
class Signature:
    """What a track looked like: bone-length observations and a running colour histogram."""

    history: int
    bones: deque = field(default_factory=deque)
    histogram: np.ndarray | None = None
    seen: int = 0

    def add(self, bones_m: np.ndarray, histogram: np.ndarray | None) -> None:
        if np.isfinite(bones_m).any():
            self.bones.append(bones_m)
            while len(self.bones) > self.history:
                self.bones.popleft()
        if histogram is not None:
            self.seen += 1
            if self.histogram is None:
                self.histogram = histogram.copy()
            else:  # running mean over the first observations, then a slow update
                rate = max(1.0 / self.seen, 0.05)
                self.histogram = (1.0 - rate) * self.histogram + rate * histogram

    @property
    def informative(self) -> bool:
        """Whether it can be compared: >= MIN_BONES bone lengths and a colour histogram."""
        known = int(np.isfinite(self.median_bones_m).sum())
        return self.histogram is not None and known >= MIN_BONES

    @property
    def median_bones_m(self) -> np.ndarray:
        if not self.bones:
            return np.full(len(BONES) + 1, np.nan)
        stack = np.stack(self.bones)
        out = np.full(stack.shape[1], np.nan)
        known = np.isfinite(stack).any(axis=0)
        out[known] = np.nanmedian(stack[:, known], axis=0)
        return out


def similarity(a: Signature, b: Signature, config: ReidConfig) -> float:
    """Combined similarity in [0, 1] of two signatures: appearance and (where both have
    MIN_BONES) bone lengths; 0 when appearance is missing on either side or disagrees (bone
    lengths alone would confuse people of one size)."""
    if a.histogram is None or b.histogram is None:
        return 0.0
    scores, weights = [], []
    ba, bb = a.median_bones_m, b.median_bones_m
    both = np.isfinite(ba) & np.isfinite(bb) & (bb > 0)
    if both.sum() >= MIN_BONES:
        rel = float(np.mean(np.abs(ba[both] - bb[both]) / bb[both]))
        scores.append(max(0.0, 1.0 - rel / config.bone_tolerance))
        weights.append(BONE_WEIGHT)
    overlap = float(np.minimum(a.histogram, b.histogram).sum())
    if overlap < config.min_appearance:
        return 0.0
    scores.append(overlap)
    weights.append(1.0 - BONE_WEIGHT)
    return float(np.average(scores, weights=weights))


@dataclass
class _Departed:
    track_id: int
    signature: Signature
    left_ns: int


class Gallery:
    """The departed persons of one tracker, each id given back at most once."""

    def __init__(self, config: ReidConfig) -> None:
        self.config = config
        self._departed: list[_Departed] = []
        self.reidentified = 0

    def __len__(self) -> int:
        return len(self._departed)

    def remember(self, track_id: int, signature: Signature, left_ns: int) -> None:
        if self.config.window_s > 0 and (signature.bones or signature.histogram is not None):
            self._departed.append(_Departed(track_id, signature, int(left_ns)))

    def forget_older_than(self, stamp_ns: int) -> None:
        limit_ns = self.config.window_s * 1e9
        self._departed = [d for d in self._departed if stamp_ns - d.left_ns <= limit_ns]

    def clear(self) -> None:
        self._departed = []

    def match(self, signatures: list[Signature]) -> list[int | None]:
        """The old id for each new signature (None: a new person); each old id at most once,
        and it leaves the gallery."""
        departed = [(d.track_id, d.signature) for d in self._departed]
        out = match_signatures(signatures, departed, self.config)
        taken = {i for i in out if i is not None}
        self._departed = [d for d in self._departed if d.track_id not in taken]
        self.reidentified += len(taken)
        return out


def match_signatures(
    signatures: list[Signature],
    candidates: list[tuple[int, Signature]],
    config: ReidConfig,
    allowed: np.ndarray | None = None,
) -> list[int | None]:
    """The candidate id for each signature by the best one-to-one assignment with similarity
    >= ``config.min_similarity`` (None: no candidate); each candidate id at most once.
    ``allowed`` (candidates, signatures) bool: pairs that may match at all (default every)."""
    out: list[int | None] = [None] * len(signatures)
    if not signatures or not candidates:
        return out
    sim = np.array([[similarity(s, c, config) for s in signatures] for _, c in candidates])
    if allowed is not None:
        sim = np.where(allowed, sim, 0.0)
    rows, cols = linear_sum_assignment(sim, maximize=True)
    for r, c in zip(rows, cols, strict=True):
        if sim[r, c] >= config.min_similarity:
            out[c] = candidates[r][0]
    return out
