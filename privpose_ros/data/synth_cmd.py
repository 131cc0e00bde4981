"""`privpose synth`: write a synthetic dataset, a preview contact sheet, or benchmark."""

from __future__ import annotations

import argparse
import json
import time

from privpose_ros.data.scene import SENSORS
from privpose_ros.data.synth import VIEWS, SynthConfig, SyntheticGenerator


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 320x240, got '{text}'") from None
    return w, h


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", help="write a dataset to this (new) directory")
    parser.add_argument("--frames", type=int, default=64, help="number of frames (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--view", choices=VIEWS, default="side")
    parser.add_argument("--camera", choices=[*SENSORS, "mixed"], default="itop")
    parser.add_argument("--size", type=_size, default=(320, 240), help="WxH (default 320x240)")
    parser.add_argument("--distractor-prob", type=float, default=0.2)
    parser.add_argument("--chunk-size", type=int, default=256)
    parser.add_argument("--preview", help="write a contact sheet PNG of the first frames")
    parser.add_argument("--preview-frames", type=int, default=8)
    parser.add_argument("--preview-columns", type=int, default=4, help="tiles per sheet row")
    parser.add_argument("--bench", action="store_true", help="measure frames per second")
    parser.add_argument(
        "--workers", type=int, default=1, help="processes rendering in parallel (default 1)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _render_blocks(config: SynthConfig, seed: int, blocks: list[int]) -> int:
    gen = SyntheticGenerator(config)
    return sum(len(gen.block(seed, b)) for b in blocks)


def _bench(config: SynthConfig, frames: int, seed: int, workers: int) -> dict[str, object]:
    """Frames per second (wall clock) and CPU seconds per frame of this process tree."""
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    blocks = list(range(max(1, -(-frames // config.block_size))))
    SyntheticGenerator(config).block(seed, 10**6)  # warm-up (imports, caches)
    wall0, cpu0 = time.perf_counter(), _cpu_s()
    if workers == 1:
        done = _render_blocks(config, seed, blocks)
    else:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as pool:
            parts = [blocks[w::workers] for w in range(workers)]
            done = sum(pool.map(_render_blocks, [config] * workers, [seed] * workers, parts))
    wall, cpu = time.perf_counter() - wall0, _cpu_s() - cpu0
    return {
        "frames_per_s": round(done / wall, 2),
        "width": config.width,
        "height": config.height,
        "frames": done,
        "workers": workers,
        "cpu_s_per_frame": round(cpu / done, 5),
    }


def _cpu_s() -> float:
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run(args: argparse.Namespace) -> int:
    config = SynthConfig(
        width=args.size[0],
        height=args.size[1],
        view=args.view,
        camera=args.camera,
        distractor_prob=args.distractor_prob,
    )
    if not (args.out or args.preview or args.bench):
        raise ValueError("nothing to do: give --out DIR, --preview FILE.png and/or --bench")
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
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0
