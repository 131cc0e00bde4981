"""`privpose synth`: write a synthetic dataset, a preview sheet, benchmark, or measure realism."""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

from privpose_ros.data.scene import SENSORS
from privpose_ros.data.synth import BODIES, VIEWS, SynthConfig, SyntheticGenerator, worker_pool


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 320x240, got '{text}'") from None
    return w, h


def _weights(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"people weights must look like 0.05,0.4,0.25,0.17,0.13, got '{text}'"
        ) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", help="write a dataset to this (new) directory")
    parser.add_argument("--frames", type=int, default=64, help="number of frames (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--body", choices=BODIES, default="anny", help="people (default anny)")
    parser.add_argument("--view", choices=VIEWS, default="side")
    parser.add_argument("--camera", choices=[*SENSORS, "mixed"], default="itop")
    parser.add_argument("--size", type=_size, default=(320, 240), help="WxH (default 320x240)")
    parser.add_argument("--distractor-prob", type=float, default=0.2)
    parser.add_argument(
        "--people-weights",
        type=_weights,
        help="relative odds of 0,1,2,3,4 people per frame (default 0,0.4,0.25,0.18,0.17)",
    )
    parser.add_argument("--chunk-size", type=int, default=256)
    parser.add_argument("--preview", help="write a contact sheet PNG of the first frames")
    parser.add_argument("--preview-frames", type=int, default=8)
    parser.add_argument("--preview-columns", type=int, default=4, help="tiles per sheet row")
    parser.add_argument("--bench", action="store_true", help="measure frames per second")
    parser.add_argument(
        "--realism",
        action="store_true",
        help="the real-world front end's recall and mean OKS on --frames generated frames, "
        "for anny and capsule people",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="processes rendering in parallel (default 1)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _render_block(config: SynthConfig, seed: int, block: int) -> int:
    return len(SyntheticGenerator(config).block(seed, block))


def _bench(config: SynthConfig, frames: int, seed: int, workers: int) -> dict[str, object]:
    """Frames per second (wall clock) once every process is warm, and CPU seconds per frame."""
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    blocks = list(range(max(1, -(-frames // config.block_size))))
    warm = [10**6 + w for w in range(2 * workers)]  # imports, model, GL context, identity pool
    if workers == 1:
        _render_block(config, seed, warm[0])
        wall0, cpu0 = time.perf_counter(), _cpu_s()
        done = sum(_render_block(config, seed, b) for b in blocks)
        wall, cpu = time.perf_counter() - wall0, _cpu_s() - cpu0
    else:
        with worker_pool(workers) as pool:
            list(pool.map(_render_block, [config] * len(warm), [seed] * len(warm), warm))
            wall0 = time.perf_counter()
            n = len(blocks)
            done = sum(pool.map(_render_block, [config] * n, [seed] * n, blocks))
            wall = time.perf_counter() - wall0
        cpu = None  # the children's CPU time is only known for the whole pool
    return {
        "frames_per_s": round(done / wall, 2),
        "body": config.body,
        "width": config.width,
        "height": config.height,
        "frames": done,
        "workers": workers,
        "cpu_s_per_frame": round(cpu / done, 5) if cpu is not None else None,
    }


def _cpu_s() -> float:
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def _realism(config: SynthConfig, frames: int, seed: int) -> dict[str, object]:
    from privpose_ros.apps.eval_cmd import build_real_estimator
    from privpose_ros.train.synth_realism import evaluate_realism

    estimate = build_real_estimator(None)
    out: dict[str, object] = {}
    for body in BODIES:
        batch = SyntheticGenerator(dataclasses.replace(config, body=body)).batch(frames, seed)
        out[body] = evaluate_realism(batch, estimate)
    return out


def run(args: argparse.Namespace) -> int:
    extra = {"people_weights": args.people_weights} if args.people_weights else {}
    config = SynthConfig(
        width=args.size[0],
        height=args.size[1],
        body=args.body,
        view=args.view,
        camera=args.camera,
        distractor_prob=args.distractor_prob,
        **extra,
    )
    if not (args.out or args.preview or args.bench or args.realism):
        raise ValueError(
            "nothing to do: give --out DIR, --preview FILE.png, --bench and/or --realism"
        )
    result: dict[str, object] = {}
    if args.preview:
        from privpose_ros.data.preview import write_preview

        gen = SyntheticGenerator(config)
        result["preview"] = str(
            write_preview(
                args.preview, gen.batch(args.preview_frames, args.seed), args.preview_columns
            )
        )
    if args.out:
        from privpose_ros.data.dataset import write_dataset

        t0 = time.perf_counter()
        path = write_dataset(
            args.out, config, args.frames, args.seed, args.chunk_size, args.workers
        )
        result.update(out=str(path), frames=args.frames, seconds=time.perf_counter() - t0)
    if args.bench:
        result.update(_bench(config, args.frames, args.seed, args.workers))
    if args.realism:
        result["realism"] = _realism(config, args.frames, args.seed)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0
