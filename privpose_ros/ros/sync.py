"""Approximate-time synchronisation and the latest-frame slot, on plain objects (no rclpy).

:class:`ApproxTimeSync` follows message_filters' Python ``ApproximateTimeSynchronizer``: one
stamp-keyed queue per input (at most ``queue_size``, oldest dropped), and when a message arrives
the first combination of queued stamps, closest first, whose spread is below ``slop`` fires the
callback and is removed from the queues. :class:`LatestSlot` keeps only the newest synchronised
frame for the worker, counting the ones it overwrites (dropped, never queued).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

from privpose_ros.core.errors import PrivposeInputError


class ApproxTimeSync:
    """Match one message per input whose stamps lie within ``slop_s`` of each other."""

    def __init__(
        self,
        num_inputs: int,
        queue_size: int,
        slop_s: float,
        callback: Callable[..., None],
    ) -> None:
        if num_inputs < 1 or queue_size < 1 or not slop_s >= 0.0:
            raise PrivposeInputError(
                f"need num_inputs >= 1, queue_size >= 1, slop_s >= 0; got {num_inputs}, "
                f"{queue_size}, {slop_s}"
            )
        self.queue_size = int(queue_size)
        self.slop_ns = round(slop_s * 1e9)
        self.callback = callback
        self.queues: list[dict[int, Any]] = [{} for _ in range(num_inputs)]
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Drop every queued message (after a clock jump nothing old may match a new one)."""
        with self._lock:
            for queue in self.queues:
                queue.clear()

    def add(self, index: int, stamp_ns: int, msg: Any) -> None:
        """Queue ``msg`` of input ``index`` and fire the callback for the first good match."""
        with self._lock:
            match = self._add_locked(index, int(stamp_ns), msg)
        if match is not None:
            self.callback(*match)

    def _add_locked(self, index: int, stamp: int, msg: Any) -> list[Any] | None:
        queue = self.queues[index]
        queue[stamp] = msg
        while len(queue) > self.queue_size:
            del queue[min(queue)]
        candidates: list[list[int]] = []
        for other_index, other in enumerate(self.queues):
            if other_index == index:
                continue
            near = sorted((abs(s - stamp), s) for s in other if abs(s - stamp) <= self.slop_ns)
            if not near:
                return None
            candidates.append([s for _, s in near])
        for combo in itertools.product(*candidates):
            stamps = list(combo)
            stamps.insert(index, stamp)
            if max(stamps) - min(stamps) < self.slop_ns or (
                self.slop_ns == 0 and len(set(stamps)) == 1
            ):
                msgs = [q.pop(s) for q, s in zip(self.queues, stamps, strict=True)]
                return msgs
        return None


class LatestSlot:
    """A one-element mailbox: ``put`` replaces an unread item (counted in ``dropped``)."""

    def __init__(self) -> None:
        self._item: Any = None
        self._cond = threading.Condition()
        self.dropped = 0

    def put(self, item: Any) -> None:
        with self._cond:
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cond.notify()

    def clear(self) -> None:
        """Discard an unread item (deactivate / cleanup: never process a stale frame later)."""
        with self._cond:
            self._item = None

    @property
    def waiting(self) -> bool:
        return self._item is not None

    def take(self, timeout_s: float) -> Any:
        """The newest item (and empty the slot), or None after ``timeout_s`` seconds."""
        with self._cond:
            if self._item is None:
                self._cond.wait(timeout=timeout_s)
            item, self._item = self._item, None
            return item
