"""A TensorRT 10 engine for an imported ONNX graph with arbitrary named tensors.

Built with :func:`privpose_ros.runtime.trt_backend.build_serialized_engine` and cached with the
same keys as the model's engines (ONNX SHA-256, TensorRT version, GPU, compute capability,
precision, profile shapes, workspace). Device buffers and the stream come from torch.
NOT run on this project's CI machines (no GPU / TensorRT there); written against the API.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from privpose_ros.core.cache import default_cache_dir
from privpose_ros.core.errors import optional_import
from privpose_ros.runtime.engine_cache import (
    EngineKey,
    engine_path_for,
    file_sha256,
    load_or_build,
)
from privpose_ros.runtime.graph import GraphRunner
from privpose_ros.runtime.trt_backend import (
    TRT_HINT,
    build_serialized_engine,
    execute_engine,
)

WORKSPACE_BYTES = 1 << 30


class TrtGraphRunner(GraphRunner):
    name = "tensorrt"

    def __init__(
        self,
        onnx_path: Path,
        cache_dir: Path | None,
        device: str = "cuda:0",
        enable_fp16: bool = False,
        profile_shapes: dict[str, tuple[tuple[int, ...], ...]] | None = None,
    ) -> None:
        trt = optional_import("tensorrt", TRT_HINT)
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError("the TensorRT runner needs a CUDA GPU, and torch sees none")
        self._torch, self._trt = torch, trt
        self._device = torch.device(device)
        cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        major, minor = torch.cuda.get_device_capability(self._device)
        shapes = tuple(
            d for n in sorted(profile_shapes or {}) for s in profile_shapes[n] for d in s
        )
        key = EngineKey(
            onnx_sha256=file_sha256(onnx_path),
            tensorrt_version=str(trt.__version__),
            gpu_name=torch.cuda.get_device_name(self._device),
            compute_capability=f"{major}.{minor}",
            precision="fp16" if enable_fp16 else "fp32",
            input_shape=shapes or (0,),
            workspace_bytes=WORKSPACE_BYTES,
        )
        timing = cache_dir / "timing" / f"trt{key.tensorrt_version}_sm{major}{minor}.cache"
        self._runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self._engine, _ = load_or_build(
            key,
            engine_path_for(key, cache_dir),
            build=lambda: build_serialized_engine(
                onnx_path, enable_fp16, WORKSPACE_BYTES, 1, timing, profile_shapes
            ),
            deserialize=self._runtime.deserialize_cuda_engine,
        )
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        is_input = [self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names]
        self._context = self._engine.create_execution_context()
        self._stream = torch.cuda.Stream(device=self._device)
        super().__init__(
            tuple(n for n, i in zip(names, is_input, strict=True) if i),
            tuple(n for n, i in zip(names, is_input, strict=True) if not i),
            device,
        )

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return execute_engine(
            self._trt,
            self._torch,
            self._engine,
            self._context,
            self._stream,
            self._device,
            feeds,
            self.output_names,
        )

    def close(self) -> None:
        self._context = None
        self._engine = None
        self._runtime = None
