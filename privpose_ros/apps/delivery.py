"""How many RGB-D sets survive the trip between processes over DDS (`privpose bench --delivery`).

A publisher process sends ``frames`` synchronised sets (Image rgb8 + Image 16UC1 depth +
CameraInfo, one shared stamp = the clock at publish) of synthetic replay frames at ``rate``; a
subscriber in ANOTHER process counts the sets that arrive complete (all three parts of a stamp)
and the latency from the stamp to the last part's arrival. Each mode runs in its own
ROS_DOMAIN_ID, in its own pair of processes:

- ``raw_default``: raw images over the middleware's default transports (no profile);
- ``raw_shm``: raw images with config/fastdds_shm.xml in both processes;
- ``compressed_default``: CompressedImage colour (jpeg) + compressedDepth (png) over the default
  transports, when privpose_ros.ros.compressed (the encoders) is present.

Run as ``python -m privpose_ros.apps.delivery pub|sub ...`` for one side (this module's main).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

MODES = ("raw_default", "raw_shm", "compressed_default")
KINDS = ("rgb", "depth", "info")
PROFILE_NAME = "fastdds_shm.xml"
WARMUP_SETS = 5


def shm_profile_path() -> Path:
    """The shipped Fast DDS shared-memory profile: the source checkout's config/, else the
    installed share/privpose/config/ (ament index)."""
    source = Path(__file__).resolve().parents[2] / "config" / PROFILE_NAME
    if source.is_file():
        return source
    try:
        from ament_index_python.packages import get_package_share_directory

        installed = Path(get_package_share_directory("privpose")) / "config" / PROFILE_NAME
    except Exception as exc:  # noqa: BLE001 - PackageNotFoundError, or no ament index at all
        raise FileNotFoundError(
            f"{PROFILE_NAME} is neither at {source} nor installed (colcon build privpose)"
        ) from exc
    if not installed.is_file():
        raise FileNotFoundError(f"{installed} is missing; rebuild the privpose package")
    return installed


def compressed_available() -> bool:
    return importlib.util.find_spec("privpose_ros.ros.compressed") is not None


class SetCounter:
    """Collects the parts of each stamp; a set is complete once every kind has arrived."""

    def __init__(self, kinds: tuple[str, ...] = KINDS) -> None:
        self.kinds = frozenset(kinds)
        self.parts: dict[int, set[str]] = {}
        self.latency_ms: dict[int, float] = {}  # stamp -> ms from stamp to the last part
        self.messages = dict.fromkeys(kinds, 0)
        self._lock = threading.Lock()

    def add(self, kind: str, stamp_ns: int, arrival_ns: int) -> None:
        with self._lock:
            self.messages[kind] += 1
            parts = self.parts.setdefault(stamp_ns, set())
            parts.add(kind)
            if parts >= self.kinds and stamp_ns not in self.latency_ms:
                self.latency_ms[stamp_ns] = (arrival_ns - stamp_ns) / 1e6


def summarize(sent_stamps: list[int], latency_ms: dict[int, float]) -> dict[str, Any]:
    """frames_out (published), frames_in (complete sets received), latency p50/p95/max (ms)."""
    got = [latency_ms[s] for s in sent_stamps if s in latency_ms]

    def pct(q: float) -> float | None:
        return round(float(np.percentile(got, q)), 2) if got else None

    return {
        "frames_out": len(sent_stamps),
        "frames_in": len(got),
        "delivered_fraction": round(len(got) / len(sent_stamps), 4) if sent_stamps else None,
        "latency_ms_p50": pct(50),
        "latency_ms_p95": pct(95),
        "latency_ms_max": round(max(got), 2) if got else None,
    }


def _topics(mode: str) -> dict[str, str]:
    if mode.startswith("compressed"):
        return {
            "rgb": "rgb/image_rect_color/compressed",
            "depth": "depth_registered/image_rect/compressedDepth",
            "info": "rgb/camera_info",
        }
    return {
        "rgb": "rgb/image_rect_color",
        "depth": "depth_registered/image_rect",
        "info": "rgb/camera_info",
    }


def _qos(name: str) -> Any:
    from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

    if name == "sensor_data":
        return qos_profile_sensor_data
    return QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def _start_node(name: str) -> tuple[Any, Any]:
    import rclpy

    context = rclpy.Context()
    rclpy.init(context=context)  # ROS_DOMAIN_ID and the profile come from the environment
    return context, rclpy.create_node(name, context=context)


def _subscriber(args: argparse.Namespace) -> int:
    """Counts sets until stdin closes, then prints one JSON object: sets and message counts."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image

    from privpose_ros.ros.pose_msgs import stamp_ns_of

    context, node = _start_node("privpose_delivery_sub")
    counter = SetCounter()
    compressed = args.mode.startswith("compressed")
    types = {"rgb": CompressedImage if compressed else Image, "info": CameraInfo}
    types["depth"] = types["rgb"]
    for kind, topic in _topics(args.mode).items():

        def on_msg(msg: Any, kind: str = kind) -> None:
            counter.add(kind, stamp_ns_of(msg.header.stamp), time.time_ns())

        node.create_subscription(types[kind], topic, on_msg, _qos(args.qos))
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    while not stop.is_set():
        executor.spin_once(timeout_sec=0.05)
    executor.shutdown()
    node.destroy_node()
    rclpy.shutdown(context=context)
    sets = [[s, round(ms, 3)] for s, ms in counter.latency_ms.items()]
    print(json.dumps({"sets": sets, "messages": counter.messages}), flush=True)
    return 0


