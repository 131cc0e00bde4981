"""What every graph runner shares: the backend names, the one runner configuration (backend,
device, threads, fp16, engine cache) used by the front end, the lifter and the node parameters,
and the ``GraphRunner`` life (``run`` named tensors, ``close``). Implementations: ONNX Runtime
(runtime/graph.py), TensorRT (runtime/trt_graph.py), torch (runtime/lifter.py)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from privpose_ros.core.errors import PrivposeInputError

GRAPH_BACKENDS = ("auto", "tensorrt", "onnxruntime", "torch")


@dataclass(frozen=True)
class RunnerConfig:
    """Where graphs run. ``backend``: one of GRAPH_BACKENDS ("auto": TensorRT on a CUDA device,
    else ONNX Runtime); ``device``: "cpu" or "cuda[:N]"; ``threads``: intra-op CPU threads (0:
    the runtime's default); ``enable_fp16``: FP16 engines / providers on CUDA; ``cache_dir``:
    exported graphs and TensorRT engines (None: the user cache directory)."""

    backend: str = "auto"
    device: str = "cpu"
    threads: int = 0
    enable_fp16: bool = False
    cache_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.backend not in GRAPH_BACKENDS:
            raise PrivposeInputError(
                f"backend must be one of {GRAPH_BACKENDS}, got {self.backend!r}"
            )
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise PrivposeInputError(f"device must be 'cpu' or 'cuda[:N]', got {self.device!r}")
        if int(self.threads) < 0:
            raise PrivposeInputError(f"threads must be >= 0 (0: default), got {self.threads}")


class GraphRunner(ABC):
    """A loaded graph: ``run`` from one thread at a time, ``close`` to release it."""

    name: str = ""

    def __init__(self, input_names: tuple[str, ...], output_names: tuple[str, ...], device: str):
        self.input_names = input_names
        self.output_names = output_names
        self.device = device

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        missing = set(self.input_names) - set(feeds)
        if missing:
            raise PrivposeInputError(
                f"graph inputs {sorted(missing)} missing; it needs {list(self.input_names)}"
            )
        return self._run({n: np.ascontiguousarray(feeds[n]) for n in self.input_names})

    @abstractmethod
    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release sessions and device memory."""
