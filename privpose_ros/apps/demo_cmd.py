"""`privpose demo` (`make demo`): replay + pose_node + recorder in a real ROS 2 graph.

The node runs in its own process, as users run it (`python -m privpose_ros.ros.node` with
--ros-args), with the shipped models (default: the real-world front end, ``--model blazepose``);
this process replays synthetic 640x480 RGB-D frames at a fixed rate (stamped at publish =
capture time), records /human_pose, compares it with the generator's ground truth and measures
capture-stamp-to-receipt latency. No camera, no dataset. ``--bag X.bag`` replays a recorded
robot camera instead (ROS 1 or rosbag2; no ground truth there: persons found, latency).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from privpose_ros.apps.graph_harness import (
    GraphHarness,
    PoseOutput,
    latencies_ms,
    node_command,
    percentile_ms,
)
from privpose_ros.core.errors import MissingDependencyError, optional_import
from privpose_ros.core.frame import ground_truth_cam_m
from privpose_ros.ros.launch_args import REFINE, refine_parameters

LOG = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=300, help="measured frames")
    parser.add_argument("--rate", type=float, default=30.0, help="camera rate (Hz)")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--distinct", type=int, default=32, help="synthetic frames to cycle")
    parser.add_argument("--seed", type=int, default=7, help="synthetic stream seed")
    parser.add_argument("--backend", default="auto", help="auto, tensorrt, onnxruntime, torch")
    parser.add_argument("--refine", choices=sorted(REFINE), default="b", help="depth refinement")
    parser.add_argument(
        "--model",
        choices=("blazepose", "privpose"),
        default="blazepose",
        help="blazepose: the front end's monocular 3D; privpose: the v2 RGB model lifting every "
        "front-end person",
    )
    parser.add_argument("--bag", default="", help="replay this ROS 1 / rosbag2 instead")
    parser.add_argument("--slop-s", type=float, default=0.5, help="bag colour-depth pairing (s)")
    parser.add_argument(
        "--weights", default="", help="--model privpose: v2 weights (default: shipped rgb_hall)"
    )
    parser.add_argument("--refine-weights", default="", help="refiner weights folder")
    parser.add_argument(
        "--confidence-threshold",
        type=float,
        default=None,
        help="the node's confidence_threshold (default: its own); 0 publishes every joint",
    )
    parser.add_argument("--threads", type=int, default=0, help="inference threads (0 = default)")
    parser.add_argument("--out", default="out/demo", help="folder for PNG frames and node.log")
    parser.add_argument("--pngs", type=int, default=4, help="frames drawn to PNG")
    parser.add_argument("--startup-timeout", type=float, default=180.0, help="seconds")
    parser.add_argument(
        "--qos", choices=("sensor_data", "reliable"), default="reliable", help="input QoS"
    )
    parser.add_argument(
        "--transport",
        choices=("shm", "default"),
        default="shm",
        help="shm: Fast DDS shared memory for the images (unless FASTDDS_DEFAULT_PROFILES_FILE "
        "is set); default: the middleware's own setting",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _node_parameters(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {
        "model": args.model,
        "backend": args.backend,
        "weights_path": args.weights or "''",
        "threads": args.threads,
        **refine_parameters(args.refine),
        "refine.weights_dir": args.refine_weights or "''",
        "skeleton.joint_set": "canonical",
        "diagnostics.period_s": 0.5,
        "qos.rgb": args.qos,
        "qos.depth": args.qos,
        "qos.camera_info": args.qos,
    }
    if args.confidence_threshold is not None:
        params["confidence_threshold"] = args.confidence_threshold
    if not args.bag:  # the synthetic scenes are independent stills, not video: detect in each
        params["frontend.detect_every_n"] = 1
    return params


def _node_command(args: argparse.Namespace) -> list[str]:
    return node_command(_node_parameters(args))


def _metrics(sent: dict[int, int], outputs: dict[int, PoseOutput], frames) -> dict:  # noqa: ANN001
    """Figures of the frames ``sent`` (stamp -> index into ``frames``) against ``outputs``."""
    latencies = latencies_ms(list(sent), outputs)
    errors, known, found = [], [], []
    for stamp, index in sent.items():
        if stamp not in outputs:
            continue
        joints = outputs[stamp].joints_m
        found.append(joints.shape == (26, 3))
        if joints.shape == (26, 3):
            ok = np.all(np.isfinite(joints), axis=1)
            known.append(ok.mean())
            truth_m = ground_truth_cam_m(frames[index])
            if ok.any() and truth_m is not None:
                diff = joints[ok] - truth_m[ok]
                errors.append(float(np.linalg.norm(diff, axis=1).mean() * 1000.0))
    out = len(latencies)
    return {
        "frames_in": len(sent),
        "frames_out": out,
        "dropped": len(sent) - out,
        "person_found_rate": round(float(np.mean(found)), 3) if found else None,
        "mpjpe_mm": round(float(np.mean(errors)), 1) if errors else None,
        "latency_ms_p50": percentile_ms(latencies, 50),
        "latency_ms_p95": percentile_ms(latencies, 95),
        "latency_ms_max": round(max(latencies), 2) if latencies else None,
        "known_joint_fraction": round(float(np.mean(known)), 3) if known else None,
    }


def run(args: argparse.Namespace) -> int:
    if args.frames < 1 or args.rate <= 0 or args.distinct < 1:
        raise ValueError("--frames and --distinct must be >= 1 and --rate > 0")
    try:
        optional_import("rclpy", "source a ROS 2 install or run `make setup`")
    except MissingDependencyError as exc:
        raise RuntimeError(str(exc)) from exc
    from privpose_ros.apps.replay import synthetic_frames

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.bag:
        from privpose_ros.apps.replay import bag_frames

        frames = list(bag_frames(args.bag, args.distinct, slop_s=args.slop_s))
        if not frames:
            raise ValueError(f"{args.bag} gave no synchronised RGB-D frame; try a larger --slop-s")
        args.width, args.height = frames[0].intrinsics.width, frames[0].intrinsics.height
    else:
        LOG.info("rendering %d synthetic %dx%d frames", args.distinct, args.width, args.height)
        frames = synthetic_frames(args.distinct, args.seed, args.width, args.height)
    profile = None
    if args.transport == "shm" and not os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE"):
        from privpose_ros.apps.delivery import shm_profile_path  # config/fastdds_shm.xml

        profile = shm_profile_path()  # Fast DDS over UDP loopback loses fragments of MB frames
    return _run_graph(args, frames, out_dir, profile)


def _run_graph(args: argparse.Namespace, frames: list, out_dir: Path, profile: Path | None) -> int:
    """Node process + replay + recorder; prints the summary."""
    from privpose_ros.apps.draw import write_overlay
    from privpose_ros.core.joints import CANONICAL

    domain = os.environ.get("ROS_DOMAIN_ID")
    harness = GraphHarness(
        _node_parameters(args),
        out_dir / "node.log",
        name="privpose_demo",
        domain_id=int(domain) if domain else None,
        fastdds_profile=profile,
        startup_timeout_s=args.startup_timeout,
    )
    LOG.info("waiting for pose_node (model load) ...")
    with harness:
        harness.warm_up(frames[0], args.rate)
        LOG.info("measuring %d frames at %.1f Hz", args.frames, args.rate)
        start = time.monotonic()
        sent = {stamp: index for index, stamp in harness.stream(frames, args.frames, args.rate)}
        publish_s = time.monotonic() - start
        harness.settle(sent, timeout_s=2.0)
    recorder = harness.recorder
    summary = _metrics(sent, recorder.outputs, frames)
    summary.update(
        {
            "rate_hz": args.rate,
            "input_rate_hz": round(len(sent) / publish_s, 2),
            "output_rate_hz": round(summary["frames_out"] / publish_s, 2),
            "resolution": f"{args.width}x{args.height}",
            "transport": args.transport,
            "refine": args.refine,
            "model": args.model,
            "source": args.bag or "synthetic",
            "backend": recorder.diagnostics.get("backend"),
            "node_latency_ms_p50": recorder.diagnostics.get("latency_ms_p50"),
            "node_latency_ms_p95": recorder.diagnostics.get("latency_ms_p95"),
            "node_processing_ms_p50": recorder.diagnostics.get("processing_ms_p50"),
            "node_input_delay_ms_p50": recorder.diagnostics.get("input_delay_ms_p50"),
            "node_input_delay_ms_p95": recorder.diagnostics.get("input_delay_ms_p95"),
            "node_dropped": recorder.diagnostics.get("dropped"),
            "node_skipped": {
                k.split(".", 1)[1]: v
                for k, v in recorder.diagnostics.items()
                if k.startswith("skipped.")
            },
            "out_dir": str(out_dir),
        }
    )
    stamps = [s for s in sent if s in recorder.outputs]
    for k, stamp in enumerate(stamps[:: max(1, len(stamps) // max(args.pngs, 1))][: args.pngs]):
        frame = frames[sent[stamp]]
        joints = recorder.outputs[stamp].joints_m
        truth_m = ground_truth_cam_m(frame)
        if joints.shape == (26, 3):
            write_overlay(
                out_dir / f"frame_{k:02d}.png",
                frame.rgb,
                frame.intrinsics,
                CANONICAL,
                joints,
                truth_m,
                caption="green: /human_pose"
                + ("  orange: ground truth" if truth_m is not None else ""),
            )
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key:>22}: {value}")
    return 0
