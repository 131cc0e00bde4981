"""`privpose eval --weights W --data DIR --variant depth|rgb|rgb_hall --json [--plot out.png]`.

Prints one JSON object (mpjpe_mm, pa_mpjpe_mm, map_10cm, n_frames, per_joint_mm, pck curve).
`privpose eval --refine ablation|bench [--start noisy_gt|rgb_model]` runs the depth-refinement
ablation (RefiNet-style table per view) or its per-module CPU benchmark instead.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

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
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--plot", default="", help="write error curves + per-joint bars (PNG)")
    parser.add_argument("--max-frames", type=int, default=0, help="evaluate the first N only")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")


def run(args: argparse.Namespace) -> int:
    import torch

    if args.refine:
        from privpose_ros.train.refine_eval import run_refine_eval

        return run_refine_eval(args)
    if not (args.weights and args.data and args.variant):
        raise ValueError("--weights, --data and --variant are required (unless --refine)")
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
