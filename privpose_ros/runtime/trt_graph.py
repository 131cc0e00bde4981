"""A TensorRT 10 engine for an ONNX graph with arbitrary named tensors.

Written against the TensorRT 10 Python API (``trt.Builder``, ``create_builder_config``,
``set_memory_pool_limit``, ``BuilderFlag.FP16``, timing cache, ``OnnxParser``,
``build_serialized_network``, ``Runtime.deserialize_cuda_engine``, ``set_input_shape``,
``set_tensor_address``, ``execute_async_v3``). Engines are cached by
:mod:`privpose_ros.runtime.engine_cache` (ONNX SHA-256, TensorRT version, GPU, compute
capability, precision, profile shapes, workspace). Device buffers and the stream come from torch.
NOT run on this project's CI machines (no GPU / TensorRT there).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from privpose_ros.core.cache import default_cache_dir
from privpose_ros.core.errors import PrivposeInputError, optional_import
from privpose_ros.runtime.engine_cache import (
    EngineKey,
    atomic_write,
    engine_path_for,
    file_sha256,
    load_or_build,
)
from privpose_ros.runtime.runner import GraphRunner

TRT_HINT = (
    "install TensorRT 10 for your CUDA version (pip install tensorrt, or JetPack on Jetson); "
    "it needs an NVIDIA GPU and driver"
)
WORKSPACE_BYTES = 1 << 30


def build_serialized_engine(
    onnx_path: Path,
    enable_fp16: bool,
    workspace_bytes: int,
    max_batch: int,
    timing_cache_path: Path | None,
    profile_shapes: dict[str, tuple[tuple[int, ...], ...]] | None = None,
) -> bytes:
    """Parse ``onnx_path`` and build a serialised engine (the timing cache is read and updated).

    Dynamic inputs get an optimisation profile: ``profile_shapes[name]`` = (min, opt, max)
    shapes when given, else batch 1 .. ``max_batch`` with the other dimensions as in the graph.
    """
    trt = optional_import("tensorrt", TRT_HINT)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: networks are always explicit-batch
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_bytes))
    if enable_fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    profile = None
    for index in range(network.num_inputs):
        tensor = network.get_input(index)
        shape = tuple(tensor.shape)
        if profile_shapes and tensor.name in profile_shapes:
            profile = profile or builder.create_optimization_profile()
            profile.set_shape(tensor.name, *profile_shapes[tensor.name])
        elif shape[0] == -1:
            profile = profile or builder.create_optimization_profile()
            rest = shape[1:]
            largest = (max_batch, *rest)
            profile.set_shape(tensor.name, (1, *rest), largest, largest)
    if profile is not None:
        config.add_optimization_profile(profile)
    blob = b""
    if timing_cache_path is not None and Path(timing_cache_path).is_file():
        blob = Path(timing_cache_path).read_bytes()
    timing_cache = config.create_timing_cache(blob)
    config.set_timing_cache(timing_cache, ignore_mismatch=False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path}")
    if timing_cache_path is not None:
        atomic_write(Path(timing_cache_path), bytes(config.get_timing_cache().serialize()))
    return bytes(serialized)


def tensor_torch_dtype(trt, torch, engine, name: str):  # noqa: ANN001, ANN201 - modules, dtype
    """The torch dtype of engine tensor ``name`` (for device buffers)."""
    np_dtype = trt.nptype(engine.get_tensor_dtype(name))
    return torch.from_numpy(np.empty(0, dtype=np_dtype)).dtype


def execute_engine(
    trt, torch, engine, context, stream, device, feeds: dict[str, np.ndarray], output_names
) -> dict[str, np.ndarray]:  # noqa: ANN001 - tensorrt / torch objects
    """Copy ``feeds`` to the GPU, run ``context`` on ``stream`` (execute_async_v3), return the
    ``output_names`` tensors as float32 numpy arrays."""
    keep: dict[str, object] = {}  # device copies stay alive until the stream is done
    with torch.cuda.stream(stream):
        for name, array in feeds.items():
            want = tensor_torch_dtype(trt, torch, engine, name)
            tensor = torch.from_numpy(array).to(device, want, non_blocking=True)
            keep[name] = tensor
            if not context.set_input_shape(name, tuple(tensor.shape)):
                raise PrivposeInputError(
                    f"input {name} shape {tuple(tensor.shape)} is outside the engine's profile"
                )
            context.set_tensor_address(name, tensor.data_ptr())
        for name in output_names:
            shape = tuple(context.get_tensor_shape(name))
            dtype = tensor_torch_dtype(trt, torch, engine, name)
            out = torch.empty(shape, dtype=dtype, device=device)
            context.set_tensor_address(name, out.data_ptr())
            keep[name] = out
        if not context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execute_async_v3 failed; see the TensorRT log")
    stream.synchronize()
    return {name: keep[name].float().cpu().numpy() for name in output_names}


class TrtGraphRunner(GraphRunner):
    """The engine of ``onnx_path`` (built once, cached under ``cache_dir/engines``) with its own
    execution context and CUDA stream; ``profile_shapes``: (min, opt, max) per dynamic input."""

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
