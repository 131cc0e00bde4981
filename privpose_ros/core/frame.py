"""RGB-D frames: the data contract between cameras, datasets, the generator and the models.

``rgb``: (H, W, 3) uint8, RGB channel order. ``depth_mm``: (H, W) uint16 millimetres registered to
the colour image, 0 = no reading (or None for RGB-only). ``intrinsics`` describe the colour image.

One frame, one type: the bag reader (data/rosbag_reader.py), the replayer (ros/replay.py), the
node's decode step (ros/processing.py) and the real-data readers all pass :class:`RGBDFrame`;
frames with ground truth (synthetic, datasets) are :class:`LabeledFrame`. Batches of N frames
as arrays are another thing: data.synth.SynthBatch (rendered, every label).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import PrivposeInputError


def check_rgb(rgb: np.ndarray, intrinsics: CameraIntrinsics | None = None) -> None:
    """Raise PrivposeInputError unless ``rgb`` is (H, W, 3) uint8 matching ``intrinsics``."""
    if (
        not isinstance(rgb, np.ndarray)
        or rgb.dtype != np.uint8
        or rgb.ndim != 3
        or rgb.shape[2] != 3
    ):
        got = (rgb.shape, rgb.dtype) if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise PrivposeInputError(f"rgb must be an (H, W, 3) uint8 array in RGB order, got {got}")
    if intrinsics is not None and rgb.shape[:2] != (intrinsics.height, intrinsics.width):
        raise PrivposeInputError(
            f"rgb is {rgb.shape[1]}x{rgb.shape[0]} but the intrinsics are for "
            f"{intrinsics.width}x{intrinsics.height}; use the camera_info of this image"
        )


def check_depth_mm(depth_mm: np.ndarray, shape_hw: tuple[int, int]) -> None:
    """Raise PrivposeInputError unless ``depth_mm`` is (H, W) uint16 with the colour image size."""
    if not isinstance(depth_mm, np.ndarray) or depth_mm.dtype != np.uint16 or depth_mm.ndim != 2:
        got = (
            (depth_mm.shape, depth_mm.dtype)
            if isinstance(depth_mm, np.ndarray)
            else type(depth_mm)
        )
        raise PrivposeInputError(f"depth_mm must be an (H, W) uint16 array in mm, got {got}")
    if depth_mm.shape != tuple(shape_hw):
        raise PrivposeInputError(
            f"depth is {depth_mm.shape[1]}x{depth_mm.shape[0]} but colour is "
            f"{shape_hw[1]}x{shape_hw[0]}; register depth to the colour camera "
            "(e.g. aligned_depth_to_color)"
        )


@dataclass(frozen=True)
class RGBDFrame:
    """One synchronised camera frame; ``stamp_ns`` is the capture time."""

    rgb: np.ndarray
    intrinsics: CameraIntrinsics
    depth_mm: np.ndarray | None = None
    stamp_ns: int = 0
    frame_id: str = "camera_color_optical_frame"

    def __post_init__(self) -> None:
        check_rgb(self.rgb, self.intrinsics)
        if self.depth_mm is not None:
            check_depth_mm(self.depth_mm, self.rgb.shape[:2])


@dataclass(frozen=True)
class LabeledFrame(RGBDFrame):
    """A frame with ground truth for its primary person, in the canonical joint set.

    ``joints_cam_m`` (J, 3) metres, camera optical frame; ``joints_px`` (J, 2) pixels;
    ``visible`` (J,) bool (inside the image and not occluded); ``person_mask`` (H, W) bool.
    """

    joints_cam_m: np.ndarray | None = None
    joints_px: np.ndarray | None = None
    visible: np.ndarray | None = None
    person_mask: np.ndarray | None = None


def ground_truth_cam_m(frame: RGBDFrame) -> np.ndarray | None:
    """The (J, 3) ground-truth joints in metres of a LabeledFrame, None for any other frame."""
    return frame.joints_cam_m if isinstance(frame, LabeledFrame) else None
