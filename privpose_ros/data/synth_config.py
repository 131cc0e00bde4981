"""What the synthetic generator draws: SynthConfig (validated on construction)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.data.body import POSE_FAMILIES
from privpose_ros.data.scene import SENSORS, sensor_names

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


# side views: the camera stands 0.5-2.5 m high, looking at a point about 1 m high, and the
# person's body reaches about 0.5 m behind its root
_MAX_HEIGHT_OFFSET_M, _BODY_DEPTH_M = 1.5, 0.5


def in_range_distance_m(camera: str, near_m: float = 0.5) -> tuple[float, float]:
    """Side-view ``camera_distance_m`` (horizontal, camera to the primary person) that keeps the
    whole primary person inside the depth range of every sensor ``camera`` draws from: far =
    sqrt((max_range - body depth)^2 - height offset^2), e.g. 5.29 m for a 6 m sensor."""
    names = sensor_names(camera)
    max_range = min(SENSORS[n].max_range_m for n in names)
    near = max(near_m, max(SENSORS[n].min_range_m for n in names) + _BODY_DEPTH_M)
    far = float(np.sqrt((max_range - _BODY_DEPTH_M) ** 2 - _MAX_HEIGHT_OFFSET_M**2))
    if not near < far:
        raise PrivposeInputError(f"camera {camera!r}: its depth range leaves no room for a person")
    return (float(near), far)


def teacher_synth_config(**kwargs: object) -> SynthConfig:
    """A SynthConfig for the depth teacher's data: the primary person always inside the sensor's
    depth range (:func:`in_range_distance_m`; the default (0.5, 8) m puts about a quarter of
    the people beyond a 6 m sensor, with no depth at all). Others may still stand up to 3 m
    beyond the primary: the teacher's data leaves out, and counts, every crop without enough
    depth in its person mask (train/teacher.py)."""
    camera = str(kwargs.get("camera", SynthConfig.camera))
    kwargs.setdefault("camera_distance_m", in_range_distance_m(camera))
    return SynthConfig(**kwargs)  # type: ignore[arg-type]
