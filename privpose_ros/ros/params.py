"""The node's parameters: one table of specs, validation, and the frozen NodeConfig built from it.

The table is the single source for the declared parameters, their descriptors, the defaults in
config/privpose.yaml (a test compares them) and the validation applied at startup and on
``ros2 param set``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.joints import JOINT_SETS, JointSet, get_joint_set
from privpose_ros.ros.pose_msgs import PERSON_SELECTION_RULES

BACKENDS = ("auto", "tensorrt", "onnxruntime", "torch")
MODELS = ("blazepose", "privpose_rgb")
LANDMARK_MODELS = ("full", "lite")
QOS_CHOICES = ("sensor_data", "reliable")
RGB_TRANSPORTS = ("raw", "compressed")
DEPTH_TRANSPORTS = ("raw", "compressedDepth")


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: default (its type is the parameter type), description and constraint."""

    name: str
    default: Any
    description: str
    choices: tuple[str, ...] = ()
    min_value: float | None = None
    max_value: float | None = None

    def validate(self, value: Any) -> str | None:
        """The reason ``value`` is rejected, or None when it is acceptable."""
        kind = type(self.default)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if kind is list:
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                return f"{self.name} must be a list of strings, got {value!r}"
            return None
        if type(value) is not kind:
            return f"{self.name} must be {kind.__name__}, got {type(value).__name__} {value!r}"
        if self.choices and value not in self.choices:
            return f"{self.name} must be one of {list(self.choices)}, got {value!r}"
        if kind in (int, float):
            if isinstance(value, float) and not math.isfinite(value):
                return f"{self.name} must be finite, got {value}"
            if self.min_value is not None and value < self.min_value:
                return f"{self.name} must be >= {self.min_value}, got {value}"
            if self.max_value is not None and value > self.max_value:
                return f"{self.name} must be <= {self.max_value}, got {value}"
        return None


def _qos(topic: str) -> ParamSpec:
    return ParamSpec(
        f"qos.{topic}",
        "sensor_data",
        f"QoS of the {topic} subscription: sensor_data (best effort, keep last) or reliable",
        QOS_CHOICES,
    )


PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("autostart", True, "configure and activate the lifecycle node at startup"),
    ParamSpec(
        "model",
        "blazepose",
        "blazepose: real-world front end (MoveNet persons + BlazePose landmarks, every person); "
        "privpose_rgb: the synthetic-trained whole-image SPDH model (one person)",
        MODELS,
    ),
    ParamSpec(
        "frontend.landmark_model", "full", "BlazePose landmarks: full or lite", LANDMARK_MODELS
    ),
    ParamSpec(
        "frontend.detector_long_side_px",
        512,
        "person detector input long side (px, x32)",
        (),
        128,
        1536,
    ),
    ParamSpec("frontend.min_person_score", 0.1, "person detector score to try a person", (), 0, 1),
    ParamSpec("frontend.min_pose_score", 0.5, "landmark person presence to keep it", (), 0, 1),
    ParamSpec("frontend.max_persons", 6, "most persons per frame", (), 1, 32),
    ParamSpec(
        "frontend.roi_passes", 2, "1: crop from the detector; 2: re-crop from landmarks", (), 1, 2
    ),
    ParamSpec(
        "frontend.detect_every_n",
        5,
        "run the person detector every n-th frame, follow people in between (1: always)",
        (),
        1,
        1000,
    ),
    ParamSpec(
        "frontend.world_scale",
        1.1,
        "scale of the landmark world points (RGB-only 3D)",
        (),
        0.5,
        2.0,
    ),
    ParamSpec(
        "camera.rectified",
        True,
        "true: the colour topic is rectified (use camera_info P, no distortion); false: raw "
        "image (use K and undistort the 2D joints with D)",
    ),
    ParamSpec("tracking.enabled", True, "stable person ids across frames"),
    ParamSpec("tracking.max_age_s", 1.0, "forget a person unseen this long (s)", (), 0.0, 60.0),
    ParamSpec("tracking.min_similarity", 0.2, "least track-detection similarity", (), 0.0, 1.0),
    ParamSpec("smoothing.enabled", True, "One Euro smoothing of every joint (needs tracking)"),
    ParamSpec("smoothing.min_cutoff_hz", 0.4, "One Euro cutoff at rest (Hz)", (), 0.01, 30.0),
    ParamSpec("smoothing.beta", 2.5, "One Euro speed coefficient (1/m)", (), 0.0, 100.0),
    ParamSpec("smoothing.d_cutoff_hz", 1.0, "One Euro cutoff of the speed (Hz)", (), 0.01, 30.0),
    ParamSpec(
        "output.person_selection",
        "most_confident",
        "which person /human_pose carries",
        PERSON_SELECTION_RULES,
    ),
    ParamSpec("backend", "auto", "inference backend (auto picks the fastest available)", BACKENDS),
    ParamSpec("device", "cpu", "inference device: cpu, cuda or cuda:N"),
    ParamSpec("weights_path", "", "privpose_rgb model safetensors; empty = the shipped weights"),
    ParamSpec("onnx_path", "", "exported ONNX model; empty = export from the weights"),
    ParamSpec("engine_cache_dir", "", "TensorRT engine cache folder; empty = default cache"),
    ParamSpec("enable_fp16", False, "TensorRT FP16 engine"),
    ParamSpec("threads", 0, "CPU threads for inference (0 = library default)", (), 0, 256),
    ParamSpec("use_depth", True, "subscribe to registered depth; false = RGB-only"),
    ParamSpec("refine.lifting", True, "lift 2D joints with depth (median in a window)"),
    ParamSpec("refine.patch_a", False, "refinement module A (2D depth patches)"),
    ParamSpec("refine.skeleton_b", True, "refinement module B (whole skeleton MLP)"),
    ParamSpec("refine.pointcloud_c", False, "refinement module C (point cloud, slowest)"),
    ParamSpec("refine.weights_dir", "", "folder of refiner weights; empty = shipped"),
    ParamSpec("sync.queue_size", 5, "ApproximateTimeSynchronizer queue per input", (), 1, 100),
    ParamSpec("sync.slop_s", 0.02, "largest stamp spread of a synchronised set (s)", (), 0, 1),
    _qos("rgb"),
    _qos("depth"),
    _qos("camera_info"),
    ParamSpec("qos.output", "reliable", "QoS of the outputs (keep last 1)", QOS_CHOICES),
    ParamSpec(
        "transport.rgb",
        "raw",
        "colour transport: raw (sensor_msgs/Image) or compressed (<topic>/compressed, jpeg/png)",
        RGB_TRANSPORTS,
    ),
    ParamSpec(
        "transport.depth",
        "raw",
        "depth transport: raw or compressedDepth (<topic>/compressedDepth, PNG or RVL)",
        DEPTH_TRANSPORTS,
    ),
    ParamSpec(
        "time.max_future_s",
        2.0,
        "refuse frames stamped further ahead of the node's clock than this (s)",
        (),
        0.0,
        3600.0,
    ),
    ParamSpec(
        "watchdog.stall_s",
        5.0,
        "report the worker as stalled when a waiting frame is not taken this long (s)",
        (),
        0.1,
        600.0,
    ),
    ParamSpec(
        "skeleton.joint_set", "canonical", "joint set of every output", tuple(sorted(JOINT_SETS))
    ),
    ParamSpec(
        "skeleton.joint_names",
        [],
        "joints of /human_pose in this order (subset of the joint set); empty = all of them",
    ),
    ParamSpec("confidence_threshold", 0.3, "joints below it are unknown (NaN)", (), 0.0, 1.0),
    ParamSpec("tf.enabled", False, "publish a TF frame per joint"),
    ParamSpec(
        "tf.prefix",
        "",
        "prefix of the joint frames: <prefix>person_<id>/<joint>; empty = '<node name>/' "
        "(unique per node)",
    ),
    ParamSpec("tf.rate_hz", 10.0, "largest TF publish rate (Hz)", (), 0.1, 1000.0),
    ParamSpec("target_frame", "", "express outputs in this frame (TF at the image stamp)"),
    ParamSpec("tf_timeout_s", 0.05, "wait at most this long for target_frame TF (s)", (), 0, 5),
    ParamSpec("marker.lifetime_s", 0.3, "marker lifetime (s)", (), 0.0, 60.0),
    ParamSpec("diagnostics.period_s", 1.0, "/diagnostics period (s)", (), 0.05, 60.0),
)
SPECS: dict[str, ParamSpec] = {spec.name: spec for spec in PARAMS}


@dataclass(frozen=True)
class NodeConfig:
    """Validated node configuration (see PARAMS for the meaning of each field)."""

    values: tuple[tuple[str, Any], ...]
    joint_set: JointSet
    output_indices: tuple[int, ...]

    def __getitem__(self, name: str) -> Any:
        return dict(self.values)[name]

    @property
    def refine_enabled(self) -> bool:
        return any(
            self[f"refine.{m}"] for m in ("lifting", "patch_a", "skeleton_b", "pointcloud_c")
        )

    @property
    def output_joint_names(self) -> tuple[str, ...]:
        return tuple(self.joint_set.joint_names[i] for i in self.output_indices)


def validate(name: str, value: Any) -> str | None:
    """The reason to reject ``name := value``, or None."""
    spec = SPECS.get(name)
    if spec is None:
        return f"unknown parameter {name}"
    return spec.validate(value)


def config_from_values(values: dict[str, Any]) -> NodeConfig:
    """Validate a {name: value} mapping (missing names take defaults) into a NodeConfig."""
    unknown = sorted(set(values) - set(SPECS))
    if unknown:
        raise PrivposeInputError(f"unknown parameters {unknown}; known: {sorted(SPECS)}")
    merged = {spec.name: spec.default for spec in PARAMS}
    merged.update({k: v for k, v in values.items() if v is not None})
    reasons = [r for n, v in merged.items() if (r := validate(n, v))]
    if reasons:
        raise PrivposeInputError("; ".join(reasons))
    merged = {n: float(v) if isinstance(SPECS[n].default, float) else v for n, v in merged.items()}
    merged["skeleton.joint_names"] = list(merged["skeleton.joint_names"])
    joint_set = get_joint_set(merged["skeleton.joint_set"])
    names = merged["skeleton.joint_names"] or list(joint_set.joint_names)
    indices = tuple(joint_set.index(n) for n in names)
    return NodeConfig(
        values=tuple((n, tuple(v) if isinstance(v, list) else v) for n, v in merged.items()),
        joint_set=joint_set,
        output_indices=indices,
    )
