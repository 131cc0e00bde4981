"""Node statistics (rates, drops, bad input, capture-to-publish latency) and /diagnostics."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from privpose_ros.ros.pose_msgs import stamp_msg

WINDOW = 300  # latencies and arrival times kept for the percentiles and rates
RECENT_S = 10.0  # the diagnostics level looks at what was skipped in the last RECENT_S


class NodeStats:
    """Thread-safe counters; times are nanoseconds on the node clock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.frames_in = 0
        self.frames_out = 0
        self.colour_in = 0
        self.rgb_only_frames = 0
        self.last_out_s: float | None = None  # monotonic time of the last published frame
        self.skipped = Counter()
        self.events = Counter()
        self._skip_times: deque[tuple[float, str]] = deque(maxlen=10_000)  # (monotonic, reason)
        self._in_times: deque[int] = deque(maxlen=WINDOW)
        self._colour_times: deque[int] = deque(maxlen=WINDOW)
        self._out_times: deque[int] = deque(maxlen=WINDOW)
        self._latencies_ms: deque[float] = deque(maxlen=WINDOW)
        self._processing_ms: deque[float] = deque(maxlen=WINDOW)
        self._input_delay_ms: deque[float] = deque(maxlen=WINDOW)

    def colour_arrived(self, now_ns: int) -> None:
        """A colour image arrived (raw, before synchronisation): the input rate."""
        with self._lock:
            self.colour_in += 1
            self._colour_times.append(now_ns)

    def frame_in(self, now_ns: int, stamp_ns: int | None = None) -> None:
        """A synchronised frame arrived at ``now_ns`` (capture ``stamp_ns``: transport delay)."""
        with self._lock:
            self.frames_in += 1
            self._in_times.append(now_ns)
            if stamp_ns is not None:
                self._input_delay_ms.append((now_ns - stamp_ns) / 1e6)

    def frame_out(
        self,
        now_ns: int,
        stamp_ns: int,
        processing_ms: float = float("nan"),
        rgb_only: bool = False,
    ) -> None:
        """A published frame: capture ``stamp_ns`` to ``now_ns``; decode-to-publish time;
        ``rgb_only``: made without depth although depth is configured (depth silent)."""
        with self._lock:
            self.frames_out += 1
            self.rgb_only_frames += int(rgb_only)
            self.last_out_s = time.monotonic()
            self._out_times.append(now_ns)
            self._latencies_ms.append((now_ns - stamp_ns) / 1e6)
            self._processing_ms.append(processing_ms)

    def skip(self, reason: str) -> None:
        with self._lock:
            self.skipped[reason] += 1
            self._skip_times.append((time.monotonic(), reason))

    def recent_skips(self, window_s: float) -> Counter:
        """Skips per reason in the last ``window_s`` seconds (no_subscribers included)."""
        now_s = time.monotonic()
        with self._lock:
            return Counter(r for t, r in self._skip_times if now_s - t <= window_s)

    def event(self, name: str) -> None:
        """Count something that is not a skipped frame (a clock jump)."""
        with self._lock:
            self.events[name] += 1

    @staticmethod
    def _rate_hz(times: deque[int], now_ns: int) -> float:
        recent = [t for t in times if now_ns - t <= 2_000_000_000]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max((recent[-1] - recent[0]) / 1e9, 1e-9)

    def summary(self, now_ns: int, dropped: int) -> dict[str, float | int]:
        """Numbers for /diagnostics: rates over the last 2 s, latency percentiles (ms)."""
        with self._lock:
            lat = np.array(self._latencies_ms) if self._latencies_ms else np.array([np.nan])
            proc = np.array(self._processing_ms) if self._processing_ms else np.array([np.nan])
            delay = np.array(self._input_delay_ms) if self._input_delay_ms else np.array([np.nan])
            out: dict[str, float | int] = {
                "frames_in": self.frames_in,
                "frames_out": self.frames_out,
                "dropped": dropped,
                # colour images as they arrive; without that count, synchronised sets
                "input_rate_hz": self._rate_hz(self._colour_times or self._in_times, now_ns),
                "synced_rate_hz": self._rate_hz(self._in_times, now_ns),
                "output_rate_hz": self._rate_hz(self._out_times, now_ns),
                "latency_ms_p50": float(np.percentile(lat, 50)),
                "latency_ms_p95": float(np.percentile(lat, 95)),
                "processing_ms_p50": float(np.percentile(proc, 50)),
                "input_delay_ms_p50": float(np.percentile(delay, 50)),
                "input_delay_ms_p95": float(np.percentile(delay, 95)),
            }
            now_s = time.monotonic()
            out["recent_skipped"] = sum(
                1 for t, r in self._skip_times if now_s - t <= RECENT_S and r != "no_subscribers"
            )
            out["rgb_only_frames"] = self.rgb_only_frames
            out.update({f"skipped.{k}": v for k, v in sorted(self.skipped.items())})
            out.update({f"events.{k}": v for k, v in sorted(self.events.items())})
            return out


def diagnostic_array(
    name: str,
    hardware_id: str,
    values: dict[str, float | int | str],
    active: bool,
    stamp_ns: int,
    problem: str | None = None,
    idle: bool = False,
) -> DiagnosticArray:
    """One DiagnosticStatus: ERROR when the node is not active or its worker stalled or died,
    WARN with ``problem`` (the node's words: input arrives but nothing is published, and why;
    RGB-only frames) or when frames were skipped in the last RECENT_S seconds
    (``recent_skipped``; the lifetime ``skipped.*`` counters stay as values), OK otherwise
    (``idle``: nobody subscribes to an output, so nothing is computed)."""
    status = DiagnosticStatus(name=name, hardware_id=hardware_id)
    skipped = values.get("recent_skipped", 0)
    worker = values.get("worker", "ok")
    if not active:
        status.level, status.message = DiagnosticStatus.ERROR, "inactive (lifecycle)"
    elif worker in ("stalled", "dead"):
        status.level, status.message = DiagnosticStatus.ERROR, f"processing thread {worker}"
    elif problem:
        status.level, status.message = DiagnosticStatus.WARN, problem
    elif skipped:
        status.level = DiagnosticStatus.WARN
        status.message = f"{skipped} frames skipped in the last {RECENT_S:.0f} s"
    elif idle:
        status.level, status.message = DiagnosticStatus.OK, "idle: nobody subscribes to an output"
    else:
        status.level, status.message = DiagnosticStatus.OK, "running"
    status.values = [
        KeyValue(key=k, value=f"{v:.2f}" if isinstance(v, float) else str(v))
        for k, v in values.items()
    ]
    msg = DiagnosticArray(status=[status])
    msg.header.stamp = stamp_msg(stamp_ns)
    return msg