def _compressed_sets(frames: list, quality: int) -> tuple[list, dict[str, float]]:
    """(format, bytes) of colour (jpeg) and depth (png) per frame; encode time p50 (ms) each."""
    from privpose_ros.ros import compressed

    encoded, rgb_ms, depth_ms = [], [], []
    for frame in frames:
        start = time.perf_counter()
        rgb = compressed.encode_compressed_rgb(frame.rgb, "jpeg", quality)
        middle = time.perf_counter()
        depth = compressed.encode_compressed_depth(frame.depth_mm, "png")
        rgb_ms.append((middle - start) * 1000.0)
        depth_ms.append((time.perf_counter() - middle) * 1000.0)
        encoded.append((rgb, depth))
    times = {"jpeg": float(np.median(rgb_ms)), "png": float(np.median(depth_ms))}
    return encoded, {k: round(v, 2) for k, v in times.items()}


def _publisher(args: argparse.Namespace) -> int:
    """Waits for the subscriber, sends warm-up then measured sets; prints the measured stamps."""
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, CompressedImage

    from privpose_ros.apps.replay import (
        FIXTURE_FRAME,
        CameraReplayer,
        camera_info_msg,
        paced,
        synthetic_frames,
    )
    from privpose_ros.ros.pose_msgs import stamp_msg

    frames = synthetic_frames(min(args.distinct, args.frames), args.seed, args.width, args.height)
    context, node = _start_node("privpose_delivery_pub")
    compressed = args.mode.startswith("compressed")
    report: dict[str, Any] = {"bytes_per_set": args.width * args.height * 5}
    if compressed:
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        topics = _topics(args.mode)
        pubs = {
            k: node.create_publisher(CompressedImage, topics[k], qos) for k in ("rgb", "depth")
        }
        pubs["info"] = node.create_publisher(CameraInfo, topics["info"], qos)
        encoded, times = _compressed_sets(frames, args.jpeg_quality)
        report["encode_ms_p50"] = times  # not part of the latency: encoded before sending
        report["bytes_per_set"] = int(np.mean([len(r[1]) + len(d[1]) for r, d in encoded]))

        def send(index: int) -> int:
            stamp = time.time_ns()
            pubs["info"].publish(camera_info_msg(frames[index].intrinsics, stamp, FIXTURE_FRAME))
            for kind, (fmt, data) in zip(("depth", "rgb"), encoded[index][::-1], strict=True):
                msg = CompressedImage(format=fmt, data=data)
                msg.header.stamp, msg.header.frame_id = stamp_msg(stamp), FIXTURE_FRAME
                pubs[kind].publish(msg)
            return stamp
    else:
        replayer = CameraReplayer(node)
        pubs = {"rgb": replayer.rgb_pub, "depth": replayer.depth_pub, "info": replayer.info_pub}

        def send(index: int) -> int:
            return replayer.publish(frames[index], cache_key=index)

    deadline = time.monotonic() + args.match_timeout_s
    while any(p.get_subscription_count() < 1 for p in pubs.values()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"no subscriber matched within {args.match_timeout_s:.0f} s")
        time.sleep(0.05)
    for i in range(WARMUP_SETS):  # both sides matched: these stamps are not measured
        send(i % len(frames))
        time.sleep(1.0 / args.rate)
    time.sleep(0.5)
    stamps = []
    start = time.monotonic()
    for i in paced(args.frames, args.rate):
        stamps.append(send(i % len(frames)))
    report.update(stamps=stamps, publish_s=round(time.monotonic() - start, 3))
    time.sleep(0.5)  # let reliable retransmissions finish before the writers go
    node.destroy_node()
    rclpy.shutdown(context=context)
    print(json.dumps(report), flush=True)
    return 0


