"""BlazePose's 33 landmarks and their map onto the canonical 26-joint skeleton.

Every canonical joint is an affine combination of landmarks (weights sum to one), so the map
applies unchanged to image pixels, to metric world points and to camera-frame points. Derived
joints (the others are one landmark each):

- pelvis: midpoint of the two hips; neck: midpoint of the two shoulders;
- spine: 0.55 pelvis + 0.45 neck (the generator's spine sits 45 % of the way up the torso);
- head: midpoint of the two ears (the centre of the skull);
- head_top: ear midpoint + 2 x (eye midpoint - mouth midpoint): the face's upward direction,
  about 10-12 cm above the ears for an adult;
- left/right_hand: midpoint of the index and pinky knuckles (the generator's hand point);
- left/right_foot: the foot index (toe) landmark.
"""

from __future__ import annotations

import numpy as np

from privpose_ros.core.joints import CANONICAL_JOINTS

BLAZEPOSE_LANDMARKS: tuple[str, ...] = (
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
)
NUM_LANDMARKS = len(BLAZEPOSE_LANDMARKS)

_DIRECT = {
    "nose": "nose",
    "left_eye": "left_eye",
    "right_eye": "right_eye",
    "left_ear": "left_ear",
    "right_ear": "right_ear",
    "left_shoulder": "left_shoulder",
    "right_shoulder": "right_shoulder",
    "left_elbow": "left_elbow",
    "right_elbow": "right_elbow",
    "left_wrist": "left_wrist",
    "right_wrist": "right_wrist",
    "left_hip": "left_hip",
    "right_hip": "right_hip",
    "left_knee": "left_knee",
    "right_knee": "right_knee",
    "left_ankle": "left_ankle",
    "right_ankle": "right_ankle",
    "left_foot": "left_foot_index",
    "right_foot": "right_foot_index",
}
_DERIVED: dict[str, dict[str, float]] = {
    "pelvis": {"left_hip": 0.5, "right_hip": 0.5},
    "neck": {"left_shoulder": 0.5, "right_shoulder": 0.5},
    "spine": {
        "left_hip": 0.275,
        "right_hip": 0.275,
        "left_shoulder": 0.225,
        "right_shoulder": 0.225,
    },
    "head": {"left_ear": 0.5, "right_ear": 0.5},
    "head_top": {
        "left_ear": 0.5,
        "right_ear": 0.5,
        "left_eye": 1.0,
        "right_eye": 1.0,
        "mouth_left": -1.0,
        "mouth_right": -1.0,
    },
    "left_hand": {"left_index": 0.5, "left_pinky": 0.5},
    "right_hand": {"right_index": 0.5, "right_pinky": 0.5},
}


def _canonical_from_blazepose() -> np.ndarray:
    index = {n: i for i, n in enumerate(BLAZEPOSE_LANDMARKS)}
    matrix = np.zeros((len(CANONICAL_JOINTS), NUM_LANDMARKS), dtype=np.float64)
    for row, joint in enumerate(CANONICAL_JOINTS):
        mix = _DERIVED.get(joint) or {_DIRECT[joint]: 1.0}
        for name, weight in mix.items():
            matrix[row, index[name]] = weight
    matrix.setflags(write=False)
    return matrix


# (26, 33): canonical = CANONICAL_FROM_BLAZEPOSE @ landmarks; every row sums to one
CANONICAL_FROM_BLAZEPOSE = _canonical_from_blazepose()


def landmarks_to_canonical(landmarks: np.ndarray) -> np.ndarray:
    """(..., 33, D) BlazePose landmarks (pixels or metres) -> (..., 26, D) canonical joints."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.ndim < 2 or landmarks.shape[-2] != NUM_LANDMARKS:
        raise ValueError(f"expected (..., {NUM_LANDMARKS}, D) landmarks, got {landmarks.shape}")
    return np.einsum("cl,...ld->...cd", CANONICAL_FROM_BLAZEPOSE, landmarks)


def confidence_to_canonical(confidence: np.ndarray) -> np.ndarray:
    """(..., 33) landmark confidences -> (..., 26): the least confident landmark used."""
    conf = np.asarray(confidence, dtype=np.float64)
    if conf.ndim < 1 or conf.shape[-1] != NUM_LANDMARKS:
        raise ValueError(f"expected (..., {NUM_LANDMARKS}) landmark confidences, got {conf.shape}")
    used = CANONICAL_FROM_BLAZEPOSE != 0
    return np.where(used, conf[..., None, :], np.inf).min(axis=-1)
