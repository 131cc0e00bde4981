"""`privpose bench`: latency (p50/p95/p99) and peak RSS of every inference backend."""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path

from privpose_ros.runtime.backend import BACKEND_ORDER


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--frames", type=int, default=200, help="timed frames per backend")
    parser.add_argument("--warmup", type=int, default=20, help="untimed frames first")
    parser.add_argument("--batch", type=int, default=1, help="also time model batches of B")
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0: default)")
    parser.add_argument(
        "--backend",
        action="append",
        choices=BACKEND_ORDER,
        help="backend to run (repeatable; default: all, unavailable ones are reported skipped)",
    )
    parser.add_argument("--weights", type=Path, help="model safetensors (default: shipped)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (onnxruntime, torch)")
    parser.add_argument("--fp16", action="store_true", help="enable_fp16 (GPU backends)")
    parser.add_argument("--cache-dir", type=Path, help="engine/ONNX cache (default: temporary)")
    parser.add_argument("--width", type=int, default=640, help="input frame width (px)")
    parser.add_argument("--height", type=int, default=480, help="input frame height (px)")


def _table(report: dict) -> str:
    lines = [
        f"machine: {report['machine']['cpu']} ({report['machine']['cores']} cores); "
        f"weights: {report['weights']}; frames {report['frames']} of "
        f"{report['source_hw'][1]}x{report['source_hw'][0]}",
        f"{'backend':12} {'device':7} {'prec':5} {'model p50/p95':>15} {'pre p50':>8} "
        f"{'post p50':>9} {'facade p50/p95':>15} {'RSS MiB':>8}",
    ]
    for name, r in report["backends"].items():
        if "skipped" in r:
            lines.append(f"{name:12} skipped: {r['skipped']}")
            continue
        lines.append(
            f"{name:12} {r['device']:7} {r['precision']:5} "
            f"{r['model_ms']['p50']:7.2f}/{r['model_ms']['p95']:<7.2f} "
            f"{r['preprocess_ms']['p50']:8.2f} {r['postprocess_ms']['p50']:9.2f} "
            f"{r['facade_ms']['p50']:7.2f}/{r['facade_ms']['p95']:<7.2f} "
            f"{r['peak_rss_mib']:8.1f}"
        )
    return "\n".join(lines)


def generator_frames(width: int, height: int, n: int) -> list:
    """``n`` synthetic Kinect-v2-like frames (rgb, intrinsics) rendered at width x height."""
    from privpose_ros.data.synth import SynthConfig, SyntheticGenerator

    batch = SyntheticGenerator(SynthConfig(width=width, height=height, camera="kinect_v2")).batch(
        n, seed=12345
    )
    return [(batch.rgb[i], batch.intrinsics(i)) for i in range(n)]


def run(args: argparse.Namespace) -> int:
    from privpose_ros.runtime.bench import BenchConfig, run_bench

    config = BenchConfig(
        frames=args.frames,
        warmup=args.warmup,
        batch=args.batch,
        threads=args.threads,
        backends=tuple(args.backend or BACKEND_ORDER),
        source_hw=(args.height, args.width),
        weights_path=args.weights,
        device=args.device,
        enable_fp16=args.fp16,
        cache_dir=args.cache_dir,
    )
    # rendered in a process of its own: the rendering's memory is not a backend's peak RSS
    report = run_bench(config, functools.partial(generator_frames, args.width, args.height, 16))
    print(json.dumps(report) if args.json else _table(report))
    return 0
