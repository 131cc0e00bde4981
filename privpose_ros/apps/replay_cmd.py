"""`privpose replay`: publish synthetic frames, a privpose dataset or a recording (ROS 1 ``.bag``
or rosbag2) as a camera (rgb/image_rect_color, rgb/camera_info, depth_registered/image_rect) at a
chosen rate; ``--loop`` repeats the source (a one-frame bag becomes a steady camera).

The names are the pose_node's own inputs, so a bare replay feeds a bare node. To feed the topics a
launched node listens on (pose.launch.py remaps them onto the camera's, e.g.
/camera/color/image_raw), rename them with ``--rgb-out`` / ``--info-out`` / ``--depth-out`` or
with ROS remap rules after ``--ros-args`` (last on the line: ``-r from:=to``, ``-r __ns:=/ns``),
as ``ros2 run`` takes them; transport suffixes (/compressed, /compressedDepth) follow the remap.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Iterator
from functools import partial

from privpose_ros.core.errors import MissingDependencyError, PrivposeInputError, optional_import

LOG = logging.getLogger(__name__)


def _passes(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"--loop takes a number of passes >= 0, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--dataset", help="privpose dataset folder (`privpose synth` output)")
    source.add_argument(
        "--bag", help="ROS 1 .bag file or rosbag2 folder with rgb, depth (and camera_info)"
    )
    parser.add_argument("--frames", type=int, default=300, help="frames to publish (0 = all)")
    parser.add_argument("--rate", type=float, default=30.0, help="publish rate (Hz)")
    parser.add_argument(
        "--loop",
        type=_passes,
        nargs="?",
        const=0,
        default=None,
        metavar="N",
        help="repeat the source: N passes, or forever without N (--frames still stops it)",
    )
    parser.add_argument(
        "--intrinsics",
        metavar="FX,FY,CX,CY",
        help="colour intrinsics (px) for a bag without camera_info, e.g. 537.0,537.6,320.7,227.7",
    )
    parser.add_argument(
        "--slop-s",
        type=float,
        default=0.02,
        help="bag: largest colour-depth stamp gap paired (s); one-frame bags may need 0.5",
    )
    parser.add_argument("--rgb-topic", help="bag: colour Image topic (default: found by name)")
    parser.add_argument("--depth-topic", help="bag: depth Image topic (default: found by name)")
    parser.add_argument("--info-topic", help="bag: CameraInfo topic (default: next to colour)")
    parser.add_argument("--width", type=int, default=640, help="synthetic image width (px)")
    parser.add_argument("--height", type=int, default=480, help="synthetic image height (px)")
    parser.add_argument("--camera", default="kinect_v2", help="synthetic camera model")
    parser.add_argument("--distinct", type=int, default=32, help="synthetic frames to render")
    parser.add_argument("--seed", type=int, default=0, help="synthetic stream seed")
    parser.add_argument("--depth-encoding", choices=("16UC1", "32FC1"), default="16UC1")
    parser.add_argument(
        "--rgb-transport",
        choices=("raw", "compressed"),
        default="raw",
        help="compressed: CompressedImage on <rgb topic>/compressed, as image_transport",
    )
    parser.add_argument("--rgb-format", choices=("jpeg", "png"), default="jpeg")
    parser.add_argument(
        "--depth-transport",
        choices=("raw", "compressedDepth"),
        default="raw",
        help="compressedDepth: CompressedImage on <depth topic>/compressedDepth",
    )
    parser.add_argument("--depth-format", choices=("png", "rvl"), default="png")
    parser.add_argument("--frame-id", default="privpose_camera_color_optical_frame")
    parser.add_argument("--namespace", default="", help="camera namespace, e.g. /camera")
    parser.add_argument(
        "--wait-subscriber", type=float, default=0.0, help="seconds to wait for a subscriber"
    )
    parser.add_argument(
        "--clock",
        type=float,
        default=None,
        metavar="START_S",
        help="simulated time: publish /clock (rosgraph_msgs/Clock) from START_S seconds, "
        "advancing 1/rate per frame, and stamp the frames with it (for use_sim_time:=true)",
    )
    parser.add_argument(
        "--rgb-out", help="colour topic to publish on (default rgb/image_rect_color)"
    )
    parser.add_argument(
        "--info-out", help="camera_info topic to publish on (default rgb/camera_info)"
    )
    parser.add_argument(
        "--depth-out", help="depth topic to publish on (default depth_registered/image_rect)"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON summary")
    parser.add_argument(
        "--ros-args",
        dest="ros_args",
        nargs=argparse.REMAINDER,
        default=None,
        metavar="ARG",
        help="ROS arguments, last on the line: -r from:=to remaps (relative names resolve in "
        "--namespace), -r __ns:=/ns, --log-level ...",
    )


def _stream(args: argparse.Namespace) -> Iterator[tuple[int | None, object]]:
    """(cache key, RGBDFrame) in publishing order, before the --frames cap."""
    from privpose_ros.apps import replay

    if args.intrinsics and not args.bag:
        raise PrivposeInputError("--intrinsics applies to --bag only; drop it or pass --bag")
    if args.dataset:
        open_source = partial(replay.dataset_frames, args.dataset, 0)
    elif args.bag:
        intrinsics_px = replay.parse_intrinsics_px(args.intrinsics) if args.intrinsics else None
        open_source = partial(
            replay.bag_frames,
            args.bag,
            0,
            intrinsics_px=intrinsics_px,
            slop_s=args.slop_s,
            rgb_topic=args.rgb_topic,
            depth_topic=args.depth_topic,
            info_topic=args.info_topic,
        )
    else:
        frames = replay.synthetic_frames(
            max(1, min(args.distinct, args.frames or args.distinct)),
            args.seed,
            args.width,
            args.height,
            args.camera,
        )
        # the generator's stream cycles its rendered frames up to --frames unless --loop N
        passes = args.loop if args.loop is not None else (0 if args.frames else 1)
        return replay.repeated(lambda: frames, passes, cache_limit=len(frames))
    return replay.repeated(open_source, 1 if args.loop is None else args.loop)


def _out_topics(args: argparse.Namespace) -> dict[str, str]:
    chosen = {"rgb": args.rgb_out, "info": args.info_out, "depth": args.depth_out}
    return {key: name for key, name in chosen.items() if name is not None}


def _init(rclpy, context, ros_args: list[str] | None) -> None:  # noqa: ANN001 - rclpy, Context
    """rclpy.init of ``context`` with the user's ROS arguments (remaps, namespace, logging)."""
    argv = ["privpose replay"] + (["--ros-args", *ros_args] if ros_args else [])
    try:
        rclpy.init(args=argv, context=context)
    except Exception as exc:  # rclpy's RCLError: a malformed rule
        raise ValueError(f"--ros-args {' '.join(ros_args or [])!r} refused by rcl: {exc}") from exc


