"""The PoseEstimator facade: an RGB image of any size + intrinsics in, a metric pose out.

It owns preprocessing (letterbox with the intrinsics adjusted), the backend (chosen
automatically: tensorrt, then onnxruntime, then torch, or named explicitly) and postprocessing
(network pixels back to source pixels, a PoseResult in the CANONICAL joint set). The same
interface and the same results (within float tolerance) come from every backend.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from privpose_ros.core.cache import default_cache_dir
from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import MissingDependencyError, PrivposeInputError
from privpose_ros.core.joints import CANONICAL
from privpose_ros.core.pose import PersonPose, PoseResult
from privpose_ros.runtime.backend import BACKEND_ORDER, Backend, ModelOutputs
from privpose_ros.runtime.preprocess import Letterbox, letterbox_rgb

LOG = logging.getLogger(__name__)
BACKEND_CHOICES = ("auto", *BACKEND_ORDER)


@dataclass(frozen=True)
class EstimatorConfig:
    """How to run the deployable RGB model.

    ``backend``: "auto" (tensorrt -> onnxruntime -> torch, first that starts; tensorrt is not
    tried when ``device`` is "cpu") or one name.
    ``weights_path``: safetensors of the deployable model (None: the shipped weights).
    ``onnx_path``: exported graph (None: exported on first use into the cache dir).
    ``engine_cache_dir``: ONNX and TensorRT engine cache (None: ``$XDG_CACHE_HOME/privpose``).
    ``device``: where onnxruntime and torch run ("cpu" or "cuda[:N]"); TensorRT always runs on
    a GPU (``device`` when it names one, else cuda:0). ``enable_fp16``, ``force_engine_update``,
    ``engine_file_path``: as in the Isaac ROS TensorRT node. ``threads``: intra-op threads for
    onnxruntime / torch (0 = library default). ``max_batch``: >1 exports a dynamic batch.
    ``workspace_bytes``: TensorRT builder workspace. ``pad_value``: letterbox grey level.
    """

    backend: str = "auto"
    weights_path: Path | None = None
    onnx_path: Path | None = None
    engine_cache_dir: Path | None = None
    device: str = "cpu"
    enable_fp16: bool = False
    force_engine_update: bool = False
    threads: int = 0
    engine_file_path: Path | None = None
    workspace_bytes: int = 1 << 30
    max_batch: int = 1
    pad_value: int = 0

    def __post_init__(self) -> None:
        if self.backend not in BACKEND_CHOICES:
            raise PrivposeInputError(
                f"backend must be one of {BACKEND_CHOICES}, got {self.backend!r}"
            )
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise PrivposeInputError(f"device must be 'cpu' or 'cuda[:N]', got {self.device!r}")
        if int(self.threads) < 0 or int(self.max_batch) < 1 or int(self.workspace_bytes) <= 0:
            raise PrivposeInputError(
                "threads must be >= 0, max_batch >= 1 and workspace_bytes > 0, got "
                f"{self.threads}, {self.max_batch}, {self.workspace_bytes}"
            )
        for name in ("weights_path", "onnx_path", "engine_cache_dir", "engine_file_path"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value) if str(value) else None)

    @property
    def cache_dir(self) -> Path:
        return self.engine_cache_dir or default_cache_dir()


def select_backend(
    requested: str,
    factories: Mapping[str, Callable[[], Backend]],
    skip: Mapping[str, str] | None = None,
) -> Backend:
    """Create the requested backend, or for "auto" the first of BACKEND_ORDER that starts.

    An explicitly requested backend that cannot start raises. "auto" moves on after ANY failure
    of a candidate (missing package, no GPU, failed build, unwritable cache, or a bug), logging
    why: expected unavailability at INFO, anything else at WARNING with the exception type.
    ``skip`` (name -> reason) lists candidates "auto" must not even try (e.g. TensorRT when
    ``device`` is "cpu"); an explicit request ignores it.
    """
    if requested != "auto":
        return factories[requested]()
    skip = skip or {}
    reasons = []
    for name in BACKEND_ORDER:
        if name in skip:
            LOG.info("backend %s skipped: %s", name, skip[name])
            reasons.append(f"{name}: skipped ({skip[name]})")
            continue
        try:
            backend = factories[name]()
        except (MissingDependencyError, ImportError) as exc:
            LOG.info("backend %s unavailable: %s", name, exc)
            reasons.append(f"{name}: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - "auto" must survive any candidate's failure
            LOG.warning(
                "backend %s failed to start (%s: %s); trying the next one",
                name,
                type(exc).__name__,
                exc,
            )
            reasons.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        LOG.info("using backend %s on %s (%s)", name, backend.device, backend.precision)
        return backend
    raise RuntimeError("no inference backend could start: " + "; ".join(reasons))


def auto_skips(config: EstimatorConfig) -> dict[str, str]:
    """Candidates "auto" does not try for ``config``: no GPU engine is built for device cpu."""
    if config.device == "cpu":
        return {"tensorrt": "device is 'cpu' (TensorRT builds GPU engines; set device cuda)"}
    return {}


def _factories(config: EstimatorConfig, model) -> dict[str, Callable[[], Backend]]:  # noqa: ANN001
    from privpose_ros.runtime.model_source import ModelSource

    source = ModelSource(config, model)
    gpu = config.device if config.device.startswith("cuda") else "cuda:0"

    def torch_backend() -> Backend:
        from privpose_ros.runtime.torch_backend import TorchBackend

        return TorchBackend(source.model(), config.device, config.enable_fp16, config.threads)

    def ort_backend() -> Backend:
        from privpose_ros.runtime.ort_backend import OnnxRuntimeBackend

        return OnnxRuntimeBackend(
            source.onnx_path(),
            config.device,
            config.enable_fp16,
            config.threads,
            trt_cache_dir=None if config.device == "cpu" else config.cache_dir / "ort_tensorrt",
        )

    def trt_backend() -> Backend:
        from privpose_ros.runtime.trt_backend import TensorRTBackend

        return TensorRTBackend(
            source.onnx_path(),
            config.cache_dir,
            engine_file_path=config.engine_file_path,
            enable_fp16=config.enable_fp16,
            force_engine_update=config.force_engine_update,
            workspace_bytes=config.workspace_bytes,
            max_batch=config.max_batch,
            device=gpu,
        )

    return {"tensorrt": trt_backend, "onnxruntime": ort_backend, "torch": torch_backend}


class PoseEstimator:
    """RGB (H, W, 3) uint8 of any size + its intrinsics -> PoseResult (metres, optical frame).

    ``model`` (optional, a DeployableRGBModel) replaces ``config.weights_path``: used by tests
    and benchmarks with randomly initialised models. Not thread-safe: one estimator per thread.
    """

    def __init__(self, config: EstimatorConfig, model=None) -> None:  # noqa: ANN001
        self.config = config
        self._backend: Backend | None = select_backend(
            config.backend, _factories(config, model), auto_skips(config)
        )
        self.input_hw = self._backend.input_hw

    @property
    def backend_name(self) -> str:
        return self.backend.name

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            raise RuntimeError("this PoseEstimator was closed; create a new one")
        return self._backend

    def preprocess(
        self, rgb: np.ndarray, intrinsics: CameraIntrinsics
    ) -> tuple[np.ndarray, np.ndarray, Letterbox]:
        """Network input (1, 3, H, W) float32, its intrinsics (1, 3, 3) float32, the letterbox."""
        blob, k_input, box = letterbox_rgb(rgb, intrinsics, self.input_hw, self.config.pad_value)
        return blob, k_input.k[None].astype(np.float32), box

    def postprocess(
        self, outputs: ModelOutputs, box: Letterbox, stamp_ns: int = 0, frame_id: str = ""
    ) -> PoseResult:
        """One PersonPose (person_id 0, CANONICAL joints) from the first image of ``outputs``."""
        joints_px = box.input_px_to_source(outputs.joints_canvas_px[0])  # canvas -> source
        person = PersonPose(
            joints_cam_m=outputs.joints_cam_m[0],
            confidence=np.clip(outputs.confidence[0], 0.0, 1.0),
            joint_set=CANONICAL,
            person_id=0,
            joints_px=joints_px,
        )
        return PoseResult(persons=(person,), stamp_ns=int(stamp_ns), frame_id=frame_id)

    def estimate(
        self,
        rgb: np.ndarray,
        intrinsics: CameraIntrinsics,
        stamp_ns: int = 0,
        frame_id: str = "",
    ) -> PoseResult:
        """Joints in metres in the camera optical frame of ``intrinsics``; joints_px in pixels of
        ``rgb``; stamped with ``stamp_ns`` (the image time, not now)."""
        blob, k_input, box = self.preprocess(rgb, intrinsics)
        outputs = self.backend.infer(blob, k_input)
        return self.postprocess(outputs, box, stamp_ns, frame_id)

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    def __enter__(self) -> PoseEstimator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
