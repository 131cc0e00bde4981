"""The PoseEstimator facade: backend choice and fallback, identical results across backends,
metric joints consistent with the source camera after letterboxing."""

from __future__ import annotations

import numpy as np
import pytest
from fake_backends import backend_factories

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import MissingDependencyError, PrivposeInputError
from privpose_ros.core.geometry import project_points_px
from privpose_ros.core.joints import CANONICAL
from privpose_ros.data.synth import SynthConfig, SyntheticGenerator
from privpose_ros.runtime.backend import BACKEND_ORDER
from privpose_ros.runtime.estimator import EstimatorConfig, PoseEstimator, select_backend


def test_auto_selection_order_and_fallback() -> None:
    assert BACKEND_ORDER == ("tensorrt", "onnxruntime", "torch")
    calls: list[str] = []
    assert select_backend("auto", backend_factories(calls, {})).name == "tensorrt"
    assert calls == ["tensorrt"]
    calls.clear()
    no_trt = {"tensorrt": MissingDependencyError("tensorrt", "install it")}
    assert select_backend("auto", backend_factories(calls, no_trt)).name == "onnxruntime"
    assert calls == ["tensorrt", "onnxruntime"]
    calls.clear()
    only_torch = {
        "tensorrt": RuntimeError("no CUDA GPU"),
        "onnxruntime": MissingDependencyError("onnxruntime", "pip install onnxruntime"),
    }
    assert select_backend("auto", backend_factories(calls, only_torch)).name == "torch"
    assert calls == list(BACKEND_ORDER)
    broken = {**only_torch, "torch": FileNotFoundError("weights missing")}
    with pytest.raises(RuntimeError, match="no inference backend") as exc:
        select_backend("auto", backend_factories([], broken))
    for reason in ("no CUDA GPU", "pip install onnxruntime", "weights missing"):
        assert reason in str(exc.value)


def test_explicit_backend_never_falls_back() -> None:
    calls: list[str] = []
    failures = {"tensorrt": MissingDependencyError("tensorrt", "install it")}
    with pytest.raises(MissingDependencyError):
        select_backend("tensorrt", backend_factories(calls, failures))
    assert calls == ["tensorrt"]
    assert select_backend("torch", backend_factories(calls, failures)).name == "torch"


def test_config_validation(tmp_path) -> None:
    with pytest.raises(PrivposeInputError, match="backend"):
        EstimatorConfig(backend="tflite")
    with pytest.raises(PrivposeInputError, match="device"):
        EstimatorConfig(device="tpu")
    with pytest.raises(PrivposeInputError, match="threads"):
        EstimatorConfig(threads=-1)
    config = EstimatorConfig(engine_cache_dir=str(tmp_path), weights_path="")
    assert config.cache_dir == tmp_path and config.weights_path is None


def test_auto_on_this_machine_exports_once_and_reuses(tiny_model, tmp_path) -> None:
    config = EstimatorConfig(engine_cache_dir=tmp_path)
    with PoseEstimator(config, model=tiny_model) as estimator:
        # device cpu: auto never builds GPU engines, even where TensorRT is installed
        assert estimator.backend_name == "onnxruntime"
        assert estimator.input_hw == (32, 48)
    (onnx_file,) = (tmp_path / "onnx").glob("privpose_*_b1.onnx")
    stamp = onnx_file.stat().st_mtime_ns
    with PoseEstimator(
        EstimatorConfig(backend="onnxruntime", engine_cache_dir=tmp_path), tiny_model
    ):
        pass
    assert onnx_file.stat().st_mtime_ns == stamp
    with pytest.raises(FileNotFoundError, match="weights"):
        PoseEstimator(EstimatorConfig(backend="torch", weights_path=tmp_path / "none.safetensors"))


@pytest.fixture(scope="module")
def frames():
    return SyntheticGenerator(SynthConfig(width=640, height=480, block_size=3)).batch(3, seed=4)


def test_torch_and_onnxruntime_facades_agree(tiny_model, tiny_weights, frames, tmp_path) -> None:
    results = {}
    for backend in ("torch", "onnxruntime"):
        config = EstimatorConfig(
            backend=backend, weights_path=tiny_weights, engine_cache_dir=tmp_path
        )
        with PoseEstimator(config) as estimator:
            assert estimator.backend_name == backend
            results[backend] = [
                estimator.estimate(frames.rgb[i], frames.intrinsics(i), 1000 + i, "cam")
                for i in range(len(frames))
            ]
    errors_mm, px_errors = [], []
    for i, (a, b) in enumerate(zip(results["torch"], results["onnxruntime"], strict=True)):
        for result in (a, b):
            assert result.stamp_ns == 1000 + i and result.frame_id == "cam"
            (person,) = result.persons
            assert person.person_id == 0 and person.joint_set.name == CANONICAL.name
            assert np.all((person.confidence >= 0) & (person.confidence <= 1))
            # joints_cam_m are in the source camera frame: they project onto joints_px
            reprojected = project_points_px(person.joints_cam_m, frames.intrinsics(i))
            np.testing.assert_allclose(reprojected, person.joints_px, atol=2e-3)
        pa, pb = a.persons[0], b.persons[0]
        errors_mm.append(np.linalg.norm(pa.joints_cam_m - pb.joints_cam_m, axis=-1) * 1000)
        px_errors.append(np.linalg.norm(pa.joints_px - pb.joints_px, axis=-1))
        np.testing.assert_allclose(pa.confidence, pb.confidence, atol=1e-4)
    errors_mm = np.concatenate(errors_mm)
    # every joint: float32 rounding between the two runtimes (measured: at most 0.03 mm and
    # 0.005 px); a joint swapped, a depth bin or a pixel off in one backend is far outside
    assert errors_mm.max() < 0.5 and np.median(errors_mm) < 0.05, np.sort(errors_mm)[-5:]
    assert np.concatenate(px_errors).max() < 0.05


def test_letterboxed_sizes_give_consistent_metric_joints(tiny_model, tmp_path) -> None:
    """A 1280x720 frame and its 2x downscale (same camera) give the same metric joints."""
    rng = np.random.default_rng(5)
    big = np.repeat(np.repeat(rng.integers(0, 255, (360, 640, 3), dtype=np.uint8), 2, 0), 2, 1)
    small = big[::2, ::2].copy()
    k_big = CameraIntrinsics(fx=900.0, fy=900.0, cx=639.5, cy=359.5, width=1280, height=720)
    k_small = k_big.scaled(0.5, 0.5)
    config = EstimatorConfig(backend="torch", engine_cache_dir=tmp_path)
    with PoseEstimator(config, model=tiny_model) as estimator:
        a = estimator.estimate(big, k_big).persons[0]
        b = estimator.estimate(small, k_small).persons[0]
        with pytest.raises(PrivposeInputError, match="camera_info"):
            estimator.estimate(small, k_big)
    # both letterbox to the same 48x27 content: the same network input (measured: identical
    # joints), so every joint agrees to float rounding, in metres and in source pixels
    np.testing.assert_allclose(a.joints_cam_m, b.joints_cam_m, atol=1e-4)
    np.testing.assert_allclose(a.joints_px / 2 - 0.25, b.joints_px, atol=1e-3)
    with pytest.raises(RuntimeError, match="closed"):
        estimator.estimate(small, k_small)
