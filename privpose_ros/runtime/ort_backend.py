"""ONNX Runtime backend: CPU provider everywhere; CUDA / TensorRT execution providers on GPUs."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from privpose_ros.core.errors import PrivposeInputError, optional_import
from privpose_ros.runtime.backend import INPUT_NAMES, OUTPUT_NAMES, Backend, ModelOutputs

LOG = logging.getLogger(__name__)

ORT_HINT = "pip install onnxruntime (CPU) or onnxruntime-gpu (CUDA / TensorRT providers)"


def _can_write(directory: Path) -> bool:
    """Whether ``directory`` exists or can be made, and accepts a file (logged when not)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            return True
    except OSError as exc:
        LOG.warning(
            "TensorRT provider cache %s is not writable (%s: %s); running without an engine "
            "cache (engines are rebuilt at every start)",
            directory,
            type(exc).__name__,
            exc,
        )
        return False


def _providers(ort, device: str, enable_fp16: bool, trt_cache_dir: Path | None) -> list:  # noqa: ANN001 - the onnxruntime module
    """Execution providers for ``device``: on 'cuda[:N]' TensorRT then CUDA when present."""
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if not device.startswith("cuda"):
        raise PrivposeInputError(f"device must be 'cpu' or 'cuda[:N]', got {device!r}")
    device_id = int(device.split(":")[1]) if ":" in device else 0
    available = set(ort.get_available_providers())
    providers: list = []
    if "TensorrtExecutionProvider" in available:
        trt_options = {"device_id": device_id, "trt_fp16_enable": enable_fp16}
        if trt_cache_dir is not None and not _can_write(Path(trt_cache_dir)):
            trt_cache_dir = None  # an unwritable cache must not stop the provider
        if trt_cache_dir is not None:
            trt_options.update(
                trt_engine_cache_enable=True, trt_engine_cache_path=str(trt_cache_dir)
            )
        providers.append(("TensorrtExecutionProvider", trt_options))
    if "CUDAExecutionProvider" in available:
        providers.append(("CUDAExecutionProvider", {"device_id": device_id}))
    if not providers:
        raise RuntimeError(
            f"device {device!r} requested but onnxruntime has no CUDA/TensorRT provider "
            f"(available: {sorted(available)}); install onnxruntime-gpu or use device 'cpu'"
        )
    return [*providers, "CPUExecutionProvider"]


class OnnxRuntimeBackend(Backend):
    """An InferenceSession over the exported graph (inputs ``rgb``, ``k``).

    ``threads`` > 0 sets intra-op threads (0 = onnxruntime's default, one per core).
    """

    name = "onnxruntime"

    def __init__(
        self,
        onnx_path: Path,
        device: str = "cpu",
        enable_fp16: bool = False,
        threads: int = 0,
        trt_cache_dir: Path | None = None,
    ) -> None:
        ort = optional_import("onnxruntime", ORT_HINT)
        onnx_path = Path(onnx_path)
        if not onnx_path.is_file():
            raise FileNotFoundError(f"ONNX model {onnx_path} not found; run `privpose export`")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.intra_op_num_threads = max(0, int(threads))
        options.inter_op_num_threads = 1
        providers = _providers(ort, device, enable_fp16, trt_cache_dir)
        self._session = ort.InferenceSession(str(onnx_path), options, providers=providers)
        names = tuple(i.name for i in self._session.get_inputs())
        if names != INPUT_NAMES:
            raise PrivposeInputError(
                f"{onnx_path} has inputs {names}, expected {INPUT_NAMES}; re-export it with "
                "`privpose export`"
            )
        shape = self._session.get_inputs()[0].shape
        used = self._session.get_providers()
        fp16 = enable_fp16 and "TensorrtExecutionProvider" in used
        super().__init__((int(shape[2]), int(shape[3])), device, "fp16" if fp16 else "fp32")
        fixed = shape[0]
        self.fixed_batch = fixed if isinstance(fixed, int) else None
        self.providers = tuple(used)
        LOG.info("onnxruntime session on %s (providers %s)", onnx_path.name, used)

    def _infer(self, rgb_nchw: np.ndarray, k: np.ndarray) -> ModelOutputs:
        if self.fixed_batch is not None and rgb_nchw.shape[0] != self.fixed_batch:
            raise PrivposeInputError(
                f"this ONNX graph has a fixed batch of {self.fixed_batch}, got "
                f"{rgb_nchw.shape[0]}; export with a dynamic batch (`privpose export`)"
            )
        outputs = self._session.run(list(OUTPUT_NAMES), {"rgb": rgb_nchw, "k": k})
        joints_cam_m, joints_canvas_px, confidence = (
            np.asarray(o, dtype=np.float32) for o in outputs
        )
        return ModelOutputs(joints_cam_m, joints_canvas_px, confidence)

    def close(self) -> None:
        self._session = None
