"""Graphs and caches: "auto" survives any TensorRT failure and builds no GPU engine for device
cpu, the v2 export is cached by weights hash and code version (an unwritable cache included),
engine keys carry the code version, and tests never write to the user's ~/.cache/privpose."""

from __future__ import annotations

import dataclasses
import logging
import os
import pwd
from pathlib import Path

import numpy as np
import pytest
import torch

import privpose_ros
from privpose_ros.core.cache import default_cache_dir
from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.frame import RGBDFrame
from privpose_ros.core.pose import PersonPose
from privpose_ros.runtime import engine_cache, export, graph, trt_graph
from privpose_ros.runtime import lifter as v2_lifter
from privpose_ros.runtime.engine_cache import (
    GRAPH_SOURCES,
    EngineKey,
    engine_path_for,
    load_or_build,
    read_cached_engine,
)
from privpose_ros.runtime.lifter import PrivposeLifter, PrivposeLifterConfig, export_key
from privpose_ros.runtime.runner import RunnerConfig

K = CameraIntrinsics(fx=300.0, fy=300.0, cx=159.5, cy=119.5, width=320, height=240)
KEY = EngineKey(
    onnx_sha256="ab" * 32,
    tensorrt_version="10.3.0",
    gpu_name="NVIDIA Jetson Orin",
    compute_capability="8.7",
    precision="fp16",
    input_shape=(1, 256, 256, 3),
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


def _lift(lifter: PrivposeLifter) -> np.ndarray:
    rgb = np.random.default_rng(3).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    person = PersonPose(np.zeros((26, 3)), np.ones(26), box_px=np.array([100.0, 20, 220, 230]))
    return lifter.lift(RGBDFrame(rgb, K), (person,))[0].joints_cam_m


# --- no GPU engines for device cpu; "auto" survives any TensorRT failure ----------------------


def test_cpu_lifter_never_constructs_tensorrt(tiny_weights, tmp_path, monkeypatch) -> None:
    def fake_trt(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("TensorRT must not be tried for device cpu")

    monkeypatch.setattr(trt_graph, "TrtGraphRunner", fake_trt)
    with PrivposeLifter(
        PrivposeLifterConfig(tiny_weights, RunnerConfig("auto", "cpu", 2, cache_dir=tmp_path))
    ) as lifter:
        assert lifter.backend_name == "onnxruntime"
    assert not (tmp_path / "engines").exists() and not (tmp_path / "ort_tensorrt").exists()


def test_open_graph_cpu_skips_tensorrt_and_auto_survives_any_error(tiny_onnx, monkeypatch) -> None:
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
    runner = graph.open_graph(tiny_onnx, backend="auto", device="cpu")
    assert runner.name == "onnxruntime" and spy == []  # a real ORT session, TensorRT untried
    monkeypatch.setattr(graph, "OrtGraphRunner", FakeOrt)
    assert graph.open_graph(tiny_onnx, backend="auto", device="cuda:0").device == "cuda:0"
    assert spy == ["trt"]
    with pytest.raises(KeyError):
        graph.open_graph(tiny_onnx, backend="tensorrt", device="cuda:0")


# --- the v2 export cache -----------------------------------------------------------------------


def test_unwritable_cache_dir_still_gives_a_working_lifter(
    tiny_weights, unwritable: Path, caplog
) -> None:
    config = PrivposeLifterConfig(
        tiny_weights, RunnerConfig("onnxruntime", threads=2, cache_dir=unwritable)
    )
    with caplog.at_level(logging.WARNING, logger="privpose_ros.runtime.lifter"):
        with PrivposeLifter(config) as lifter:
            assert lifter.exported and lifter.onnx_path.parent != unwritable / "v2_onnx"
            joints = _lift(lifter)
    assert "is not writable" in caplog.text and str(unwritable / "v2_onnx") in caplog.text
    assert not unwritable.exists()
    with PrivposeLifter(
        dataclasses.replace(config, runner=dataclasses.replace(config.runner, backend="torch"))
    ) as reference:
        want = _lift(reference)
    # the temporary export is the same graph as torch
    np.testing.assert_allclose(joints, want, atol=1e-3)


def test_cached_export_in_a_read_only_dir_is_used(tiny_weights, tmp_path, monkeypatch) -> None:
    config = PrivposeLifterConfig(
        tiny_weights, RunnerConfig("onnxruntime", threads=2, cache_dir=tmp_path)
    )
    with PrivposeLifter(config) as first:
        path = first.onnx_path
    assert path.parent == tmp_path / "v2_onnx"
    monkeypatch.setattr(v2_lifter, "writable_dir", lambda d: "read-only (simulated)")
    monkeypatch.setattr(v2_lifter, "export_posenet_onnx", lambda *a, **k: pytest.fail("re-export"))
    with PrivposeLifter(config) as second:
        assert second.onnx_path == path and not second.exported


# --- cache keys -------------------------------------------------------------------------------


def test_graph_sources_exist_and_feed_the_code_version(monkeypatch) -> None:
    root = Path(privpose_ros.__file__).parent
    assert all((root / rel).exists() for rel in GRAPH_SOURCES)
    assert (root / "runtime" / "lifter.py").is_file() and "model" in GRAPH_SOURCES
    before = engine_cache.code_version()
    assert before.startswith(privpose_ros.__version__ + "+src.")
    monkeypatch.setattr(privpose_ros, "__version__", "99.0.0")
    assert engine_cache.code_version().startswith("99.0.0+src.")
    monkeypatch.setattr(engine_cache, "graph_sources_sha256", lambda: "f" * 64)
    assert engine_cache.code_version() == "99.0.0+src." + "f" * 16


@pytest.mark.parametrize("change", ["version", "sources", "opset", "torch", "weights"])
def test_export_key_covers_weights_code_opset_and_torch(
    tiny_weights, tmp_path, monkeypatch, change: str
) -> None:
    base = export_key(tiny_weights)
    weights = tiny_weights
    if change == "version":
        monkeypatch.setattr(privpose_ros, "__version__", "99.0.0")
    elif change == "sources":
        monkeypatch.setattr(engine_cache, "graph_sources_sha256", lambda: "0" * 64)
    elif change == "opset":
        monkeypatch.setattr(export, "ONNX_OPSET", export.ONNX_OPSET + 1)
    elif change == "torch":
        monkeypatch.setattr(torch, "__version__", "0.0.1")
    else:
        weights = tmp_path / "other.safetensors"
        weights.write_bytes(tiny_weights.read_bytes() + b" ")
    assert export_key(weights) != base and len(base) == 24


def test_upgrade_never_reuses_an_old_export(tiny_weights, tmp_path, monkeypatch) -> None:
    config = PrivposeLifterConfig(
        tiny_weights, RunnerConfig("onnxruntime", threads=2, cache_dir=tmp_path)
    )
    with PrivposeLifter(config) as first:
        old = first.onnx_path
    old_bytes, old_stamp = old.read_bytes(), old.stat().st_mtime_ns
    with PrivposeLifter(config) as again:
        assert again.onnx_path == old and not again.exported  # same code: reused
    monkeypatch.setattr(privpose_ros, "__version__", "99.0.0")
    with PrivposeLifter(config) as upgraded:
        new = upgraded.onnx_path
        assert upgraded.exported
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


def test_default_cache_is_the_session_tmp_dir(tiny_weights, isolated_cache_home: Path) -> None:
    real = Path(pwd.getpwuid(os.getuid()).pw_dir) / ".cache" / "privpose"
    before = _listing(real)
    assert default_cache_dir() == isolated_cache_home / "privpose"
    with PrivposeLifter(
        PrivposeLifterConfig(tiny_weights, RunnerConfig("onnxruntime", threads=2))
    ) as lifter:
        _lift(lifter)
    assert list((isolated_cache_home / "privpose" / "v2_onnx").glob("v2_*.onnx"))
    assert _listing(real) == before
