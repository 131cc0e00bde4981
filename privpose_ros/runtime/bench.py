"""Latency and memory benchmark of every backend through the PoseEstimator facade.

Each backend runs in its own spawned process, so its peak RSS (``resource.getrusage``) is its
own. Per frame it times preprocessing, the model call and postprocessing separately, and the
whole ``estimate`` call separately, interleaved so machine noise hits all of them alike.
With ``v2_lifter`` the v2 lifter (runtime/v2_lifter.py) is timed too, per person at batch 1 and
4 on ONNX Runtime and on torch (``V2Lifter.lift``: crops + model). Input frames come from a
picklable callable of the caller, run in a spawned process of its own
(``privpose bench`` renders them with the synthetic generator at 640x480; this layer may not
import the data layer), so the rendering's memory never counts towards a backend's peak RSS.
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
from privpose_ros.runtime.backend import BACKEND_ORDER

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchConfig:
    """``frames`` timed frames after ``warmup`` untimed ones; ``batch`` > 1 also times the model
    on batches of that size; ``weights_path`` None uses the shipped weights or, when absent, a
    randomly initialised default-size model (same cost); ``v2_lifter`` also times the v2 lifter
    (shipped rgb_hall weights or a random-init V2Config(), same cost) with ``threads`` (0: 2)."""

    frames: int = 200
    warmup: int = 20
    batch: int = 1
    threads: int = 0
    backends: tuple[str, ...] = BACKEND_ORDER
    source_hw: tuple[int, int] = (480, 640)
    weights_path: Path | None = None
    device: str = "cpu"
    enable_fp16: bool = False
    cache_dir: Path | None = None
    v2_lifter: bool = True

    def __post_init__(self) -> None:
        if self.frames < 1 or self.warmup < 0 or self.batch < 1 or self.threads < 0:
            raise PrivposeInputError(
                "frames and batch must be >= 1, warmup and threads >= 0; got "
                f"{self.frames}, {self.batch}, {self.warmup}, {self.threads}"
            )
        unknown = set(self.backends) - set(BACKEND_ORDER)
        if unknown:
            raise PrivposeInputError(f"unknown backends {sorted(unknown)}; use {BACKEND_ORDER}")


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


BenchFrames = list[tuple[np.ndarray, CameraIntrinsics]]
FrameSource = Callable[[], BenchFrames]


def bench_backend(
    name: str, config: BenchConfig, weights_path: Path, onnx_path: Path, frames: BenchFrames
) -> dict:
    """Benchmark one backend in this process (called in a spawned child by :func:`run_bench`)."""
    from privpose_ros.runtime.estimator import EstimatorConfig, PoseEstimator

    rss_before = _peak_rss_mib()
    est_config = EstimatorConfig(
        backend=name,
        weights_path=weights_path,
        onnx_path=onnx_path if name != "torch" else None,
        engine_cache_dir=config.cache_dir,
        device=config.device,
        enable_fp16=config.enable_fp16,
        threads=config.threads,
        max_batch=config.batch,
    )
    try:
        estimator = PoseEstimator(est_config)
    except (MissingDependencyError, ImportError, RuntimeError) as exc:
        return {"skipped": str(exc)}
    stages: dict[str, list[float]] = {"preprocess": [], "model": [], "postprocess": []}
    facade: list[float] = []
    for i in range(config.warmup + config.frames):
        rgb, intrinsics = frames[i % len(frames)]
        t0 = time.perf_counter()
        blob, k, box = estimator.preprocess(rgb, intrinsics)
        t1 = time.perf_counter()
        outputs = estimator.backend.infer(blob, k)
        t2 = time.perf_counter()
        estimator.postprocess(outputs, box)
        t3 = time.perf_counter()
        estimator.estimate(rgb, intrinsics)
        t4 = time.perf_counter()
        if i >= config.warmup:
            for key, dt in zip(stages, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                stages[key].append(dt)
            facade.append(t4 - t3)
    result = {
        "device": estimator.backend.device,
        "precision": estimator.backend.precision,
        "input_hw": list(estimator.input_hw),
        **{f"{key}_ms": percentiles_ms(values) for key, values in stages.items()},
        "facade_ms": percentiles_ms(facade),
    }
    if config.batch > 1:
        blob = np.repeat(blob, config.batch, axis=0)
        k = np.repeat(k, config.batch, axis=0)
        batch_times = []
        for i in range(config.warmup + max(1, config.frames // config.batch)):
            t0 = time.perf_counter()
            estimator.backend.infer(blob, k)
            if i >= config.warmup:
                batch_times.append(time.perf_counter() - t0)
        result["model_batch_ms"] = percentiles_ms(batch_times)
        result["model_batch_per_image_p50_ms"] = round(
            result["model_batch_ms"]["p50"] / config.batch, 3
        )
    estimator.close()
    result["peak_rss_mib"] = _peak_rss_mib()
    result["peak_rss_before_backend_mib"] = rss_before
    return result


V2_BACKENDS, V2_BATCHES = ("onnxruntime", "torch"), (1, 4)


def bench_v2_lifter(
    config: BenchConfig, workdir: Path, rgb: np.ndarray, k: CameraIntrinsics
) -> dict:
    """Milliseconds per person of ``V2Lifter.lift`` (crops + one batched model run) at each of
    ``V2_BATCHES`` persons, per backend of ``V2_BACKENDS`` (in a spawned child of run_bench)."""
    from privpose_ros.core.pose import PersonPose
    from privpose_ros.model.v2_codec import V2Config
    from privpose_ros.model.v2_net import V2Net
    from privpose_ros.model.v2_weights import read_v2_weights, write_v2_weights
    from privpose_ros.runtime.v2_lifter import SHIPPED_WEIGHTS, V2Lifter, V2LifterConfig

    weights, label = SHIPPED_WEIGHTS, str(SHIPPED_WEIGHTS)
    try:
        read_v2_weights(weights)
    except PrivposeInputError:  # not trained yet (or an older format): the same cost
        weights, label = workdir / "v2_random.safetensors", "random-init V2Config()"
        write_v2_weights(weights, V2Net(V2Config()))
    h, w = rgb.shape[:2]
    n = max(V2_BATCHES)
    boxes = [(w * (i + 0.2) / n, 0.2 * h, w * (i + 0.8) / n, 0.9 * h) for i in range(n)]
    persons = tuple(PersonPose(np.zeros((26, 3)), np.ones(26), box_px=np.array(b)) for b in boxes)
    threads = config.threads or 2
    results: dict[str, dict] = {}
    for name in V2_BACKENDS:
        lifter_config = V2LifterConfig(
            weights, name, "cpu", threads, cache_dir=workdir / "v2", max_persons=n
        )
        try:
            lifter = V2Lifter(lifter_config)
        except (MissingDependencyError, ImportError, RuntimeError) as exc:
            results[name] = {"skipped": str(exc)}
            continue
        results[name] = {}
        for batch in V2_BATCHES:
            times = []
            for i in range(config.warmup + max(1, config.frames // batch)):
                t0 = time.perf_counter()
                lifter.lift(rgb, k, persons[:batch])
                if i >= config.warmup:
                    times.append((time.perf_counter() - t0) / batch)
            results[name][f"batch{batch}_ms_per_person"] = percentiles_ms(times)
        lifter.close()
    return {"weights": label, "threads": threads, "device": "cpu", "backends": results}


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


def prepare_model(config: BenchConfig, workdir: Path) -> tuple[Path, str, Path]:
    """Weights (given, shipped, or a random-init default-size model saved in ``workdir``), a
    description of them, and their ONNX export (runs in a child: the parent stays torch-free)."""
    from privpose_ros.model.deployable import (
        DeployableRGBModel,
        ModelConfig,
        default_weights_path,
        load_deployable,
        save_deployable,
    )
    from privpose_ros.runtime.export import export_onnx

    if config.weights_path is not None:
        weights, label = config.weights_path, str(config.weights_path)
    elif default_weights_path().is_file():
        weights, label = default_weights_path(), str(default_weights_path())
    else:
        weights, label = workdir / "random_default.safetensors", "random-init ModelConfig()"
        save_deployable(DeployableRGBModel(ModelConfig()), weights)
    batch = None if config.batch > 1 else 1
    onnx_path = export_onnx(load_deployable(weights), workdir / "bench.onnx", batch)
    return weights, label, onnx_path


def run_bench(config: BenchConfig, frame_source: FrameSource) -> dict:
    """Benchmark every requested backend, each in a fresh spawned process.

    Linux keeps a process's peak RSS across fork + exec, so the parent never loads torch or a
    model (the export runs in a child too): each child's peak RSS is its own backend's.
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
            weights, weights_label, onnx_path = pool.apply(prepare_model, (cfg, workdir))
            frames = pool.apply(frame_source)
            if not frames or any(rgb.shape != (*cfg.source_hw, 3) for rgb, _ in frames):
                raise PrivposeInputError(
                    f"bench needs at least one (H, W, 3) frame of size {cfg.source_hw}"
                )
            for name in cfg.backends:
                LOG.info("benchmarking %s", name)
                results[name] = pool.apply(bench_backend, (name, cfg, weights, onnx_path, frames))
            if cfg.v2_lifter:
                LOG.info("benchmarking the v2 lifter")
                v2 = pool.apply(bench_v2_lifter, (cfg, workdir, *frames[0]))
    report = {
        "machine": _machine(),
        "weights": weights_label,
        "source_hw": list(config.source_hw),
        "frames": config.frames,
        "warmup": config.warmup,
        "batch": config.batch,
        "threads": config.threads,
        "backends": results,
    }
    if config.v2_lifter:
        report["v2_lifter"] = v2
    ran = {k: v for k, v in results.items() if "skipped" not in v}
    if "torch" in ran and "onnxruntime" in ran:
        report["torch_over_onnxruntime_model_p50"] = round(
            ran["torch"]["model_ms"]["p50"] / ran["onnxruntime"]["model_ms"]["p50"], 2
        )
    return report
