"""Training data of the residual model: the front end run on synthetic RGB-D frames, each
person it found matched to its label, with everything the three stages need.

Per frame of :func:`~privpose_ros.data.synth_config.teacher_synth_config` (people inside the
sensor's range), the real front end (runtime/people.py ``PeopleEstimator``, every frame
detected) and its own 3D (runtime/placement.py ``MonocularLifter``), both injected, give the
base; each person found is matched to the labelled person its 2D
is nearest (median over the label's visible joints). Per matched person, through its rotated
crop camera (the front end's ROI, :func:`~privpose_ros.core.crop.rotated_crop_camera`):

- F_rgb: BlazePose's stride-4 features of the ROI crop (the backbone's ONNX graph with that
  tensor as an extra output, train/feature_cache.py ``FrozenFrontEnd``);
- the base's inputs and the exact residual targets (model/residual/geometry.py);
- the teacher's input: the depth and the person's mask cut along the same ROI at ``depth_px``
  (nearest), relative to the front end's root (train/teacher.py ``residual_depth_input``):
  ``has_depth`` False (too few readings in the mask) leaves the crop out of every teacher loss;
- ``pose_ok``: the front end succeeded on the person (median 2D error under ``max_2d_error`` x
  the ROI side): only those give 2D / relative-depth targets; ``adult``: the label's stature
  is at least ``min_adult_height_m``: only those give root targets (Anny's children teach
  "shrink", which real adults do not need).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import torch

from privpose_ros.core.crop import RotatedCropCamera, rotated_crop_camera
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.frame import RGBDFrame
from privpose_ros.core.joints import CANONICAL_JOINTS
from privpose_ros.core.landmarks import LANDMARK_CROP_PX
from privpose_ros.core.pose import PersonPose
from privpose_ros.data.synth import SyntheticGenerator
from privpose_ros.data.synth_config import teacher_synth_config
from privpose_ros.model.crops import resized_crop_affine, warp_affine_crop
from privpose_ros.model.residual.geometry import ROOT_INDEX, base_inputs, residual_targets
from privpose_ros.train.teacher import residual_depth_input

LOG = logging.getLogger(__name__)
_J = {n: i for i, n in enumerate(CANONICAL_JOINTS)}
_STATURE_CHAIN = (
    ("head_top", "neck"),
    ("neck", "pelvis"),
    ("left_hip", "left_knee"),
    ("left_knee", "left_ankle"),
)


@dataclass(frozen=True)
class ResidualDataConfig:
    width: int = 640
    height: int = 480
    camera: str = "itop"
    frames: int = 128
    seed: int = 1
    depth_px: int = 128
    min_valid_fraction: float = 0.2
    max_2d_error: float = 0.08
    min_adult_height_m: float = 1.6
    backbone: str = "full"
    threads: int = 2

    def __post_init__(self) -> None:
        if self.frames < 1 or self.depth_px not in (64, 128, 256):
            raise PrivposeInputError("frames must be >= 1 and depth_px one of 64, 128, 256")


@dataclass(frozen=True)
class ResidualCache:
    rgb_features: np.ndarray  # (M, C, 64, 64) float16
    depth_input: np.ndarray  # (M, 3, D, D) float16 (train/teacher.py residual_depth_input)
    has_depth: np.ndarray  # (M,) bool
    valid_fraction: np.ndarray  # (M,) float32
    uv01: np.ndarray  # (M, J, 2) float32 (geometry.base_inputs)
    desc: np.ndarray  # (M, J, 3) float32
    glob: np.ndarray  # (M, 1) float32
    target_uv_px: np.ndarray  # (M, J, 2) float32
    target_dz_m: np.ndarray  # (M, J) float32
    target_log_root: np.ndarray  # (M,) float32
    pose_ok: np.ndarray  # (M,) bool
    adult: np.ndarray  # (M,) bool
    base_cam_m: np.ndarray  # (M, J, 3) float64, the front end's 3D
    gt_cam_m: np.ndarray  # (M, J, 3) float64, the label
    crop_k: np.ndarray  # (M, 3, 3) float64
    crop_rot: np.ndarray  # (M, 3, 3) float64
    crop_to_src: np.ndarray  # (M, 2, 3) float64
    frame_index: np.ndarray  # (M,) int64

    def __len__(self) -> int:
        return int(self.has_depth.shape[0])

    def take(self, idx: np.ndarray) -> ResidualCache:
        return ResidualCache(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def save(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **{f.name: getattr(self, f.name) for f in fields(self)})
        tmp.replace(path)

    @staticmethod
    def load(path: Path) -> ResidualCache:
        with np.load(path) as z:
            return ResidualCache(**{f.name: z[f.name] for f in fields(ResidualCache)})

    def camera(self, i: int) -> RotatedCropCamera:
        """Entry ``i``'s rotated crop camera."""
        rot = self.crop_rot[i]
        roll = float(np.arctan2(rot[1, 0], rot[0, 0]))
        return RotatedCropCamera(self.crop_k[i], rot, roll, LANDMARK_CROP_PX, self.crop_to_src[i])

    def tensors(self, idx: np.ndarray, device: str = "cpu") -> dict[str, torch.Tensor]:
        """The training fields of entries ``idx`` as float32 tensors."""
        skip = {"base_cam_m", "gt_cam_m", "crop_k", "crop_rot", "crop_to_src", "frame_index"}
        return {
            f.name: torch.from_numpy(np.asarray(getattr(self, f.name)[idx], np.float32)).to(
                device
            )
            for f in fields(self)
            if f.name not in skip
        }


