"""The depth stage of the per-frame pipeline: the RGB skeleton meets the depth map.

``DepthFusion.refine(frame, persons)`` lifts each person's 2D joints with the depth image
registered to the colour one and refines them (:class:`~privpose_ros.refine.pipeline.
RefinementPipeline`; back-projection assumes an ideal pinhole, so distorted cameras hand it
undistorted pixels), then applies the depth-vs-RGB fusion policy:

- joints without a depth reading (lifting confidence 0) keep the RGB lifter's 3D, moved by the
  person's median depth-minus-RGB offset so both parts of one skeleton agree, at half their RGB
  confidence;
- a limb bone whose depth-placed length disagrees with the RGB skeleton's (scaled by the
  person's depth-measured torso) by more than x0.75-1.33 is rebuilt from the RGB bone (a hand
  on a hip, an elbow lifted onto the torso behind it).

A frame without depth passes through unchanged (RGB-only 3D).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from privpose_ros.core.frame import RGBDFrame
from privpose_ros.core.geometry import undistort_px
from privpose_ros.core.joints import CANONICAL
from privpose_ros.core.pose import PersonPose, PoseResult
from privpose_ros.refine.pipeline import RefineConfig, RefinementPipeline

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


def with_depth_offsets(refined: PersonPose, rgb: PersonPose) -> PersonPose:
    """Joints the depth could not place (lifting confidence 0) take the RGB joint moved by the
    person's median depth-minus-RGB offset, at half their RGB confidence."""
    finite = np.isfinite(refined.joints_cam_m).all(1) & np.isfinite(rgb.joints_cam_m).all(1)
    no_depth = (refined.confidence <= 0) & np.isfinite(rgb.joints_cam_m).all(1)
    placed = finite & ~no_depth
    if placed.sum() < 3 or not no_depth.any():
        return refined
    offset = np.median(refined.joints_cam_m[placed] - rgb.joints_cam_m[placed], axis=0)
    joints = refined.joints_cam_m.copy()
    joints[no_depth] = rgb.joints_cam_m[no_depth] + offset
    confidence = refined.confidence.copy()
    confidence[no_depth] = 0.5 * rgb.confidence[no_depth]
    return replace(refined, joints_cam_m=joints, confidence=confidence)


def limbs_from_rgb(refined: PersonPose, rgb_person: PersonPose) -> PersonPose:
    """Rebuild limb bones whose depth-placed length disagrees with the RGB skeleton's."""
    joints, rgb = refined.joints_cam_m.copy(), rgb_person.joints_cam_m
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


class DepthFusion:
    """The refinement stage: loads the enabled modules once (see the module docstring)."""

    def __init__(self, config: RefineConfig) -> None:
        self.config = config
        self.refiner = RefinementPipeline(config)

    def refine(self, frame: RGBDFrame, persons: tuple[PersonPose, ...]) -> tuple[PersonPose, ...]:
        """``persons`` with their 3D refined by ``frame.depth_mm``; unchanged without depth."""
        if frame.depth_mm is None or not persons:
            return persons
        k = frame.intrinsics
        ideal = tuple(
            replace(p, joints_px=undistort_px(p.joints_px, k)) if p.joints_px is not None else p
            for p in persons
        )
        refined = self.refiner.refine(PoseResult(persons=ideal), frame.depth_mm, k)
        return tuple(
            replace(limbs_from_rgb(with_depth_offsets(r, p), p), joints_px=p.joints_px)
            for r, p in zip(refined.persons, persons, strict=True)
        )
