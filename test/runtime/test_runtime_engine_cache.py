"""Engine cache: the key covers everything that invalidates an engine; stale or corrupt files
are rebuilt. Fake engines stand in for TensorRT (the real build is tested on GPUs only)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path

import pytest

from privpose_ros.core.cache import default_cache_dir
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.runtime.engine_cache import (
    EngineKey,
    engine_path_for,
    load_or_build,
    read_cached_engine,
    sidecar_path,
)

KEY = EngineKey(
    onnx_sha256="ab" * 32,
    tensorrt_version="10.3.0",
    gpu_name="NVIDIA Jetson Orin",
    compute_capability="8.7",
    precision="fp16",
    input_shape=(1, 3, 96, 128),
    workspace_bytes=1 << 30,
)
CHANGED = {
    "onnx_sha256": "cd" * 32,
    "tensorrt_version": "10.4.0",
    "gpu_name": "NVIDIA GeForce RTX 4090",
    "compute_capability": "8.9",
    "precision": "fp32",
    "input_shape": (4, 3, 96, 128),
    "workspace_bytes": 1 << 28,
}


class FakeBuilder:
    """Counts builds; engines are bytes that embed the key digest."""

    def __init__(self, key: EngineKey) -> None:
        self.key, self.calls = key, 0

    def __call__(self) -> bytes:
        self.calls += 1
        return b"FAKE-ENGINE:" + self.key.digest().encode() + b":%d" % self.calls


def fake_deserialize(data: bytes) -> bytes | None:
    return data if data.startswith(b"FAKE-ENGINE:") else None


def test_every_key_field_changes_the_digest_and_the_path(tmp_path: Path) -> None:
    assert set(CHANGED) == {f.name for f in dataclasses.fields(EngineKey)}
    digests = {KEY.digest()}
    for name, value in CHANGED.items():
        changed = dataclasses.replace(KEY, **{name: value})
        digests.add(changed.digest())
        assert engine_path_for(changed, tmp_path) != engine_path_for(KEY, tmp_path), name
    assert len(digests) == 1 + len(CHANGED)
    assert dataclasses.replace(KEY).digest() == KEY.digest()  # deterministic
    assert engine_path_for(KEY, tmp_path).parent == tmp_path / "engines"
    with pytest.raises(PrivposeInputError, match="precision"):
        dataclasses.replace(KEY, precision="int4")


def test_build_once_then_load_from_cache(tmp_path: Path) -> None:
    path = engine_path_for(KEY, tmp_path)
    build = FakeBuilder(KEY)
    engine, built = load_or_build(KEY, path, build, fake_deserialize)
    assert built and build.calls == 1 and engine.endswith(b":1")
    meta = json.loads(sidecar_path(path).read_text())
    assert meta["key"]["input_shape"] == [1, 3, 96, 128] and meta["engine_bytes"] == len(engine)
    again, built = load_or_build(KEY, path, build, fake_deserialize)
    assert not built and build.calls == 1 and again == engine


@pytest.mark.parametrize("field", sorted(CHANGED))
def test_key_change_at_a_fixed_engine_file_path_rebuilds(tmp_path: Path, field: str) -> None:
    path = tmp_path / "model.plan"  # Isaac ROS engine_file_path: one file whatever the key
    load_or_build(KEY, path, FakeBuilder(KEY), fake_deserialize)
    new_key = dataclasses.replace(KEY, **{field: CHANGED[field]})
    assert read_cached_engine(path, new_key) is None
    build = FakeBuilder(new_key)
    engine, built = load_or_build(new_key, path, build, fake_deserialize)
    assert built and build.calls == 1 and new_key.digest().encode() in engine
    assert json.loads(sidecar_path(path).read_text())["key"] == new_key.as_json_dict()


@pytest.mark.parametrize("damage", ["truncate", "flip", "bad_sidecar", "no_sidecar", "garbage"])
def test_corrupt_cache_is_rebuilt(tmp_path: Path, damage: str, caplog) -> None:
    path = engine_path_for(KEY, tmp_path)
    load_or_build(KEY, path, FakeBuilder(KEY), fake_deserialize)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[:-3])
    elif damage == "flip":
        path.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    elif damage == "bad_sidecar":
        sidecar_path(path).write_text("{not json")
    elif damage == "no_sidecar":
        sidecar_path(path).unlink()
    else:  # intact hash, but bytes this runtime cannot deserialise (e.g. replaced by hand)
        garbage = b"not an engine"
        path.write_bytes(garbage)
        meta = json.loads(sidecar_path(path).read_text())
        meta.update(engine_sha256=hashlib.sha256(garbage).hexdigest())
        meta.update(engine_bytes=len(garbage))
        sidecar_path(path).write_text(json.dumps(meta))
    build = FakeBuilder(KEY)
    with caplog.at_level(logging.INFO, logger="privpose_ros.runtime.engine_cache"):
        engine, built = load_or_build(KEY, path, build, fake_deserialize)
    assert built and build.calls == 1 and fake_deserialize(path.read_bytes()) == engine
    assert "rebuilding" in caplog.text or "no cached engine" in caplog.text
    assert read_cached_engine(path, KEY) == engine  # the cache is healthy again


def test_force_update_and_unusable_builds(tmp_path: Path) -> None:
    path = engine_path_for(KEY, tmp_path)
    build = FakeBuilder(KEY)
    load_or_build(KEY, path, build, fake_deserialize)
    engine, built = load_or_build(KEY, path, build, fake_deserialize, force_update=True)
    assert built and build.calls == 2 and engine.endswith(b":2")
    with pytest.raises(RuntimeError, match="failed to deserialise"):
        load_or_build(KEY, path, lambda: b"broken", fake_deserialize, force_update=True)
    with pytest.raises(RuntimeError, match="no engine"):
        load_or_build(KEY, path, lambda: b"", fake_deserialize, force_update=True)
    assert read_cached_engine(path, KEY) == engine  # failed builds never replace a good engine


def test_default_cache_dir_honours_xdg(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "privpose"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "privpose"
