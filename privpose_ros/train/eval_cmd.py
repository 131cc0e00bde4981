"""`privpose eval --weights W --data DIR --variant depth|rgb|rgb_hall --json [--plot out.png]`.

Prints one JSON object (mpjpe_mm, pa_mpjpe_mm, map_10cm, n_frames, per_joint_mm, pck curve).
`privpose eval --refine ablation|bench [--start noisy_gt|rgb_model]` runs the depth-refinement
ablation (RefiNet-style table per view) or its per-module CPU benchmark instead.
`privpose eval --real DIR [--sets real2d,real3d,rgbd_tue] --json [--plot out.png]` runs the person
pipeline (runtime.pipeline.PosePipeline, ``--backend``) on the real data of ../shared/data
(train.real_eval: OKS recall on real2d, 3D errors on MPI-INF-3DHP, RGB-D checks on rgbd_tue).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from privpose_ros.train.real_eval import EstimateFn

LOG = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from privpose_ros.train.refine_eval import add_refine_eval_arguments

    parser.add_argument("--weights", type=Path, help="safetensors written by privpose train")
    parser.add_argument("--data", help="dataset dir (data.dataset.write_dataset)")
    parser.add_argument("--variant", choices=("depth", "rgb", "rgb_hall"))
    parser.add_argument(
        "--refine", choices=("ablation", "bench"), help="depth-refinement ablation / benchmark"
    )
    add_refine_eval_arguments(parser)
    parser.add_argument(
        "--real", type=Path, help="real data root (../shared/data) or one of its sub-folders"
    )
    parser.add_argument(
        "--sets", default="real2d,real3d,rgbd_tue", help="with --real: comma-separated sections"
    )
    parser.add_argument(
        "--tracking",
        type=Path,
        help="real data root: track real people crossing each other (ids, recall)",
    )
    parser.add_argument("--persons", type=int, default=3, help="with --tracking: people (1-4)")
    parser.add_argument("--seq-frames", type=int, default=300, help="with --tracking: frames")
    parser.add_argument("--seed", type=int, default=0, help="with --tracking: walk seed")
    parser.add_argument("--backend", default=None, help="with --real: pipeline backend (auto)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--plot",
        default="",
        help="write error curves + per-joint bars (PNG; with --real: one panel per set)",
    )
    parser.add_argument("--max-frames", type=int, default=0, help="evaluate the first N only")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")


def build_real_estimator(backend: str | None) -> EstimateFn:
    """The person pipeline as an EstimateFn (rgb, intrinsics, depth_mm or None) -> PoseResult."""
    from privpose_ros.runtime.people import FrontEndConfig
    from privpose_ros.runtime.pipeline import PipelineConfig, PosePipeline

    # independent photos: no tracking or smoothing across them
    frontend = FrontEndConfig(backend=backend or "auto", detect_every_n=1)
    config = PipelineConfig(frontend=frontend, tracking=None, smoothing=None)
    pipeline = PosePipeline(config)
    return lambda rgb, k, d: pipeline.process(rgb, k, depth_mm=d)


def run_real(args: argparse.Namespace) -> int:
    """`privpose eval --real DIR`: one JSON object (or a summary line per section)."""
    from privpose_ros.train.real_eval import RealEvalConfig, evaluate_real

    sections = tuple(s.strip() for s in args.sets.split(",") if s.strip())
    if args.max_frames < 0:
        raise ValueError("--max-frames must be >= 0")
    config = RealEvalConfig(max_images=args.max_frames)
    if not Path(args.real).is_dir():
        raise FileNotFoundError(f"--real {args.real} is not a folder (e.g. ../shared/data)")
    report = evaluate_real(args.real, build_real_estimator(args.backend), sections, config)
    if args.plot:
        from privpose_ros.train.real_plots import plot_real_report

        report["plot"] = str(plot_real_report(report, args.plot))
    if args.json:
        print(json.dumps(report))
        return 0
    for line in _real_summary(report):
        print(line)
    return 0


def _real_summary(report: dict) -> list[str]:
    lines = []
    if "per_set" in report.get("real2d", {}):
        o = report["real2d"]["overall"]
        lines.append(
            f"real2d: {o['n_gt_persons']} persons, recall@OKS{report['real2d']['oks_threshold']}"
            f" {o['recall_at_oks']}, mean OKS {o['mean_oks']}"
        )
    if "mean" in report.get("real3d", {}):
        m = report["real3d"]["mean"]
        lines.append(
            f"real3d: 2D {m['error_2d_px']} px, MPJPE {m['mpjpe_rel_mm']} mm, "
            f"pelvis {m['pelvis_error_mm']} mm ({m['pelvis_error_pct']} %)"
        )
    if "summary" in report.get("rgbd_tue", {}):
        t = report["rgbd_tue"]["summary"]
        lines.append(
            f"rgbd_tue: standing person found {t['standing_found_rate']}, bones in range "
            f"{t['bones_in_range_fraction']}, behind surface {t['behind_surface_fraction']}"
        )
    return lines


def run(args: argparse.Namespace) -> int:
    if getattr(args, "real", None):
        return run_real(args)
    if getattr(args, "tracking", None):
        from privpose_ros.train.track_eval_cmd import run_tracking

        return run_tracking(args)
    import torch

    if args.refine:
        from privpose_ros.train.refine_eval import run_refine_eval

        return run_refine_eval(args)
    if not (args.weights and args.data and args.variant):
        raise ValueError(
            "--weights, --data and --variant are required (unless --refine or --real)"
        )
    from privpose_ros.train.data_io import load_frames
    from privpose_ros.train.evaluate import evaluate, load_model

    if args.batch_size < 1 or args.max_frames < 0:
        raise ValueError("--batch-size must be >= 1 and --max-frames >= 0")
    torch.set_num_threads(args.threads)
    model = load_model(args.weights, args.variant)
    frames = load_frames(args.data, model.config.input_hw, args.max_frames)
    metrics = {"weights": str(args.weights), "variant": args.variant, "data": str(args.data)}
    metrics.update(evaluate(model, frames, args.batch_size))
    if args.plot:
        from privpose_ros.train.plots import plot_metrics

        plot_metrics(metrics, args.plot, title=f"{args.variant}: {args.weights}")
    if args.json:
        print(json.dumps(metrics))
    else:
        print(
            f"{args.variant} on {metrics['n_frames']} frames: MPJPE {metrics['mpjpe_mm']:.1f} mm,"
            f" PA-MPJPE {metrics['pa_mpjpe_mm']:.1f} mm, mAP@10cm {metrics['map_10cm']:.3f}"
        )
    return 0
