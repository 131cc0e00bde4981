"""`privpose eval --weights W --data DIR --variant depth|rgb|rgb_hall --json [--plot out.png]`.

Evaluates v2 weights (model.posenet.weights) on the person crops of a dataset directory
(train.posenet_eval_data): one JSON object with the label-box crops at the top level (mpjpe_mm,
pa_mpjpe_mm, map_10cm, per_joint_mm, pck curve, pelvis_error_mm, pelvis_error_pct_of_distance,
n_frames, n_persons, crop_source) and ``frontend_boxes`` (the same keys, crops from the front
end's detections, plus n_matched / n_missed).
`privpose eval --refine ablation|bench [--start noisy_gt|rgb_model]` runs the depth-refinement
ablation (RefiNet-style table per view) or its per-module CPU benchmark instead.
`privpose eval --real DIR [--sets real2d,real3d,rgbd_tue] --json [--plot out.png]` runs the person
pipeline (runtime.pipeline.PosePipeline, ``--backend``) on the real data of ../shared/data
(train.real_eval: OKS recall on real2d, 3D errors on MPI-INF-3DHP, RGB-D checks on rgbd_tue),
with ``--lifter frontend|v2|both`` (default both: the front end's 3D and the v2 model's,
``--v2-weights``, side by side with their differences) and ``--landmark-model full|lite|heavy``
(default: the node's, ``frontend.landmark_model``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from privpose_ros.core.camera import CameraIntrinsics
    from privpose_ros.core.pose import PoseResult
    from privpose_ros.train.posenet_eval_data import DetectFn
    from privpose_ros.train.real_eval import EstimateFn

LOG = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from privpose_ros.runtime.people import LANDMARK_MODELS
    from privpose_ros.train.refine_eval import add_refine_eval_arguments

    parser.add_argument(
        "--weights", type=Path, help="v2 weights (safetensors written by privpose train)"
    )
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
    parser.add_argument(
        "--lifter",
        choices=("frontend", "v2", "both"),
        default="both",
        help="with --real: 3D from the front end, the v2 model, or both side by side",
    )
    parser.add_argument(
        "--v2-weights",
        type=Path,
        default=None,
        help="with --real: v2 weights (default: shipped weights/rgb_hall.safetensors)",
    )
    parser.add_argument(
        "--backend", default=None, help="front-end / pipeline graph backend (default auto)"
    )
    parser.add_argument(
        "--landmark-model",
        choices=LANDMARK_MODELS,
        default=None,
        help="with --real: BlazePose landmark model (default: the node's, full)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--plot",
        default="",
        help="write error curves + per-joint bars (PNG; with --real: one panel per set)",
    )
    parser.add_argument("--max-frames", type=int, default=0, help="evaluate the first N only")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")


def build_real_estimator(
    backend: str | None, v2_weights: Path | None = None, landmark_model: str | None = None
) -> EstimateFn:
    """The person pipeline as an EstimateFn (rgb, intrinsics, depth_mm or None) -> PoseResult:
    the front end's own 3D, or with ``v2_weights`` the v2 model lifting every detected person
    (runtime.lifter). The v2 persons are scored on the v2 model's own 2D: their
    ``joints_px`` (the front end's) are dropped, so the metrics project the v2 3D joints
    (exactly the v2 maps' uv). ``landmark_model``: FrontEndConfig.landmark_model (None: its
    default)."""
    from privpose_ros.core.frame import RGBDFrame
    from privpose_ros.model.residual.net import is_residual_weights
    from privpose_ros.runtime.people import FrontEndConfig
    from privpose_ros.runtime.pipeline import PipelineConfig, PosePipeline
    from privpose_ros.runtime.runner import RunnerConfig

    # independent photos: no tracking or smoothing across them
    runner = RunnerConfig(backend=backend or "auto")
    chosen = {} if landmark_model is None else {"landmark_model": landmark_model}
    frontend = FrontEndConfig(runner=runner, detect_every_n=1, **chosen)
    lifter = None
    if v2_weights is not None:
        from privpose_ros.runtime.lifter import PrivposeLifterConfig

        lifter = PrivposeLifterConfig(weights_path=Path(v2_weights), runner=runner)
    config = PipelineConfig(frontend=frontend, tracking=None, smoothing=None, lifter=lifter)
    pipeline = PosePipeline.from_config(config)
    if lifter is None or is_residual_weights(Path(v2_weights)):
        # the front end's 2D, or the residual model's own (it moves the front end's joints_px)
        return lambda rgb, k, d: pipeline.process(RGBDFrame(rgb, k, d))

    def own_2d(rgb: np.ndarray, k: CameraIntrinsics, d: np.ndarray | None) -> PoseResult:
        result = pipeline.process(RGBDFrame(rgb, k, d))
        persons = tuple(dataclasses.replace(p, joints_px=None) for p in result.persons)
        return dataclasses.replace(result, persons=persons)

    return own_2d


# the headline numbers of a real report, compared between lifters: (section, block)
REAL_HEADLINES = (("real2d", "overall"), ("real3d", "mean"), ("rgbd_tue", "summary"))


def real_deltas(v2: dict[str, Any], frontend: dict[str, Any]) -> dict[str, Any]:
    """v2 minus front end of every number both reports give in the REAL_HEADLINES blocks."""
    out: dict[str, Any] = {}
    for section, block in REAL_HEADLINES:
        a = v2.get(section, {}).get(block, {})
        b = frontend.get(section, {}).get(block, {})
        deltas = {
            key: round(float(a[key]) - float(b[key]), 4)
            for key in a
            if isinstance(a[key], (int, float)) and isinstance(b.get(key), (int, float))
        }
        if deltas:
            out[section] = deltas
    return out


def run_real(args: argparse.Namespace) -> int:
    """`privpose eval --real DIR [--lifter frontend|v2|both]`: one JSON object (or a summary
    line per section and lifter). ``both``: {"frontend": ..., "v2": ..., "v2_minus_frontend"}."""
    from privpose_ros.runtime.people import FrontEndConfig
    from privpose_ros.train.real_eval import RealEvalConfig, evaluate_real

    sections = tuple(s.strip() for s in args.sets.split(",") if s.strip())
    if args.max_frames < 0:
        raise ValueError("--max-frames must be >= 0")
    config = RealEvalConfig(max_images=args.max_frames)
    if not Path(args.real).is_dir():
        raise FileNotFoundError(f"--real {args.real} is not a folder (e.g. ../shared/data)")
    lifters = ("frontend", "v2") if args.lifter == "both" else (args.lifter,)
    reports: dict[str, dict[str, Any]] = {}
    # only a chosen landmark model is passed on (None: the front end's default)
    chosen = {} if args.landmark_model is None else {"landmark_model": args.landmark_model}
    for lifter in lifters:
        if lifter == "frontend":
            estimate = build_real_estimator(args.backend, **chosen)
        else:
            estimate = build_real_estimator(
                args.backend, args.v2_weights or _shipped_v2(), **chosen
            )
        report = evaluate_real(args.real, estimate, sections, config)
        report["landmark_model"] = args.landmark_model or FrontEndConfig.landmark_model
        if lifter == "v2":
            report["v2_weights"] = str(args.v2_weights or _shipped_v2())
        if args.plot:
            from privpose_ros.train.real_plots import plot_real_report

            path = Path(args.plot)
            if len(lifters) > 1 and lifter == "v2":
                path = path.with_name(f"{path.stem}.v2{path.suffix}")
            report["plot"] = str(plot_real_report(report, path))
        reports[lifter] = report
    if len(lifters) == 1:
        out = reports[lifters[0]]
    else:
        out = {**reports, "v2_minus_frontend": real_deltas(reports["v2"], reports["frontend"])}
    if args.json:
        print(json.dumps(out))
        return 0
    for lifter, report in reports.items():
        for line in _real_summary(report):
            print(f"{lifter}: {line}" if len(lifters) > 1 else line)
    return 0


def _shipped_v2() -> Path:
    from privpose_ros.runtime.lifter import SHIPPED_WEIGHTS

    return SHIPPED_WEIGHTS


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
        from privpose_ros.apps.track_eval_cmd import run_tracking

        return run_tracking(args)
    import torch

    if args.refine:
        from privpose_ros.train.refine_eval import run_refine_eval

        return run_refine_eval(args)
    if not (args.weights and args.data and args.variant):
        raise ValueError(
            "--weights, --data and --variant are required (unless --refine or --real)"
        )
    if args.batch_size < 1 or args.max_frames < 0:
        raise ValueError("--batch-size must be >= 1 and --max-frames >= 0")
    torch.set_num_threads(args.threads)
    metrics = run_posenet_eval(args)
    if args.plot:
        from privpose_ros.train.plots import plot_metrics

        if "skipped" not in metrics:
            plot_metrics(metrics, args.plot, title=f"{args.variant}: {args.weights}")
    if args.json:
        print(json.dumps(metrics))
        return 0
    for section in (metrics, metrics.get("frontend_boxes")):
        if section:
            print(_v2_summary(args.variant, section))
    return 0


def build_frontend_detector(backend: str | None) -> DetectFn:
    """The front end's person boxes (x0, y0, x1, y1) pixels on one RGB frame (independent
    frames: detect_every_n = 1)."""
    import numpy as np

    from privpose_ros.core.frame import RGBDFrame
    from privpose_ros.runtime.people import FrontEndConfig, PeopleEstimator
    from privpose_ros.runtime.runner import RunnerConfig

    runner = RunnerConfig(backend=backend or "auto")
    estimator = PeopleEstimator(FrontEndConfig(runner=runner, detect_every_n=1))

    def detect(rgb: np.ndarray, intrinsics: CameraIntrinsics) -> np.ndarray:
        persons = estimator.find_persons(RGBDFrame(rgb, intrinsics))
        boxes = [p.box_px for p in persons if p.box_px is not None]
        return np.asarray(boxes, np.float64).reshape(-1, 4)

    return detect


def run_posenet_eval(args: argparse.Namespace) -> dict[str, Any]:
    """`privpose eval --weights W --data DIR --variant V`: the v2 model on the person crops of
    the dataset, from label boxes (top level) and front-end boxes (``frontend_boxes``)."""
    from privpose_ros.train.posenet_eval_data import (
        evaluate_posenet_dataset,
        load_posenet_variant,
        read_blocks,
    )

    net = load_posenet_variant(args.weights, args.variant)
    blocks = read_blocks(args.data, args.max_frames)
    detect = build_frontend_detector(args.backend)
    report: dict[str, Any] = {
        "weights": str(args.weights),
        "variant": args.variant,
        "data": str(args.data),
    }
    report.update(evaluate_posenet_dataset(net, blocks, detect, args.batch_size))
    return report


def _v2_summary(variant: str, m: dict[str, Any]) -> str:
    head = f"{variant} ({m['crop_source']}) on {m['n_frames']} frames, {m['n_persons']} persons"
    if "n_matched" in m:
        head += f" ({m['n_matched']} matched, {m['n_missed']} missed)"
    if "skipped" in m:
        return f"{head}: {m['skipped']}"
    return (
        f"{head}: MPJPE {m['mpjpe_mm']:.1f} mm, PA-MPJPE {m['pa_mpjpe_mm']:.1f} mm, "
        f"mAP@10cm {m['map_10cm']:.3f}, pelvis {m['pelvis_error_mm']:.1f} mm "
        f"({m['pelvis_error_pct_of_distance']:.1f} % of distance)"
    )
