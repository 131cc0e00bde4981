"""The node's parameters, declared once: frozen dataclasses whose fields are the parameters.

A parameter's ROS name is its attribute path (``frontend.detect_every_n`` is read as
``config.frontend.detect_every_n``), its type is the field's and :func:`param` gives its default,
description and constraint. PARAMS (the ParamSpec table the node declares), the validation at
configure and on ``ros2 param set``, and config/privpose.yaml (written by
:mod:`privpose_ros.ros.params_yaml`, compared by a test) all come from these classes.
"""

from __future__ import annotations

import functools
import math
import typing
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, TypeVar

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.joints import CANONICAL, JOINT_SETS, JointSet, get_joint_set
from privpose_ros.ros.pose_msgs import PERSON_SELECTION_RULES
from privpose_ros.runtime.runner import GRAPH_BACKENDS

MODELS = ("blazepose", "privpose")
LANDMARK_MODELS = ("full", "lite", "heavy")
QOS_CHOICES = ("sensor_data", "reliable")
RGB_TRANSPORTS = ("raw", "compressed")
DEPTH_TRANSPORTS = ("raw", "compressedDepth")
_SPEC_KEY = "privpose_param"  # field metadata of a parameter: its ParamSpec keywords
Group = TypeVar("Group")


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: default (its type is the parameter type), description and constraint."""

    name: str
    default: Any
    description: str
    choices: tuple[str, ...] = ()
    min_value: float | None = None
    max_value: float | None = None
    check: Callable[[Any], str | None] | None = None  # a rule beyond type, choices and range

    @property
    def help_text(self) -> str:
        """The description with the choices (the ROS descriptor's and the YAML's text)."""
        return self.description + (f" (one of {', '.join(self.choices)})" if self.choices else "")

    def validate(self, value: Any) -> str | None:
        """The reason ``value`` is rejected, or None when it is acceptable."""
        kind = type(self.default)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if kind is tuple:
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
        return self.check(value) if self.check is not None else None


def param(
    default: Any,
    description: str,
    choices: tuple[str, ...] = (),
    min_value: float | None = None,
    max_value: float | None = None,
    check: Callable[[Any], str | None] | None = None,
) -> Any:
    """A parameter field: its default, description, choices, range (inclusive) and ``check``
    (value -> reason or None) for a rule the others cannot state."""
    spec = dict(
        description=description,
        choices=choices,
        min_value=min_value,
        max_value=max_value,
        check=check,
    )
    return field(default=default, metadata={_SPEC_KEY: spec})


def frontend_rule(name: str) -> Callable[[Any], str | None]:
    """The runtime front end's own rule for its field ``name`` (FrontEndConfig validates it; no
    second copy here): the reason, naming the parameter, or None."""

    def check(value: Any) -> str | None:
        from privpose_ros.runtime.people import FrontEndConfig

        try:
            FrontEndConfig(**{name: value})
        except PrivposeInputError as exc:
            return f"frontend.{exc}"
        return None

    return check


def group(kind: type[Group]) -> Group:
    """A field holding a group of parameters (a frozen dataclass of param() fields)."""
    return field(default_factory=kind)


def _qos(topic: str) -> Any:
    text = f"QoS of the {topic} subscription: sensor_data (best effort, keep last) or reliable"
    return param("sensor_data", text, QOS_CHOICES)


@dataclass(frozen=True)
class FrontendParams:
    """The real-world front end (both models: it finds every person)."""

    landmark_model: str = param(
        "full", "BlazePose landmarks: full, lite or heavy", LANDMARK_MODELS
    )
    detector_long_side_px: int = param(
        512,
        "person detector input long side (px, a multiple of 32)",
        (),
        128,
        1536,
        frontend_rule("detector_long_side_px"),
    )
    min_person_score: float = param(0.1, "person detector score to try a person", (), 0, 1)
    min_pose_score: float = param(0.5, "landmark person presence to keep it", (), 0, 1)
    max_persons: int = param(6, "most persons per frame", (), 1, 32)
    roi_passes: int = param(2, "1: crop from the detector; 2: re-crop from landmarks", (), 1, 2)
    detect_every_n: int = param(
        5,
        "run the person detector every n-th frame, follow people in between (1: always)",
        (),
        1,
        1000,
    )
    world_scale: float = param(
        1.1, "scale of the landmark world points (RGB-only 3D)", (), 0.5, 2.0
    )
    detector_tiles: str = param(
        "auto",
        "also detect on overlapping tiles for more than 6 persons: auto (when the full frame "
        "gives 6 and max_persons asks for more), always or off",
        check=frontend_rule("detector_tiles"),
    )
    async_detection: bool = param(
        True, "run the person detector in its own thread, so no frame waits for it"
    )


@dataclass(frozen=True)
class CameraParams:
    rectified: bool = param(
        True,
        "true: the colour topic is rectified (use camera_info P, no distortion); false: raw "
        "image (use K and undistort the 2D joints with D)",
    )


@dataclass(frozen=True)
class TrackingParams:
    enabled: bool = param(True, "stable person ids across frames")
    max_age_s: float = param(1.0, "forget a person unseen this long (s)", (), 0.0, 60.0)
    min_similarity: float = param(0.2, "least track-detection similarity", (), 0.0, 1.0)
    reid_window_s: float = param(
        30.0,
        "a person who left this recently gets their old id back when their bone lengths and "
        "appearance match (s; 0: never)",
        (),
        0.0,
        3600.0,
    )


@dataclass(frozen=True)
class SmoothingParams:
    enabled: bool = param(True, "One Euro smoothing of every joint (needs tracking)")
    min_cutoff_hz: float = param(0.4, "One Euro cutoff at rest (Hz)", (), 0.01, 30.0)
    beta: float = param(2.5, "One Euro speed coefficient (1/m)", (), 0.0, 100.0)
    d_cutoff_hz: float = param(1.0, "One Euro cutoff of the speed (Hz)", (), 0.01, 30.0)


@dataclass(frozen=True)
class OutputParams:
    person_selection: str = param(
        "most_confident", "which person /human_pose carries", PERSON_SELECTION_RULES
    )


@dataclass(frozen=True)
class RefineParams:
    lifting: bool = param(True, "lift 2D joints with depth (median in a window)")
    patch_a: bool = param(False, "refinement module A (2D depth patches)")
    skeleton_b: bool = param(True, "refinement module B (whole skeleton MLP)")
    pointcloud_c: bool = param(False, "refinement module C (point cloud, slowest)")
    weights_dir: str = param("", "folder of refiner weights; empty = shipped")

    @property
    def any_enabled(self) -> bool:
        return self.lifting or self.patch_a or self.skeleton_b or self.pointcloud_c


@dataclass(frozen=True)
class SyncParams:
    queue_size: int = param(5, "ApproximateTimeSynchronizer queue per input", (), 1, 100)
    slop_s: float = param(0.02, "largest stamp spread of a synchronised set (s)", (), 0, 1)
    depth_timeout_s: float = param(
        0.5,
        "with use_depth: after this long without a depth message, colour + camera_info are "
        "processed RGB-only until depth returns (s)",
        (),
        0.05,
        60.0,
    )


@dataclass(frozen=True)
class QosParams:
    rgb: str = _qos("rgb")
    depth: str = _qos("depth")
    camera_info: str = _qos("camera_info")
    output: str = param("reliable", "QoS of the outputs (keep last 1)", QOS_CHOICES)


@dataclass(frozen=True)
class TransportParams:
    rgb: str = param(
        "raw",
        "colour transport: raw (sensor_msgs/Image) or compressed (<topic>/compressed, jpeg/png)",
        RGB_TRANSPORTS,
    )
    depth: str = param(
        "raw",
        "depth transport: raw or compressedDepth (<topic>/compressedDepth, PNG or RVL)",
        DEPTH_TRANSPORTS,
    )


@dataclass(frozen=True)
class TimeParams:
    max_future_s: float = param(
        2.0,
        "refuse frames stamped further ahead of the node's clock than this (s)",
        (),
        0.0,
        3600.0,
    )


@dataclass(frozen=True)
class WatchdogParams:
    stall_s: float = param(
        5.0,
        "report the worker as stalled when a waiting frame is not taken this long (s)",
        (),
        0.1,
        600.0,
    )


@dataclass(frozen=True)
class SkeletonParams:
    joint_set: str = param("canonical", "joint set of every output", tuple(sorted(JOINT_SETS)))
    joint_names: tuple[str, ...] = param(
        CANONICAL.joint_names,
        "joints of /human_pose in this order, e.g. [pelvis, neck, head] (a subset of the joint "
        "set); the default (every canonical joint) or empty = every joint of the joint set",
    )


@dataclass(frozen=True)
class TfParams:
    enabled: bool = param(False, "publish a TF frame per joint")
    prefix: str = param(
        "",
        "prefix of the joint frames: <prefix>privpose_<id>/<joint>; empty = '<node name>/' "
        "(unique per node)",
    )
    rate_hz: float = param(10.0, "largest TF publish rate (Hz)", (), 0.1, 1000.0)


@dataclass(frozen=True)
class HriParams:
    enabled: bool = param(
        True,
        "REP 155 (ROS4HRI) output: /humans/bodies/tracked, per body skeleton2d and roi, TF "
        "body_<id> and its links (body id b<person id>, TF at most tf.rate_hz)",
    )


@dataclass(frozen=True)
class MarkerParams:
    lifetime_s: float = param(0.3, "marker lifetime (s)", (), 0.0, 60.0)


@dataclass(frozen=True)
class DiagnosticsParams:
    period_s: float = param(1.0, "/diagnostics period (s)", (), 0.05, 60.0)


@dataclass(frozen=True)
class NodeConfig:
    """The node's parameters, in the order of config/privpose.yaml, validated on construction,
    and what follows from them: the output joint set and the /human_pose joint indices."""

    autostart: bool = param(True, "configure and activate the lifecycle node at startup")
    model: str = param(
        "blazepose",
        "blazepose: real-world front end (MoveNet persons + BlazePose landmarks, every person) "
        "with its monocular 3D; privpose: the same persons with the 3D of the v2 RGB model "
        "(one crop per person)",
        MODELS,
    )
    frontend: FrontendParams = group(FrontendParams)
    camera: CameraParams = group(CameraParams)
    tracking: TrackingParams = group(TrackingParams)
    smoothing: SmoothingParams = group(SmoothingParams)
    output: OutputParams = group(OutputParams)
    backend: str = param(
        "auto", "inference backend (auto picks the fastest available)", GRAPH_BACKENDS
    )
    device: str = param("cpu", "inference device: cpu, cuda or cuda:N")
    weights_path: str = param(
        "",
        "model privpose: v2 weights of the rgb or rgb_hall stage (safetensors); empty = the "
        "shipped rgb_hall.safetensors",
    )
    engine_cache_dir: str = param(
        "", "cache folder of TensorRT engines and the v2 ONNX export; empty = default cache"
    )
    enable_fp16: bool = param(False, "TensorRT FP16 engine")
    threads: int = param(0, "CPU threads for inference (0 = library default)", (), 0, 256)
    use_depth: bool = param(True, "subscribe to registered depth; false = RGB-only")
    refine: RefineParams = group(RefineParams)
    sync: SyncParams = group(SyncParams)
    qos: QosParams = group(QosParams)
    transport: TransportParams = group(TransportParams)
    time: TimeParams = group(TimeParams)
    watchdog: WatchdogParams = group(WatchdogParams)
    skeleton: SkeletonParams = group(SkeletonParams)
    confidence_threshold: float = param(0.3, "joints below it are unknown (NaN)", (), 0.0, 1.0)
    tf: TfParams = group(TfParams)
    hri: HriParams = group(HriParams)
    target_frame: str = param("", "express outputs in this frame (TF at the image stamp)")
    tf_timeout_s: float = param(0.05, "wait at most this long for target_frame TF (s)", (), 0, 5)
    marker: MarkerParams = group(MarkerParams)
    diagnostics: DiagnosticsParams = group(DiagnosticsParams)
    joint_set: JointSet = field(init=False, repr=False, compare=False)
    output_indices: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        reasons = [r for spec in PARAMS if (r := spec.validate(param_value(self, spec.name)))]
        if reasons:
            raise PrivposeInputError("; ".join(reasons))
        joint_set = get_joint_set(self.skeleton.joint_set)
        names = self.skeleton.joint_names
        if not names or names == CANONICAL.joint_names:  # the default: the whole joint set
            names = joint_set.joint_names
        object.__setattr__(self, "joint_set", joint_set)
        object.__setattr__(self, "output_indices", tuple(joint_set.index(n) for n in names))

    @property
    def output_joint_names(self) -> tuple[str, ...]:
        return tuple(self.joint_set.joint_names[i] for i in self.output_indices)


def declared_params(kind: type, prefix: str = "") -> tuple[ParamSpec, ...]:
    """The ParamSpecs of ``kind``'s fields, groups flattened to dotted names; TypeError when a
    field is neither param() nor group(), a group is not frozen, or a type is not its default's
    (so a wrong declaration fails at import, i.e. at startup)."""
    if not kind.__dataclass_params__.frozen:
        raise TypeError(f"{kind.__name__} must be a frozen dataclass")
    hints = typing.get_type_hints(kind)
    specs: list[ParamSpec] = []
    for f in fields(kind):
        name, hint = prefix + f.name, hints[f.name]
        if not f.init:  # derived from the parameters (NodeConfig.joint_set, output_indices)
            continue
        if _SPEC_KEY in f.metadata:
            declared = typing.get_origin(hint) or hint
            if type(f.default) is not declared:
                raise TypeError(
                    f"parameter {name} is declared {declared.__name__} but defaults to "
                    f"{f.default!r}"
                )
            specs.append(ParamSpec(name, f.default, **f.metadata[_SPEC_KEY]))
        elif is_dataclass(hint) and f.default_factory is hint:
            specs.extend(declared_params(hint, f"{name}."))
        else:
            raise TypeError(f"{kind.__name__}.{f.name} is neither a param() nor a group() field")
    return tuple(specs)


PARAMS: tuple[ParamSpec, ...] = declared_params(NodeConfig)
SPECS: dict[str, ParamSpec] = {spec.name: spec for spec in PARAMS}


def param_value(config: NodeConfig, name: str) -> Any:
    """The value of the ROS parameter ``name`` (its attribute path) in ``config``."""
    return functools.reduce(getattr, name.split("."), config)


def validate(name: str, value: Any) -> str | None:
    """The reason to reject ``name := value``, or None."""
    spec = SPECS.get(name)
    if spec is None:
        return f"unknown parameter {name}"
    return spec.validate(value)


def _build(kind: type, values: dict[str, Any]) -> Any:
    groups = {
        f.name: f.default_factory for f in fields(kind) if f.init and _SPEC_KEY not in f.metadata
    }
    return kind(**{k: _build(groups[k], v) if k in groups else v for k, v in values.items()})


def config_from_values(values: dict[str, Any]) -> NodeConfig:
    """A NodeConfig of {ROS name: value} (missing or None values take the defaults); every bad
    value is a reason in the PrivposeInputError."""
    unknown = sorted(set(values) - set(SPECS))
    if unknown:
        raise PrivposeInputError(f"unknown parameters {unknown}; known: {sorted(SPECS)}")
    nested: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:  # an unset parameter (an empty string list in rclpy)
            continue
        default = SPECS[name].default
        if isinstance(default, float) and type(value) is int:
            value = float(value)
        elif isinstance(default, tuple) and isinstance(value, list):
            value = tuple(value)
        *path, leaf = name.split(".")
        level = nested
        for part in path:
            level = level.setdefault(part, {})
        level[leaf] = value
    return _build(NodeConfig, nested)