def run(args: argparse.Namespace) -> int:
    if args.frames < 0 or args.rate <= 0:
        raise ValueError("--frames must be >= 0 and --rate > 0")
    if args.slop_s < 0:
        raise ValueError(f"--slop-s must be >= 0, got {args.slop_s}")
    try:
        rclpy = optional_import("rclpy", "source a ROS 2 install or run `make setup`")
    except MissingDependencyError as exc:
        raise RuntimeError(str(exc)) from exc
    from rclpy.context import Context

    from privpose_ros.apps.replay import CameraReplayer, paced

    context = Context()
    _init(rclpy, context, args.ros_args)  # a malformed rule fails before any frame is rendered
    node = None
    try:
        node = rclpy.create_node("privpose_replay", namespace=args.namespace, context=context)
        replayer = CameraReplayer(
            node,
            args.frame_id,
            args.depth_encoding,
            rgb_transport=args.rgb_transport,
            rgb_format=args.rgb_format,
            depth_transport=args.depth_transport,
            depth_format=args.depth_format,
            topics=_out_topics(args),
        )
        stream = _stream(args)
    except BaseException:
        if node is not None:
            node.destroy_node()
        rclpy.shutdown(context=context)
        raise
    topics = [pub.topic_name for pub in (replayer.rgb_pub, replayer.info_pub, replayer.depth_pub)]
    LOG.info("publishing on %s", ", ".join(topics))
    clock_pub = None
    if args.clock is not None:
        from rosgraph_msgs.msg import Clock

        from privpose_ros.ros.pose_msgs import stamp_msg

        clock_pub = node.create_publisher(Clock, "/clock", 10)
    sent = 0
    try:
        deadline = time.monotonic() + args.wait_subscriber
        while replayer.subscribers() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        for _ in paced(args.frames or 10**12, args.rate):
            item = next(stream, None)
            if item is None:
                break
            key, frame = item
            stamp_ns = None
            if clock_pub is not None:
                stamp_ns = round((args.clock + sent / args.rate) * 1e9)
                clock_pub.publish(Clock(clock=stamp_msg(stamp_ns)))
            replayer.publish(frame, stamp_ns=stamp_ns, cache_key=key)
            sent += 1
            if sent % max(1, int(args.rate * 10)) == 0:
                LOG.info("published %d frames", sent)
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)
    if sent == 0:
        LOG.warning("the source gave no frames; for a bag check topics, --slop-s, --intrinsics")
    if args.json:
        print(json.dumps({"frames": sent, "rate_hz": args.rate, "topics": topics}))
    else:
        print(f"published {sent} frames at {args.rate} Hz on {', '.join(topics)}")
    return 0
