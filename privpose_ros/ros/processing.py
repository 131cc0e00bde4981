"""From synchronised messages to one RGBDFrame (decode, validate), and the node parameters to
the pipeline that processes it (no rclpy).

Every rejection is a :class:`BadFrame` with a short ``reason`` (the diagnostics counter name)
and a message that says what to fix on the publishing side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.frame import RGBDFrame
from privpose_ros.core.image_codec import to_depth_mm, to_rgb8
from privpose_ros.ros import compat
from privpose_ros.ros.compressed import decode_compressed_depth, decode_compressed_rgb
from privpose_ros.ros.params import NodeConfig
from privpose_ros.ros.pose_msgs import stamp_ns_of


class BadFrame(PrivposeInputError):
    """A frame the node skips; ``reason`` names the counter in /diagnostics."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def intrinsics_from_info(
    info: Any, width: int, height: int, rectified: bool = True
) -> CameraIntrinsics:
    """CameraInfo -> CameraIntrinsics of a ``width`` x ``height`` image (sizes must agree).

    ``rectified``: the image is a rectified topic (``image_rect*``): its camera is P's left 3x3
    without distortion (as image_geometry does). Otherwise (a raw topic) K with the distortion D,
    and the 2D joints are undistorted before any 3D.
    """
    if (int(info.width), int(info.height)) not in ((width, height), (0, 0)):
        raise BadFrame(
            "camera_info_size",
            f"camera_info is for {info.width}x{info.height} but the image is {width}x{height}; "
            "use the camera_info published with this image",
        )
    p = np.asarray(info.p, dtype=np.float64).reshape(-1)
    try:
        if rectified:
            if p.size == 12 and p[0] > 0 and p[5] > 0:  # an all-zero P: K of the same image
                return CameraIntrinsics(p[0], p[5], p[2], p[6], width, height)
            return CameraIntrinsics.from_k(list(info.k), width, height)
        model = str(info.distortion_model or "plumb_bob")
        return CameraIntrinsics.from_k(list(info.k), width, height, tuple(info.d), model)
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


def _decompress(decode: Any, msg: Any, reason: str, what: str) -> np.ndarray:
    """A CompressedImage through ``decode(format, data)``; a bad payload is BadFrame(reason)."""
    try:
        return decode(str(msg.format), msg.data)
    except PrivposeInputError as exc:
        raise BadFrame(reason, f"compressed {what} image rejected: {exc}") from exc


def decode_frame(
    rgb_msg: Any, info_msg: Any, depth_msg: Any | None, rectified: bool = True
) -> tuple[RGBDFrame, tuple[str, ...]]:
    """Validate and decode one synchronised set of messages (depth_msg None = RGB-only);
    sensor_msgs/CompressedImage (``compressed`` / ``compressedDepth``) or Image each.

    Returns the frame (stamped with the colour header, in its frame id) and the notes for the
    publishing side (depth rescaled, depth in another frame), to be logged."""
    if hasattr(rgb_msg, "format"):  # a CompressedImage: image_transport's `compressed`
        rgb = _decompress(decode_compressed_rgb, rgb_msg, "bad_compressed_rgb", "colour")
    else:
        try:
            pixels = compat.decode_image(rgb_msg)
            rgb = to_rgb8(pixels, str(rgb_msg.encoding))
        except PrivposeInputError as exc:
            raise BadFrame("bad_rgb", f"colour image rejected: {exc}") from exc
    height, width = rgb.shape[:2]
    intrinsics = intrinsics_from_info(info_msg, width, height, rectified)
    stamp_ns = stamp_ns_of(rgb_msg.header.stamp)
    notes: list[str] = []
    depth_mm = None
    if depth_msg is not None and hasattr(depth_msg, "format"):  # `compressedDepth`
        depth_mm = _decompress(decode_compressed_depth, depth_msg, "bad_compressed_depth", "depth")
    elif depth_msg is not None:
        try:
            pixels = compat.decode_image(depth_msg)
            depth_mm = to_depth_mm(pixels, str(depth_msg.encoding))
        except PrivposeInputError as exc:
            raise BadFrame("bad_depth", f"depth image rejected: {exc}") from exc
    if depth_msg is not None:
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
    frame = RGBDFrame(rgb, intrinsics, depth_mm, stamp_ns, str(rgb_msg.header.frame_id))
    return frame, tuple(notes)


def _refine_config(config: NodeConfig) -> Any:
    from privpose_ros.refine.pipeline import RefineConfig

    if not config.use_depth or not config.refine.any_enabled:
        return None
    return RefineConfig(
        lifting=config.refine.lifting,
        patch_a=config.refine.patch_a,
        skeleton_b=config.refine.skeleton_b,
        pointcloud_c=config.refine.pointcloud_c,
        weights_dir=config.refine.weights_dir or None,
    )


def pipeline_config(config: NodeConfig) -> Any:
    """The PipelineConfig (front end, v2 lifter, refinement, tracking, smoothing) of the node
    parameters."""
    from privpose_ros.runtime.lifter import PrivposeLifterConfig
    from privpose_ros.runtime.people import FrontEndConfig
    from privpose_ros.runtime.pipeline import PipelineConfig
    from privpose_ros.runtime.runner import RunnerConfig
    from privpose_ros.track.reid import ReidConfig
    from privpose_ros.track.smoothing import SmoothingConfig
    from privpose_ros.track.tracker import TrackerConfig

    runner = RunnerConfig(
        backend=config.backend,
        device=config.device,
        threads=config.threads,
        enable_fp16=config.enable_fp16,
        cache_dir=Path(config.engine_cache_dir) if config.engine_cache_dir else None,
    )
    frontend = FrontEndConfig(
        runner=runner,
        landmark_model=config.frontend.landmark_model,
        detector_long_side_px=config.frontend.detector_long_side_px,
        min_person_score=config.frontend.min_person_score,
        min_pose_score=config.frontend.min_pose_score,
        max_persons=config.frontend.max_persons,
        roi_passes=config.frontend.roi_passes,
        detect_every_n=config.frontend.detect_every_n,
        world_scale=config.frontend.world_scale,
        detector_tiles=config.frontend.detector_tiles,
        async_detection=config.frontend.async_detection,
    )
    tracking = None
    if config.tracking.enabled:
        tracking = TrackerConfig(
            max_age_s=config.tracking.max_age_s,
            min_similarity=config.tracking.min_similarity,
            reid=ReidConfig(window_s=config.tracking.reid_window_s),
        )
    smoothing = None
    if config.smoothing.enabled:
        smoothing = SmoothingConfig(
            min_cutoff_hz=config.smoothing.min_cutoff_hz,
            beta=config.smoothing.beta,
            d_cutoff_hz=config.smoothing.d_cutoff_hz,
        )
    lifter = None
    if config.model == "privpose":
        lifter = PrivposeLifterConfig(
            weights_path=Path(config.weights_path) if config.weights_path else None,
            runner=runner,
            max_persons=config.frontend.max_persons,
        )
    return PipelineConfig(frontend, _refine_config(config), tracking, smoothing, lifter)


def default_pipeline(config: NodeConfig) -> Any:
    """The pipeline the node runs: the front end with its monocular 3D (``model: blazepose``) or
    with the v2 model lifting every person (``model: privpose``)."""
    from privpose_ros.runtime.pipeline import PosePipeline

    return PosePipeline.from_config(pipeline_config(config))
