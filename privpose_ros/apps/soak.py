"""A long run of the real node (`privpose bench --soak N`): memory, latency and rate over time.

``pose_node`` runs in its own process (``python -m privpose_ros.ros.node``, the default models
and parameters), with the shipped Fast DDS shared-memory profile (config/fastdds_shm.xml) like
this process, which publishes synthetic 640x480 RGB-D frames (cycled) at ``rate_hz`` and
records /human_pose. Every ``sample_every`` published frames closes a window: the node's
resident memory (VmRSS of /proc/<pid>/status) is sampled, and the window's latency (capture
stamp -> /human_pose received) p50/p95 and output rate are computed from the frames published
in it. The summary compares the first and the last window.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

P95_STABLE_RATIO = 1.5  # last window p95 <= 1.5 x first window p95


def rss_mib(pid: int) -> float:
    """Resident set size (VmRSS) of process ``pid`` in MiB, from /proc/<pid>/status."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0  # kB
    raise RuntimeError(f"/proc/{pid}/status has no VmRSS (a zombie process?)")


def window_figures(
    stamps: list[int], arrivals: dict[int, int], duration_s: float
) -> dict[str, Any]:
    """Outputs of the frames stamped ``stamps``: count, rate over ``duration_s``, latency (ms)."""
    lat = [(arrivals[s] - s) / 1e6 for s in stamps if s in arrivals]

    def pct(q: float) -> float | None:
        return round(float(np.percentile(lat, q)), 2) if lat else None

    return {
        "frames_in": len(stamps),
        "frames_out": len(lat),
        "output_rate_hz": round(len(lat) / duration_s, 2) if duration_s > 0 else None,
        "latency_ms_p50": pct(50),
        "latency_ms_p95": pct(95),
    }


def summarize(windows: list[dict[str, Any]]) -> dict[str, Any]:
    """First vs last window: RSS growth (%) and whether p95 stayed within P95_STABLE_RATIO."""
    first, last = windows[0], windows[-1]
    growth = (last["rss_mib"] - first["rss_mib"]) / first["rss_mib"] * 100.0
    p95_first, p95_last = first["latency_ms_p95"], last["latency_ms_p95"]
    stable = None
    if p95_first is not None and p95_last is not None:
        stable = p95_last <= P95_STABLE_RATIO * p95_first
    return {
        "first_window": first,
        "last_window": last,
        "rss_growth_pct": round(growth, 2),
        "p95_stable": stable,
        "p95_ratio_last_to_first": round(p95_last / p95_first, 3)
        if p95_first and p95_last is not None
        else None,
    }


def _node_command() -> list[str]:
    # the node's defaults (config/privpose.yaml); diagnostics once a second
    return [sys.executable, "-m", "privpose_ros.ros.node", "--ros-args"]


class _Recorder:
    """Arrival time (ns) of every /human_pose by its stamp, and the node's last diagnostics."""

    def __init__(self, node: Any) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import PoseArray
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        from privpose_ros.ros.pose_msgs import stamp_ns_of

        self.arrivals: dict[int, int] = {}
        self.diagnostics: dict[str, str] = {}

        def on_pose(msg: Any) -> None:
            self.arrivals[stamp_ns_of(msg.header.stamp)] = time.time_ns()

        def on_diag(msg: Any) -> None:
            for status in msg.status:
                if status.hardware_id == "privpose":
                    self.diagnostics = {kv.key: kv.value for kv in status.values}

        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.sub = node.create_subscription(PoseArray, "human_pose", on_pose, qos)
        node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 10)


