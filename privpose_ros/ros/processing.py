"""From synchronised messages to a PoseResult: decode, validate, estimate, refine (no rclpy).

Every rejection is a :class:`BadFrame` with a short ``reason`` (the diagnostics counter name)
and a message that says what to fix on the publishing side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.image_codec import to_depth_mm, to_rgb8
from privpose_ros.core.pose import PoseResult
from privpose_ros.ros import compat
from privpose_ros.ros.params import NodeConfig
from privpose_ros.ros.pose_msgs import stamp_ns_of


class BadFrame(PrivposeInputError):
    """A frame the node skips; ``reason`` names the counter in /diagnostics."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Estimator(Protocol):
    def estimate(
        self, rgb: np.ndarray, intrinsics: CameraIntrinsics, stamp_ns: int = 0, frame_id: str = ""
    ) -> PoseResult: ...


class Refiner(Protocol):
    def refine(
        self, result: PoseResult, depth_mm: np.ndarray, intrinsics: CameraIntrinsics
    ) -> PoseResult: ...


@dataclass(frozen=True)
class Frame:
    """A decoded, validated frame: rgb (H, W, 3) uint8, depth (H, W) uint16 mm or None."""

    rgb: np.ndarray
    intrinsics: CameraIntrinsics
    depth_mm: np.ndarray | None
    stamp_ns: int
    frame_id: str
    notes: tuple[str, ...] = ()


def intrinsics_from_info(info: Any, width: int, height: int) -> CameraIntrinsics:
    """CameraInfo -> CameraIntrinsics of a ``width`` x ``height`` image (sizes must agree)."""
    if (int(info.width), int(info.height)) not in ((width, height), (0, 0)):
        raise BadFrame(
            "camera_info_size",
            f"camera_info is for {info.width}x{info.height} but the image is {width}x{height}; "
            "use the camera_info published with this image",
        )
    try:
        return CameraIntrinsics.from_k(
            list(info.k), width, height, tuple(info.d), str(info.distortion_model or "plumb_bob")
        )
    except PrivposeInputError as exc:
        raise BadFrame("bad_camera_info", f"camera_info rejected: {exc}") from exc


def _resize_nearest(depth_mm: np.ndarray, height: int, width: int) -> np.ndarray:
    rows = ((np.arange(height) + 0.5) * depth_mm.shape[0] / height).astype(np.int64)
    cols = ((np.arange(width) + 0.5) * depth_mm.shape[1] / width).astype(np.int64)
    return depth_mm[rows[:, None], cols[None, :]]


def align_depth(depth_mm: np.ndarray, height: int, width: int) -> tuple[np.ndarray, str | None]:
    """Depth at the colour resolution; rescaled (nearest) only when the aspect ratios match."""
    dh, dw = depth_mm.shape
    if (dh, dw) == (height, width):
        return depth_mm, None
    if dh * width != dw * height:
        raise BadFrame(
            "depth_size",
            f"depth is {dw}x{dh}, colour is {width}x{height}: different fields of view; "
            "subscribe to depth registered to the colour camera (e.g. aligned_depth_to_color)",
        )
    note = f"depth {dw}x{dh} rescaled to the colour resolution {width}x{height}"
    return _resize_nearest(depth_mm, height, width), note


def decode_frame(rgb_msg: Any, info_msg: Any, depth_msg: Any | None) -> Frame:
    """Validate and decode one synchronised set of messages (depth_msg None = RGB-only)."""
    try:
        rgb = to_rgb8(compat.decode_image(rgb_msg), str(rgb_msg.encoding))
    except PrivposeInputError as exc:
        raise BadFrame("bad_rgb", f"colour image rejected: {exc}") from exc
    height, width = rgb.shape[:2]
    intrinsics = intrinsics_from_info(info_msg, width, height)
    stamp_ns = stamp_ns_of(rgb_msg.header.stamp)
    notes: list[str] = []
    depth_mm = None
    if depth_msg is not None:
        try:
            depth_mm = to_depth_mm(compat.decode_image(depth_msg), str(depth_msg.encoding))
        except PrivposeInputError as exc:
            raise BadFrame("bad_depth", f"depth image rejected: {exc}") from exc
        depth_mm, note = align_depth(depth_mm, height, width)
        if note:
            notes.append(note)
        if not depth_mm.any():
            raise BadFrame(
                "empty_depth", "depth image has no valid reading (all 0 / NaN); check the sensor"
            )
        if depth_msg.header.frame_id != rgb_msg.header.frame_id:
            notes.append(
                f"depth frame '{depth_msg.header.frame_id}' differs from colour frame "
                f"'{rgb_msg.header.frame_id}'; depth must be registered to the colour camera"
            )
    return Frame(rgb, intrinsics, depth_mm, stamp_ns, str(rgb_msg.header.frame_id), tuple(notes))


class FrameProcessor:
    """Runs the estimator and, when there is depth, the refinement on a decoded frame."""

    def __init__(self, estimator: Estimator, refiner: Refiner | None = None) -> None:
        self.estimator = estimator
        self.refiner = refiner

    def process(self, frame: Frame) -> PoseResult:
        result = self.estimator.estimate(
            frame.rgb, frame.intrinsics, stamp_ns=frame.stamp_ns, frame_id=frame.frame_id
        )
        if self.refiner is not None and frame.depth_mm is not None and result.persons:
            result = self.refiner.refine(result, frame.depth_mm, frame.intrinsics)
        return PoseResult(persons=result.persons, stamp_ns=frame.stamp_ns, frame_id=frame.frame_id)


def default_estimator(config: NodeConfig) -> Any:
    """The runtime PoseEstimator configured from the node parameters."""
    from privpose_ros.runtime.estimator import EstimatorConfig, PoseEstimator

    return PoseEstimator(
        EstimatorConfig(
            backend=config["backend"],
            weights_path=config["weights_path"] or None,
            onnx_path=config["onnx_path"] or None,
            engine_cache_dir=config["engine_cache_dir"] or None,
            device=config["device"],
            enable_fp16=config["enable_fp16"],
            threads=config["threads"],
        )
    )


def default_refiner(config: NodeConfig) -> Any:
    """The enabled refinement modules, or None (RGB-only or all modules off)."""
    if not config["use_depth"] or not config.refine_enabled:
        return None
    from privpose_ros.refine.pipeline import RefineConfig, RefinementPipeline

    return RefinementPipeline(
        RefineConfig(
            lifting=config["refine.lifting"],
            patch_a=config["refine.patch_a"],
            skeleton_b=config["refine.skeleton_b"],
            pointcloud_c=config["refine.pointcloud_c"],
            weights_dir=config["refine.weights_dir"] or None,
        )
    )