def stature_m(joints_m: np.ndarray) -> float:
    """Head top to ankle along the body's chain (metres): the person's standing height less
    the foot, whatever the pose."""
    return float(sum(np.linalg.norm(joints_m[_J[a]] - joints_m[_J[b]]) for a, b in _STATURE_CHAIN))


def match_person(
    joints_px: np.ndarray, people_px: np.ndarray, people_visible: np.ndarray, taken: set[int]
) -> tuple[int, float]:
    """(index, median 2D error px) of the labelled person nearest ``joints_px`` (26, 2) over
    each label's visible joints; (-1, inf) when none is left."""
    best, best_err = -1, np.inf
    for p in range(len(people_px)):
        vis = people_visible[p] & np.isfinite(people_px[p]).all(1)
        if p in taken or vis.sum() < 4:
            continue
        err = float(np.median(np.linalg.norm(joints_px[vis] - people_px[p][vis], axis=1)))
        if err < best_err:
            best, best_err = p, err
    return best, best_err


class FrontEnd(Protocol):
    """What the cache needs of the front end (runtime/people.py ``PeopleEstimator``, detecting
    on every frame): persons with 2D joints, confidence and landmarks."""

    def find_persons(self, frame: RGBDFrame) -> tuple[PersonPose, ...]: ...

    def reset(self) -> None: ...


class Lifter(Protocol):
    """The front end's own 3D (runtime/placement.py ``MonocularLifter``): the base."""

    def lift(self, frame: RGBDFrame, persons: tuple[PersonPose, ...]) -> tuple[PersonPose, ...]:
        ...


def roi_crop_rgb(rgb: np.ndarray, crop_to_src: np.ndarray) -> np.ndarray:
    """(256, 256, 3) float32 RGB in [0, 1] of a ROI (zero outside the image): the same warp as
    the front end's own landmark crop (runtime/landmarks.py ``crop``)."""
    patch = warp_affine_crop(rgb, crop_to_src, LANDMARK_CROP_PX, cv2.INTER_LINEAR)
    return patch.astype(np.float32) * (1.0 / 255.0)


