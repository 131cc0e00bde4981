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
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from privpose_ros.apps.graph_harness import GraphHarness, PoseOutput, latencies_ms, percentile_ms

P95_STABLE_RATIO = 1.5  # last window p95 <= 1.5 x first window p95


def rss_mib(pid: int) -> float:
    """Resident set size (VmRSS) of process ``pid`` in MiB, from /proc/<pid>/status."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0  # kB
    raise RuntimeError(f"/proc/{pid}/status has no VmRSS (a zombie process?)")


def window_figures(
    stamps: list[int], outputs: Mapping[int, PoseOutput], duration_s: float
) -> dict[str, Any]:
    """Outputs of the frames stamped ``stamps``: count, rate over ``duration_s``, latency (ms)."""
    lat = latencies_ms(stamps, outputs)
    return {
        "frames_in": len(stamps),
        "frames_out": len(lat),
        "output_rate_hz": round(len(lat) / duration_s, 2) if duration_s > 0 else None,
        "latency_ms_p50": percentile_ms(lat, 50),
        "latency_ms_p95": percentile_ms(lat, 95),
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
    log_root = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="privpose_soak_"))
    harness = GraphHarness(  # the node's defaults (config/privpose.yaml)
        {},
        log_root / "node.log",
        name="privpose_soak",
        fastdds_profile=profile,  # for both processes
        startup_timeout_s=startup_timeout_s,
    )
    report = _run_graph(harness, frames, rate_hz, sample_every, replay)
    report.update(resolution=f"{width}x{height}", profile=profile, distinct_frames=distinct)
    return report


def _run_graph(
    harness: GraphHarness, frames: int, rate_hz: float, sample_every: int, replay: list
) -> dict[str, Any]:
    windows: list[dict[str, Any]] = []
    with harness:
        harness.warm_up(replay[0], rate_hz)
        rss_start = rss_mib(harness.pid)
        start = time.monotonic()
        window_start, stamps = start, []
        bounds: list[tuple[list[int], float, float]] = []  # stamps, duration, rss at the end
        for i, (_, stamp) in enumerate(harness.stream(replay, frames, rate_hz)):
            stamps.append(stamp)
            if len(stamps) == sample_every or i == frames - 1:
                now = time.monotonic()
                bounds.append((stamps, now - window_start, rss_mib(harness.pid)))
                window_start, stamps = now, []
        duration_s = time.monotonic() - start
        time.sleep(1.0)  # the last outputs
        rss_end = rss_mib(harness.pid)
    outputs = harness.recorder.outputs
    for k, (window_stamps, window_s, rss) in enumerate(bounds):
        figures = window_figures(window_stamps, outputs, window_s)
        windows.append({"index": k, **figures, "rss_mib": round(rss, 1)})
    sent = [s for w, _, _ in bounds for s in w]
    total = window_figures(sent, outputs, duration_s)
    diag = harness.recorder.diagnostics
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
        "node_log": str(harness.log_path),
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
