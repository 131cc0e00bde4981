"""The node's health: the worker watchdog, /diagnostics, silent inputs and clock jumps.

A mixin of :class:`privpose_ros.ros.node.PoseNode` (it uses the node's stats, slot, worker,
synchroniser, TF buffer and processor); kept apart so the node file stays readable.
"""

from __future__ import annotations

import time
from typing import Any

from privpose_ros.ros.diagnostics import diagnostic_array
from privpose_ros.ros.node_setup import DEPTH_TOPIC, INFO_TOPIC, RGB_TOPIC

NO_OUTPUT_S = 2.0  # input arriving and nothing published this long: WARN with the cause


class NodeHealth:
    """Watchdog, diagnostics and clock-jump handling of the pose node."""

    def _clock_now_ns(self) -> int | None:
        """The node clock, None while it does not run (use_sim_time before the first /clock)."""
        now = self.get_clock().now().nanoseconds
        return now if now > 0 else None

    def _on_clock_jump(self, stamp_ns: int) -> None:
        """Stamps went back (bag loop, simulator restart): start over with what depends on time."""
        self.stats.event("clock_jumps")
        self.get_logger().warning(
            f"image stamps jumped back to {stamp_ns * 1e-9:.3f} s: synchroniser, tracking, "
            "smoothing and TF history reset",
            throttle_duration_sec=5.0,
        )
        if self._sync is not None:
            self._sync.reset()
        if self._tf_buffer is not None:
            self._tf_buffer.clear()
        self._last_tf_ns = 0
        if self._pipeline is not None:
            self._pipeline.reset()

    def _worker_state(self) -> str:
        """ok, stalled (a frame waits and the worker has not looked for watchdog.stall_s) or
        dead (the thread ended while active)."""
        if self._worker is None:
            return "stopped"
        if not self._worker.is_alive():
            return "dead"
        idle_s = time.monotonic() - self._heartbeat_s
        if self._slot.waiting and idle_s > self.config.watchdog.stall_s:
            return "stalled"
        return "ok"

    def _publish_diag(self) -> None:
        now_ns = self.get_clock().now().nanoseconds
        dropped = self._slot.dropped  # superseded by a newer frame: in the slot or before it
        if self._sync is not None:
            dropped += self._sync.monitor.late
        values: dict[str, Any] = dict(self.stats.summary(now_ns, dropped))
        values["backend"] = self.backend_name
        values["worker"] = self._worker_state()
        active = self._sync is not None
        problem, idle = None, False
        if active:
            monitor = self._sync.monitor
            if monitor.has_depth:
                values["depth"] = "rgb_only" if monitor.depth_silent else "ok"
                values["depth_silent_s"] = round(monitor.silent_s(2), 2)
            values["camera_info_silent_s"] = round(monitor.silent_s(1), 2)
            problem, idle = self._output_problem(values)
        msg = diagnostic_array(
            f"{self.get_name()}: pose", "privpose", values, active, now_ns, problem, idle
        )
        self._pubs["diagnostics"].publish(msg)

    def _topic(self, index: int) -> str:
        """The resolved name of input ``index`` (0 colour, 1 camera_info, 2 depth)."""
        transport = self.config.transport
        name = (
            self._input(RGB_TOPIC, transport.rgb)[1],
            INFO_TOPIC,
            self._input(DEPTH_TOPIC, transport.depth)[1],
        )[index]
        return self.resolve_topic_name(name)

    def _output_problem(self, values: dict[str, Any]) -> tuple[str | None, bool]:
        """(WARN message or None, idle): colour arrives but nothing was published for more
        than NO_OUTPUT_S, with the cause; or frames are RGB-only because depth is silent."""
        monitor = self._sync.monitor
        now_s = time.monotonic()
        colour_s = monitor.silent_s(0)
        if monitor.last_arrival_s[0] is None or colour_s > NO_OUTPUT_S:
            return None, False  # no input: nothing to answer
        depth = ""
        if monitor.depth_silent:
            depth = f"no depth on {self._topic(2)} for {monitor.silent_s(2):.1f} s"
        last_out = self.stats.last_out_s
        quiet_s = now_s - max(monitor.started_s, last_out if last_out is not None else -1e18)
        if quiet_s <= NO_OUTPUT_S:
            return (f"RGB-only: {depth}" if depth else None), False
        recent = self.stats.recent_skips(NO_OUTPUT_S)
        if set(recent) == {"no_subscribers"}:
            return None, True
        causes = []
        if recent.pop("missing_camera_info", 0) or monitor.last_arrival_s[1] is None:
            causes.append(self._missing_cause(1, "camera_info", "stamps or frame id"))
        if recent.pop("missing_depth", 0) or depth:
            causes.append(depth or self._missing_cause(2, "depth", "stamps"))
        recent.pop("no_subscribers", 0)
        if recent.pop("unsynchronised", 0):
            causes.append("colour, camera_info and depth stamps differ by more than sync.slop_s")
        causes += [f"{n} frames skipped ({reason})" for reason, n in recent.most_common(3)]
        if not causes:
            causes.append("no frame finished (processing slower than NO_OUTPUT_S?)")
        rate = values.get("input_rate_hz", 0.0)
        return (
            f"input arrives, no output for {quiet_s:.1f} s: colour at {rate:.0f} Hz, "
            + "; ".join(causes)
        ), False

    def _missing_cause(self, index: int, what: str, differs: str) -> str:
        """Why images found no message of input ``index``: none came, or none that matches."""
        monitor = self._sync.monitor
        topic = self._topic(index)
        if monitor.last_arrival_s[index] is None:
            return f"no {what} on {topic} yet"
        silent_s = monitor.silent_s(index)
        if silent_s > NO_OUTPUT_S:
            return f"no {what} on {topic} for {silent_s:.1f} s"
        return f"{what} on {topic} arrives but matches no colour image ({differs} differ)"

    def _on_input_skip(self, reason: str) -> None:
        """A colour image the synchroniser could not use (counted in the recent tally)."""
        self.stats.skip(reason)
        hints = {
            "missing_camera_info": (1, ""),
            "missing_depth": (2, " (RGB-only once it is silent for sync.depth_timeout_s)"),
        }
        if reason in hints:
            index, hint = hints[reason]
            self.get_logger().warning(
                f"colour images arrive without a message on {self._topic(index)}{hint}; they "
                "cannot be synchronised",
                throttle_duration_sec=5.0,
            )
        else:
            self.get_logger().warning(
                "colour images cannot be synchronised: their camera_info / depth stamps differ "
                f"by more than sync.slop_s = {self.config.sync.slop_s} s",
                throttle_duration_sec=5.0,
            )
