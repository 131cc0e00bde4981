"""`privpose eval --tracking DIR`: the node's pipeline (front end, depth refinement, tracking,
smoothing) on real people crossing each other (:mod:`privpose_ros.data.crossing`)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from privpose_ros.data.crossing import crossing_sequence, green_screen_sprites
from privpose_ros.train.track_eval import evaluate_tracking


def run_tracking(args: argparse.Namespace) -> int:
    from privpose_ros.core.frame import RGBDFrame
    from privpose_ros.runtime.people import FrontEndConfig
    from privpose_ros.runtime.pipeline import PipelineConfig, PosePipeline
    from privpose_ros.runtime.runner import RunnerConfig

    folder = Path(args.tracking)
    if (folder / "real3d" / "mpi_inf_3dhp").is_dir():
        folder = folder / "real3d" / "mpi_inf_3dhp"
    if not folder.is_dir():
        raise FileNotFoundError(f"--tracking {args.tracking}: no MPI-INF-3DHP folder there")
    if not 1 <= args.persons <= 4 or args.seq_frames < 1:
        raise ValueError("--persons must be 1-4 and --seq-frames >= 1")
    sprites = green_screen_sprites(folder)
    frames = crossing_sequence(sprites, args.persons, args.seq_frames, seed=args.seed)
    runner = RunnerConfig(backend=args.backend or "auto")
    pipeline = PosePipeline.from_config(PipelineConfig(frontend=FrontEndConfig(runner=runner)))
    started = time.perf_counter()
    report = evaluate_tracking(
        frames, lambda f: pipeline.process(RGBDFrame(f.rgb, f.intrinsics, f.depth_mm, f.stamp_ns))
    )
    report.update(
        persons=args.persons,
        seed=args.seed,
        sprites=[s.source for s in sprites[: args.persons]],
        seconds=round(time.perf_counter() - started, 1),
    )
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"tracking: {report['frames']} frames, {args.persons} persons, recall "
            f"{report['recall_visible']:.3f}, precision {report['precision']:.3f}, "
            f"id switches {report['id_switches']}, track ids {report['track_ids_used']}"
        )
    return 0
