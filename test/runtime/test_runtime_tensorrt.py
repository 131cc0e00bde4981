"""The real TensorRT backend: needs the tensorrt package and a CUDA GPU (skipped otherwise,
with the reason printed by pytest -ra). Cache logic without TensorRT: test_runtime_engine_cache."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from privpose_ros.runtime.engine_cache import sidecar_path
from privpose_ros.runtime.export import compare_outputs, random_model_inputs

if importlib.util.find_spec("tensorrt") is None:
    pytest.skip(
        "tensorrt is not installed (TensorRT 10 needs an NVIDIA GPU; CPU CI has none)",
        allow_module_level=True,
    )
if not torch.cuda.is_available():
    pytest.skip(
        "no CUDA GPU visible to torch: the TensorRT backend cannot run", allow_module_level=True
    )


def test_build_run_cache_and_rebuild(tiny_model, tiny_onnx_dynamic, tmp_path) -> None:
    from privpose_ros.runtime.torch_backend import TorchBackend
    from privpose_ros.runtime.trt_backend import TensorRTBackend

    rgb, k = random_model_inputs(tiny_model.config.input_hw, 4, seed=0)
    reference = TorchBackend(tiny_model).infer(rgb, k)
    with TensorRTBackend(tiny_onnx_dynamic, tmp_path, max_batch=4) as trt_backend:
        assert trt_backend.engine_built and trt_backend.engine_path.is_file()
        report = compare_outputs(reference, trt_backend.infer(rgb, k))
        engine_path = trt_backend.engine_path
    assert report.ok and report.median_joint_error_mm < 0.05, report
    assert (tmp_path / "timing").is_dir()
    with TensorRTBackend(tiny_onnx_dynamic, tmp_path, max_batch=4) as cached:
        assert not cached.engine_built and cached.engine_path == engine_path
    engine_path.write_bytes(engine_path.read_bytes()[:100])  # corrupt it
    with TensorRTBackend(tiny_onnx_dynamic, tmp_path, max_batch=4) as rebuilt:
        assert rebuilt.engine_built
    with TensorRTBackend(tiny_onnx_dynamic, tmp_path, max_batch=4, force_engine_update=True) as b:
        assert b.engine_built
    with TensorRTBackend(tiny_onnx_dynamic, tmp_path, max_batch=4, enable_fp16=True) as fp16:
        assert fp16.engine_path != engine_path and fp16.precision == "fp16"
        assert sidecar_path(fp16.engine_path).is_file()
