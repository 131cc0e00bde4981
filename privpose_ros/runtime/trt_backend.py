"""TensorRT 10 backend: build an engine from the exported ONNX graph, cache it, run it.

Written against the TensorRT 10 Python API (``trt.Builder``, ``create_builder_config``,
``set_memory_pool_limit``, ``BuilderFlag.FP16``, timing cache, ``OnnxParser``,
``build_serialized_network``, ``Runtime.deserialize_cuda_engine``, ``set_input_shape``,
``set_tensor_address``, ``execute_async_v3``). Device buffers and the CUDA stream come from
torch. Parameter names follow the Isaac ROS TensorRT node where they overlap:
``engine_file_path``, ``force_engine_update``, ``enable_fp16``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from privpose_ros.core.errors import PrivposeInputError, optional_import
from privpose_ros.runtime.backend import INPUT_NAMES, OUTPUT_NAMES, Backend, ModelOutputs
from privpose_ros.runtime.engine_cache import (
    EngineKey,
    atomic_write,
    engine_path_for,
    file_sha256,
    load_or_build,
)

LOG = logging.getLogger(__name__)

TRT_HINT = (
    "install TensorRT 10 for your CUDA version (pip install tensorrt, or JetPack on Jetson); "
    "it needs an NVIDIA GPU and driver"
)
DEFAULT_WORKSPACE_BYTES = 1 << 30


def onnx_input_shape(onnx_path: Path) -> tuple[int, ...]:
    """The ``rgb`` input shape of an exported graph; a dynamic batch reads as -1."""
    onnx = optional_import("onnx", "pip install onnx")
    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    rgb = next((i for i in graph.input if i.name == INPUT_NAMES[0]), None)
    if rgb is None:
        raise PrivposeInputError(f"{onnx_path} has no '{INPUT_NAMES[0]}' input; re-export it")
    dims = rgb.type.tensor_type.shape.dim
    return tuple(d.dim_value if d.HasField("dim_value") else -1 for d in dims)


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


class TensorRTBackend(Backend):
    """A TensorRT engine with its own execution context and CUDA stream (one thread at a time).

    The engine is cached under ``cache_dir/engines`` (or at ``engine_file_path``) with a sidecar
    key: a change of ONNX file, TensorRT version, GPU, precision, input shape or workspace, or a
    corrupt file, rebuilds it; ``force_engine_update`` always rebuilds.
    """

    name = "tensorrt"

    def __init__(
        self,
        onnx_path: Path,
        cache_dir: Path,
        engine_file_path: Path | None = None,
        enable_fp16: bool = False,
        force_engine_update: bool = False,
        workspace_bytes: int = DEFAULT_WORKSPACE_BYTES,
        max_batch: int = 1,
        device: str = "cuda:0",
    ) -> None:
        trt = optional_import("tensorrt", TRT_HINT)
        import torch

        if not device.startswith("cuda"):
            raise PrivposeInputError(f"the TensorRT backend runs on 'cuda[:N]', not {device!r}")
        if not torch.cuda.is_available():
            raise RuntimeError("the TensorRT backend needs a CUDA GPU, and torch sees none")
        self._torch, self._trt = torch, trt
        self._device = torch.device(device)
        onnx_shape = onnx_input_shape(onnx_path)
        batch = max_batch if onnx_shape[0] == -1 else onnx_shape[0]
        major, minor = torch.cuda.get_device_capability(self._device)
        key = EngineKey(
            onnx_sha256=file_sha256(onnx_path),
            tensorrt_version=str(trt.__version__),
            gpu_name=torch.cuda.get_device_name(self._device),
            compute_capability=f"{major}.{minor}",
            precision="fp16" if enable_fp16 else "fp32",
            input_shape=(batch, *onnx_shape[1:]),
            workspace_bytes=int(workspace_bytes),
        )
        path = Path(engine_file_path) if engine_file_path else engine_path_for(key, cache_dir)
        timing = Path(cache_dir) / "timing" / f"trt{key.tensorrt_version}_sm{major}{minor}.cache"
        self._runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self._engine, built = load_or_build(
            key,
            path,
            build=lambda: build_serialized_engine(
                onnx_path, enable_fp16, workspace_bytes, batch, timing
            ),
            deserialize=self._runtime.deserialize_cuda_engine,
            force_update=force_engine_update,
        )
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        if sorted(names) != sorted(INPUT_NAMES + OUTPUT_NAMES):
            raise PrivposeInputError(f"engine {path} has tensors {names}; re-export the model")
        self._context = self._engine.create_execution_context()
        self._stream = torch.cuda.Stream(device=self._device)
        self.engine_path, self.engine_built, self.max_batch = path, built, batch
        super().__init__(tuple(onnx_shape[2:4]), device, key.precision)

    def _infer(self, rgb_nchw: np.ndarray, k: np.ndarray) -> ModelOutputs:
        if rgb_nchw.shape[0] > self.max_batch:
            raise PrivposeInputError(
                f"batch {rgb_nchw.shape[0]} exceeds the engine's {self.max_batch}; rebuild it "
                "with a larger max_batch"
            )
        feeds = dict(zip(INPUT_NAMES, (rgb_nchw, k), strict=True))
        out = execute_engine(
            self._trt,
            self._torch,
            self._engine,
            self._context,
            self._stream,
            self._device,
            feeds,
            OUTPUT_NAMES,
        )
        return ModelOutputs(*(out[name] for name in OUTPUT_NAMES))

    def close(self) -> None:
        # context before engine before runtime, as TensorRT requires
        self._context = None
        self._engine = None
        self._runtime = None
