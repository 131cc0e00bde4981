"""A fixed pool of person crops with the frozen F_rgb's features computed once: the CPU recipe.

With F_rgb frozen (PosenetConfig.train_rgb_backbone false, the default) its features never change,
so
the recipe renders the training crops once, runs the BlazePose encoder on each (ONNX Runtime:
2 ms a crop on 2 threads, against 80 ms for a torch forward and backward through it) and trains
the heads, F_depth and F_hall on the stored features: on this 2-core CPU that is about 5x more
crops per second of training than running F_rgb every step.

One cache entry per crop (:class:`CropCache`): F_rgb's features of the (photometrically jittered)
RGB crop, the F_depth input (:func:`depth_crop_to_input`), the crop intrinsics, the labels and
F_rgb's own network's landmarks on the same crop (model/posenet/landmark_prior.py: canonical 2D,
confidence and world points; the landmark prior of the maps and, its 2D, the distillation target
weighted by its confidence; the front end's model is BlazePose too).
Real photos without labels (../shared/data/real2d, boxes from the front end) enter with
distillation targets only (NaN joints, no 3D loss).
Entries are float16 where they are features; ``passes`` re-crops every person with new box
jitter and colour jitter.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.data.person_crops import (
    PersonCropBatch,
    crops_of_frames,
    jitter_box_px,
    stack_person_crops,
    unlabelled_crop,
)
from privpose_ros.data.synth import SyntheticGenerator
from privpose_ros.model.blazepose_torch import FEATURE_NODES, OUTPUT_NAMES, blazepose_path
from privpose_ros.model.posenet.codec import PosenetConfig
from privpose_ros.model.posenet.landmark_prior import LandmarkPrior, canonical_prior
from privpose_ros.train.posenet_data import CropDataConfig, augment_rgb_nhwc, crop_tensors
from privpose_ros.train.teacher import depth_crop_to_input

LOG = logging.getLogger(__name__)
FRAMES_PER_CHUNK = 32


@dataclass(frozen=True)
class CropCache:
    """M cached crops (see the module docstring)."""

    rgb_features: np.ndarray  # (M, C, h, h) float16, F_rgb on the augmented RGB crop
    depth_input: np.ndarray  # (M, 2, S / 2, S / 2) float16, F_depth's input
    zeta_med_m: np.ndarray  # (M,) float32, the depth crop's median person zeta (teacher prior)
    crop_k: np.ndarray  # (M, 3, 3) float32
    joints_cam_m: np.ndarray  # (M, J, 3) float32, NaN where unlabelled
    landmark_uv_crop_px: np.ndarray  # (M, J, 2) float32, BlazePose's 2D, crop pixels
    landmark_conf: np.ndarray  # (M, J) float32, its confidence (0: no person)
    landmark_world_m: np.ndarray  # (M, J, 3) float32, its world points (hip-centred, metres)
    has_depth: np.ndarray  # (M,) bool, a depth reading in the person mask (else: no teacher)

    def __len__(self) -> int:
        return int(self.crop_k.shape[0])

    def take(self, idx: np.ndarray) -> CropCache:
        return CropCache(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **{f.name: getattr(self, f.name) for f in fields(self)})
        tmp.replace(path)

    @staticmethod
    def load(path: Path) -> CropCache:
        with np.load(path) as z:
            if "has_depth" not in z.files:
                raise PrivposeInputError(
                    f"{path} was built before depthless crops were marked (its depth inputs "
                    "hold the old fallbacks); delete it and the recipe rebuilds it"
                )
            return CropCache(**{f.name: z[f.name] for f in fields(CropCache)})

    @staticmethod
    def concat(parts: Iterable[CropCache]) -> CropCache:
        parts = list(parts)
        if not parts:
            raise PrivposeInputError("no crops to cache")
        names = [f.name for f in fields(CropCache)]
        return CropCache(**{n: np.concatenate([getattr(p, n) for p in parts]) for n in names})


class FrozenFrontEnd:
    """ONNX Runtime session of the frozen BlazePose graph F_rgb comes from (``backbone``
    variant) with its stride-4 tensor added as an output: one run gives F_rgb's features and
    the network's own landmarks (the distillation targets: the 2D F_rgb came with)."""

    def __init__(self, backbone: str = "lite", threads: int = 2) -> None:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        model = onnx.load(str(blazepose_path(backbone)))
        self.outputs = [FEATURE_NODES["stride4"][0], *OUTPUT_NAMES]
        model.graph.output.append(
            onnx.helper.make_tensor_value_info(self.outputs[0], onnx.TensorProto.FLOAT, None)
        )
        cpu = ["CPUExecutionProvider"]
        self.session = ort.InferenceSession(model.SerializeToString(), opts, providers=cpu)

    def run(self, crop_rgb_nhwc: np.ndarray) -> tuple[np.ndarray, LandmarkPrior]:
        """(M, S, S, 3) float32 [0, 1] -> features (M, C, h, h) and the canonical landmark
        prior (model/posenet/landmark_prior.py, as the deployable computes it in its graph)."""
        feats, priors = [], []
        for i in range(0, len(crop_rgb_nhwc), 16):
            x = np.ascontiguousarray(crop_rgb_nhwc[i : i + 16], dtype=np.float32)
            values = self.session.run(self.outputs, {"crop_rgb": x})
            out = {n: torch.from_numpy(v) for n, v in zip(self.outputs, values, strict=True)}
            feats.append(values[0])
            priors.append(
                canonical_prior(out["landmarks"], out["world_landmarks"], out["pose_flag"])
            )
        prior = LandmarkPrior(*(torch.cat(parts) for parts in zip(*priors, strict=True)))
        return np.concatenate(feats), prior


