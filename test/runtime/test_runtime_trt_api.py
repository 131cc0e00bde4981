"""runtime/trt_graph.py's engine build against stand-ins of the two TensorRT API shapes it
supports (no GPU or TensorRT needed): TensorRT 10 (BuilderFlag.FP16, weak typing) and TensorRT 11
(no FP16 flag: strongly typed networks, the precision is the graph's). The real build runs only
in test_runtime_tensorrt.py, where tensorrt and a CUDA GPU exist."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from privpose_ros.runtime import trt_graph


def _graph(path: Path, dtype: type = np.float32) -> Path:
    """A one-node graph y = x + w (x: [-1, 3], dynamic batch) in ``dtype``."""
    elem = TensorProto.FLOAT16 if dtype == np.float16 else TensorProto.FLOAT
    weight = numpy_helper.from_array(np.ones(3, dtype), "w")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", elem, [-1, 3])],
        [helper.make_tensor_value_info("y", elem, [-1, 3])],
        [weight],
    )
    onnx.save(
        helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 17)]),
        str(path),
    )
    return path


class _Recorder:
    def __init__(self) -> None:
        self.flags: list = []
        self.network_flags: list[int] = []
        self.parsed: list[bytes] = []


def fake_tensorrt(version: str, fp16_flag: bool, strongly_typed_flag: bool = True):
    """A ``tensorrt`` stand-in of TensorRT ``version``'s API shape; returns (module, recorder)."""
    rec = _Recorder()
    builder_flags = {"TF32": 7} | ({"FP16": 0} if fp16_flag else {})

    class Tensor:
        name, shape = "x", (-1, 3)

    class Network:
        num_inputs = 1

        def get_input(self, index: int) -> Tensor:
            return Tensor()

    class Profile:
        def __init__(self) -> None:
            self.shapes: dict = {}

        def set_shape(self, name, *shapes) -> None:
            self.shapes[name] = shapes

    class TimingCache:
        def serialize(self) -> bytes:
            return b"timing"

    class IBuilderConfig:
        def set_memory_pool_limit(self, pool, size) -> None:
            pass

        def set_flag(self, flag) -> None:
            rec.flags.append(flag)

        def add_optimization_profile(self, profile) -> None:
            pass

        def create_timing_cache(self, blob) -> TimingCache:
            return TimingCache()

        def set_timing_cache(self, cache, ignore_mismatch) -> None:
            pass

        def get_timing_cache(self) -> TimingCache:
            return TimingCache()

    class Builder:
        def __init__(self, logger) -> None:
            pass

        def create_network(self, flags: int) -> Network:
            rec.network_flags.append(flags)
            return Network()

        def create_builder_config(self) -> IBuilderConfig:
            return IBuilderConfig()

        def create_optimization_profile(self) -> Profile:
            return Profile()

        def build_serialized_network(self, network, config) -> bytes:
            return b"engine"

    class OnnxParser:
        num_errors = 0

        def __init__(self, network, logger) -> None:
            pass

        def parse(self, data: bytes) -> bool:
            rec.parsed.append(bytes(data))
            return True

    class Logger:
        WARNING = 2

        def __init__(self, level) -> None:
            pass

    class IExecutionContext:
        set_input_shape = set_tensor_address = execute_async_v3 = None

    module = types.ModuleType("tensorrt")
    module.__version__ = version
    module.Logger, module.Builder, module.OnnxParser = Logger, Builder, OnnxParser
    module.Runtime = object
    module.IBuilderConfig, module.IExecutionContext = IBuilderConfig, IExecutionContext
    module.ICudaEngine = types.SimpleNamespace(num_io_tensors=0)
    module.TensorIOMode = types.SimpleNamespace(INPUT=0, OUTPUT=1)
    module.MemoryPoolType = types.SimpleNamespace(WORKSPACE=0)
    module.BuilderFlag = types.SimpleNamespace(**builder_flags)
    creation = {"STRONGLY_TYPED": 1} if strongly_typed_flag else {}
    module.NetworkDefinitionCreationFlag = types.SimpleNamespace(**creation)
    return module, rec


def fake_converter(calls: list):
    """An ``onnxconverter_common.float16`` stand-in: records the call, returns a FP16 graph."""

    def convert_float_to_float16(model, keep_io_types=False):
        calls.append(keep_io_types)
        for init in model.graph.initializer:
            array = numpy_helper.to_array(init).astype(np.float16)
            init.CopyFrom(numpy_helper.from_array(array, init.name))
        return model

    package = types.ModuleType("onnxconverter_common")
    module = types.ModuleType("onnxconverter_common.float16")
    module.convert_float_to_float16 = convert_float_to_float16
    package.float16 = module
    return {"onnxconverter_common": package, "onnxconverter_common.float16": module}


