"""Evaluate the depth refiners on held-out synthetic frames: the RefiNet-style ablation table
and the per-module CPU time per person.

`privpose eval --refine ablation [--start noisy_gt|rgb_model] [--views side,top] [--json]`
(``rgb_model``: the v2 RGB model on label-box crops, ``--weights`` default the shipped
weights/rgb_hall.safetensors),
`privpose eval --refine bench --json` (eval_cmd dispatches to :func:`run_refine_eval`).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from privpose_ros.core.paths import WEIGHTS_DIR
from privpose_ros.core.pose import PersonPose, PoseResult
from privpose_ros.data.synth import SynthBatch
from privpose_ros.refine.dataset import RefineFrames, lift_all, noisy_3d, noisy_px
from privpose_ros.refine.pipeline import RefineConfig, RefinementPipeline
from privpose_ros.train.metrics import pose_metrics
from privpose_ros.train.refine_train import CHUNK, generate_frames

LOG = logging.getLogger(__name__)
SHIPPED_POSENET_WEIGHTS = WEIGHTS_DIR / "rgb_hall.safetensors"
TEST_STREAM = 3000  # generator seed of the held-out frames (training 1000+, validation 2000+)

# rows starting from 2D joints (lifted with depth) and from the model's own 3D joints
ROWS_2D: tuple[tuple[str, RefineConfig], ...] = (
    ("baseline lifting", RefineConfig(skeleton_b=False)),
    ("+A", RefineConfig(patch_a=True, skeleton_b=False)),
    ("+B", RefineConfig()),
    ("+C", RefineConfig(skeleton_b=False, pointcloud_c=True)),
    ("+A+B", RefineConfig(patch_a=True)),
    ("+A+B+C", RefineConfig(patch_a=True, pointcloud_c=True)),
)
ROWS_3D: tuple[tuple[str, RefineConfig], ...] = (
    ("3D start (no depth)", RefineConfig(lifting=False, skeleton_b=False)),
    ("+B", RefineConfig(lifting=False)),
    ("+C", RefineConfig(lifting=False, skeleton_b=False, pointcloud_c=True)),
    ("+B+C", RefineConfig(lifting=False, pointcloud_c=True)),
)


@dataclass(frozen=True)
class Start:
    """Starting points for every frame: 2D joints (N, J, 2) px, 3D joints (N, J, 3) m and
    confidence (N, J), from noisy ground truth or from the v2 RGB model."""

    name: str
    joints_px: np.ndarray
    joints_cam_m: np.ndarray
    confidence: np.ndarray


def noisy_gt_start(frames: RefineFrames, sigma_px: float, sigma_m: float, seed: int) -> Start:
    """Ground truth with Gaussian noise: ``sigma_px`` on 2D joints, ``sigma_m`` on 3D joints."""
    rng = np.random.default_rng(seed)
    px, cam = noisy_px(frames, sigma_px, rng), noisy_3d(frames, sigma_m, rng)
    return Start(
        f"noisy GT ({sigma_px:g} px / {sigma_m * 1e3:g} mm)", px, cam, np.ones(px.shape[:2])
    )


def held_out_batch(view: str, count: int, seed: int = TEST_STREAM) -> SynthBatch:
    """Frames 0 .. ``count`` of stream ``seed`` (320x240, ``view``) with every label: the same
    frames as refine_train.generate_frames (rendered in its CHUNK-frame calls)."""
    from privpose_ros.data.synth import SynthConfig, SyntheticGenerator

    generator = SyntheticGenerator(SynthConfig(width=320, height=240, view=view))
    parts = [generator.batch(min(CHUNK, count - s), seed, s) for s in range(0, count, CHUNK)]
    return SynthBatch.concat(parts)


def frames_of_batch(batch: SynthBatch) -> RefineFrames:
    """The primary person's labels of ``batch`` as RefineFrames (what generate_frames gives)."""
    return RefineFrames(
        depth_mm=np.asarray(batch.depth_mm, dtype=np.uint16),
        joints_cam_m=np.asarray(batch.joints_cam_m, dtype=np.float64),
        joints_px=np.asarray(batch.joints_px, dtype=np.float64),
        visible=np.asarray(batch.visible, dtype=bool),
        intrinsics=tuple(batch.intrinsics(i) for i in range(len(batch))),
    )


