"""Multi-person tracking by detection: stable person ids across frames.

Each frame, every live track is predicted to the new stamp with a damped constant-velocity model
(image centre in px/s, 3D centre in m/s, both estimated from the track's own matched
observations and their stamps). Tracks and detections are compared by an OKS-like keypoint
similarity on ``joints_px`` (confidence weighted, scale from the box area) mixed with box IoU;
the 3D centre distance (pelvis, else the joints' mean, metres in the camera optical frame) gates
pairs when both sides have one. ``scipy.optimize.linear_sum_assignment`` finds the
maximum-similarity matching; pairs under ``min_similarity`` never match. Unmatched detections
start new tracks, unless re-identification (:mod:`privpose_ros.track.reid`) recognises a
person who left within ``reid.window_s`` by their metric bone lengths and appearance: they get
their old id back. Tracks unseen for longer than ``max_age_s`` end (and are remembered for
re-identification). Ids start at 1,
increase and are never reused, not even after ``reset()``; trackers that share an
:class:`IdSource` (one per node, across reconfigures) never reuse each other's ids either.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import linear_sum_assignment

from privpose_ros.core.crop import box_iou
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.joints import CANONICAL, JointSet
from privpose_ros.core.pose import PersonPose
from privpose_ros.track.reid import (
    Gallery,
    ReidConfig,
    Signature,
    appearance_histogram,
    bone_lengths_m,
    match_signatures,
)
from privpose_ros.track.smoothing import check_stamp_ns

LOG = logging.getLogger(__name__)

NOMINAL_HEIGHT_M = 1.7  # converts max_speed_mps into box heights per second in the image

# COCO keypoint sigmas (Ronchi & Perona 2017) mapped to the canonical joints; joints COCO lacks
# borrow their nearest COCO neighbour's (torso ones the hips', hands the wrists', feet ankles').
_COCO_SIGMA = {"nose": 0.026, "eye": 0.025, "ear": 0.035, "shoulder": 0.079, "elbow": 0.072}
_COCO_SIGMA |= {"wrist": 0.062, "hip": 0.107, "knee": 0.087, "ankle": 0.089}
_CANONICAL_SIGMA = {
    "pelvis": 0.107,
    "spine": 0.107,
    "neck": 0.079,
    "head": 0.035,
    "head_top": 0.035,
    "hand": 0.062,
    "foot": 0.089,
}


def _joint_sigmas(joint_set: JointSet) -> np.ndarray:
    """Per-joint OKS sigma (fraction of object scale); 0.07 for joints without a COCO match."""
    out = []
    for name in joint_set.joint_names:
        part = name.removeprefix("left_").removeprefix("right_")
        out.append(_CANONICAL_SIGMA.get(name, _COCO_SIGMA.get(part, 0.07)))
    return np.asarray(out, dtype=np.float64)


def _mirror_order(joint_set: JointSet) -> np.ndarray:
    """Joint indices with every left_* and right_* joint swapped."""
    names = joint_set.joint_names
    swap = {"left_": "right_", "right_": "left_"}
    out = []
    for name in names:
        side = next((k for k in swap if name.startswith(k)), None)
        out.append(names.index(swap[side] + name[len(side) :]) if side else names.index(name))
    return np.asarray(out, dtype=np.int64)


@dataclass(frozen=True)
class TrackerConfig:
    """Association parameters.

    ``max_age_s`` (s): a track not matched for longer is deleted (1 s bridges an occlusion by a
    passer-by at walking speed without keeping ghosts).
    ``min_similarity`` (0-1): pairs below never match. In the crossing test (30 Hz) a person
    scores 0.96 on average against its own track (0.67 at worst, right after an occlusion) and
    up to 0.55 against the other, overlapping one; the assignment settles that, the threshold
    only stops a detection from taking over an unrelated track it barely touches.
    ``keypoint_weight`` (0-1): share of the OKS in the 2D similarity, the rest is box IoU. 0.7:
    keypoints tell apart crossing people whose boxes overlap; IoU steadies the score when few
    joints are confident.
    ``oks_sigma_scale``: multiplies the COCO per-joint sigmas. 1.0 with the box area as the
    scale (COCO uses the ~2x smaller segment area) tolerates ~0.16 of the person's size on the
    torso, which absorbs one frame of prediction error and a few px of detector noise.
    ``min_joint_confidence``: joints below on either side are left out of the OKS.
    ``gate_3d_m`` (m): a pair whose predicted 3D centres are farther apart never matches.
    2.0 m: the depth-lifted centre of a person partly hidden by a nearer one jumps to the
    occluder's depth (1-1.5 m in the real-people crossing sequence of ``privpose eval
    --tracking``, where a 1.0 m gate gave 13 id switches in 300 frames and 2.0 m gave 4); it
    still separates people who overlap in the image only because one is far behind the other;
    ``gate_growth_mps`` (m/s) widens it per second a
    track went unseen.
    ``max_speed_mps`` (m/s): velocity estimates are clipped to this (3 m/s: a fast walk / jog),
    in the image to ``max_speed_mps / 1.7 m`` box heights per second.
    ``velocity_time_constant_s`` (s): low-pass of the velocity estimate (0.2 s: a few frames).
    ``velocity_decay_s`` (s): the predicted velocity decays with this time constant over a
    gap, so a track unseen for t moves ``v * tau * (1 - exp(-t / tau))``, at most ``v * tau``.
    ``reid``: re-identification of persons who come back (window 0: off).
    """

    max_age_s: float = 1.0
    min_similarity: float = 0.2
    keypoint_weight: float = 0.7
    oks_sigma_scale: float = 1.0
    min_joint_confidence: float = 0.1
    gate_3d_m: float = 2.0
    gate_growth_mps: float = 1.0
    max_speed_mps: float = 3.0
    velocity_time_constant_s: float = 0.2
    velocity_decay_s: float = 0.5
    reid: ReidConfig = field(default_factory=ReidConfig)

    def __post_init__(self) -> None:
        positive = ("max_age_s", "oks_sigma_scale", "gate_3d_m", "max_speed_mps")
        positive += ("velocity_time_constant_s", "velocity_decay_s")
        for name in positive:
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise PrivposeInputError(f"TrackerConfig.{name} must be > 0, got {value}")
        for name in ("min_similarity", "keypoint_weight", "min_joint_confidence"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise PrivposeInputError(f"TrackerConfig.{name} must be in [0, 1], got {value}")
        if not (math.isfinite(self.gate_growth_mps) and self.gate_growth_mps >= 0):
            raise PrivposeInputError(
                f"TrackerConfig.gate_growth_mps must be >= 0, got {self.gate_growth_mps}"
            )


@dataclass
class _Obs:
    """What association needs from one detection; px rows of unusable joints are NaN."""

    joint_set: JointSet
    px: np.ndarray | None  # (J, 2) pixels
    conf: np.ndarray  # (J,)
    box: np.ndarray | None  # (4,) x0, y0, x1, y1 pixels (given, else the joints' extent)
    center_m: np.ndarray | None  # (3,) metres, camera optical frame

    @property
    def center_px(self) -> np.ndarray | None:
        return None if self.box is None else 0.5 * (self.box[:2] + self.box[2:])


def _observe(p: PersonPose, min_conf: float) -> _Obs:
    conf = np.where(np.isfinite(p.confidence), p.confidence, 0.0)
    px = None
    box = None if p.box_px is None or not np.isfinite(p.box_px).all() else p.box_px.copy()
    if p.joints_px is not None:
        use = np.isfinite(p.joints_px).all(axis=1) & (conf >= min_conf)
        if use.any():
            px = np.where(use[:, None], p.joints_px, np.nan)
            if box is None:
                box = np.concatenate([px[use].min(axis=0), px[use].max(axis=0)])
    finite = np.isfinite(p.joints_cam_m).all(axis=1)
    center = None
    if "pelvis" in p.joint_set.joint_names and finite[p.joint_set.index("pelvis")]:
        center = p.joints_cam_m[p.joint_set.index("pelvis")].copy()
    elif finite.any():
        center = p.joints_cam_m[finite].mean(axis=0)
    return _Obs(p.joint_set, px, conf, box, center)


@dataclass
class _Track:
    track_id: int
    obs: _Obs
    last_ns: int
    vel_px_s: np.ndarray  # (2,) image velocity of the box centre, px/s
    vel_m_s: np.ndarray  # (3,) velocity of the 3D centre, m/s
    signature: Signature  # what the person looks like, for re-identification
    # a new track may still turn out to be a returning person until it settles
    born_ns: int = 0
    settled: bool = False


def _clip_norm(v: np.ndarray, limit: float) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v * (limit / norm) if norm > limit else v


class IdSource:
    """Person ids ``first``, ``first + 1``, ... each given once (thread-safe). A node keeps one
    for its whole life and hands it to every tracker it builds, so ids are never reused."""

    def __init__(self, first: int = 1) -> None:
        if isinstance(first, bool) or not isinstance(first, int) or first < 1:
            raise PrivposeInputError(f"first id must be an int >= 1, got {first!r}")
        self._next = first
        self._lock = threading.Lock()

    @property
    def next_id(self) -> int:
        """The id the next :meth:`take` gives."""
        return self._next

    def take(self) -> int:
        with self._lock:
            taken, self._next = self._next, self._next + 1
            return taken


class PersonTracker:
    """Gives each person a stable ``person_id`` across frames (see the module docstring).

    ``ids``: where new ids come from (default: a source of its own, starting at 1); the node
    passes one source to each tracker of its life."""

    def __init__(
        self, config: TrackerConfig = TrackerConfig(), ids: IdSource | None = None
    ) -> None:
        if not isinstance(config, TrackerConfig):
            raise PrivposeInputError(
                f"config must be a TrackerConfig, got {type(config).__name__}"
            )
        if ids is not None and not isinstance(ids, IdSource):
            raise PrivposeInputError(f"ids must be an IdSource, got {type(ids).__name__}")
        self.config = config
        self.ids = ids if ids is not None else IdSource()
        self._tracks: list[_Track] = []
        self._last_ns: int | None = None
        self.gallery = Gallery(config.reid)
        self._sigmas = {CANONICAL.name: _joint_sigmas(CANONICAL)}

    @property
    def active_ids(self) -> tuple[int, ...]:
        """Ids of the tracks currently held (matched within the last ``max_age_s``)."""
        return tuple(sorted(t.track_id for t in self._tracks))

    @property
    def reidentified(self) -> int:
        """Persons given their old id back since construction."""
        return self.gallery.reidentified

    def reset(self) -> None:
        """Forget all tracks, the departed persons and the last stamp (e.g. on a clock jump);
        ids are not reused."""
        self._tracks = []
        self._last_ns = None
        self.gallery.clear()

    def update(
        self, persons: Sequence[PersonPose], stamp_ns: int, rgb: np.ndarray | None = None
    ) -> tuple[PersonPose, ...]:
        """``persons`` seen at ``stamp_ns`` (int ns), same order, ``person_id`` = track id;
        ``rgb`` (H, W, 3) uint8, the image they were found in, gives re-identification their
        appearance (without it only their bone lengths are compared)."""
        stamp = check_stamp_ns(stamp_ns)
        if self._last_ns is not None and stamp < self._last_ns:
            raise PrivposeInputError(
                f"stamp_ns {stamp} is before the previous update's {self._last_ns}; stamps "
                f"must not go backwards: call reset() after a clock jump (e.g. a looping bag)"
            )
        persons = tuple(persons)
        for p in persons:
            if not isinstance(p, PersonPose):
                raise PrivposeInputError(
                    f"persons must be PersonPose objects, got {type(p).__name__}"
                )
        self._last_ns = stamp
        max_age_ns = self.config.max_age_s * 1e9
        alive = []
        for track in self._tracks:
            if stamp - track.last_ns <= max_age_ns:
                alive.append(track)
            else:
                self.gallery.remember(track.track_id, track.signature, track.last_ns)
        self._tracks = alive
        self.gallery.forget_older_than(stamp)
        dets = [_observe(p, self.config.min_joint_confidence) for p in persons]
        looks = [self._looks(p, rgb) for p in persons]
        ids = [0] * len(dets)
        matched: set[int] = set()
        if dets and self._tracks:
            sim = self._similarity(dets, stamp)
            rows, cols = linear_sum_assignment(sim, maximize=True)
            for ti, di in zip(rows, cols, strict=True):
                if sim[ti, di] >= self.config.min_similarity and sim[ti, di] > 0:
                    self._absorb(self._tracks[ti], dets[di], stamp)
                    self._tracks[ti].signature.add(*looks[di])
                    self._settle(self._tracks[ti], stamp)
                    ids[di] = self._tracks[ti].track_id
                    matched.add(int(di))
        new = [di for di in range(len(dets)) if di not in matched]
        signatures = [Signature(self.config.reid.history) for _ in new]
        for di, signature in zip(new, signatures, strict=True):
            signature.add(*looks[di])
        new, signatures = self._resume(new, signatures, dets, looks, ids, stamp)
        old_ids = self.gallery.match(signatures)
        for di, signature, old in zip(new, signatures, old_ids, strict=True):
            track_id = old if old is not None else self.ids.take()
            track = _Track(
                track_id,
                dets[di],
                stamp,
                np.zeros(2),
                np.zeros(3),
                signature,
                stamp,
                # decided at once when re-identified or when it could be compared already
                old is not None or signature.informative,
            )
            self._tracks.append(track)
            ids[di] = track.track_id
        return tuple(replace(p, person_id=i) for p, i in zip(persons, ids, strict=True))

    def _settle(self, track: _Track, stamp: int) -> None:
        """A young track (under ``reid.settle_s``) whose signature now matches a departed person
        takes that person's id (a returning person first seen half in the image)."""
        if track.settled:
            return
        if stamp - track.born_ns > self.config.reid.settle_s * 1e9:
            track.settled = True
            return
        (old,) = self.gallery.match([track.signature])
        if old is not None:
            track.track_id, track.settled = old, True

    def _resume(
        self,
        new: list[int],
        signatures: list[Signature],
        dets: list[_Obs],
        looks: list[tuple[np.ndarray, np.ndarray | None]],
        ids: list[int],
        stamp: int,
    ) -> tuple[list[int], list[Signature]]:
        """Detections left over that look like a live track this frame did not match (a
        person half out of the image, whose keypoints jumped) continue that track; the rest
        (indices into ``dets`` and their signatures) are returned."""
        matched_ids = set(ids)
        idle = [t for t in self._tracks if t.track_id not in matched_ids and t.last_ns < stamp]
        if self.config.reid.window_s <= 0 or not new or not idle:
            return new, signatures
        allowed = np.ones((len(idle), len(new)), bool)  # within the 3D gate only
        for ti, track in enumerate(idle):
            gap_s = (stamp - track.last_ns) * 1e-9
            pred = self._predict(track, gap_s)
            gate_m = self.config.gate_3d_m + self.config.gate_growth_mps * gap_s
            for k, di in enumerate(new):
                if pred.center_m is not None and dets[di].center_m is not None:
                    allowed[ti, k] = np.linalg.norm(pred.center_m - dets[di].center_m) <= gate_m
        candidates = [(t.track_id, t.signature) for t in idle]
        found = match_signatures(signatures, candidates, self.config.reid, allowed)
        by_id = {t.track_id: t for t in idle}
        rest_new, rest_sig = [], []
        for di, signature, track_id in zip(new, signatures, found, strict=True):
            if track_id is None:
                rest_new.append(di)
                rest_sig.append(signature)
                continue
            track = by_id[track_id]
            track.obs, track.last_ns = dets[di], stamp  # a jump: no velocity from it
            track.vel_px_s, track.vel_m_s = np.zeros(2), np.zeros(3)
            track.signature.add(*looks[di])
            ids[di] = track_id
        return rest_new, rest_sig

    def _looks(
        self, person: PersonPose, rgb: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Bone lengths (m) and colour histogram (None without ``rgb``) of one detection."""
        conf = self.config.reid.min_joint_confidence
        histogram = None if rgb is None else appearance_histogram(rgb, person, conf)
        return bone_lengths_m(person, conf), histogram

    # association

    def _similarity(self, dets: list[_Obs], stamp: int) -> np.ndarray:
        """(tracks, detections) similarity in [0, 1]; pairs under min_similarity are 0."""
        sim = np.zeros((len(self._tracks), len(dets)))
        for ti, track in enumerate(self._tracks):
            gap_s = (stamp - track.last_ns) * 1e-9
            pred = self._predict(track, gap_s)
            gate_m = self.config.gate_3d_m + self.config.gate_growth_mps * gap_s
            for di, det in enumerate(dets):
                sim[ti, di] = self._pair_similarity(pred, det, gate_m)
        sim[sim < self.config.min_similarity] = 0.0
        return sim

    def _predict(self, track: _Track, gap_s: float) -> _Obs:
        tau = self.config.velocity_decay_s
        travel_s = tau * (1.0 - math.exp(-gap_s / tau))  # damped constant velocity
        shift_px = track.vel_px_s * travel_s
        o = track.obs
        return _Obs(
            o.joint_set,
            None if o.px is None else o.px + shift_px,
            o.conf,
            None if o.box is None else o.box + np.tile(shift_px, 2),
            None if o.center_m is None else o.center_m + track.vel_m_s * travel_s,
        )

    def _pair_similarity(self, pred: _Obs, det: _Obs, gate_m: float) -> float:
        dist_m = None
        if pred.center_m is not None and det.center_m is not None:
            dist_m = float(np.linalg.norm(pred.center_m - det.center_m))
            if dist_m > gate_m:
                return 0.0
        oks = self._oks(pred, det)
        iou = (
            None
            if pred.box is None or det.box is None
            else float(box_iou(pred.box, det.box)[0, 0])
        )
        if oks is not None and iou is not None:
            w = self.config.keypoint_weight
            return w * oks + (1.0 - w) * iou
        if oks is not None or iou is not None:
            return oks if oks is not None else iou
        if dist_m is not None:  # 3D only: 1 at zero distance, 0.135 at the gate
            return math.exp(-2.0 * (dist_m / gate_m) ** 2)
        return 0.0

    def _oks(self, pred: _Obs, det: _Obs) -> float | None:
        """Confidence-weighted OKS of two keypoint sets, or None when they share no joint."""
        if pred.px is None or det.px is None or pred.joint_set.name != det.joint_set.name:
            return None
        weight = np.minimum(pred.conf, det.conf)
        usable = np.isfinite(pred.px).all(axis=1) & np.isfinite(det.px).all(axis=1)
        weight = np.where(usable, weight, 0.0)
        if weight.sum() <= 0:
            return None
        sigmas = self._sigmas.get(det.joint_set.name)
        if sigmas is None:
            sigmas = self._sigmas.setdefault(det.joint_set.name, _joint_sigmas(det.joint_set))
        box = det.box
        area = max(float((box[2] - box[0]) * (box[3] - box[1])), 1.0)
        k = 2.0 * sigmas * self.config.oks_sigma_scale
        best = 0.0
        # a person seen from behind may come with left and right swapped: both count
        for order in (slice(None), _mirror_order(det.joint_set)):
            px, conf = det.px[order], det.conf[order]
            ok = np.isfinite(pred.px).all(axis=1) & np.isfinite(px).all(axis=1)
            w = np.where(ok, np.minimum(pred.conf, conf), 0.0)
            if w.sum() <= 0:
                continue
            d2 = np.where(ok, ((pred.px - np.nan_to_num(px)) ** 2).sum(axis=1), 0.0)
            per_joint = np.exp(-d2 / (2.0 * area * k**2))
            best = max(best, float((w * per_joint).sum() / w.sum()))
        return best

    def _absorb(self, track: _Track, det: _Obs, stamp: int) -> None:
        """Update ``track`` with its matched detection; re-estimate its velocities."""
        gap_s = (stamp - track.last_ns) * 1e-9
        if gap_s > 0:
            c = self.config
            gain = 1.0 - math.exp(-gap_s / c.velocity_time_constant_s)
            old_px, new_px = track.obs.center_px, det.center_px
            if old_px is not None and new_px is not None:
                height_px = float(det.box[3] - det.box[1])
                limit = c.max_speed_mps / NOMINAL_HEIGHT_M * height_px
                raw = _clip_norm((new_px - old_px) / gap_s, limit)
                track.vel_px_s = track.vel_px_s + gain * (raw - track.vel_px_s)
            if track.obs.center_m is not None and det.center_m is not None:
                raw = _clip_norm((det.center_m - track.obs.center_m) / gap_s, c.max_speed_mps)
                track.vel_m_s = track.vel_m_s + gain * (raw - track.vel_m_s)
        track.obs = det
        track.last_ns = stamp