def _build(monkeypatch, trt, onnx_path: Path, fp16: bool, tmp_path: Path) -> bytes:
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    timing = tmp_path / "timing.cache"
    return trt_graph.build_serialized_engine(onnx_path, fp16, 1 << 20, 4, timing)


def _fp16_initializers(data: bytes) -> bool:
    model = onnx.load_from_string(data)
    return all(i.data_type == TensorProto.FLOAT16 for i in model.graph.initializer)


def test_tensorrt10_fp16_uses_the_builder_flag_on_the_graph_as_is(monkeypatch, tmp_path) -> None:
    trt, rec = fake_tensorrt("10.3.0", fp16_flag=True)
    path = _graph(tmp_path / "g.onnx")
    assert trt_graph.fp16_mode(trt) == "builder_flag"
    assert _build(monkeypatch, trt, path, True, tmp_path) == b"engine"
    assert rec.flags == [trt.BuilderFlag.FP16]
    assert rec.network_flags == [0] and rec.parsed == [path.read_bytes()]
    assert (tmp_path / "timing.cache").read_bytes() == b"timing"


def test_tensorrt10_fp32_sets_no_flag(monkeypatch, tmp_path) -> None:
    trt, rec = fake_tensorrt("10.13.3", fp16_flag=True)
    path = _graph(tmp_path / "g.onnx")
    _build(monkeypatch, trt, path, False, tmp_path)
    assert rec.flags == [] and rec.parsed == [path.read_bytes()]


def test_tensorrt11_fp16_builds_a_strongly_typed_fp16_graph(monkeypatch, tmp_path) -> None:
    """No BuilderFlag.FP16 (the old code raised AttributeError here): the graph is converted
    to FP16 (FP32 inputs/outputs kept) and built strongly typed, with no precision flag."""
    trt, rec = fake_tensorrt("11.3.0", fp16_flag=False)
    calls: list = []
    for name, module in fake_converter(calls).items():
        monkeypatch.setitem(sys.modules, name, module)
    path = _graph(tmp_path / "g.onnx")
    assert trt_graph.fp16_mode(trt) == "strongly_typed"
    assert _build(monkeypatch, trt, path, True, tmp_path) == b"engine"
    assert rec.flags == [] and calls == [True]
    assert rec.network_flags == [1 << 1]  # STRONGLY_TYPED
    (parsed,) = rec.parsed
    assert _fp16_initializers(parsed) and not _fp16_initializers(path.read_bytes())


def test_tensorrt11_fp16_graph_is_used_as_it_is(monkeypatch, tmp_path) -> None:
    trt, rec = fake_tensorrt("11.5.0", fp16_flag=False, strongly_typed_flag=False)
    monkeypatch.setitem(sys.modules, "onnxconverter_common", None)  # not needed: not imported
    path = _graph(tmp_path / "g16.onnx", np.float16)
    _build(monkeypatch, trt, path, True, tmp_path)
    assert rec.flags == [] and rec.network_flags == [0]  # 11 without the (ignored) flag
    assert _fp16_initializers(rec.parsed[0])


def test_tensorrt11_fp16_without_a_converter_says_how_to_fix(monkeypatch, tmp_path) -> None:
    trt, rec = fake_tensorrt("11.3.0", fp16_flag=False)
    monkeypatch.setitem(sys.modules, "onnxconverter_common", None)
    monkeypatch.setitem(sys.modules, "onnxconverter_common.float16", None)
    with pytest.raises(ImportError, match="onnxconverter-common.*enable_fp16 false"):
        _build(monkeypatch, trt, _graph(tmp_path / "g.onnx"), True, tmp_path)
    assert rec.parsed == []


def test_tensorrt11_fp32_builds_the_graph_as_is(monkeypatch, tmp_path) -> None:
    trt, rec = fake_tensorrt("11.3.0", fp16_flag=False)
    path = _graph(tmp_path / "g.onnx")
    _build(monkeypatch, trt, path, False, tmp_path)
    assert rec.flags == [] and rec.network_flags == [0] and rec.parsed == [path.read_bytes()]


def test_an_unsupported_tensorrt_is_refused_with_the_supported_versions(
    monkeypatch, tmp_path
) -> None:
    trt, rec = fake_tensorrt("8.2.1", fp16_flag=True)
    del trt.IExecutionContext.execute_async_v3
    with pytest.raises(RuntimeError, match=r"8\.2\.1 lacks IExecutionContext.execute_async_v3"):
        _build(monkeypatch, trt, _graph(tmp_path / "g.onnx"), False, tmp_path)
    assert "10.x" in trt_graph.SUPPORTED and "11.x" in trt_graph.SUPPORTED
    assert rec.parsed == []