def _last_json(text: str, who: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"the {who} process printed no result:\n{text[-2000:]}")


def run_mode(
    mode: str,
    frames: int,
    rate_hz: float,
    width: int,
    height: int,
    qos: str = "sensor_data",
    domain_id: int | None = None,
    timeout_s: float = 120.0,
) -> dict[str, Any]:
    """One publisher process and one subscriber process in ``domain_id``; the mode's figures."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if frames < 1 or rate_hz <= 0 or width < 8 or height < 8:
        raise ValueError("frames must be >= 1, rate > 0 Hz and the image at least 8x8 px")
    domain = domain_id if domain_id is not None else random.SystemRandom().randint(101, 200)
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain))
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    env.pop("FASTDDS_DEFAULT_PROFILES_FILE", None)
    if mode.endswith("_shm"):
        env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(shm_profile_path())
    base = [sys.executable, "-m", "privpose_ros.apps.delivery"]
    common = ["--mode", mode]
    size = ["--width", str(width), "--height", str(height)]
    pub_cmd = [*base, "pub", *common, "--frames", str(frames), "--rate", str(rate_hz), *size]
    pipe = subprocess.PIPE
    sub = subprocess.Popen(
        [*base, "sub", *common, "--qos", qos],
        env=env,
        stdin=pipe,
        stdout=pipe,
        stderr=pipe,
        text=True,
    )
    try:
        pub = subprocess.run(
            pub_cmd, env=env, capture_output=True, text=True, timeout=timeout_s + frames / rate_hz
        )
        if pub.returncode != 0:
            raise RuntimeError(
                f"delivery publisher failed ({pub.returncode}):\n{pub.stderr[-2000:]}"
            )
        time.sleep(1.0)  # the last sets are still on their way
        out, err = sub.communicate(input="", timeout=30)
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait(timeout=5)
    if sub.returncode != 0:
        raise RuntimeError(f"delivery subscriber failed ({sub.returncode}):\n{err[-2000:]}")
    sent = _last_json(pub.stdout, "publisher")
    received = _last_json(out, "subscriber")
    figures = summarize(sent["stamps"], {int(s): ms for s, ms in received["sets"]})
    figures.update(
        mode=mode,
        transport="shm profile" if mode.endswith("_shm") else "default",
        images="compressed (jpeg + compressedDepth png)" if "compressed" in mode else "raw",
        qos=qos,
        domain_id=domain,
        bytes_per_set=sent["bytes_per_set"],
        publish_rate_hz=round((frames - 1) / sent["publish_s"], 2) if frames > 1 else None,
        messages_received=received["messages"],
    )
    if "encode_ms_p50" in sent:
        figures["encode_ms_p50"] = sent["encode_ms_p50"]
    return figures


def run_delivery(
    frames: int = 300,
    rate_hz: float = 30.0,
    width: int = 640,
    height: int = 480,
    qos: str = "sensor_data",
    modes: tuple[str, ...] = MODES,
) -> dict[str, Any]:
    """Every mode (compressed only when its encoders exist), each in its own ROS domain."""
    base = random.SystemRandom().randint(101, 190)
    results: dict[str, Any] = {}
    for k, mode in enumerate(modes):
        if mode.startswith("compressed") and not compressed_available():
            results[mode] = {"skipped": "privpose_ros.ros.compressed is not there yet"}
            continue
        results[mode] = run_mode(mode, frames, rate_hz, width, height, qos, domain_id=base + k)
    return {
        "frames": frames,
        "rate_hz": rate_hz,
        "resolution": f"{width}x{height}",
        "qos": qos,
        "profile": str(shm_profile_path()),
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "modes": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="one side of `privpose bench --delivery`")
    parser.add_argument("role", choices=("pub", "sub"))
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--distinct", type=int, default=8, help="synthetic frames to cycle")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--jpeg-quality", type=int, default=90)
    parser.add_argument("--qos", choices=("sensor_data", "reliable"), default="sensor_data")
    parser.add_argument("--match-timeout-s", type=float, default=60.0)
    args = parser.parse_args(argv)
    return _publisher(args) if args.role == "pub" else _subscriber(args)


if __name__ == "__main__":
    raise SystemExit(main())
