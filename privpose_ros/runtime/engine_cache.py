"""A cache of serialised TensorRT engines keyed by everything that invalidates one.

An engine is only valid for the exact ONNX graph, TensorRT version, GPU model and compute
capability, precision, input shape profile and workspace it was built with, and for the
privpose code that built it (:func:`code_version`: the package version and a hash of the
model, export and engine-building sources, so an upgrade never loads a stale engine). Each
engine file has a JSON sidecar holding that key and the engine's SHA-256; a missing, mismatched,
truncated or undeserialisable file is rebuilt (never silently used). No TensorRT import here:
the builder and deserialiser are passed in, which is what the tests use with fake engines. Also
here: the atomic writes and the writable-directory checks every cached export shares.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

from privpose_ros.core.errors import PrivposeInputError

LOG = logging.getLogger(__name__)
T = TypeVar("T")
_PRECISIONS = ("fp32", "fp16")


# Sources (relative to privpose_ros/) whose edits change an exported graph or a built engine.
GRAPH_SOURCES: tuple[str, ...] = (
    "model",
    "runtime/lifter.py",
    "runtime/engine_cache.py",
    "runtime/trt_graph.py",
)


@functools.lru_cache(maxsize=1)
def graph_sources_sha256() -> str:
    """Hex SHA-256 over the names and bytes of every ``GRAPH_SOURCES`` Python file.

    Files that cannot be read (e.g. an install holding only bytecode) are skipped: the key then
    rests on the package version alone.
    """
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for rel in GRAPH_SOURCES:
        entry = root / rel
        for path in sorted(entry.rglob("*.py")) if entry.is_dir() else [entry]:
            try:
                data = path.read_bytes()
            except OSError:
                continue
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + data)
    return digest.hexdigest()


def code_version() -> str:
    """``<privpose version>+src.<16 hex digits of graph_sources_sha256()>``: part of every cache
    key, so a package upgrade or an edit of the model / export / engine code rebuilds."""
    from privpose_ros import __version__

    return f"{__version__}+src.{graph_sources_sha256()[:16]}"


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class EngineKey:
    """Everything a serialised engine depends on.

    ``input_shape`` is the optimisation profile (every input's min, opt and max shape, flattened
    in input-name order); ``compute_capability`` is "major.minor" (e.g. "8.7" for Jetson Orin).
    ``code_version`` is not passed in: it is taken from the running code (:func:`code_version`)
    when the key is made and stored with the other fields, so engines built by another privpose
    version never match. The ONNX opset and the torch / onnx versions of the export are inside
    the ONNX bytes, hence in ``onnx_sha256``.
    """

    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    precision: str
    input_shape: tuple[int, ...]
    workspace_bytes: int

    def __post_init__(self) -> None:
        if self.precision not in _PRECISIONS:
            raise PrivposeInputError(
                f"precision must be one of {_PRECISIONS}, got {self.precision!r}"
            )
        object.__setattr__(self, "input_shape", tuple(int(d) for d in self.input_shape))
        # not a dataclass field: callers never pass it, the running code defines it
        object.__setattr__(self, "_code_version", code_version())

    @property
    def code_version(self) -> str:
        """The privpose code version this key was made by (see :func:`code_version`)."""
        return self._code_version

    def as_json_dict(self) -> dict:
        """The key as it is stored in the sidecar (tuples become lists), code version included."""
        return json.loads(json.dumps({**asdict(self), "code_version": self.code_version}))

    def digest(self) -> str:
        """Hex SHA-256 of the canonical JSON of all fields."""
        text = json.dumps(self.as_json_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def engine_path_for(key: EngineKey, cache_dir: Path) -> Path:
    """Where the engine for ``key`` lives inside ``cache_dir``."""
    return Path(cache_dir) / "engines" / f"privpose_{key.digest()[:20]}_{key.precision}.engine"


def sidecar_path(engine_path: Path) -> Path:
    return Path(engine_path).with_name(Path(engine_path).name + ".json")


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def writable_dir(directory: Path) -> str | None:
    """None when ``directory`` can be created and written, else why not."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


_TEMP_DIR: Path | None = None


def temporary_export_dir() -> Path:
    """One per-process temporary directory for exports (caches that cannot be written), removed
    at exit."""
    global _TEMP_DIR
    if _TEMP_DIR is None or not _TEMP_DIR.is_dir():
        _TEMP_DIR = Path(tempfile.mkdtemp(prefix="privpose_onnx_"))
        atexit.register(shutil.rmtree, _TEMP_DIR, ignore_errors=True)
    return _TEMP_DIR


def write_cached_engine(engine_path: Path, key: EngineKey, engine: bytes) -> None:
    """Store ``engine`` and its sidecar (key + SHA-256 + size), each written atomically."""
    engine_path = Path(engine_path)
    atomic_write(engine_path, engine)
    meta = {
        "key": key.as_json_dict(),
        "engine_sha256": hashlib.sha256(engine).hexdigest(),
        "engine_bytes": len(engine),
    }
    atomic_write(sidecar_path(engine_path), json.dumps(meta, indent=1).encode())


def read_cached_engine(engine_path: Path, key: EngineKey) -> bytes | None:
    """The cached engine bytes if the file exists, matches ``key`` and is intact, else None."""
    engine_path = Path(engine_path)
    meta_path = sidecar_path(engine_path)
    if not engine_path.is_file() or not meta_path.is_file():
        LOG.info("no cached engine at %s", engine_path)
        return None
    try:
        meta = json.loads(meta_path.read_text())
        stored_key, sha, size = meta["key"], meta["engine_sha256"], int(meta["engine_bytes"])
    except (ValueError, KeyError, TypeError) as exc:
        LOG.warning("engine sidecar %s is unreadable (%s); rebuilding", meta_path, exc)
        return None
    wanted = key.as_json_dict()
    if stored_key != wanted:
        changed = [name for name, value in wanted.items() if stored_key.get(name) != value]
        LOG.info("cached engine %s was built for a different %s; rebuilding", engine_path, changed)
        return None
    data = engine_path.read_bytes()
    if len(data) != size or hashlib.sha256(data).hexdigest() != sha:
        LOG.warning("cached engine %s is corrupt (size or hash); rebuilding", engine_path)
        return None
    return data


def load_or_build(
    key: EngineKey,
    engine_path: Path,
    build: Callable[[], bytes],
    deserialize: Callable[[bytes], T | None],
    force_update: bool = False,
) -> tuple[T, bool]:
    """Load the engine for ``key`` from ``engine_path``, building (and caching) it when needed.

    ``build()`` returns serialised engine bytes; ``deserialize(bytes)`` returns the engine or
    None when the bytes are unusable. Returns (engine, built): ``built`` says whether it was built.
    ``force_update`` always rebuilds (Isaac ROS ``force_engine_update``).
    """
    if not force_update:
        data = read_cached_engine(engine_path, key)
        if data is not None:
            engine = deserialize(data)
            if engine is not None:
                LOG.info("loaded cached engine %s", engine_path)
                return engine, False
            LOG.warning("cached engine %s failed to deserialise; rebuilding", engine_path)
    LOG.info("building engine %s (this can take minutes)", engine_path)
    data = build()
    if not data:
        raise RuntimeError("the engine builder returned no engine; see the TensorRT log above")
    engine = deserialize(data)
    if engine is None:
        raise RuntimeError(f"a freshly built engine for {engine_path} failed to deserialise")
    write_cached_engine(engine_path, key, data)
    return engine, True
