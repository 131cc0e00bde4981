"""Latency and memory benchmark of the v2 lifter (runtime/lifter.py) per backend.

Each backend runs in its own spawned process, so its peak RSS (``resource.getrusage``) is its
own. It times ``PrivposeLifter.lift`` (crops + one batched model run) per person at each of
``BATCHES`` persons per frame, the frames cycling through the caller's. Input frames come from a
picklable callable of the caller, run in a spawned process of its own (``privpose bench``
renders them with the synthetic generator at 640x480; this layer may not import the data
layer), so the rendering's memory never counts towards a backend's peak RSS.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import platform
import resource
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import MissingDependencyError, PrivposeInputError
from privpose_ros.runtime.runner import GRAPH_BACKENDS

LOG = logging.getLogger(__name__)
BATCHES = (1, 4)


@dataclass(frozen=True)
class BenchConfig:
    """``frames`` timed frames (per batch size, of ``frames // batch`` calls) after ``warmup``
    untimed ones on each of ``backends`` with ``threads`` (0: 2); ``weights_path`` None uses the
    shipped rgb_hall weights. Weights that do not load are an error (never random weights)."""

    frames: int = 200
    warmup: int = 20
    threads: int = 0
    backends: tuple[str, ...] = ("onnxruntime", "torch")
    source_hw: tuple[int, int] = (480, 640)
    weights_path: Path | None = None
    device: str = "cpu"
    enable_fp16: bool = False
    cache_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.frames < 1 or self.warmup < 0 or self.threads < 0:
            raise PrivposeInputError(
                "frames must be >= 1, warmup and threads >= 0; got "
                f"{self.frames}, {self.warmup}, {self.threads}"
            )
        unknown = set(self.backends) - set(GRAPH_BACKENDS)
        if unknown:
            raise PrivposeInputError(f"unknown backends {sorted(unknown)}; use {GRAPH_BACKENDS}")


def percentiles_ms(samples_s: list[float]) -> dict[str, float]:
    """p50 / p95 / p99 / mean of durations given in seconds, in milliseconds (3 decimals)."""
    ms = np.asarray(samples_s, dtype=np.float64) * 1000.0
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return {
        "p50": round(float(p50), 3),
        "p95": round(float(p95), 3),
        "p99": round(float(p99), 3),
        "mean": round(float(ms.mean()), 3),
    }


def _peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)  # Linux: KiB


def _peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)  # Linux: KiB


BenchFrames = list[tuple[np.ndarray, CameraIntrinsics]]
FrameSource = Callable[[], BenchFrames]


def prepare_weights(config: BenchConfig) -> tuple[Path, str]:
    """The v2 weights to time and a description of them, checked to load (in a child: the
    parent stays torch-free). Weights that do not load raise a one-line PrivposeInputError:
    timing other (random) weights instead would report figures of a model nobody runs."""
    from privpose_ros.model.posenet.weights import read_posenet_weights
    from privpose_ros.runtime.lifter import SHIPPED_WEIGHTS

    given = config.weights_path is not None
    weights = Path(config.weights_path) if given else SHIPPED_WEIGHTS
    try:
        read_posenet_weights(weights)
    except Exception as exc:
        what = "--weights" if given else "the shipped v2 weights"
        fix = "pass v2 weights (`privpose train`)" if given else "reinstall privpose or pass"
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())  # one line
        raise PrivposeInputError(
            f"{what} {weights} do not load ({reason}); {fix} --weights W"
        ) from exc
    return weights, str(weights)


def bench_privpose_lifter(
    name: str, config: BenchConfig, weights: Path, frames: BenchFrames
) -> dict:
    """Milliseconds per person of ``PrivposeLifter.lift`` at each of ``BATCHES`` persons on backend
    ``name`` (in a spawned child of :func:`run_bench`)."""
    from privpose_ros.core.frame import RGBDFrame
    from privpose_ros.core.pose import PersonPose
    from privpose_ros.runtime.lifter import PrivposeLifter, PrivposeLifterConfig
    from privpose_ros.runtime.runner import RunnerConfig

    rss_before = _peak_rss_mib()
    h, w = frames[0][0].shape[:2]
    n = max(BATCHES)
    boxes = [(w * (i + 0.2) / n, 0.2 * h, w * (i + 0.8) / n, 0.9 * h) for i in range(n)]
    persons = tuple(PersonPose(np.zeros((26, 3)), np.ones(26), box_px=np.array(b)) for b in boxes)
    runner = RunnerConfig(
        name, config.device, config.threads or 2, config.enable_fp16, config.cache_dir
    )
    lifter_config = PrivposeLifterConfig(weights, runner, max_persons=n)
    try:
        lifter = PrivposeLifter(lifter_config)
    except (MissingDependencyError, ImportError, RuntimeError, PrivposeInputError) as exc:
        return {"skipped": str(exc)}
    result: dict = {"runner": lifter.backend_name, "crop_px": lifter.crop_px}
    for batch in BATCHES:
        times = []
        for i in range(config.warmup + max(1, config.frames // batch)):
            frame = RGBDFrame(*frames[i % len(frames)])
            t0 = time.perf_counter()
            lifter.lift(frame, persons[:batch])
            if i >= config.warmup:
                times.append((time.perf_counter() - t0) / batch)
        result[f"batch{batch}_ms_per_person"] = percentiles_ms(times)
    lifter.close()
    result["peak_rss_mib"] = _peak_rss_mib()
    result["peak_rss_before_backend_mib"] = rss_before
    return result


def _machine() -> dict:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if "model name" in line)
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "load_average_1min": round(os.getloadavg()[0], 2),  # others sharing the machine
    }


def run_bench(config: BenchConfig, frame_source: FrameSource) -> dict:
    """Benchmark the v2 lifter on every requested backend, each in a fresh spawned process.

    Linux keeps a process's peak RSS across fork + exec, so the parent never loads torch or a
    model (the weights are prepared in a child too): each child's peak RSS is its own backend's.
    ``frame_source()``: (H, W, 3) uint8 RGB images of ``config.source_hw`` with intrinsics.
    """
    with tempfile.TemporaryDirectory(prefix="privpose-bench-") as tmp:
        workdir = Path(tmp)
        cfg = config
        if config.cache_dir is None:
            cfg = BenchConfig(**{**asdict(config), "cache_dir": workdir})
        results = {}
        context = multiprocessing.get_context("spawn")
        with context.Pool(1, maxtasksperchild=1) as pool:
            weights, label = pool.apply(prepare_weights, (cfg,))
            frames = pool.apply(frame_source)
            if not frames or any(rgb.shape != (*cfg.source_hw, 3) for rgb, _ in frames):
                raise PrivposeInputError(
                    f"bench needs at least one (H, W, 3) frame of size {cfg.source_hw}"
                )
            for name in cfg.backends:
                LOG.info("benchmarking the v2 lifter on %s", name)
                results[name] = pool.apply(bench_privpose_lifter, (name, cfg, weights, frames))
    return {
        "machine": _machine(),
        "source_hw": list(config.source_hw),
        "frames": config.frames,
        "warmup": config.warmup,
        "v2_lifter": {
            "weights": label,
            "threads": config.threads or 2,
            "device": config.device,
            "backends": results,
        },
    }
