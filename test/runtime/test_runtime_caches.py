"""Backends and caches: "auto" survives any candidate failure (an unwritable cache included),
builds no GPU engine for device cpu, cache keys carry the code and tool versions, and tests
never write to the user's ~/.cache/privpose."""

from __future__ import annotations

import dataclasses
import logging
import os
import pwd
from pathlib import Path

import numpy as np
import pytest
import torch
from fake_backends import backend_factories

import privpose_ros
from privpose_ros.core.cache import default_cache_dir
from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.runtime import engine_cache, export, graph, model_source, trt_backend, trt_graph
from privpose_ros.runtime.backend import BACKEND_ORDER
from privpose_ros.runtime.engine_cache import (
    GRAPH_SOURCES,
    EngineKey,
    engine_path_for,
    load_or_build,
    read_cached_engine,
)
from privpose_ros.runtime.estimator import (
    EstimatorConfig,
    PoseEstimator,
    auto_skips,
    select_backend,
)
from privpose_ros.runtime.model_source import ModelSource, export_file_name, export_key

K = CameraIntrinsics(fx=60.0, fy=60.0, cx=31.5, cy=23.5, width=64, height=48)
KEY = EngineKey(
    onnx_sha256="ab" * 32,
    tensorrt_version="10.3.0",
    gpu_name="NVIDIA Jetson Orin",
    compute_capability="8.7",
    precision="fp16",
    input_shape=(1, 3, 96, 128),
    workspace_bytes=1 << 30,
)


