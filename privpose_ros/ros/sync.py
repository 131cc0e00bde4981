"""Approximate-time synchronisation and the latest-frame slot, on plain objects (no rclpy).

:class:`ApproxTimeSync` follows message_filters' Python ``ApproximateTimeSynchronizer``: one
stamp-keyed queue per input (at most ``queue_size``, oldest dropped), and when a message arrives
the first combination of queued stamps, closest first, whose spread is below ``slop`` fires the
callback and is removed from the queues. :class:`LatestSlot` keeps only the newest synchronised
frame for the worker, counting the ones it overwrites (dropped, never queued).
:class:`InputMonitor` holds what matching alone cannot know: when depth went silent (RGB-only
frames), the latest camera_info per frame id (a latched one), which colour images were used and
why the others were not.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
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


COLOUR, INFO, DEPTH = 0, 1, 2  # input indices of the node's synchroniser
STALL_S = 10.0  # camera_info silent longer: latched (sent once), not a stalled transport


@dataclass
class _Colour:
    """A colour image the monitor waits to see used."""

    frame_id: str
    seq: int  # arrival order
    claimed: bool = False  # handed to the callback
    paired: bool = False  # given the latest camera_info (none of its own stamp came)


class InputMonitor:
    """The node's inputs beyond matching (plain stamps and objects; no rclpy).

    Inputs: ``COLOUR`` (0), ``INFO`` (1, camera_info) and optionally ``DEPTH`` (2). An input
    *lags* when two colour images (of the last ``queue_size``) are stamped after its latest
    message: a stream that pauses, or one slower than any timeout, never lags (its next image
    waits for its own messages), and neither does one reordered by a frame.

    - Depth is *silent* when it lags and no depth message arrived for ``depth_timeout_s`` (since
      activation when none ever did) while camera_info keeps coming (see :attr:`depth_silent`):
      colour + camera_info then make RGB-only frames (:meth:`claim` with ``with_depth=False``)
      until a depth message arrives again.
    - camera_info: the latest one per frame id is kept. An image waits for the camera_info of
      its own stamp; when camera_info of its frame id lags (published once, or stuck in
      transport), or at once when it comes from a latching publisher (``info_latched``, set by
      the caller that sees the publisher's QoS), :meth:`arrived` pairs the waiting images with
      the latest one (one of an image's own stamp that comes before its set is complete still
      replaces it). It never expires (a camera re-publishes it when it changes; one of another
      size is refused when the frame is decoded).
    - Each colour image is claimed once (an RGB-only and an RGB-D match of the same image never
      both fire); one that leaves the window of the last ``queue_size`` images unclaimed is
      reported to ``on_skip`` with the reason: ``missing_camera_info``, ``missing_depth`` or
      ``unsynchronised`` (every input came, their stamps did not match within ``slop_s``).
    """

    def __init__(
        self,
        num_inputs: int,
        queue_size: int,
        slop_s: float,
        depth_timeout_s: float | None = None,
        on_skip: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.num_inputs = int(num_inputs)
        self.queue_size = int(queue_size)
        self.slop_ns = round(slop_s * 1e9)
        self.depth_timeout_s = depth_timeout_s
        self.on_skip = on_skip
        self.clock = clock
        self.started_s = clock()
        self.arrivals = [0] * self.num_inputs
        self.since_last = [0] * self.num_inputs  # colour images since the last one of input i
        self.last_arrival_s: list[float | None] = [None] * self.num_inputs
        self.rgb_only_claims = 0
        self.info_latched = False  # camera_info comes from a transient-local (latching) publisher
        self._lags_after = min(2, self.queue_size)  # images stamped after an input's latest
        self._latest_info: dict[str, tuple[int, Any]] = {}  # frame id -> (stamp, camera_info)
        self._latest_depth_ns: int | None = None
        self._newest_claimed: tuple[int, int] | None = None  # (stamp, seq) handed on
        self._seq = 0
        self.late = 0  # images older than one already handed on: superseded, never processed
        self._colour: OrderedDict[int, _Colour] = OrderedDict()
        self._seen = [deque(maxlen=4 * self.queue_size) for _ in range(self.num_inputs)]
        self._lock = threading.Lock()

    @property
    def has_depth(self) -> bool:
        return self.num_inputs > DEPTH

    def silent_s(self, index: int) -> float:
        """Seconds since the last message of input ``index`` (since activation if none came)."""
        last = self.last_arrival_s[index]
        return self.clock() - (self.started_s if last is None else last)

    def _newer(self, stamp: int | None, frame_id: str | None = None) -> list[int]:
        """Stamps of the colour images (of ``frame_id``, None: any) after ``stamp``."""
        return [
            s
            for s, r in self._colour.items()
            if (stamp is None or s > stamp + self.slop_ns)
            and (frame_id is None or r.frame_id == frame_id)
        ]

    @property
    def depth_silent(self) -> bool:
        """Depth is configured, lags and was silent for longer than ``depth_timeout_s``, while
        camera_info keeps coming (or is latched: from a transient-local publisher, or silent
        for more than STALL_S). Depth and camera_info silent together is a transport stall
        (a reliable transport repairing a lost sample takes seconds): it is waited out."""
        timeout = self.depth_timeout_s
        if not self.has_depth or timeout is None or self.silent_s(DEPTH) <= timeout:
            return False
        info_s = self.silent_s(INFO)
        if not (info_s <= timeout or self.info_latched or info_s > STALL_S):
            return False
        return len(self._newer(self._latest_depth_ns)) >= self._lags_after

    def arrived(self, index: int, stamp_ns: int, frame_id: str, msg: Any) -> list[tuple[int, Any]]:
        """Note a message of input ``index``; the (image stamp, camera_info) pairs to offer the
        synchroniser: waiting images of a lagging camera_info with the latest one."""
        stamp = int(stamp_ns)
        frame_id = str(frame_id)
        evicted: list[str] = []
        pairs: list[tuple[int, Any]] = []
        with self._lock:
            self.arrivals[index] += 1
            self.last_arrival_s[index] = self.clock()
            if index == COLOUR:
                self.since_last = [n + 1 for n in self.since_last]
            self.since_last[index] = 0
            self._seen[index].append(stamp)
            if index == INFO:
                self._latest_info[frame_id] = (stamp, msg)
            elif index == DEPTH:
                self._latest_depth_ns = max(stamp, self._latest_depth_ns or stamp)
            else:
                self._seq += 1
                self._colour[stamp] = _Colour(frame_id, self._seq)
                while len(self._colour) > self.queue_size:
                    old, gone = self._colour.popitem(last=False)
                    if gone.claimed:
                        continue
                    if self._superseded(old, gone):
                        self.late += 1
                    else:
                        evicted.append(self._why_unused(old, gone.paired))
                pairs = self._pair_lagging(frame_id)
        if self.on_skip is not None:
            for reason in evicted:
                self.on_skip(reason)
        return pairs

    def info_near(self, stamp_ns: int) -> bool:
        """Did a camera_info stamped within ``slop_s`` of ``stamp_ns`` arrive?"""
        with self._lock:
            return self._near(INFO, int(stamp_ns))

    def pair_lagging(self, frame_id: str) -> list[tuple[int, Any]]:
        """:meth:`arrived`'s pairs for the images of ``frame_id`` (after ``info_latched`` was
        set)."""
        with self._lock:
            return self._pair_lagging(str(frame_id))

    def _pair_lagging(self, frame_id: str) -> list[tuple[int, Any]]:
        latest = self._latest_info.get(frame_id)
        if latest is None:
            return []
        newer = self._newer(latest[0], frame_id)
        if len(newer) < (1 if self.info_latched else self._lags_after):
            return []
        pairs = []
        for stamp in sorted(newer):  # never one older than an image already handed on
            record = self._colour[stamp]
            if self._superseded(stamp, record):
                continue
            if not (record.claimed or record.paired or self._near(INFO, stamp)):
                record.paired = True
                pairs.append((stamp, latest[1]))
        return pairs

    def _superseded(self, stamp: int, record: _Colour | None) -> bool:
        """Did a newer image that arrived after this one go on already? (An image that arrives
        after it, stamped older, is the camera's reordering or clock jump: the node judges.)"""
        newest = self._newest_claimed
        return (
            record is not None
            and newest is not None
            and record.seq < newest[1]
            and stamp < newest[0]
        )

    def _near(self, index: int, stamp: int) -> bool:
        return any(abs(s - stamp) <= self.slop_ns for s in self._seen[index])

    def _why_unused(self, stamp: int, paired: bool) -> str:
        if not paired and not self._near(INFO, stamp):
            return "missing_camera_info"
        if self.has_depth and not self._near(DEPTH, stamp):
            return "missing_depth"
        return "unsynchronised"

    def claim(self, stamp_ns: int, with_depth: bool) -> bool:
        """May the match of the colour image ``stamp_ns`` be processed? Once per image, never
        after a newer one (counted in ``late``: the node keeps only the latest frame); an
        RGB-only match (``with_depth`` False) only while depth is silent."""
        stamp = int(stamp_ns)
        with self._lock:
            record = self._colour.get(stamp)
            if record is not None and record.claimed:
                return False
            if self._superseded(stamp, record):
                self.late += 1
                record.claimed = True
                return False
            if not with_depth and not self.depth_silent:
                return False
            if record is not None:
                record.claimed = True
            if record is not None and (
                self._newest_claimed is None or record.seq > self._newest_claimed[1]
            ):
                self._newest_claimed = (stamp, record.seq)
            if not with_depth:
                self.rgb_only_claims += 1
            return True

    def reset(self) -> None:
        """Forget the images and stamps seen (a clock jump); the latest camera_info stays."""
        with self._lock:
            self._colour.clear()
            self._latest_depth_ns = None
            self._newest_claimed = None
            for seen in self._seen:
                seen.clear()