def _primary_box_px(batch: SynthBatch, i: int) -> np.ndarray | None:
    """The primary person's label box (x0, y0, x1, y1) px, or (nothing of it visible) the box
    of its projected label joints; None for a frame with nobody."""
    box = np.asarray(batch.people_boxes_px[i, 0], np.float64)
    if batch.people_visible[i, 0].any() and np.isfinite(box).all():
        return box
    px = np.asarray(batch.joints_px[i], np.float64)
    if not np.isfinite(px).all():
        return None
    return np.concatenate([px.min(0), px.max(0) + 1.0])


def rgb_model_start(batch: SynthBatch, weights: Path) -> Start:
    """The v2 RGB model's 3D joints and confidence for every frame's primary person (slot 0),
    cropped from its label box; 2D joints are the 3D joints projected with the frame's K.
    A frame with nobody starts at the origin with confidence 0 (its labels are not scored)."""
    from privpose_ros.data.person_crops import person_crop, stack_person_crops
    from privpose_ros.model.posenet.weights import load_posenet_weights
    from privpose_ros.train.posenet_eval import predict_posenet

    net = load_posenet_weights(weights)  # the RGB model: a depth teacher file fails here
    n, n_j = len(batch), net.config.n_joints
    cam, conf = np.zeros((n, n_j, 3)), np.zeros((n, n_j))
    boxes = {i: _primary_box_px(batch, i) for i in range(n)}
    index = [i for i, box in boxes.items() if box is not None]
    crops = [person_crop(batch, i, 0, boxes[i], net.config.crop_px) for i in index]
    if index:
        joints, confidence = predict_posenet(net, stack_person_crops(crops, net.config.crop_px))
        cam[index], conf[index] = joints, confidence
    k = np.asarray(batch.k, np.float64)
    z = np.maximum(cam[..., 2], 1e-6)
    u = k[:, None, 0, 0] * cam[..., 0] / z + k[:, None, 0, 2]
    v = k[:, None, 1, 1] * cam[..., 1] / z + k[:, None, 1, 2]
    return Start(f"v2 RGB model ({Path(weights).name})", np.stack([u, v], -1), cam, conf)


def refine_frames(
    pipeline: RefinementPipeline, frames: RefineFrames, start: Start, use_px: bool
) -> np.ndarray:
    """Run ``pipeline`` on every frame's single person; (N, J, 3) metres."""
    out = np.empty(frames.joints_cam_m.shape)
    for i in range(len(frames)):
        person = PersonPose(
            start.joints_cam_m[i],
            start.confidence[i],
            joints_px=start.joints_px[i] if use_px else None,
        )
        result = pipeline.refine(PoseResult((person,)), frames.depth_mm[i], frames.intrinsics[i])
        out[i] = result.persons[0].joints_cam_m
    return out


def ablation(
    frames: RefineFrames, start: Start, weights_dir: Path | None = None
) -> list[dict[str, Any]]:
    """mAP@10cm and mean error of every row of ROWS_2D (from 2D joints) and ROWS_3D."""
    rows = []
    for group, table, use_px in (("2D", ROWS_2D, True), ("3D", ROWS_3D, False)):
        for name, config in table:
            pipeline = RefinementPipeline(replace(config, weights_dir=weights_dir))
            pred = refine_frames(pipeline, frames, start, use_px)
            metrics = pose_metrics(pred, frames.joints_cam_m)
            rows.append(
                {
                    "start": group,
                    "row": name,
                    "map_10cm": round(metrics["map_10cm"], 4),
                    "mean_error_cm": round(metrics["mpjpe_mm"] / 10.0, 2),
                }
            )
    return rows


