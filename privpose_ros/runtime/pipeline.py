"""The whole per-frame job, without ROS: people -> depth refinement -> tracking -> smoothing.

``PosePipeline.process`` is what the node, ``privpose infer`` and ``privpose eval --real`` run,
so the three give the same answers for the same frame and parameters:

1. the front end (:class:`~privpose_ros.runtime.people.PeopleEstimator`) finds every person,
   with 2D joints and monocular metric 3D;
   with ``PipelineConfig.lifter`` set, the v2 model (:class:`~privpose_ros.runtime.lifter.
   PrivposeLifter`, one batched run on every person's crop) replaces each person's monocular 3D, so
   everything below (RGB-only output, the depth path's fallback skeleton) starts from it;
2. with a depth image registered to the colour one, each person's 2D joints are lifted with it
   and refined (:class:`~privpose_ros.refine.pipeline.RefinementPipeline`); joints without a
   depth reading keep the monocular (or v2) 3D, moved by the person's median monocular-to-depth
   offset so both parts of one skeleton agree, at half their RGB confidence; a limb bone whose
   depth-placed length disagrees with the RGB skeleton's (scaled by the person's depth-measured
   torso) by more than x0.75-1.33 is rebuilt from the RGB bone (a hand on a hip, an elbow lifted
   onto the torso behind it);
3. stable ids (:class:`~privpose_ros.track.tracker.PersonTracker`) and per-joint One Euro
   smoothing on the image stamps (:class:`~privpose_ros.track.smoothing.PoseSmoother`).

Stamps that go backwards (a bag loop, a simulator restart) reset tracking and smoothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

import numpy as np

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.geometry import undistort_px
from privpose_ros.core.joints import CANONICAL
from privpose_ros.core.pose import PersonPose, PoseResult
from privpose_ros.refine.pipeline import RefineConfig, RefinementPipeline
from privpose_ros.runtime.lifter import PrivposeLifter, PrivposeLifterConfig
from privpose_ros.runtime.people import FrontEndConfig, PeopleEstimator
from privpose_ros.track.smoothing import PoseSmoother, SmoothingConfig
from privpose_ros.track.tracker import PersonTracker, TrackerConfig

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineConfig:
    """``refine`` None: no depth refinement (RGB-only 3D even with depth); ``tracking`` None:
    ids are detection ranks per frame; ``smoothing`` None (or without tracking): raw joints;
    ``lifter`` None: the front end's monocular 3D, else the v2 model's 3D for every person."""

    frontend: FrontEndConfig = field(default_factory=FrontEndConfig)
    refine: RefineConfig | None = field(default_factory=RefineConfig)
    tracking: TrackerConfig | None = field(default_factory=TrackerConfig)
    smoothing: SmoothingConfig | None = field(default_factory=SmoothingConfig)
    lifter: PrivposeLifterConfig | None = None


def _with_depth_offsets(refined: PersonPose, mono: PersonPose) -> PersonPose:
    """Joints the depth could not place (lifting confidence 0) take the monocular joint moved
    by the person's median depth-minus-monocular offset, at half their RGB confidence."""
    finite = np.isfinite(refined.joints_cam_m).all(1) & np.isfinite(mono.joints_cam_m).all(1)
    no_depth = (refined.confidence <= 0) & np.isfinite(mono.joints_cam_m).all(1)
    placed = finite & ~no_depth
    if placed.sum() < 3 or not no_depth.any():
        return refined
    offset = np.median(refined.joints_cam_m[placed] - mono.joints_cam_m[placed], axis=0)
    joints = refined.joints_cam_m.copy()
    joints[no_depth] = mono.joints_cam_m[no_depth] + offset
    confidence = refined.confidence.copy()
    confidence[no_depth] = 0.5 * mono.confidence[no_depth]
    return replace(refined, joints_cam_m=joints, confidence=confidence)


_J = {name: i for i, name in enumerate(CANONICAL.joint_names)}
# limb chains, parent first: each child is checked against its parent
_CHAINS = tuple(
    tuple(_J[f"{side}_{part}"] for part in parts)
    for side in ("left", "right")
    for parts in (("shoulder", "elbow", "wrist", "hand"), ("hip", "knee", "ankle", "foot"))
)
_TORSO = tuple(
    (_J[a], _J[b])
    for a, b in (
        ("left_shoulder", "left_hip"),
        ("right_shoulder", "right_hip"),
        ("left_shoulder", "right_shoulder"),
    )
)
BONE_RATIO_RANGE = (0.75, 1.33)


