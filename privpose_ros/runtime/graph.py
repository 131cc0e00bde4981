"""Named-tensor runners for ONNX graphs (the front end's detector and landmark models, the v2
lifter's export): ``GraphRunner.run({name: array}) -> {name: array}``. Two implementations: ONNX
Runtime (CPU, or CUDA / TensorRT execution providers) and a TensorRT 10 engine built and cached
on disk (runtime/trt_graph.py).
``open_graph`` picks one: "tensorrt" only on a CUDA device; "auto" tries TensorRT on CUDA only
and falls back to ONNX Runtime on any failure (any exception type), said once per graph and
reason at WARNING (what was tried, why it failed); "torch" has no ONNX importer and runs ONNX
Runtime.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from privpose_ros.core.errors import MissingDependencyError, PrivposeInputError, optional_import
from privpose_ros.runtime.engine_cache import writable_dir
from privpose_ros.runtime.runner import GRAPH_BACKENDS, GraphRunner

LOG = logging.getLogger(__name__)
ORT_HINT = "pip install onnxruntime (CPU) or onnxruntime-gpu (CUDA / TensorRT providers)"
_FALLBACKS_SAID: set[tuple[str, str]] = set()  # (graph path, reason) already logged
_FALLBACKS_LOCK = threading.Lock()


def _say_fallback(onnx_path: Path, device: str, what: str, exc: BaseException) -> None:
    """Log once per graph and reason that "auto" runs ONNX Runtime instead of TensorRT."""
    reason = f"{type(exc).__name__}: {exc}"
    key = (str(Path(onnx_path).resolve()), reason)
    with _FALLBACKS_LOCK:
        if key in _FALLBACKS_SAID:
            return
        _FALLBACKS_SAID.add(key)
    LOG.warning(
        "backend 'auto' tried TensorRT for %s on %s: %s (%s); using onnxruntime instead "
        "(said once per graph and reason)",
        onnx_path,
        device,
        what,
        reason,
    )


def _can_write(directory: Path) -> bool:
    """Whether ``directory`` exists or can be made, and accepts a file (logged when not)."""
    why = writable_dir(directory)
    if why is not None:
        LOG.warning(
            "TensorRT provider cache %s is not writable (%s); running without an engine "
            "cache (engines are rebuilt at every start)",
            directory,
            why,
        )
    return why is None


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


class OrtGraphRunner(GraphRunner):
    """An ONNX Runtime session; ``threads`` > 0 sets intra-op threads."""

    name = "onnxruntime"

    def __init__(
        self,
        onnx_path: Path,
        device: str = "cpu",
        threads: int = 0,
        enable_fp16: bool = False,
        trt_cache_dir: Path | None = None,
    ) -> None:
        ort = optional_import("onnxruntime", ORT_HINT)
        if not Path(onnx_path).is_file():
            raise FileNotFoundError(
                f"ONNX graph {onnx_path} not found; reinstall privpose or "
                "run tools/import_pretrained.py"
            )
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = max(0, int(threads))
        options.inter_op_num_threads = 1
        # no busy-waiting threads between the many small runs of a frame: they starve the
        # other stages (and other processes) on small CPUs
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = _providers(ort, device, enable_fp16, trt_cache_dir)
        self._session = ort.InferenceSession(str(onnx_path), options, providers=providers)
        self.providers = tuple(self._session.get_providers())
        super().__init__(
            tuple(i.name for i in self._session.get_inputs()),
            tuple(o.name for o in self._session.get_outputs()),
            device,
        )

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = self._session.run(list(self.output_names), feeds)
        return dict(zip(self.output_names, outputs, strict=True))

    def close(self) -> None:
        self._session = None


def open_graph(
    onnx_path: Path,
    backend: str = "auto",
    device: str = "cpu",
    threads: int = 0,
    enable_fp16: bool = False,
    cache_dir: Path | None = None,
    profile_shapes: dict[str, tuple[tuple[int, ...], ...]] | None = None,
) -> GraphRunner:
    """The runner for ``onnx_path`` on ``backend`` (see the module docstring).

    ``profile_shapes``: TensorRT (min, opt, max) shapes per dynamic input.
    """
    if backend not in GRAPH_BACKENDS:
        raise PrivposeInputError(f"backend must be one of {GRAPH_BACKENDS}, got {backend!r}")
    cuda = device.startswith("cuda")
    if backend == "tensorrt" and not cuda:
        raise PrivposeInputError("backend 'tensorrt' needs device 'cuda[:N]'; use onnxruntime")
    trt_dir = None if cache_dir is None else Path(cache_dir) / "ort_tensorrt"
    if backend == "tensorrt" or (backend == "auto" and cuda):
        try:
            from privpose_ros.runtime.trt_graph import TrtGraphRunner

            return TrtGraphRunner(onnx_path, cache_dir, device, enable_fp16, profile_shapes)
        except (MissingDependencyError, ImportError) as exc:
            if backend == "tensorrt":
                raise
            _say_fallback(onnx_path, device, "TensorRT is unavailable", exc)
        except Exception as exc:  # noqa: BLE001 - "auto" falls back on any failure
            if backend == "tensorrt":
                raise
            _say_fallback(onnx_path, device, "it failed", exc)
    return OrtGraphRunner(onnx_path, device, threads, enable_fp16, trt_dir)
