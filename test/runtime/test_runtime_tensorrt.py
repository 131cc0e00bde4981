"""The real TensorRT path of the v2 lifter: needs the tensorrt package and a CUDA GPU (skipped
otherwise, with the reason printed by pytest -ra). Cache logic without TensorRT:
test_runtime_engine_cache.py and test_runtime_caches.py."""

from __future__ import annotations

import dataclasses
import importlib.util

import numpy as np
import pytest
import torch

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.frame import RGBDFrame
from privpose_ros.core.pose import PersonPose
from privpose_ros.runtime.engine_cache import sidecar_path
from privpose_ros.runtime.lifter import PrivposeLifter, PrivposeLifterConfig
from privpose_ros.runtime.runner import RunnerConfig

if importlib.util.find_spec("tensorrt") is None:
    pytest.skip(
        "tensorrt is not installed (TensorRT 10 needs an NVIDIA GPU; CPU CI has none)",
        allow_module_level=True,
    )
if not torch.cuda.is_available():
    pytest.skip(
        "no CUDA GPU visible to torch: the TensorRT backend cannot run", allow_module_level=True
    )

K = CameraIntrinsics(fx=300.0, fy=300.0, cx=159.5, cy=119.5, width=320, height=240)


def _lift(lifter: PrivposeLifter) -> np.ndarray:
    rgb = np.random.default_rng(3).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    boxes = ([100.0, 20, 220, 230], [10.0, 40, 90, 200], [200.0, 60, 310, 235])
    persons = tuple(PersonPose(np.zeros((26, 3)), np.ones(26), box_px=np.array(b)) for b in boxes)
    return np.stack([p.joints_cam_m for p in lifter.lift(RGBDFrame(rgb, K), persons)])


def _engines(cache) -> list:
    return sorted((cache / "engines").glob("*.engine"))


def test_build_run_cache_and_rebuild(tiny_weights, tmp_path) -> None:
    config = PrivposeLifterConfig(
        tiny_weights, RunnerConfig("tensorrt", "cuda:0", cache_dir=tmp_path), max_persons=4
    )
    with PrivposeLifter(
        dataclasses.replace(config, runner=dataclasses.replace(config.runner, backend="torch"))
    ) as reference:
        want = _lift(reference)
    with PrivposeLifter(config) as lifter:
        assert lifter.backend_name == "tensorrt"
        np.testing.assert_allclose(_lift(lifter), want, atol=2e-3)
    (engine,) = _engines(tmp_path)
    assert sidecar_path(engine).is_file() and (tmp_path / "timing").is_dir()
    stamp = engine.stat().st_mtime_ns
    with PrivposeLifter(config):
        assert engine.stat().st_mtime_ns == stamp  # loaded from the cache
    engine.write_bytes(engine.read_bytes()[:100])  # corrupt it
    with PrivposeLifter(config) as rebuilt:
        np.testing.assert_allclose(_lift(rebuilt), want, atol=2e-3)
    assert engine.stat().st_mtime_ns != stamp
    with PrivposeLifter(
        dataclasses.replace(config, runner=dataclasses.replace(config.runner, enable_fp16=True))
    ) as fp16:
        np.testing.assert_allclose(_lift(fp16), want, atol=0.05)
    assert len(_engines(tmp_path)) == 2 and any("fp16" in p.name for p in _engines(tmp_path))
