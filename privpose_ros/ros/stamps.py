"""Which frames the node accepts by their stamps (no rclpy here: plain nanoseconds).

- A frame stamped more than ``max_future_s`` ahead of the node's clock is refused and changes
  nothing (one bad clock must not block every later frame).
- A frame stamped more than ``jump_back_s`` before the last accepted one is a clock jump (a bag
  loop, a simulator restart): accepted, and the caller resets everything that depends on time.
- A frame not newer than the last one, but within ``jump_back_s``, is a reordering: refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from privpose_ros.core.errors import PrivposeInputError

JUMP_BACK_S = 1.0  # larger than any synchroniser slop or transport reordering


class StampRefused(PrivposeInputError):
    """A frame refused by its stamp; ``reason`` is the diagnostics counter."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class StampGuard:
    max_future_s: float = 2.0
    jump_back_s: float = JUMP_BACK_S
    last_ns: int | None = None

    def check(self, stamp_ns: int, now_ns: int | None) -> bool:
        """True when ``stamp_ns`` starts over after a clock jump (reset time-dependent state);
        False for a normal newer frame; raises StampRefused for frames to skip. ``now_ns``: the
        node clock, None when it is not running yet (sim time before the first /clock)."""
        stamp_ns = int(stamp_ns)
        if now_ns is not None and stamp_ns > now_ns + self.max_future_s * 1e9:
            ahead_s = (stamp_ns - now_ns) * 1e-9
            raise StampRefused(
                "future_stamp",
                f"stamp {stamp_ns * 1e-9:.3f} s is {ahead_s:.1f} s ahead of the node clock "
                f"(limit {self.max_future_s} s); check the camera's clock / use_sim_time",
            )
        if self.last_ns is not None and stamp_ns <= self.last_ns:
            if self.last_ns - stamp_ns > self.jump_back_s * 1e9:
                self.last_ns = stamp_ns
                return True
            raise StampRefused(
                "out_of_order",
                f"stamp {stamp_ns} ns is not newer than the last frame {self.last_ns} ns; "
                "check the camera clock",
            )
        self.last_ns = stamp_ns
        return False

    def reset(self) -> None:
        self.last_ns = None