def _limbs_from_monocular(refined: PersonPose, mono: PersonPose) -> PersonPose:
    """Rebuild limb bones whose depth-placed length disagrees with the RGB skeleton's."""
    joints, rgb = refined.joints_cam_m.copy(), mono.joints_cam_m
    ok = np.isfinite(joints).all(1) & np.isfinite(rgb).all(1)
    ratios = [
        np.linalg.norm(joints[a] - joints[b]) / max(float(np.linalg.norm(rgb[a] - rgb[b])), 1e-6)
        for a, b in _TORSO
        if ok[a] and ok[b]
    ]
    if not ratios:
        return refined
    scale = float(np.clip(np.median(ratios), 0.7, 1.4))  # metric size seen by the depth
    lo, hi = BONE_RATIO_RANGE
    for chain in _CHAINS:
        for parent, child in zip(chain[:-1], chain[1:], strict=True):
            if not (ok[parent] and ok[child]):
                continue
            expected = scale * np.linalg.norm(rgb[child] - rgb[parent])
            if (
                expected > 0
                and not lo <= np.linalg.norm(joints[child] - joints[parent]) / expected <= hi
            ):
                joints[child] = joints[parent] + scale * (rgb[child] - rgb[parent])
    return replace(refined, joints_cam_m=joints)


class PosePipeline:
    """One instance per camera stream (tracking state); not thread-safe."""

    def __init__(self, config: PipelineConfig = PipelineConfig()) -> None:
        self.config = config
        self.people = PeopleEstimator(config.frontend)
        self.lifter = PrivposeLifter(config.lifter) if config.lifter is not None else None
        self.refiner = RefinementPipeline(config.refine) if config.refine is not None else None
        self.tracker = PersonTracker(config.tracking) if config.tracking is not None else None
        use_smoothing = config.smoothing is not None and self.tracker is not None
        self.smoother = PoseSmoother(config.smoothing) if use_smoothing else None
        self._last_stamp_ns: int | None = None
        self.resets = 0
        self.times_ms: dict[str, float] = {}

    @property
    def backend_name(self) -> str:
        return self.people.backend_name

    def reset(self) -> None:
        """Forget tracks and filter state (ids keep increasing)."""
        for part in (self.tracker, self.smoother):
            if part is not None:
                part.reset()
        self.people.reset()
        self._last_stamp_ns = None

    def process(
        self,
        rgb: np.ndarray,
        intrinsics: CameraIntrinsics,
        depth_mm: np.ndarray | None = None,
        stamp_ns: int = 0,
        frame_id: str = "",
    ) -> PoseResult:
        """Every person in ``rgb`` (H, W, 3) uint8; ``depth_mm`` (H, W) uint16 registered to it
        or None; joints in metres in the optical frame of ``intrinsics``."""
        stamp_ns = int(stamp_ns)
        if self._last_stamp_ns is not None and stamp_ns < self._last_stamp_ns:
            LOG.warning(
                "image stamps went back by %.3f s: tracking and smoothing reset",
                (self._last_stamp_ns - stamp_ns) * 1e-9,
            )
            self.reset()
            self.resets += 1
        self._last_stamp_ns = stamp_ns
        result = self.people.estimate(rgb, intrinsics, stamp_ns, frame_id)
        times = {
            "detector_ms": self.people.times.detector_ms,
            "landmarks_ms": self.people.times.landmarks_ms,
            "monocular_3d_ms": self.people.times.lifting_ms,
        }
        persons = result.persons
        t0 = time.perf_counter()
        if self.lifter is not None and persons:
            persons = self.lifter.lift(rgb, intrinsics, persons)
        times["lifter_ms"] = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        if depth_mm is not None and self.refiner is not None and persons:
            persons = self._refine(persons, depth_mm, intrinsics)
        t1 = time.perf_counter()
        if self.tracker is not None:
            persons = self.tracker.update(persons, stamp_ns)
        if self.smoother is not None:
            persons = self.smoother.update(persons, stamp_ns)
        times["refine_ms"] = (t1 - t0) * 1e3
        times["tracking_ms"] = (time.perf_counter() - t1) * 1e3
        self.times_ms = times
        return PoseResult(persons=tuple(persons), stamp_ns=stamp_ns, frame_id=frame_id)

    def _refine(
        self, persons: tuple[PersonPose, ...], depth_mm: np.ndarray, intrinsics: CameraIntrinsics
    ) -> tuple[PersonPose, ...]:
        # depth is sampled where the joints are in the raw image; back-projection assumes an
        # ideal pinhole, so distorted cameras hand the refiner undistorted pixels
        ideal = [
            replace(p, joints_px=undistort_px(p.joints_px, intrinsics))
            if p.joints_px is not None
            else p
            for p in persons
        ]
        refined = self.refiner.refine(PoseResult(persons=tuple(ideal)), depth_mm, intrinsics)
        return tuple(
            replace(_limbs_from_monocular(_with_depth_offsets(r, p), p), joints_px=p.joints_px)
            for r, p in zip(refined.persons, persons, strict=True)
        )

    def close(self) -> None:
        self.people.close()
        if self.lifter is not None:
            self.lifter.close()

    def __enter__(self) -> PosePipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
