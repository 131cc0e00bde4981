"""The refinement pipeline: (pose result, depth image, intrinsics) -> refined pose result.

Order, each step switchable: A (2D patch offsets) -> lifting (2D + depth -> 3D) -> B (skeleton
offsets) -> C (point-cloud offsets). Everything is metres in the camera optical frame of the
image ``intrinsics`` describe; inputs are never mutated, a new PoseResult is returned.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.frame import check_depth_mm
from privpose_ros.core.joints import CANONICAL
from privpose_ros.core.pose import PersonPose, PoseResult
from privpose_ros.refine.lifting import LiftingConfig, lift_joints

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefineConfig:
    """Which steps run. ``lifting``: 2D joints + depth -> 3D (when the pose has joints_px;
    otherwise the model's 3D is kept); ``patch_a``, ``skeleton_b``, ``pointcloud_c``: RefiNet's
    modules A, B, C; ``weights_dir``: folder with refine_{a,b,c}.safetensors (default: the
    weights shipped in privpose_ros/weights/)."""

    lifting: bool = True
    patch_a: bool = False
    skeleton_b: bool = True
    pointcloud_c: bool = False
    weights_dir: Path | None = None
    lifting_config: LiftingConfig = field(default_factory=LiftingConfig)


class RefinementPipeline:
    """Loads the enabled modules once; :meth:`refine` is called per frame. ``patch_net``,
    ``skeleton_net``, ``points_net``: the loaded networks of A, B, C (None when disabled)."""

    def __init__(self, config: RefineConfig) -> None:
        self.config = config
        self.patch_net = self.skeleton_net = self.points_net = None
        if not (config.patch_a or config.skeleton_b or config.pointcloud_c):
            return
        from privpose_ros.refine.weights import load_refiner, weights_path

        if config.patch_a:
            from privpose_ros.refine.patches import PatchRefiner, PatchRefinerConfig

            path = weights_path("A", config.weights_dir)
            self.patch_net = load_refiner(path, PatchRefinerConfig, PatchRefiner)
        if config.skeleton_b:
            from privpose_ros.refine.skeleton import SkeletonRefiner, SkeletonRefinerConfig

            path = weights_path("B", config.weights_dir)
            self.skeleton_net = load_refiner(path, SkeletonRefinerConfig, SkeletonRefiner)
        if config.pointcloud_c:
            from privpose_ros.refine.pointcloud import (
                PointCloudRefiner,
                PointCloudRefinerConfig,
            )

            path = weights_path("C", config.weights_dir)
            self.points_net = load_refiner(path, PointCloudRefinerConfig, PointCloudRefiner)

    def refine(
        self, result: PoseResult, depth_mm: np.ndarray, intrinsics: CameraIntrinsics
    ) -> PoseResult:
        """Refine every canonical-joint person of ``result`` with ``depth_mm`` (H, W) uint16 mm
        registered to the image ``intrinsics`` describe. Persons in other joint sets pass
        through unchanged. Returns a new PoseResult with the same stamp and frame."""
        check_depth_mm(depth_mm, (intrinsics.height, intrinsics.width))
        todo = [i for i, p in enumerate(result.persons) if p.joint_set.name == CANONICAL.name]
        if len(todo) < len(result.persons):
            LOG.debug("refinement skips %d non-canonical persons", len(result.persons) - len(todo))
        persons = list(result.persons)
        if todo:
            refined = self._refine_persons([persons[i] for i in todo], depth_mm, intrinsics)
            for i, person in zip(todo, refined, strict=True):
                persons[i] = person
        return replace(result, persons=tuple(persons))

    def _refine_persons(
        self, persons: list[PersonPose], depth_mm: np.ndarray, intrinsics: CameraIntrinsics
    ) -> list[PersonPose]:
        joints = np.stack([p.joints_cam_m for p in persons])  # copies: inputs stay untouched
        conf = np.stack([p.confidence for p in persons])
        has_px = np.array([p.joints_px is not None for p in persons])
        no_px = np.full((CANONICAL.num_joints, 2), np.nan)
        px = np.stack([no_px if p.joints_px is None else p.joints_px for p in persons])
        if self.patch_net is not None and has_px.any():
            from privpose_ros.refine.patches import refine_joints_px

            px[has_px] = refine_joints_px(self.patch_net, px[has_px], depth_mm)
        if self.config.lifting:
            for i in np.flatnonzero(has_px):
                lifted, lift_conf = lift_joints(
                    px[i], depth_mm, intrinsics, self.config.lifting_config, joints[i, :, 2]
                )
                ok = np.all(np.isfinite(lifted), axis=1)
                joints[i, ok] = lifted[ok]
                conf[i] = np.minimum(conf[i], lift_conf)
        if self.skeleton_net is not None:
            from privpose_ros.refine.skeleton import refine_skeletons

            joints = refine_skeletons(self.skeleton_net, joints, conf)
        if self.points_net is not None:
            from privpose_ros.refine.pointcloud import refine_with_points

            joints = refine_with_points(self.points_net, joints, depth_mm, intrinsics)
        return [
            replace(
                p,
                joints_cam_m=joints[i],
                confidence=conf[i],
                joints_px=px[i] if has_px[i] else None,
            )
            for i, p in enumerate(persons)
        ]