def cache_crops(
    crops: PersonCropBatch,
    front: FrozenFrontEnd,
    gen: torch.Generator | None,
    labelled: bool = True,
) -> CropCache:
    """Cache entries of ``crops``; colour jitter from ``gen`` when given; ``labelled`` false
    keeps only the distillation targets (real photos)."""
    t = crop_tensors(crops)
    rgb = t.crop_rgb_nhwc if gen is None else augment_rgb_nhwc(t.crop_rgb_nhwc, gen)
    feats, prior = front.run(rgb.numpy())
    depth_in, zeta_med, has_depth = depth_crop_to_input(t.crop_depth_m, t.crop_k, t.crop_mask)
    if labelled and not bool(has_depth.all()):
        LOG.info(
            "%d of %d crops have no depth reading in the person mask: no teacher loss on them",
            int((~has_depth).sum()),
            len(has_depth),
        )
    joints = t.joints_cam_m.numpy()
    return CropCache(
        rgb_features=feats.astype(np.float16),
        depth_input=depth_in.numpy().astype(np.float16),
        zeta_med_m=zeta_med.numpy().astype(np.float32),
        crop_k=t.crop_k.numpy(),
        joints_cam_m=joints if labelled else np.full_like(joints, np.nan),
        landmark_uv_crop_px=prior.uv_crop_px.numpy().astype(np.float32),
        landmark_conf=prior.confidence.numpy().astype(np.float32),
        landmark_world_m=prior.world_m.numpy().astype(np.float32),
        has_depth=has_depth.numpy(),
    )


def synthetic_cache(
    data: CropDataConfig,
    net: PosenetConfig,
    n_frames: int,
    seed: int,
    passes: int,
    front: FrozenFrontEnd,
) -> CropCache:
    """``passes`` jittered crops of every visible person in frames 0..n_frames of stream
    ``seed`` (rendered ``FRAMES_PER_CHUNK`` at a time), each pass with fresh colour jitter."""
    generator = SyntheticGenerator(data.synth())
    gen = torch.Generator().manual_seed(seed) if data.augment else None
    parts = []
    for start in range(0, n_frames, FRAMES_PER_CHUNK):
        frames = generator.batch(min(FRAMES_PER_CHUNK, n_frames - start), seed, start)
        rng = np.random.default_rng([seed, start])
        for _ in range(passes):
            crops = crops_of_frames(frames, net.crop_px, rng, data.jitter_scale, data.jitter_shift)
            if len(crops):
                parts.append(cache_crops(crops, front, gen))
    return CropCache.concat(parts)


