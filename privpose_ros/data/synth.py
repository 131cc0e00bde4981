"""Synthetic RGB-D humans with exact labels: the data every privpose model trains on.

``SyntheticGenerator(SynthConfig()).batch(n, seed)`` renders n frames. Frame i of a seed is
rendered in block i // block_size from ``SeedSequence([seed, block])``, so frames do not depend on
n (a longer batch extends a shorter one) and the same (n, seed) gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.frame import LabeledFrame
from privpose_ros.data.body import POSE_FAMILIES
from privpose_ros.data.render import render_block
from privpose_ros.data.scene import sensor_names

VIEWS = ("side", "top", "mixed")
GENERATOR_VERSION = "1"


@dataclass(frozen=True)
class SynthConfig:
    """What the generator draws. Sizes in pixels, probabilities in [0, 1]."""

    width: int = 320
    height: int = 240
    view: str = "side"  # "side" | "top" | "mixed"
    camera: str = "itop"  # "itop" | "kinect_v2" | "azure_kinect" | "realsense_d435" | "mixed"
    distractor_prob: float = 0.2  # per frame: an extra person, and (separately) an occluder box
    top_view_fraction: float = 0.3  # share of top views when view == "mixed"
    furniture_per_frame: int = 3  # background boxes tried per frame
    families: tuple[str, ...] = field(default=POSE_FAMILIES)
    intrinsics_jitter: float = 0.02  # relative std of focal length and principal point
    depth_artifacts: bool = True  # holes, flying pixels, grazing-angle and range dropouts
    depth_noise: bool = True  # noise growing with z^2 and quantisation
    rgb_effects: bool = True  # blur and JPEG artefacts
    visibility_margin_m: float = 0.03  # z-buffer test slack in front of the body surface
    block_size: int = 8  # frames rendered together (the determinism unit; 4-8 is fastest)

    def __post_init__(self) -> None:
        if self.width < 16 or self.height < 16:
            raise PrivposeInputError(
                f"image size must be at least 16x16, got {self.width}x{self.height}"
            )
        if self.view not in VIEWS:
            raise PrivposeInputError(f"view must be one of {VIEWS}, got '{self.view}'")
        sensor_names(self.camera)  # raises for an unknown camera
        unknown = set(self.families) - set(POSE_FAMILIES)
        if not self.families or unknown:
            raise PrivposeInputError(
                f"families must be a non-empty subset of {POSE_FAMILIES}, got {self.families}"
            )
        for name in ("distractor_prob", "top_view_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise PrivposeInputError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.block_size < 1 or self.furniture_per_frame < 0:
            raise PrivposeInputError("block_size must be >= 1 and furniture_per_frame >= 0")


@dataclass(frozen=True)
class SynthBatch:
    """N labelled frames; joints are CANONICAL, in the camera optical frame (metres)."""

    rgb: np.ndarray  # (N, H, W, 3) uint8 RGB
    depth_mm: np.ndarray  # (N, H, W) uint16 mm, 0 = no reading, registered to rgb
    joints_cam_m: np.ndarray  # (N, 26, 3) float32
    joints_px: np.ndarray  # (N, 26, 2) float32
    visible: np.ndarray  # (N, 26) bool: in the image and not occluded (z-buffer test)
    person_mask: np.ndarray  # (N, H, W) bool, primary person
    k: np.ndarray  # (N, 3, 3) float64 intrinsics at width x height

    def __len__(self) -> int:
        return int(self.rgb.shape[0])

    def intrinsics(self, i: int) -> CameraIntrinsics:
        h, w = self.rgb.shape[1:3]
        return CameraIntrinsics.from_k(self.k[i], w, h)

    def frame(self, i: int) -> LabeledFrame:
        return LabeledFrame(
            rgb=self.rgb[i],
            intrinsics=self.intrinsics(i),
            depth_mm=self.depth_mm[i],
            stamp_ns=0,
            joints_cam_m=self.joints_cam_m[i],
            joints_px=self.joints_px[i],
            visible=self.visible[i],
            person_mask=self.person_mask[i],
        )

    def subset(self, index: slice | np.ndarray) -> SynthBatch:
        return SynthBatch(*(getattr(self, f)[index] for f in SynthBatch.__dataclass_fields__))

    @staticmethod
    def concat(batches: list[SynthBatch]) -> SynthBatch:
        return SynthBatch(
            *(
                np.concatenate([getattr(b, f) for b in batches])
                for f in SynthBatch.__dataclass_fields__
            )
        )


class SyntheticGenerator:
    """Renders labelled RGB-D frames of synthetic people (see SynthConfig)."""

    def __init__(self, config: SynthConfig = SynthConfig()) -> None:
        self.config = config

    def batch(self, n: int, seed: int, start: int = 0) -> SynthBatch:
        """Frames ``start`` .. ``start + n`` of the stream defined by ``seed``."""
        if n < 0 or start < 0:
            raise PrivposeInputError(f"n and start must be >= 0, got n={n}, start={start}")
        bs = self.config.block_size
        first, last = start // bs, (start + n + bs - 1) // bs
        blocks = [self.block(seed, b) for b in range(first, last)] or [self.block(seed, 0)]
        out = SynthBatch.concat(blocks)
        offset = start - first * bs
        return out.subset(slice(offset, offset + n))

    def block(self, seed: int, index: int) -> SynthBatch:
        """One block of ``block_size`` frames, seeded by (seed, index)."""
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))
        raw = render_block(self.config, rng, self.config.block_size)
        return SynthBatch(
            rgb=raw["rgb"],
            depth_mm=raw["depth_mm"],
            joints_cam_m=raw["joints_cam_m"].astype(np.float32),
            joints_px=raw["joints_px"].astype(np.float32),
            visible=raw["visible"],
            person_mask=raw["person_mask"],
            k=raw["k"],
        )