def build_residual_cache(
    cfg: ResidualDataConfig, frontend: FrontEnd, lifter: Lifter
) -> ResidualCache:
    """Render ``cfg.frames`` frames of seed ``cfg.seed``, run ``frontend`` and its ``lifter``
    and cache every matched person (see the module docstring). The layers above build them
    (train may not import runtime): ``PeopleEstimator(FrontEndConfig(detect_every_n=1))`` and
    ``MonocularLifter(world_scale)``."""
    from privpose_ros.train.feature_cache import FrozenFrontEnd

    synth = teacher_synth_config(width=cfg.width, height=cfg.height, camera=cfg.camera)
    features = FrozenFrontEnd(cfg.backbone, cfg.threads)
    rows: dict[str, list[np.ndarray]] = {f.name: [] for f in fields(ResidualCache)}
    counts = {"frames": 0, "found": 0, "matched": 0, "pose_ok": 0, "has_depth": 0, "adult": 0}
    t0 = time.perf_counter()
    gen = SyntheticGenerator(synth)
    for start in range(0, cfg.frames, 16):
        batch = gen.batch(min(16, cfg.frames - start), cfg.seed, start=start)
        for i in range(len(batch)):
            counts["frames"] += 1
            frame = RGBDFrame(batch.rgb[i], batch.intrinsics(i), None, 1, "synth")
            frontend.reset()
            persons = lifter.lift(frame, frontend.find_persons(frame))
            counts["found"] += len(persons)
            taken: set[int] = set()
            crops, metas = [], []
            for person in persons:
                if person.landmarks is None or not np.isfinite(person.joints_cam_m).all():
                    continue
                p, err = match_person(
                    person.joints_px, batch.people_joints_px[i], batch.people_visible[i], taken
                )
                roi = person.landmarks.crop_roi()
                if p < 0 or err > 0.25 * roi.side_px:
                    continue
                taken.add(p)
                gt = batch.people_joints_cam_m[i, p].astype(np.float64)
                cam = rotated_crop_camera(roi.crop_to_image(), LANDMARK_CROP_PX, frame.intrinsics)
                uv01, desc, glob = base_inputs(person.joints_cam_m, person.confidence, cam)
                du, dz, log_root = residual_targets(person.joints_cam_m, gt, cam)
                a_d = resized_crop_affine(roi.crop_to_image(), LANDMARK_CROP_PX, cfg.depth_px)
                depth = warp_affine_crop(batch.depth_mm[i], a_d, cfg.depth_px, cv2.INTER_NEAREST)
                mask = warp_affine_crop(
                    (batch.instance_mask[i] == p + 1).astype(np.uint8),
                    a_d,
                    cfg.depth_px,
                    cv2.INTER_NEAREST,
                )
                root_z = cam.cam_to_crop_frame(person.joints_cam_m)[ROOT_INDEX, 2]
                crops.append(roi_crop_rgb(frame.rgb, roi.crop_to_image()))
                metas.append(
                    dict(
                        uv01=uv01, desc=desc, glob=glob,
                        target_uv_px=du.astype(np.float32),
                        target_dz_m=dz.astype(np.float32),
                        target_log_root=np.float32(log_root),
                        pose_ok=err <= cfg.max_2d_error * roi.side_px,
                        adult=stature_m(gt) >= cfg.min_adult_height_m,
                        base_cam_m=person.joints_cam_m, gt_cam_m=gt,
                        crop_k=cam.k_crop, crop_rot=cam.rot_cam_to_crop,
                        crop_to_src=cam.crop_to_src,
                        frame_index=start + i,
                        _depth=depth.astype(np.float32) * 1e-3, _mask=mask, _root=root_z,
                    )
                )
            if not crops:
                continue
            feats, _ = features.run(np.stack(crops))
            d_in, has, frac = residual_depth_input(
                torch.from_numpy(np.stack([m.pop("_depth") for m in metas])[:, None]),
                torch.from_numpy(np.stack([m.pop("_mask") for m in metas]).astype(bool)),
                torch.tensor([m.pop("_root") for m in metas], dtype=torch.float32),
                cfg.min_valid_fraction,
            )
            rows["rgb_features"].append(feats.astype(np.float16))
            rows["depth_input"].append(d_in.numpy().astype(np.float16))
            rows["has_depth"].append(has.numpy())
            rows["valid_fraction"].append(frac.numpy().astype(np.float32))
            for name in metas[0]:
                rows[name].append(np.stack([np.asarray(m[name]) for m in metas]))
            counts["matched"] += len(metas)
            counts["pose_ok"] += sum(bool(m["pose_ok"]) for m in metas)
            counts["adult"] += sum(bool(m["adult"]) for m in metas)
            counts["has_depth"] += int(has.sum())
        LOG.info("residual cache: %d frames, %s (%.0f s)", counts["frames"], counts,
                 time.perf_counter() - t0)
    if not rows["has_depth"]:
        raise PrivposeInputError("the front end found no labelled person in these frames")
    LOG.info("residual cache: %s; %d crops without enough depth left out of the teacher",
             counts, counts["matched"] - counts["has_depth"])
    return ResidualCache(**{k: np.concatenate(v) for k, v in rows.items()})
