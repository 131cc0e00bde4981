"""The node's health: the worker watchdog, /diagnostics, silent inputs and clock jumps.

A mixin of :class:`privpose_ros.ros.node.PoseNode` (it uses the node's stats, slot, worker,
synchroniser, TF buffer and processor); kept apart so the node file stays readable.
"""

from __future__ import annotations

import time
from typing import Any

from privpose_ros.ros.diagnostics import diagnostic_array
from privpose_ros.ros.node_setup import DEPTH_TOPIC, INFO_TOPIC


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
        if self._sync is not None:
            self._note_missing_inputs()
        values: dict[str, Any] = dict(self.stats.summary(now_ns, self._slot.dropped))
        values["backend"] = self.backend_name
        values["worker"] = self._worker_state()
        active = self._sync is not None
        msg = diagnostic_array(f"{self.get_name()}: pose", "privpose", values, active, now_ns)
        self._pubs["diagnostics"].publish(msg)

    def _note_missing_inputs(self) -> None:
        """Count colour frames that cannot be synchronised because an input is silent."""
        since = self._sync.since_last
        queue = self.config.sync.queue_size
        depth_topic = self._input(DEPTH_TOPIC, self.config.transport.depth)[1]  # as subscribed
        missing = [(1, "missing_camera_info", INFO_TOPIC, "")]
        if len(since) > 2:
            missing.append((2, "missing_depth", depth_topic, " (use_depth:=false for RGB-only)"))
        for index, reason, topic, hint in missing:
            if since[index] > queue:
                self.stats.set_count(reason, since[index])
                self.get_logger().warning(
                    f"{since[index]} colour images arrived without a message on "
                    f"{self.resolve_topic_name(topic)}{hint}; they cannot be synchronised",
                    throttle_duration_sec=5.0,
                )