def _unwritable_dir(tmp_path: Path) -> Path:
    """A cache directory nothing can be written to. chmod 0o500 where that blocks writes; as
    root (or with CAP_DAC_OVERRIDE) it does not, so a path under a regular file is used."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        (locked / "probe").write_bytes(b"")
    except OSError:
        return locked / "cache"
    locked.chmod(0o700)
    (tmp_path / "file.txt").write_text("a file, not a directory")
    return tmp_path / "file.txt" / "cache"


@pytest.fixture
def unwritable(tmp_path: Path):
    path = _unwritable_dir(tmp_path)
    yield path
    (tmp_path / "locked").chmod(0o700)  # let pytest clean up


def _rgb() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 255, (48, 64, 3), dtype=np.uint8)


# --- "auto" falls back on anything ------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        KeyError("input"),
        OSError(30, "Read-only file system"),
        ValueError("bad shape"),
        PermissionError(13, "Permission denied"),
        AssertionError("bug"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_auto_moves_on_after_any_exception(error: Exception, caplog) -> None:
    calls: list[str] = []
    failures = {"tensorrt": error, "onnxruntime": error}
    with caplog.at_level(logging.WARNING, logger="privpose_ros.runtime.estimator"):
        backend = select_backend("auto", backend_factories(calls, failures))
    assert backend.name == "torch" and calls == list(BACKEND_ORDER)
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(lines) == 2 and all(type(error).__name__ in line for line in lines)
    with pytest.raises(RuntimeError, match=f"torch: {type(error).__name__}"):
        select_backend("auto", backend_factories([], {name: error for name in BACKEND_ORDER}))


@pytest.mark.parametrize("error", [KeyError("k"), OSError("disk"), ValueError("v")], ids=repr)
def test_explicit_backend_failure_propagates(error: Exception) -> None:
    calls: list[str] = []
    with pytest.raises(type(error)):
        select_backend("onnxruntime", backend_factories(calls, {"onnxruntime": error}))
    assert calls == ["onnxruntime"]


def test_keyboard_interrupt_is_not_swallowed() -> None:
    with pytest.raises(KeyboardInterrupt):
        select_backend("auto", backend_factories([], {"tensorrt": KeyboardInterrupt()}))


# --- no GPU engines for device cpu ------------------------------------------------------------


def test_skip_is_logged_and_never_called(caplog) -> None:
    calls: list[str] = []
    skip = auto_skips(EstimatorConfig(device="cpu"))
    assert set(skip) == {"tensorrt"} and auto_skips(EstimatorConfig(device="cuda:1")) == {}
    with caplog.at_level(logging.INFO, logger="privpose_ros.runtime.estimator"):
        assert select_backend("auto", backend_factories(calls, {}), skip).name == "onnxruntime"
    assert calls == ["onnxruntime"] and "tensorrt skipped" in caplog.text
    assert select_backend("tensorrt", backend_factories(calls, {}), skip).name == "tensorrt"


def test_cpu_estimator_never_constructs_tensorrt(tiny_model, tmp_path, monkeypatch) -> None:
    spy: list[tuple] = []

    def fake_trt(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        spy.append(args)
        raise AssertionError("TensorRT must not be tried for device cpu")

    monkeypatch.setattr(trt_backend, "TensorRTBackend", fake_trt)
    config = EstimatorConfig(device="cpu", engine_cache_dir=tmp_path)
    with PoseEstimator(config, model=tiny_model) as estimator:
        assert estimator.backend_name == "onnxruntime"
    assert spy == []
    assert not (tmp_path / "engines").exists() and not (tmp_path / "ort_tensorrt").exists()


def test_open_graph_cpu_skips_tensorrt_and_auto_survives_any_error(
    tiny_onnx_b1, monkeypatch
) -> None:
    spy: list[str] = []

    class Failing:
        def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
            spy.append("trt")
            raise KeyError("engine tensor")

    class FakeOrt:
        name = "onnxruntime"

        def __init__(self, onnx_path, device, *rest) -> None:  # noqa: ANN001, ANN002
            self.device = device

    monkeypatch.setattr(trt_graph, "TrtGraphRunner", Failing)
    runner = graph.open_graph(tiny_onnx_b1, backend="auto", device="cpu")
    assert runner.name == "onnxruntime" and spy == []  # a real ORT session, TensorRT untried
    monkeypatch.setattr(graph, "OrtGraphRunner", FakeOrt)
    assert graph.open_graph(tiny_onnx_b1, backend="auto", device="cuda:0").device == "cuda:0"
    assert spy == ["trt"]
    with pytest.raises(KeyError):
        graph.open_graph(tiny_onnx_b1, backend="tensorrt", device="cuda:0")


# --- an unwritable cache directory ------------------------------------------------------------


def test_unwritable_cache_dir_still_gives_a_working_estimator(
    tiny_model, unwritable: Path, caplog
) -> None:
    with caplog.at_level(logging.WARNING, logger="privpose_ros.runtime.model_source"):
        config = EstimatorConfig(engine_cache_dir=unwritable)
        with PoseEstimator(config, model=tiny_model) as estimator:
            assert estimator.backend_name == "onnxruntime"  # exported to a temporary dir
            person = estimator.estimate(_rgb(), K).persons[0]
    assert "is not writable" in caplog.text and str(unwritable / "onnx") in caplog.text
    assert person.joints_cam_m.shape == (len(person.confidence), 3)
    assert not unwritable.exists()
    with PoseEstimator(
        EstimatorConfig(backend="torch", engine_cache_dir=unwritable), tiny_model
    ) as t:
        reference = t.estimate(_rgb(), K).persons[0]
    # the temporary export is the same graph as torch: every joint (measured within 0.003 mm)
    np.testing.assert_allclose(person.joints_cam_m, reference.joints_cam_m, atol=5e-4)


def test_cached_export_in_a_read_only_dir_is_used(tiny_model, tmp_path, monkeypatch) -> None:
    config = EstimatorConfig(engine_cache_dir=tmp_path)
    path = ModelSource(config, tiny_model).onnx_path()
    assert path.parent == tmp_path / "onnx"
    monkeypatch.setattr(model_source, "writable_dir", lambda d: "read-only (simulated)")
    monkeypatch.setattr(model_source, "export_onnx", lambda *a, **k: pytest.fail("re-export"))
    assert ModelSource(config, tiny_model).onnx_path() == path


# --- cache keys -------------------------------------------------------------------------------


def test_graph_sources_exist_and_feed_the_code_version(monkeypatch) -> None:
    root = Path(privpose_ros.__file__).parent
    assert all((root / rel).exists() for rel in GRAPH_SOURCES)
    assert (root / "model" / "deployable.py").is_file()
    before = engine_cache.code_version()
    assert before.startswith(privpose_ros.__version__ + "+src.")
    monkeypatch.setattr(privpose_ros, "__version__", "99.0.0")
    assert engine_cache.code_version().startswith("99.0.0+src.")
    monkeypatch.setattr(engine_cache, "graph_sources_sha256", lambda: "f" * 64)
    assert engine_cache.code_version() == "99.0.0+src." + "f" * 16


@pytest.mark.parametrize("change", ["version", "sources", "opset", "torch", "onnx", "batch"])
def test_export_key_covers_code_opset_and_tools(tiny_model, monkeypatch, change: str) -> None:
    base = export_key(tiny_model, 1)
    assert base["opset"] == export.ONNX_OPSET and base["torch_version"] == torch.__version__
    batch = 1
    if change == "version":
        monkeypatch.setattr(privpose_ros, "__version__", "99.0.0")
    elif change == "sources":
        monkeypatch.setattr(engine_cache, "graph_sources_sha256", lambda: "0" * 64)
    elif change == "opset":
        monkeypatch.setattr(export, "ONNX_OPSET", export.ONNX_OPSET + 1)
    elif change == "torch":
        monkeypatch.setattr(torch, "__version__", "0.0.1")
    elif change == "onnx":
        monkeypatch.setattr(model_source, "_package_version", lambda name: "0.0.1")
    else:
        batch = None
    changed = export_key(tiny_model, batch)
    assert changed != base and export_file_name(changed) != export_file_name(base)
    assert export_file_name(base).endswith("_b1.onnx")


def test_upgrade_never_reuses_an_old_export(tiny_model, tmp_path, monkeypatch) -> None:
    config = EstimatorConfig(engine_cache_dir=tmp_path)
    old = ModelSource(config, tiny_model).onnx_path()
    old_bytes, old_stamp = old.read_bytes(), old.stat().st_mtime_ns
    assert ModelSource(config, tiny_model).onnx_path() == old  # same code: reused
    monkeypatch.setattr(privpose_ros, "__version__", "99.0.0")
    new = ModelSource(config, tiny_model).onnx_path()
    assert new != old and new.parent == old.parent and new.is_file()
    assert old.read_bytes() == old_bytes and old.stat().st_mtime_ns == old_stamp


def test_engine_key_carries_the_code_version_and_rebuilds(tmp_path, monkeypatch, caplog) -> None:
    calls: list[bytes] = []

    def build() -> bytes:
        calls.append(b"x")
        return b"FAKE-ENGINE:%d" % len(calls)

    fixed = tmp_path / "model.plan"  # engine_file_path: one file whatever the key
    load_or_build(KEY, fixed, build, lambda b: b)
    assert KEY.as_json_dict()["code_version"] == engine_cache.code_version()
    monkeypatch.setattr(privpose_ros, "__version__", "99.0.0")
    upgraded = dataclasses.replace(KEY)
    assert upgraded.code_version.startswith("99.0.0+") and upgraded.digest() != KEY.digest()
    assert engine_path_for(upgraded, tmp_path) != engine_path_for(KEY, tmp_path)
    with caplog.at_level(logging.INFO, logger="privpose_ros.runtime.engine_cache"):
        assert read_cached_engine(fixed, upgraded) is None
    assert "code_version" in caplog.text
    engine, built = load_or_build(upgraded, fixed, build, lambda b: b)
    assert built and engine == b"FAKE-ENGINE:2" and read_cached_engine(fixed, upgraded) == engine


# --- tests stay out of the user's home cache --------------------------------------------------


def _listing(directory: Path) -> list[tuple[str, int]]:
    if not directory.is_dir():
        return []
    return sorted(
        (str(p.relative_to(directory)), p.stat().st_mtime_ns) for p in directory.rglob("*")
    )


def test_default_cache_is_the_session_tmp_dir(tiny_model, isolated_cache_home: Path) -> None:
    real = Path(pwd.getpwuid(os.getuid()).pw_dir) / ".cache" / "privpose"
    before = _listing(real)
    assert default_cache_dir() == isolated_cache_home / "privpose"
    assert EstimatorConfig().cache_dir == isolated_cache_home / "privpose"
    config = EstimatorConfig(backend="onnxruntime", engine_cache_dir=None)
    with PoseEstimator(config, model=tiny_model) as estimator:
        estimator.estimate(_rgb(), K)
    assert list((isolated_cache_home / "privpose" / "onnx").glob("privpose_*_b1.onnx"))
    assert _listing(real) == before
