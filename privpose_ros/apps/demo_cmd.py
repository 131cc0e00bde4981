"""`privpose demo` (`make demo`): replay + pose_node + recorder in a real ROS 2 graph.

The node runs in its own process, as users run it (`python -m privpose_ros.ros.node` with
--ros-args), with the shipped models (default: the real-world front end, ``--model blazepose``)
and its own default cadence; this process plays the synthetic walking video of
``data/sequence.py`` (640x480 RGB-D, 1-3 people walking, crossing, leaving the view and coming
back; stamped at publish = capture time) once at ``--rate``, records /human_pose and
human_pose/keypoints (every person with their tracking id), matches the published skeletons to
the ground-truth walkers by 3D distance in every answered frame and reports output rate,
capture-stamp-to-receipt latency, persons found against present, MPJPE, id switches and re-id
successes (``_video_metrics`` defines them). No camera, no dataset. ``--stills`` cycles
independent synthetic still scenes instead (detection forced on every frame; the primary
person's MPJPE); ``--bag X.bag`` replays a recorded robot camera (ROS 1 or rosbag2; no ground
truth there: persons found, latency).
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
    parser.add_argument(
        "--frames", type=int, default=300, help="measured frames (the video's length)"
    )
    parser.add_argument("--rate", type=float, default=30.0, help="camera rate (Hz)")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument(
        "--stills",
        action="store_true",
        help="cycle independent synthetic still scenes (detection on every frame) instead of "
        "the walking video",
    )
    parser.add_argument("--people", type=int, default=2, help="walkers in the video (1-3)")
    parser.add_argument(
        "--distinct", type=int, default=32, help="--stills / --bag: frames to cycle"
    )
    parser.add_argument("--seed", type=int, default=7, help="synthetic video / stills seed")
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
    if args.stills and not args.bag:  # independent stills, not video: detect in each
        params["frontend.detect_every_n"] = 1
        # every still comes with its depth: on a loaded machine a big depth message may come
        # late, and the accuracy figure must not turn into an RGB-only one meanwhile
        params["sync.depth_timeout_s"] = 5.0
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
    if not 1 <= args.people <= 3:
        raise ValueError(f"--people must be 1, 2 or 3, got {args.people}")
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
    elif args.stills:
        LOG.info("rendering %d synthetic %dx%d frames", args.distinct, args.width, args.height)
        frames = synthetic_frames(args.distinct, args.seed, args.width, args.height)
    else:
        from privpose_ros.apps.replay import walking_frames

        LOG.info(
            "walking video: %d frames %dx%d, %d people (rendered once, then cached)",
            args.frames,
            args.width,
            args.height,
            args.people,
        )
        frames = walking_frames(
            args.frames, args.seed, args.width, args.height, args.people, args.rate
        )
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
    video = _is_video(args)
    LOG.info("waiting for pose_node (model load) ...")
    with harness:
        clouds = KeypointRecorder(harness.replayer.node) if video else None
        harness.warm_up(frames[0], args.rate)
        LOG.info("measuring %d frames at %.1f Hz", args.frames, args.rate)
        start = time.monotonic()
        sent = {stamp: index for index, stamp in harness.stream(frames, args.frames, args.rate)}
        publish_s = time.monotonic() - start
        harness.settle(sent, timeout_s=2.0)
    recorder = harness.recorder
    summary = _metrics(sent, recorder.outputs, frames)
    if clouds is not None:
        summary.update(_video_metrics(sent, clouds.persons, frames, args.rate))
    summary.update(
        {
            "rate_hz": args.rate,
            "input_rate_hz": round(len(sent) / publish_s, 2),
            "output_rate_hz": round(summary["frames_out"] / publish_s, 2),
            "resolution": f"{args.width}x{args.height}",
            "transport": args.transport,
            "refine": args.refine,
            "model": args.model,
            "source": args.bag or ("synthetic stills" if args.stills else "synthetic video"),
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
    outputs = recorder.outputs
    stamps = [s for s in sent if s in outputs and outputs[s].joints_m.shape == (26, 3)]
    for k, stamp in enumerate(stamps[:: max(1, len(stamps) // max(args.pngs, 1))][: args.pngs]):
        frame = frames[sent[stamp]]
        joints = outputs[stamp].joints_m
        truth_m = _nearest_walker(frame, joints) if video else ground_truth_cam_m(frame)
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
            print(f"{key:>24}: {value}")
    return 0


def _is_video(args: argparse.Namespace) -> bool:
    return not args.stills and not args.bag


def _nearest_walker(frame, joints_m: np.ndarray) -> np.ndarray | None:  # noqa: ANN001
    """The ground truth (J, 3) of the walker in view nearest to ``joints_m`` (for drawing)."""
    ok = np.all(np.isfinite(joints_m), axis=1)
    if not ok.any() or not frame.people_in_view.any():
        return None
    truth = frame.people_joints_cam_m
    distance = np.linalg.norm(truth[:, ok] - joints_m[ok], axis=2).mean(axis=1)
    return truth[int(np.argmin(np.where(frame.people_in_view, distance, np.inf)))]


class KeypointRecorder:
    """Every human_pose/keypoints cloud by its stamp (ns): {person id: joints (J, 3) m, NaN where
    the node published nothing}."""

    def __init__(self, node: Any, num_joints: int = 26) -> None:
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import PointCloud2

        self.num_joints = num_joints
        self.persons: dict[int, dict[int, np.ndarray]] = {}
        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.sub = node.create_subscription(PointCloud2, "human_pose/keypoints", self._on, qos)

    def _on(self, msg: Any) -> None:
        from privpose_ros.ros.cloud import read_keypoints
        from privpose_ros.ros.pose_msgs import stamp_ns_of

        points = read_keypoints(msg)
        persons: dict[int, np.ndarray] = {}
        for pid in np.unique(points["person"]):
            mine = points[points["person"] == pid]
            joints = np.full((self.num_joints, 3), np.nan)
            ok = mine["joint"] < self.num_joints
            joints[mine["joint"][ok]] = np.stack([mine[c][ok] for c in "xyz"], 1)
            persons[int(pid)] = joints
        self.persons[stamp_ns_of(msg.header.stamp)] = persons


MATCH_M = 0.5  # a published skeleton within this mean 3D joint distance is that person
PRESENT_JOINTS = 6  # a walker with this many visible joints is present (should be found)
RECOGNISE_S = 1.0  # a return recognised this soon counts in reid_within_1s
LEAVE_S = 1.0  # out of the image this long: a walker who comes back is returning


def _visits(in_view: np.ndarray, gap_frames: int) -> np.ndarray:
    """(N,) visit number of each frame (-1 out of view) from ``in_view`` (N,) bool; absences
    shorter than ``gap_frames`` do not end a visit."""
    visit = np.full(len(in_view), -1)
    number, last_in = -1, None
    for i in np.flatnonzero(in_view):
        if last_in is None or i - last_in > gap_frames:
            number += 1
        elif i - last_in > 1:
            visit[last_in + 1 : i] = number
        visit[i], last_in = number, i
    return visit


def _match(persons: dict[int, np.ndarray], truth_m: np.ndarray, candidates: np.ndarray):  # noqa: ANN202
    """[(ground-truth index, published id, mean joint distance m)] by a one-to-one assignment
    of least mean 3D distance (over the joints each skeleton published), within MATCH_M."""
    from scipy.optimize import linear_sum_assignment

    ids = list(persons)
    if not ids or not candidates.size:
        return []
    cost = np.full((len(candidates), len(ids)), 1e6)
    for c, g in enumerate(candidates):
        for j, pid in enumerate(ids):
            ok = np.all(np.isfinite(persons[pid]), axis=1)
            if ok.any():
                cost[c, j] = np.linalg.norm(persons[pid][ok] - truth_m[g][ok], axis=1).mean()
    rows, cols = linear_sum_assignment(cost)
    return [
        (int(candidates[r]), ids[c], float(cost[r, c]))
        for r, c in zip(rows, cols, strict=True)
        if cost[r, c] <= MATCH_M
    ]


def _video_metrics(
    sent: dict[int, int],
    persons: dict[int, dict[int, np.ndarray]],
    frames,
    rate_hz: float,  # noqa: ANN001
) -> dict:
    """Figures of the walking video from the keypoint clouds ``persons`` (stamp -> {id: joints})
    of the frames ``sent`` (stamp -> index into ``frames``), in publishing order.

    In every answered frame the published skeletons are matched one-to-one to the walkers in
    the image, occluded or not (``_match``). persons_present: walkers with >= PRESENT_JOINTS
    visible joints, summed over answered frames; persons_found: those matched;
    false_persons: published skeletons matched to nobody. A visit is a stretch in the image
    (absences under LEAVE_S do not end it). id_switches: a walker matched to another id than
    the one they last had in the same visit. returns: visits of a walker matched in an
    earlier visit and again in this one; reid_successes: returns whose first id is the id
    they had before leaving; reid_within_1s: returns that hold that old id within RECOGNISE_S
    of their first match (a returning walker is first seen in part at the edge and may be
    recognised a few frames later: the change counts as an id switch too); false_reids:
    visits whose first id had last been another walker's. mpjpe_mm: mean 3D distance of the
    matched skeletons' published joints.
    """
    order = sorted(sent, key=lambda s: sent[s])
    if not order:
        return {}
    gap = max(1, int(round(LEAVE_S * rate_hz)))
    in_view = np.stack([frames[sent[s]].people_in_view for s in order])  # (N, P)
    visits = np.stack([_visits(in_view[:, g], gap) for g in range(in_view.shape[1])], 1)
    present = found = false_persons = scored = 0
    switches = returns = reids = late_reids = false_reids = 0
    pending: dict[int, tuple[int, int]] = {}  # walker -> (old id, last frame to count it)
    errors, known = [], []
    last_id: dict[int, int] = {}
    last_visit: dict[int, int] = {}
    owner: dict[int, int] = {}
    for n, stamp in enumerate(order):
        if stamp not in persons:
            continue
        scored += 1
        frame = frames[sent[stamp]]
        visible = frame.people_visible.sum(axis=1)
        in_image = np.flatnonzero(frame.people_in_view)  # occluded walkers may be published
        matches = _match(persons[stamp], frame.people_joints_cam_m, in_image)
        matched = {g for g, _, _ in matches}
        is_present = visible >= PRESENT_JOINTS
        present += int(is_present.sum())
        found += sum(1 for g in matched if is_present[g])
        false_persons += len(persons[stamp]) - len(matches)
        for g, pid, distance in matches:
            errors.append(distance * 1000.0)
            known.append(np.all(np.isfinite(persons[stamp][pid]), axis=1).mean())
            when = f"frame {sent[stamp]} ({sent[stamp] / rate_hz:.1f} s): walker {g}"
            if last_visit.get(g) != visits[n, g]:  # the first match of this visit
                if g in last_id:
                    returns += 1
                    reids += int(last_id[g] == pid)
                    late_reids += int(last_id[g] == pid)
                    if last_id[g] != pid:
                        pending[g] = (last_id[g], n + int(round(RECOGNISE_S * rate_hz)))
                    LOG.info("%s back as id %d (had %d)", when, pid, last_id[g])
                if owner.get(pid, g) != g:
                    false_reids += 1
                    LOG.info("%s enters as id %d, last walker %d's", when, pid, owner[pid])
                last_visit[g] = int(visits[n, g])
            elif last_id[g] != pid:
                switches += 1
                LOG.info("%s id switch %d -> %d", when, last_id[g], pid)
            if g in pending and pending[g][0] == pid and n <= pending[g][1]:
                late_reids += 1
                pending.pop(g)
                LOG.info("%s recognised: old id %d again", when, pid)
            last_id[g], owner[pid] = pid, g
    return {
        "frames_scored": scored,
        "persons_present": present,
        "persons_found": found,
        "person_found_rate": round(found / present, 3) if present else None,
        "false_persons": false_persons,
        "mpjpe_mm": round(float(np.mean(errors)), 1) if errors else None,
        "known_joint_fraction": round(float(np.mean(known)), 3) if known else None,
        "id_switches": switches,
        "returns": returns,
        "reid_successes": reids,
        "reid_within_1s": late_reids,
        "false_reids": false_reids,
        "published_ids": len({pid for s in order if s in persons for pid in persons[s]}),
    }