def benchmark(frames: RefineFrames, weights_dir: Path | None, repeats: int = 50) -> dict[str, Any]:
    """Median CPU (process) and wall time per person (ms, 1 torch thread) of lifting and of
    modules A, B, C alone; CPU time is the figure that survives a busy machine."""
    from privpose_ros.refine.patches import refine_joints_px
    from privpose_ros.refine.pointcloud import refine_with_points
    from privpose_ros.refine.skeleton import refine_skeletons

    torch.set_num_threads(1)
    full = RefinementPipeline(
        RefineConfig(patch_a=True, pointcloud_c=True, weights_dir=weights_dir)
    )
    lifted, conf = lift_all(frames, frames.joints_px)
    steps = {
        "lifting": lambda i: lift_all(_one(frames, i), frames.joints_px[i : i + 1]),
        "A": lambda i: refine_joints_px(
            full.patch_net, frames.joints_px[i : i + 1], frames.depth_mm[i]
        ),
        "B": lambda i: refine_skeletons(full.skeleton_net, lifted[i : i + 1], conf[i : i + 1]),
        "C": lambda i: refine_with_points(
            full.points_net, lifted[i : i + 1], frames.depth_mm[i], frames.intrinsics[i]
        ),
    }
    out: dict[str, Any] = {"threads": 1, "repeats": repeats, "unit": "ms per person"}
    for name, step in steps.items():
        step(0)  # warm-up
        cpu, wall = [], []
        for r in range(repeats):
            c0, w0 = time.process_time(), time.perf_counter()
            step(r % len(frames))
            cpu.append((time.process_time() - c0) * 1e3)
            wall.append((time.perf_counter() - w0) * 1e3)
        out[name] = {
            "cpu_ms": round(float(np.median(cpu)), 3),
            "wall_ms": round(float(np.median(wall)), 3),
        }
    out["params"] = {
        "A": sum(p.numel() for p in full.patch_net.parameters()),
        "B": sum(p.numel() for p in full.skeleton_net.parameters()),
        "C": sum(p.numel() for p in full.points_net.parameters()),
    }
    return out


def _one(frames: RefineFrames, i: int) -> RefineFrames:
    return RefineFrames(
        frames.depth_mm[i : i + 1],
        frames.joints_cam_m[i : i + 1],
        frames.joints_px[i : i + 1],
        frames.visible[i : i + 1],
        frames.intrinsics[i : i + 1],
    )


def markdown_table(view: str, start: str, rows: list[dict[str, Any]]) -> str:
    """The ablation rows of one view as a Markdown table."""
    lines = [
        f"{view} view, start: {start}",
        "",
        "| start | row | mAP@10cm | mean error (cm) |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['start']} | {r['row']} | {r['map_10cm']:.3f} | {r['mean_error_cm']:.2f} |"
        for r in rows
    ]
    return "\n".join(lines)


def add_refine_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `privpose eval --refine ablation|bench` beyond the shared --weights, --json."""
    parser.add_argument("--start", choices=("noisy_gt", "rgb_model"), default="noisy_gt")
    parser.add_argument("--views", default="side,top", help="refine: comma-separated side, top")
    parser.add_argument("--frames", type=int, default=200, help="refine: frames per view")
    parser.add_argument("--weights-dir", type=Path, help="refiner weights (default: shipped)")
    parser.add_argument("--sigma-px", type=float, default=5.0, help="refine: 2D start noise")
    parser.add_argument("--sigma-mm", type=float, default=50.0, help="refine: 3D start noise")


def run_refine_eval(args: argparse.Namespace) -> int:
    """Run the ablation or the benchmark and print it (Markdown, or JSON with --json)."""
    views = [v.strip() for v in args.views.split(",") if v.strip()]
    report: dict[str, Any] = {"frames_per_view": args.frames, "test_stream": TEST_STREAM}
    for view in views:
        if args.refine == "bench":
            frames, _ = generate_frames(view, args.frames, TEST_STREAM)
            report[view] = benchmark(frames, args.weights_dir)
            continue
        if args.start == "rgb_model":
            batch = held_out_batch(view, args.frames)
            frames = frames_of_batch(batch)
            start = rgb_model_start(batch, args.weights or SHIPPED_POSENET_WEIGHTS)
        else:
            frames, _ = generate_frames(view, args.frames, TEST_STREAM)
            start = noisy_gt_start(frames, args.sigma_px, args.sigma_mm / 1e3, seed=7)
        rows = ablation(frames, start, args.weights_dir)
        report[view] = {"start": start.name, "rows": rows}
        if not args.json:
            print(markdown_table(view, start.name, rows) + "\n")
    if args.json or args.refine == "bench":
        print(json.dumps(report))
    return 0
