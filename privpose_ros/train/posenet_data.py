"""Person crops for the privpose recipe (train/posenet_train.py, train/feature_cache.py).

Training crops are cut around *jittered* label boxes (log-normal scale, Gaussian centre shift: a
detector's box; data/person_crops.py ``jitter_box_px``) of every visible person
(``crops_of_frames``, same module) and
cached once with F_rgb's features (train/feature_cache.py: ``cache_frames`` frames of the
``train_seed`` stream, ``cache_passes`` crops of each person).

The validation set is ``val_frames`` frames of the held-out ``val_seed`` stream, cropped from the
label boxes without jitter (the "ground-truth boxes" protocol).

640x480 frames are the default: at 320x240 the median person box is upsampled ~1.6x into the
256 px crop (0.63 source px per crop px, measured), at 640x480 it is downsampled (1.25).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.data.person_crops import PersonCropBatch, crops_of_frames
from privpose_ros.data.synth import SynthConfig, SyntheticGenerator
from privpose_ros.train.loop import augment_rgb


@dataclass(frozen=True)
class CropDataConfig:
    """Synthetic frames (pixels), streams (seeds) and box jitter (fractions of the box size)."""

    width: int = 640
    height: int = 480
    view: str = "side"
    camera: str = "itop"
    block_size: int = 8
    train_seed: int = 1
    val_seed: int = 90001
    cache_frames: int = 2400  # training frames rendered once (train/feature_cache.py)
    cache_passes: int = 2  # crops of every person, each with new box and colour jitter
    real_passes: int = 0  # crops of every real photo's person (distillation only); 0: none
    val_frames: int = 64
    jitter_scale: float = 0.1  # std of log(box scale)
    jitter_shift: float = 0.08  # std of the centre shift, fraction of the box width / height
    augment: bool = True  # photometric jitter of the RGB crops

    def __post_init__(self) -> None:
        if self.train_seed == self.val_seed:
            raise PrivposeInputError("data.train_seed and data.val_seed must differ")
        if self.cache_frames < 1 or self.cache_passes < 1 or self.val_frames < 1:
            raise PrivposeInputError("data.cache_frames, cache_passes, val_frames must be >= 1")
        if self.real_passes < 0:
            raise PrivposeInputError("data.real_passes must be >= 0")
        if self.jitter_scale < 0 or self.jitter_shift < 0:
            raise PrivposeInputError("data.jitter_scale and data.jitter_shift must be >= 0")

    def synth(self) -> SynthConfig:
        return SynthConfig(
            width=self.width,
            height=self.height,
            view=self.view,
            camera=self.camera,
            block_size=self.block_size,
        )


def validation_crops(data: CropDataConfig, crop_px: int) -> PersonCropBatch:
    """The held-out crops (``val_seed`` stream, label boxes, no jitter)."""
    frames = SyntheticGenerator(data.synth()).batch(data.val_frames, data.val_seed)
    return crops_of_frames(frames, crop_px)


@dataclass(frozen=True)
class CropTensors:
    """A crop batch as float32 tensors on one device (what Posenet.forward_train takes)."""

    crop_k: Tensor  # (M, 3, 3)
    crop_rgb_nhwc: Tensor  # (M, S, S, 3) in [0, 1]
    crop_depth_m: Tensor  # (M, 1, S, S) metres, 0 = no reading
    crop_mask: Tensor  # (M, S, S) bool
    joints_cam_m: Tensor  # (M, J, 3) camera optical frame


def crop_tensors(crops: PersonCropBatch, device: str | torch.device = "cpu") -> CropTensors:
    depth_m = crops.depth_mm.astype(np.float32) / 1000.0
    return CropTensors(
        crop_k=torch.from_numpy(crops.k_crop).float().to(device),
        crop_rgb_nhwc=(torch.from_numpy(crops.rgb).float() / 255.0).to(device),
        crop_depth_m=torch.from_numpy(depth_m)[:, None].to(device),
        crop_mask=torch.from_numpy(crops.mask).to(device),
        joints_cam_m=torch.from_numpy(crops.joints_cam_m).float().to(device),
    )


def augment_rgb_nhwc(rgb_nhwc: Tensor, gen: torch.Generator) -> Tensor:
    """Photometric jitter of (M, S, S, 3) in [0, 1]: the whole-image recipe's (contrast,
    brightness, colour gain, noise; random numbers drawn on the CPU from ``gen``)."""
    return augment_rgb(rgb_nhwc.permute(0, 3, 1, 2), gen).permute(0, 2, 3, 1)