def run_soak(
    frames: int,
    rate_hz: float = 30.0,
    sample_every: int = 500,
    width: int = 640,
    height: int = 480,
    distinct: int = 16,
    seed: int = 7,
    startup_timeout_s: float = 180.0,
    log_dir: str | Path | None = None,
) -> dict[str, Any]:
    """``frames`` frames through the real node in its own process; windows of ``sample_every``."""
    if frames < 1 or sample_every < 1 or rate_hz <= 0 or distinct < 1:
        raise ValueError("frames, sample_every and distinct must be >= 1 and rate_hz > 0")
    from privpose_ros.apps.delivery import shm_profile_path
    from privpose_ros.apps.replay import synthetic_frames

    replay = synthetic_frames(distinct, seed, width, height)
    profile = str(shm_profile_path())
    previous = os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE")
    os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = profile  # for this process's participant
    log_root = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="privpose_soak_"))
    log_root.mkdir(parents=True, exist_ok=True)
    try:
        report = _run_graph(frames, rate_hz, sample_every, replay, startup_timeout_s, log_root)
    finally:
        if previous is None:
            del os.environ["FASTDDS_DEFAULT_PROFILES_FILE"]
        else:
            os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = previous
    report.update(resolution=f"{width}x{height}", profile=profile, distinct_frames=distinct)
    return report


def _run_graph(
    frames: int,
    rate_hz: float,
    sample_every: int,
    replay: list,
    startup_timeout_s: float,
    log_root: Path,
) -> dict[str, Any]:
    import rclpy

    from privpose_ros.apps.replay import CameraReplayer, paced
    from privpose_ros.ros.spinning import BackgroundSpinner, stop_process, wait_for_node

    domain = random.SystemRandom().randint(101, 200)
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain))
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    log_path = log_root / "node.log"
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen(_node_command(), env=env, stdout=log_file, stderr=log_file)
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain)
    node = rclpy.create_node("privpose_soak", context=context)
    replayer = CameraReplayer(node)
    recorder = _Recorder(node)
    spinner = BackgroundSpinner(node, context)
    windows: list[dict[str, Any]] = []
    try:
        ready = lambda: replayer.subscribers() > 0 and recorder.sub.get_publisher_count() > 0  # noqa: E731
        wait_for_node(ready, startup_timeout_s, proc, "the node's topics", log_path)
        warm: list[int] = []

        def warmed() -> bool:
            warm.append(replayer.publish(replay[0], cache_key=0))
            time.sleep(1.0 / rate_hz)
            return sum(s in recorder.arrivals for s in warm) >= 5

        wait_for_node(warmed, startup_timeout_s, proc, "the first outputs (warm-up)", log_path)
        rss_start = rss_mib(proc.pid)
        start = time.monotonic()
        window_start, stamps = start, []
        bounds: list[tuple[list[int], float, float]] = []  # stamps, duration, rss at the end
        for i in paced(frames, rate_hz):
            stamps.append(replayer.publish(replay[i % len(replay)], cache_key=i % len(replay)))
            if len(stamps) == sample_every or i == frames - 1:
                now = time.monotonic()
                bounds.append((stamps, now - window_start, rss_mib(proc.pid)))
                window_start, stamps = now, []
            if proc.poll() is not None:
                raise RuntimeError(f"pose_node exited ({proc.returncode}); see {log_path}")
        duration_s = time.monotonic() - start
        time.sleep(1.0)  # the last outputs
        rss_end = rss_mib(proc.pid)
    finally:
        stop_process(proc)
        spinner.close()
        node.destroy_node()
        rclpy.shutdown(context=context)
    for k, (window_stamps, window_s, rss) in enumerate(bounds):
        figures = window_figures(window_stamps, recorder.arrivals, window_s)
        windows.append({"index": k, **figures, "rss_mib": round(rss, 1)})
    sent = [s for w, _, _ in bounds for s in w]
    total = window_figures(sent, recorder.arrivals, duration_s)
    diag = recorder.diagnostics
    return {
        "frames": frames,
        "rate_hz": rate_hz,
        "sample_every": sample_every,
        "duration_s": round(duration_s, 1),
        "frames_in": total["frames_in"],
        "frames_out": total["frames_out"],
        "output_rate_hz": total["output_rate_hz"],
        "latency_ms_p50": total["latency_ms_p50"],
        "latency_ms_p95": total["latency_ms_p95"],
        "rss_mib_start": round(rss_start, 1),
        "rss_mib_end": round(rss_end, 1),
        "rss_samples_mib": [w["rss_mib"] for w in windows],
        "windows": windows,
        **summarize(windows),
        "node_backend": diag.get("backend"),
        "node_dropped": diag.get("dropped"),
        "node_processing_ms_p50": diag.get("processing_ms_p50"),
        "node_log": str(log_path),
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
