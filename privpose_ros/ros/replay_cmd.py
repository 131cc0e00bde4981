"""`privpose replay`: publish synthetic frames, a privpose dataset or a rosbag2 recording as a
camera (rgb/image_rect_color, rgb/camera_info, depth_registered/image_rect) at a chosen rate."""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import time

from privpose_ros.core.errors import MissingDependencyError, optional_import

LOG = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--dataset", help="privpose dataset folder (`privpose synth` output)")
    source.add_argument("--bag", help="rosbag2 folder with rgb, depth and camera_info")
    parser.add_argument("--frames", type=int, default=300, help="frames to publish (0 = all)")
    parser.add_argument("--rate", type=float, default=30.0, help="publish rate (Hz)")
    parser.add_argument("--loop", action="store_true", help="repeat the source forever")
    parser.add_argument("--width", type=int, default=640, help="synthetic image width (px)")
    parser.add_argument("--height", type=int, default=480, help="synthetic image height (px)")
    parser.add_argument("--camera", default="kinect_v2", help="synthetic camera model")
    parser.add_argument("--distinct", type=int, default=32, help="synthetic frames to render")
    parser.add_argument("--seed", type=int, default=0, help="synthetic stream seed")
    parser.add_argument("--depth-encoding", choices=("16UC1", "32FC1"), default="16UC1")
    parser.add_argument("--frame-id", default="privpose_camera_color_optical_frame")
    parser.add_argument("--namespace", default="", help="camera namespace, e.g. /camera")
    parser.add_argument(
        "--wait-subscriber", type=float, default=0.0, help="seconds to wait for a subscriber"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON summary")


def _frames(args: argparse.Namespace):  # noqa: ANN202 - an iterator of ReplayFrame
    from privpose_ros.ros import replay

    if args.dataset:
        return replay.dataset_frames(args.dataset, 0), False
    if args.bag:
        return replay.bag_frames(args.bag, 0), False
    frames = replay.synthetic_frames(
        max(1, min(args.distinct, args.frames or args.distinct)),
        args.seed,
        args.width,
        args.height,
        args.camera,
    )
    return frames, True


def run(args: argparse.Namespace) -> int:
    if args.frames < 0 or args.rate <= 0:
        raise ValueError("--frames must be >= 0 and --rate > 0")
    try:
        rclpy = optional_import("rclpy", "source a ROS 2 install or run `make setup`")
    except MissingDependencyError as exc:
        raise RuntimeError(str(exc)) from exc
    from privpose_ros.ros.replay import CameraReplayer, paced

    frames, cyclic = _frames(args)
    source = list(frames) if (cyclic or args.loop) else frames
    if args.loop or (cyclic and args.frames):
        stream = itertools.cycle(enumerate(source))
    else:
        stream = enumerate(source)
    total = args.frames or (len(source) if isinstance(source, list) else 10**12)
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("privpose_replay", namespace=args.namespace, context=context)
    replayer = CameraReplayer(node, args.frame_id, args.depth_encoding)
    sent = 0
    try:
        deadline = time.monotonic() + args.wait_subscriber
        while replayer.subscribers() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        for _ in paced(total, args.rate):
            item = next(stream, None)
            if item is None:
                break
            index, frame = item
            replayer.publish(frame, cache_key=index if isinstance(source, list) else None)
            sent += 1
            if sent % max(1, int(args.rate * 10)) == 0:
                LOG.info("published %d frames", sent)
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)
    if args.json:
        print(json.dumps({"frames": sent, "rate_hz": args.rate}))
    else:
        print(f"published {sent} frames at {args.rate} Hz on {args.namespace or '/'}")
    return 0