def real_cache(
    photos: Iterable[tuple[np.ndarray, CameraIntrinsics, np.ndarray]],
    net: PosenetConfig,
    passes: int,
    front: FrozenFrontEnd,
    data: CropDataConfig,
    seed: int,
) -> CropCache:
    """Unlabelled entries (distillation targets only) of real photos: (RGB, intrinsics, person
    boxes (P, 4) source pixels, e.g. the front end's), ``passes`` jittered crops of each box."""
    gen = torch.Generator().manual_seed(seed) if data.augment else None
    rng = np.random.default_rng(seed)
    parts = []
    for rgb, intrinsics, boxes in photos:
        for _ in range(passes):
            crops = [
                unlabelled_crop(
                    rgb,
                    intrinsics,
                    jitter_box_px(box, rng, data.jitter_scale, data.jitter_shift),
                    net.crop_px,
                )
                for box in boxes
            ]
            if crops:
                parts.append(
                    cache_crops(stack_person_crops(crops, net.crop_px), front, gen, False)
                )
    return CropCache.concat(parts)


class CacheStream:
    """Training batches from a cache: ``batch(step)`` is keyed by (seed, epoch), so a resumed
    run sees the batches an uninterrupted one would; rank r takes every ``world``-th crop."""

    def __init__(
        self, cache: CropCache, batch_size: int, seed: int, rank: int = 0, world: int = 1
    ) -> None:
        if batch_size < world or len(cache) < batch_size:
            raise PrivposeInputError(
                f"need world size <= batch_size <= cached crops, got {world}, {batch_size}, "
                f"{len(cache)}"
            )
        self.cache, self.batch_size, self.seed = cache, batch_size, seed
        self.rank, self.world = rank, world
        self.steps_per_epoch = len(cache) // batch_size
        self._epoch, self._order = -1, np.zeros(0, np.int64)

    def batch(self, step: int) -> CropCache:
        epoch, offset = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            self._epoch = epoch
            self._order = np.random.default_rng([self.seed, epoch]).permutation(len(self.cache))
        idx = self._order[offset * self.batch_size : (offset + 1) * self.batch_size]
        return self.cache.take(np.sort(idx[self.rank :: self.world]))


Photos = list[tuple[np.ndarray, CameraIntrinsics, np.ndarray]]


def recipe_cache(
    path: Path, data: CropDataConfig, net: PosenetConfig, seed: int, photos: Photos | None = None
) -> CropCache:
    """The recipe's training cache: loaded from ``path`` when there, else built (synthetic
    frames of ``data.train_seed`` plus ``data.real_passes`` crops of every person of
    ``photos``) and written there, so the stages of a run and a resumed run share it."""
    if path.is_file():
        return CropCache.load(path)
    front = FrozenFrontEnd(net.rgb_backbone.removeprefix("blazepose_"))
    t0 = time.perf_counter()
    parts = [
        synthetic_cache(data, net, data.cache_frames, data.train_seed, data.cache_passes, front)
    ]
    if photos and data.real_passes:
        parts.append(real_cache(photos, net, data.real_passes, front, data, seed))
    cache = CropCache.concat(parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    cache.save(path)
    LOG.info("cached %d crops in %.0f s: %s", len(cache), time.perf_counter() - t0, path)
    return cache


def cache_tensors(batch: CropCache, device: str | torch.device) -> dict[str, torch.Tensor]:
    """A cache batch as float32 tensors (keys = the CropCache fields)."""
    return {
        f.name: torch.from_numpy(np.asarray(getattr(batch, f.name), np.float32)).to(device)
        for f in fields(batch)
    }
