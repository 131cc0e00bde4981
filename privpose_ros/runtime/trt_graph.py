"""A TensorRT engine for an ONNX graph with arbitrary named tensors.

Supported TensorRT versions: 10.x (JetPack 6.2 ships 10.3, JetPack 7.x 10.13-10.16, PyPI
``tensorrt<11``) and 11.x (PyPI's ``tensorrt`` today). Written against their common Python API
(``trt.Builder``, ``create_builder_config``, ``set_memory_pool_limit``, timing cache,
``OnnxParser``, ``build_serialized_network``, ``Runtime.deserialize_cuda_engine``,
``set_input_shape``, ``set_tensor_address``, ``execute_async_v3``); a TensorRT without one of
these calls is refused with the list of what is missing (:func:`check_tensorrt_api`).

FP16 differs between the two and is chosen by feature, not by version string
(:func:`fp16_mode`): TensorRT 10 has ``BuilderFlag.FP16`` (weak typing: the builder may pick
FP16 kernels for an FP32 graph); TensorRT 11 removed it (every network is strongly typed: the
precision is the graph's), so an FP16 engine is built from an FP16 copy of the graph
(``onnxconverter-common``, FP32 inputs and outputs kept; a graph that is already FP16 is used
as it is), said once in the log. Engines are cached by
:mod:`privpose_ros.runtime.engine_cache` (ONNX SHA-256, TensorRT version, GPU, compute
capability, precision, profile shapes, workspace). Device buffers and the stream come from torch.
NOT run on this project's CI machines (no GPU / TensorRT there): the build logic is tested
against stand-ins of both API shapes (test/runtime/test_runtime_trt_api.py).
"""

from __future__ import annotations

import logging
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

LOG = logging.getLogger(__name__)
TRT_HINT = (
    "install TensorRT 10 or 11 for your CUDA version (pip install tensorrt, or JetPack on "
    "Jetson); it needs an NVIDIA GPU and driver"
)
FP16_CONVERTER_HINT = (
    "pip install onnxconverter-common (TensorRT 11 has no FP16 builder flag: an FP16 engine "
    "needs an FP16 graph), or set enable_fp16 false"
)
WORKSPACE_BYTES = 1 << 30
SUPPORTED = "TensorRT 10.x (JetPack 6.2: 10.3; JetPack 7.x: 10.13-10.16) and 11.x"
# the API this module calls: (object path under the tensorrt module, attribute)
REQUIRED_API = (
    ("", "Builder"),
    ("", "OnnxParser"),
    ("", "Runtime"),
    ("MemoryPoolType", "WORKSPACE"),
    ("TensorIOMode", "INPUT"),
    ("IBuilderConfig", "set_memory_pool_limit"),
    ("IBuilderConfig", "create_timing_cache"),
    ("Builder", "build_serialized_network"),
    ("ICudaEngine", "num_io_tensors"),
    ("IExecutionContext", "set_input_shape"),
    ("IExecutionContext", "set_tensor_address"),
    ("IExecutionContext", "execute_async_v3"),
)


def check_tensorrt_api(trt) -> None:  # noqa: ANN001 - the tensorrt module
    """RuntimeError naming every call of REQUIRED_API that ``trt`` lacks (an unsupported
    TensorRT, e.g. 8.x), with the supported versions."""
    missing = []
    for owner, attr in REQUIRED_API:
        obj = getattr(trt, owner, None) if owner else trt
        if obj is None or not hasattr(obj, attr):
            missing.append(f"{owner}.{attr}" if owner else attr)
    if missing:
        version = getattr(trt, "__version__", "unknown")
        raise RuntimeError(
            f"TensorRT {version} lacks {', '.join(missing)}: privpose supports {SUPPORTED}; "
            "install one of those, or pick backend onnxruntime or torch"
        )


def fp16_mode(trt) -> str:  # noqa: ANN001 - the tensorrt module
    """How ``trt`` builds an FP16 engine: 'builder_flag' (TensorRT 10: BuilderFlag.FP16) or
    'strongly_typed' (TensorRT 11: no such flag; the precision comes from the graph)."""
    return "builder_flag" if hasattr(trt.BuilderFlag, "FP16") else "strongly_typed"


def graph_is_fp16(model) -> bool:  # noqa: ANN001 - an onnx.ModelProto
    """Is the ONNX ``model`` already converted to FP16: an FP16 input, output, value,
    initializer or Cast to FP16 (onnxconverter-common's own rule: it refuses to convert such a
    graph again, since a second pass breaks it)?"""
    from onnx import TensorProto

    graph = model.graph
    if any(init.data_type == TensorProto.FLOAT16 for init in graph.initializer):
        return True
    values = (*graph.value_info, *graph.input, *graph.output)
    if any(v.type.tensor_type.elem_type == TensorProto.FLOAT16 for v in values):
        return True
    return any(
        node.op_type == "Cast"
        and any(a.name == "to" and a.i == TensorProto.FLOAT16 for a in node.attribute)
        for node in graph.node
    )


def fp16_graph_bytes(onnx_path: Path) -> bytes:
    """The serialised FP16 version of ``onnx_path`` for a strongly typed build: the graph as it
    is when already FP16, else converted with onnxconverter-common (FP32 inputs/outputs kept)."""
    onnx = optional_import("onnx", "pip install onnx")
    model = onnx.load(str(onnx_path))
    if graph_is_fp16(model):
        LOG.warning(
            "TensorRT has no BuilderFlag.FP16 (TensorRT 11: strongly typed networks): %s already "
            "holds FP16 tensors and is built as it is, in the precision its graph states",
            onnx_path,
        )
        return model.SerializeToString()
    float16 = optional_import("onnxconverter_common.float16", FP16_CONVERTER_HINT)
    LOG.warning(
        "TensorRT has no BuilderFlag.FP16 (TensorRT 11: strongly typed networks): building the "
        "FP16 engine from an FP16 copy of %s (onnxconverter-common, FP32 inputs/outputs kept)",
        onnx_path,
    )
    converted = float16.convert_float_to_float16(model, keep_io_types=True)
    return converted.SerializeToString()


def network_flags(trt, strongly_typed: bool) -> int:  # noqa: ANN001 - the tensorrt module
    """``create_network`` flags: explicit batch is implied since TensorRT 10; STRONGLY_TYPED
    (TensorRT 10.x opt-in, accepted and always on in 11) for a strongly typed FP16 build."""
    flag = getattr(getattr(trt, "NetworkDefinitionCreationFlag", None), "STRONGLY_TYPED", None)
    return 1 << int(flag) if strongly_typed and flag is not None else 0


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
    ``enable_fp16``: the FP16 builder flag where it exists (TensorRT 10), else a strongly typed
    build of the FP16 graph (TensorRT 11; see :func:`fp16_mode`).
    """
    trt = optional_import("tensorrt", TRT_HINT)
    check_tensorrt_api(trt)
    strongly_typed = enable_fp16 and fp16_mode(trt) == "strongly_typed"
    graph = fp16_graph_bytes(onnx_path) if strongly_typed else Path(onnx_path).read_bytes()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(network_flags(trt, strongly_typed))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(graph):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_bytes))
    if enable_fp16 and not strongly_typed:  # TensorRT 10: weak typing, FP16 kernels allowed
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
        check_tensorrt_api(trt)
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
