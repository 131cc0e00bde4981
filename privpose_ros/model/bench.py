"""Torch-eager CPU latency of a model (reusable by the runtime benchmarks)."""

from __future__ import annotations

import statistics
import time

import torch

from privpose_ros.model.deployable import DeployableRGBModel


def benchmark_eager(
    model: DeployableRGBModel, iterations: int = 50, warmup: int = 5, threads: int = 2
) -> dict[str, float]:
    """Median / p90 / mean milliseconds of one forward (batch 1, default input size)."""
    if iterations < 1 or warmup < 0:
        raise ValueError(f"need iterations >= 1 and warmup >= 0, got {iterations}, {warmup}")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    h, w = model.config.input_hw
    rgb = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    k = torch.tensor([[[w * 0.9, 0.0, (w - 1) / 2], [0.0, w * 0.9, (h - 1) / 2], [0, 0, 1]]])
    times_ms = []
    model.eval()
    try:
        with torch.inference_mode():
            for i in range(warmup + iterations):
                start = time.perf_counter()
                model(rgb, k)
                if i >= warmup:
                    times_ms.append((time.perf_counter() - start) * 1e3)
    finally:
        torch.set_num_threads(previous)
    times_ms.sort()
    return {
        "median_ms": statistics.median(times_ms),
        "p90_ms": times_ms[min(len(times_ms) - 1, int(0.9 * len(times_ms)))],
        "mean_ms": statistics.fmean(times_ms),
        "threads": float(threads),
        "iterations": float(iterations),
        "params": float(sum(p.numel() for p in model.parameters())),
    }
