"""`privpose bench`: latency (p50/p95/p99) and peak RSS of the v2 lifter per backend and person
(apps/bench_lifter.py), or with ``--frontend`` of the whole person pipeline per person count
(apps/bench_frontend.py: composites of the people of ``--real DIR``, or of synthetic people
without it); figures only, no goals;
``--delivery`` (RGB-D sets between processes over DDS) and ``--soak N`` (the real node over
time) run a ROS 2 graph (privpose_ros/apps/delivery.py, soak.py)."""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path

from privpose_ros.runtime.people import LANDMARK_MODELS
from privpose_ros.runtime.runner import GRAPH_BACKENDS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--frontend",
        action="store_true",
        help="benchmark the whole person pipeline (detector, landmarks, 3D, refinement, "
        "tracking) on composites of people (see --real) instead of the v2 lifter",
    )
    parser.add_argument(
        "--frames", type=int, help="timed frames per backend (default 200); --delivery: 300"
    )
    parser.add_argument(
        "--iterations", type=int, help="timed frames (per person count with --frontend)"
    )
    parser.add_argument(
        "--warmup", type=int, help="untimed frames first (default 20; 10 with --frontend)"
    )
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0: default)")
    parser.add_argument(
        "--backend",
        action="append",
        choices=GRAPH_BACKENDS,
        help="backend to run (repeatable; default: onnxruntime and torch, with tensorrt on "
        "cuda; unavailable ones are reported skipped; --frontend: one, default auto)",
    )
    parser.add_argument(
        "--weights",
        type=Path,
        help="v2 weights (default: the shipped rgb_hall; an error when they do not load)",
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (onnxruntime, torch)")
    parser.add_argument("--fp16", action="store_true", help="enable_fp16 (GPU backends)")
    parser.add_argument("--cache-dir", type=Path, help="engine/ONNX cache (default: temporary)")
    parser.add_argument("--width", type=int, default=640, help="input frame width (px)")
    parser.add_argument("--height", type=int, default=480, help="input frame height (px)")
    ros = parser.add_argument_group("--delivery / --soak (a real ROS 2 graph)")
    ros.add_argument(
        "--delivery",
        action="store_true",
        help="RGB-D sets delivered between two processes: raw over the default DDS transports, "
        "raw with config/fastdds_shm.xml, compressed (when available)",
    )
    ros.add_argument(
        "--soak", type=int, default=0, metavar="N", help="N frames through the real pose_node"
    )
    ros.add_argument("--rate", type=float, default=30.0, help="camera rate (Hz)")
    ros.add_argument("--sample-every", type=int, default=500, help="--soak: frames per window")
    ros.add_argument(
        "--qos",
        choices=("sensor_data", "reliable"),
        default="sensor_data",
        help="--delivery: the subscriber's QoS (the node's input default: sensor_data)",
    )
    front = parser.add_argument_group("--frontend")
    front.add_argument(
        "--real",
        type=Path,
        metavar="DIR",
        help="real data root (as `privpose eval --real`: real3d/mpi_inf_3dhp, real2d/coco): "
        "composites of its people; without it the frames hold synthetic people (logged, and "
        "the report's frames says synthetic); no folder is looked for",
    )
    front.add_argument("--persons", default="1,2,4", help="person counts per frame, e.g. 1,2,4")
    front.add_argument("--landmark-model", choices=LANDMARK_MODELS, default="full")
    front.add_argument(
        "--depth",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="feed the registered depth (refinement runs) or RGB only",
    )
    front.add_argument(
        "--detector-side",
        type=int,
        help="MoveNet input long side in px (multiple of 32; default: FrontEndConfig's)",
    )
    front.add_argument(
        "--roi-passes",
        type=int,
        choices=(1, 2),
        help="landmark passes (default: FrontEndConfig)",
    )
    front.add_argument(
        "--sync-detection",
        action="store_true",
        help="run the detector on the frame's own thread (default: its own thread)",
    )


def _table(report: dict) -> str:
    v2 = report["v2_lifter"]
    lines = [
        f"machine: {report['machine']['cpu']} ({report['machine']['cores']} cores); "
        f"v2 weights: {v2['weights']}; threads {v2['threads']}; frames {report['frames']} of "
        f"{report['source_hw'][1]}x{report['source_hw'][0]}",
        f"{'backend':12} {'runner':12} {'ms/person p50/p95 batch 1':>26} "
        f"{'batch 4':>14} {'RSS MiB':>8}",
    ]
    for name, r in v2["backends"].items():
        if "skipped" in r:
            lines.append(f"{name:12} skipped: {r['skipped']}")
            continue
        one, four = r["batch1_ms_per_person"], r["batch4_ms_per_person"]
        lines.append(
            f"{name:12} {r['runner']:12} {one['p50']:17.2f}/{one['p95']:<8.2f} "
            f"{four['p50']:6.2f}/{four['p95']:<7.2f} {r['peak_rss_mib']:8.1f}"
        )
    return "\n".join(lines)


def generator_frames(width: int, height: int, n: int) -> list:
    """``n`` synthetic Kinect-v2-like frames (rgb, intrinsics) rendered at width x height."""
    from privpose_ros.data.synth import SynthConfig, SyntheticGenerator

    batch = SyntheticGenerator(SynthConfig(width=width, height=height, camera="kinect_v2")).batch(
        n, seed=12345
    )
    return [(batch.rgb[i], batch.intrinsics(i)) for i in range(n)]


def synthetic_person_crops(width: int, height: int, count: int) -> list:
    """``count`` synthetic people (generator frames, no distractors) cut out by their masks."""
    from privpose_ros.data.crossing import Sprite
    from privpose_ros.data.synth import SynthConfig, SyntheticGenerator

    config = SynthConfig(width=width, height=height, camera="kinect_v2", distractor_prob=0.0)
    batch = SyntheticGenerator(config).batch(count, seed=4242)
    crops = []
    for i in range(count):
        mask = batch.person_mask[i]
        rows, cols = mask.any(1).nonzero()[0], mask.any(0).nonzero()[0]
        if len(rows) == 0:
            continue
        box = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
        crops.append(Sprite(batch.rgb[i][box], mask[box], f"synthetic/{i}"))
    return crops


def _frontend_table(report: dict) -> str:
    lines = [
        f"front end, {report['frames']} {report['image_wh'][0]}x{report['image_wh'][1]}"
        f"{' RGB-D' if report['depth'] else ' RGB'}; backend {report['backend']}, landmarks "
        f"{report['landmark_model']}, threads {report['threads']}, {report['cpu_count']} CPUs, "
        f"load {report['machine']['load_average_1min']}, peak RSS {report['peak_rss_mib']} MiB",
        f"{'persons':>7} {'found':>5} " + " ".join(f"{s:>12}" for s in _COLUMNS) + "  (p50 ms)",
    ]
    for n, r in report["per_persons"].items():
        cells = [r[f"{c}_ms"]["p50"] if r[f"{c}_ms"] else float("nan") for c in _COLUMNS]
        lines.append(
            f"{n:>7} {r['persons_found_mean']:5.2f} " + " ".join(f"{c:12.2f}" for c in cells)
        )
    return "\n".join(lines)


_COLUMNS = (
    "detector",
    "landmarks",
    "landmarks_per_person",
    "monocular_3d",
    "refine",
    "tracking",
    "whole",
)


def run_frontend(args: argparse.Namespace) -> int:
    from privpose_ros.apps.bench_frontend import FrontendBenchConfig, run_frontend_bench

    backends = args.backend or ["auto"]
    if len(backends) > 1:
        raise ValueError(f"--frontend runs one --backend, got {backends}")
    try:
        persons = tuple(int(n) for n in args.persons.split(",") if n.strip())
    except ValueError as exc:
        raise ValueError(f"--persons takes counts like 1,2,4, got {args.persons!r}") from exc
    config = FrontendBenchConfig(
        persons=persons,
        iterations=args.iterations or 100,
        warmup=10 if args.warmup is None else args.warmup,
        threads=args.threads,
        landmark_model=args.landmark_model,
        backend=backends[0],
        device=args.device,
        enable_fp16=args.fp16,
        cache_dir=args.cache_dir,
        width=args.width,
        height=args.height,
        depth=args.depth,
        detector_long_side_px=args.detector_side,
        roi_passes=args.roi_passes,
        async_detection=False if args.sync_detection else None,
    )
    crops = functools.partial(synthetic_person_crops, args.width, args.height, 8)
    report = run_frontend_bench(config, args.real, crops)
    print(json.dumps(report) if args.json else _frontend_table(report))
    return 0


def run_ros(args: argparse.Namespace) -> int:
    """--delivery or --soak: privpose_ros/ros/ modules, imported only here (they need rclpy)."""
    if args.delivery:
        from privpose_ros.apps.delivery import run_delivery

        report = run_delivery(args.frames or 300, args.rate, args.width, args.height, args.qos)
    else:
        from privpose_ros.apps.soak import run_soak

        report = run_soak(args.soak, args.rate, args.sample_every, args.width, args.height)
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:>24}: {value}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.soak < 0:
        raise ValueError(f"--soak takes a frame count >= 1, got {args.soak}")
    if args.delivery and args.soak:
        raise ValueError("--delivery and --soak are separate runs: pick one")
    if args.real is not None and not args.frontend:
        raise ValueError("--real DIR feeds --frontend only: add --frontend or leave it out")
    if args.delivery or args.soak:
        return run_ros(args)
    if args.frontend:
        return run_frontend(args)
    from privpose_ros.apps.bench_lifter import BenchConfig, run_bench

    default = ("onnxruntime", "torch")
    if args.device.startswith("cuda"):
        default = ("tensorrt", *default)
    config = BenchConfig(
        frames=args.iterations or args.frames or 200,
        warmup=20 if args.warmup is None else args.warmup,
        threads=args.threads,
        backends=tuple(args.backend or default),
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
