"""What the synthetic generator draws: SynthConfig (validated on construction)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.data.body import POSE_FAMILIES
from privpose_ros.data.scene import sensor_names

MAX_PEOPLE = 4  # people per frame at most (label arrays have this many slots)
VIEWS = ("side", "top", "mixed")
BODIES = ("anny", "capsule")


@dataclass(frozen=True)
class SynthConfig:
    """What the generator draws. Sizes in pixels, probabilities in [0, 1]."""

    width: int = 320
    height: int = 240
    body: str = "anny"  # "anny" (the parametric human, rendered with OpenGL) | "capsule"
    view: str = "side"  # "side" | "top" | "mixed"
    camera: str = "itop"  # "itop" | "kinect_v2" | "azure_kinect" | "realsense_d435" | "mixed"
    distractor_prob: float = 0.2  # per frame: an occluder box (capsule: also an extra person)
    # relative odds of 0, 1, .. 4 people in a frame (anny); the default has a primary person
    # in every frame (what single-person training streams need); give weight 0 for empty ones
    people_weights: tuple[float, ...] = (0.0, 0.4, 0.25, 0.18, 0.17)
    camera_distance_m: tuple[float, float] = (0.5, 8.0)  # side views: camera to person 0
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
        if self.body not in BODIES:
            raise PrivposeInputError(f"body must be one of {BODIES}, got '{self.body}'")
        weights = np.asarray(self.people_weights, dtype=float)
        if len(weights) != MAX_PEOPLE + 1 or (weights < 0).any() or weights.sum() <= 0:
            raise PrivposeInputError(
                f"people_weights must be {MAX_PEOPLE + 1} non-negative weights of 0-{MAX_PEOPLE}"
                f" people, got {self.people_weights}"
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
        lo, hi = self.camera_distance_m
        if not 0.3 <= lo <= hi <= 20.0:
            raise PrivposeInputError(
                f"camera_distance_m must be (near, far) with 0.3 <= near <= far <= 20, got "
                f"{self.camera_distance_m}"
            )
        if self.block_size < 1 or self.furniture_per_frame < 0:
            raise PrivposeInputError("block_size must be >= 1 and furniture_per_frame >= 0")
