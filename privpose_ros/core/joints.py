"""Joint sets: the canonical skeleton privpose predicts and the named sets it maps to.

Every named set is an affine combination of canonical joints (rows of ``from_canonical`` sum to
one, so the mapping commutes with rotation and translation). A joint that cannot be derived from
the canonical skeleton has an all-zero row and maps to NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.joint_tables import (
    COCO_17_TABLE,
    H36M_17_TABLE,
    ITOP_15_TABLE,
    KINECT_V2_25_TABLE,
    JointSource,
)

CANONICAL_JOINTS: tuple[str, ...] = (
    "pelvis",
    "spine",
    "neck",
    "head",
    "head_top",
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hand",
    "right_hand",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_foot",
    "right_foot",
)

CANONICAL_BONES: tuple[tuple[str, str], ...] = (
    ("pelvis", "spine"),
    ("spine", "neck"),
    ("neck", "head"),
    ("head", "head_top"),
    ("head", "nose"),
    ("nose", "left_eye"),
    ("nose", "right_eye"),
    ("left_eye", "left_ear"),
    ("right_eye", "right_ear"),
    ("neck", "left_shoulder"),
    ("neck", "right_shoulder"),
    ("left_shoulder", "left_elbow"),
    ("right_shoulder", "right_elbow"),
    ("left_elbow", "left_wrist"),
    ("right_elbow", "right_wrist"),
    ("left_wrist", "left_hand"),
    ("right_wrist", "right_hand"),
    ("pelvis", "left_hip"),
    ("pelvis", "right_hip"),
    ("left_hip", "left_knee"),
    ("right_hip", "right_knee"),
    ("left_knee", "left_ankle"),
    ("right_knee", "right_ankle"),
    ("left_ankle", "left_foot"),
    ("right_ankle", "right_foot"),
)


@dataclass(frozen=True)
class JointSet:
    """A named skeleton: joint names, bones (parent, child) for drawing, and its canonical map."""

    name: str
    joint_names: tuple[str, ...]
    bones: tuple[tuple[str, str], ...]
    sources: tuple[JointSource, ...]
    from_canonical: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.sources) != len(self.joint_names):
            raise PrivposeInputError(
                f"joint set {self.name}: {len(self.joint_names)} names but "
                f"{len(self.sources)} sources"
            )
        index = {n: i for i, n in enumerate(CANONICAL_JOINTS)}
        matrix = np.zeros((len(self.joint_names), len(CANONICAL_JOINTS)), dtype=np.float64)
        for row, source in enumerate(self.sources):
            mix = {source: 1.0} if isinstance(source, str) else (source or {})
            for name, weight in mix.items():
                matrix[row, index[name]] = weight
            if mix and not np.isclose(matrix[row].sum(), 1.0):
                raise PrivposeInputError(
                    f"{self.name}.{self.joint_names[row]}: weights must sum to 1"
                )
        names = set(self.joint_names)
        for parent, child in self.bones:
            if parent not in names or child not in names:
                raise PrivposeInputError(
                    f"{self.name}: bone {parent}-{child} names an unknown joint"
                )
        matrix.setflags(write=False)
        object.__setattr__(self, "from_canonical", matrix)

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def derivable(self) -> np.ndarray:
        """(J,) bool: which joints the canonical skeleton determines."""
        return self.from_canonical.any(axis=1)

    def index(self, joint_name: str) -> int:
        try:
            return self.joint_names.index(joint_name)
        except ValueError:
            raise PrivposeInputError(
                f"joint '{joint_name}' is not in {self.name}; it has {list(self.joint_names)}"
            ) from None

    def bone_indices(self) -> np.ndarray:
        """(B, 2) int array of (parent, child) joint indices."""
        return np.array([(self.index(p), self.index(c)) for p, c in self.bones], dtype=np.int64)

    def convert_joints(self, joints_canonical: np.ndarray) -> np.ndarray:
        """Map canonical joints (..., 26, D) to this set (..., J, D); underivable ones are NaN."""
        joints = np.asarray(joints_canonical, dtype=np.float64)
        if joints.ndim < 2 or joints.shape[-2] != len(CANONICAL_JOINTS):
            raise PrivposeInputError(
                f"expected canonical joints (..., {len(CANONICAL_JOINTS)}, D), got {joints.shape}"
            )
        out = np.einsum("tc,...cd->...td", self.from_canonical, joints)
        out[..., ~self.derivable, :] = np.nan
        return out

    def convert_confidence(self, confidence_canonical: np.ndarray) -> np.ndarray:
        """Map canonical confidences (..., 26) to (..., J): minimum over sources, 0 if none."""
        conf = np.asarray(confidence_canonical, dtype=np.float64)
        used = self.from_canonical > 0
        masked = np.where(used, conf[..., None, :], np.inf)
        out = masked.min(axis=-1)
        return np.where(self.derivable, out, 0.0)


def _same(names: tuple[str, ...]) -> tuple[JointSource, ...]:
    return tuple(names)


CANONICAL = JointSet("canonical", CANONICAL_JOINTS, CANONICAL_BONES, _same(CANONICAL_JOINTS))

ITOP_15 = JointSet("itop15", *ITOP_15_TABLE)
COCO_17 = JointSet("coco17", *COCO_17_TABLE)
H36M_17 = JointSet("h36m17", *H36M_17_TABLE)
KINECT_V2_25 = JointSet("kinect_v2_25", *KINECT_V2_25_TABLE)

JOINT_SETS: dict[str, JointSet] = {
    s.name: s for s in (CANONICAL, ITOP_15, COCO_17, H36M_17, KINECT_V2_25)
}


def get_joint_set(name: str) -> JointSet:
    """Look up a joint set by name (canonical, itop15, coco17, h36m17, kinect_v2_25)."""
    try:
        return JOINT_SETS[name]
    except KeyError:
        raise PrivposeInputError(
            f"unknown joint set '{name}'; choose one of {sorted(JOINT_SETS)}"
        ) from None
