"""Pose results: metric 3D joints in the camera optical frame with per-joint confidence."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.joints import CANONICAL, JointSet
from privpose_ros.core.landmarks import Landmarks


class _WithConfidence(Protocol):
    @property
    def confidence(self) -> np.ndarray: ...


PersonT = TypeVar("PersonT", bound=_WithConfidence)


def mean_joint_confidence(confidence: np.ndarray) -> float:
    """Mean of a person's (J,) joint confidences in [0, 1]; 0.0 for an empty array."""
    values = np.asarray(confidence, dtype=np.float64)
    return float(np.mean(values)) if values.size else 0.0


def most_confident(persons: Iterable[PersonT]) -> PersonT | None:
    """The person with the highest mean joint confidence (the first of equals), or None."""
    return max(persons, key=lambda p: mean_joint_confidence(p.confidence), default=None)


@dataclass(frozen=True)
class PersonPose:
    """One person's skeleton.

    ``joints_cam_m``: (J, 3) float64 metres in the camera optical frame (NaN = unknown joint);
    ``confidence``: (J,) in [0, 1]; ``joints_px``: optional (J, 2) pixels in the source image;
    ``score``: detection score of the person in [0, 1]; ``box_px``: optional (4,) person box
    x0, y0, x1, y1 in pixels of the source image; ``landmarks``: the front end's BlazePose
    landmarks of this person (source pixels, metric world points) when it came from the front
    end, which the 3D lifters place in the camera frame.
    """

    joints_cam_m: np.ndarray
    confidence: np.ndarray
    joint_set: JointSet = CANONICAL
    person_id: int = 0
    joints_px: np.ndarray | None = None
    score: float = 1.0
    box_px: np.ndarray | None = None
    landmarks: Landmarks | None = None

    def __post_init__(self) -> None:
        joints = np.array(self.joints_cam_m, dtype=np.float64)
        conf = np.array(self.confidence, dtype=np.float64)
        n = self.joint_set.num_joints
        if joints.shape != (n, 3):
            raise PrivposeInputError(
                f"joints_cam_m must be ({n}, 3) for joint set {self.joint_set.name}, "
                f"got {joints.shape}"
            )
        if conf.shape != (n,):
            raise PrivposeInputError(f"confidence must be ({n},), got {conf.shape}")
        joints.setflags(write=False)
        conf.setflags(write=False)
        object.__setattr__(self, "joints_cam_m", joints)
        object.__setattr__(self, "confidence", conf)
        if self.joints_px is not None:
            px = np.array(self.joints_px, dtype=np.float64)
            if px.shape != (n, 2):
                raise PrivposeInputError(f"joints_px must be ({n}, 2), got {px.shape}")
            px.setflags(write=False)
            object.__setattr__(self, "joints_px", px)
        if self.box_px is not None:
            box = np.array(self.box_px, dtype=np.float64)
            if box.shape != (4,) or not (box[2] >= box[0] and box[3] >= box[1]):
                raise PrivposeInputError(f"box_px must be (x0, y0, x1, y1), got {box}")
            box.setflags(write=False)
            object.__setattr__(self, "box_px", box)
        object.__setattr__(self, "score", float(self.score))

    @property
    def mean_confidence(self) -> float:
        return mean_joint_confidence(self.confidence)

    def to_joint_set(self, target: JointSet) -> PersonPose:
        """This person in another joint set (only from the canonical set)."""
        if target.name == self.joint_set.name:
            return self
        if self.joint_set.name != CANONICAL.name:
            raise PrivposeInputError(
                f"can only convert from the canonical joint set, not {self.joint_set.name}"
            )
        px = None if self.joints_px is None else target.convert_joints(self.joints_px)
        return PersonPose(
            joints_cam_m=target.convert_joints(self.joints_cam_m),
            confidence=target.convert_confidence(self.confidence),
            joint_set=target,
            person_id=self.person_id,
            joints_px=px,
            score=self.score,
            box_px=self.box_px,
            landmarks=self.landmarks,
        )


@dataclass(frozen=True)
class PoseResult:
    """All people found in one image, stamped with the source image time (nanoseconds)."""

    persons: tuple[PersonPose, ...] = ()
    stamp_ns: int = 0
    frame_id: str = ""

    def most_confident(self) -> PersonPose | None:
        """The person with the highest mean joint confidence, or None when nobody was found."""
        return most_confident(self.persons)
