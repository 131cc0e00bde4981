"""Load: at twice the rate the node can serve it drops frames instead of queueing them, and its
memory stays flat: no Python object kept per frame (traced), no frame buffers kept (RSS)."""

from __future__ import annotations

import gc
import time
import tracemalloc

import pytest

pytest.importorskip("rclpy", reason="rclpy not installed: run `make setup`")
from conftest import FakeEstimator, frame_msgs  # noqa: E402

from privpose_ros.ros.pose_msgs import stamp_ns_of  # noqa: E402

S = 1_000_000_000


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def test_twice_the_serviceable_rate_drops_instead_of_queueing(make_graph) -> None:
    estimator = FakeEstimator(delay_s=0.05)  # serves at most 20 Hz
    graph = make_graph(estimator)
    sent = []
    start = time.monotonic()
    for i in range(100):  # 40 Hz for 2.5 s: a queue would end 2.5 s behind
        delay = start + i / 40.0 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        msgs = frame_msgs(time.time_ns())
        sent.append(stamp_ns_of(msgs[0].header.stamp))
        graph.publish(msgs)
    graph.wait_for(lambda: graph.node._slot._item is None, 2.0)
    time.sleep(0.3)
    out = len(graph.received["pose"])
    dropped = graph.node._slot.dropped
    assert 15 <= out <= 75, out
    assert dropped >= 20, dropped
    latencies_s = [ns / 1e9 for ns in graph.arrival_ns]
    assert max(latencies_s) < 0.6, max(latencies_s)  # bounded: about one inference + one frame
    last = stamp_ns_of(graph.received["pose"][-1].header.stamp)
    assert last in sent[-4:]  # the newest frames are the ones answered
    assert estimator.calls == out


def test_memory_stays_flat_over_hundreds_of_vga_frames(make_graph) -> None:
    """640x480 RGB-D sets (1.5 MB each): keeping every processed frame would add > 75 MB."""
    graph = make_graph()
    sync = graph.node._sync  # feed the subscription callbacks directly: DDS is not under test

    def burst(first: int, count: int) -> None:
        for i in range(first, first + count):  # new messages each time, as DDS delivers them
            for index, msg in enumerate(frame_msgs((100 + i) * S // 100, 640, 480)):
                sync._add(index, msg)
            time.sleep(0.002)
        graph.wait_for(lambda: graph.node._slot._item is None, 5.0)

    burst(0, 100)
    out_before, before = graph.node.stats.frames_out, _rss_kib()
    burst(100, 400)
    time.sleep(0.2)
    after = _rss_kib()
    assert graph.node.stats.frames_in == 500
    processed = graph.node.stats.frames_out - out_before
    assert processed >= 50, processed
    assert after - before < 30 * 1024, (before, after, processed)


def test_no_python_memory_is_kept_per_frame(make_graph) -> None:
    """32x24 frames, so a few KB kept per frame (a growing list of results, of messages, of
    frames: 3.8 KB each) stands out. Python allocations (numpy buffers included) are traced
    over two windows of 400 frames after a first one that fills every bounded buffer
    (diagnostics keep 300 samples): the second window must not add to the first. Measured:
    -4 to +2 KB; keeping each decoded frame adds about 1.3 MB."""
    graph = make_graph()
    sync = graph.node._sync

    def window(first: int, count: int = 400) -> tuple[int, int]:
        out_before = graph.node.stats.frames_out
        for i in range(first, first + count):
            for index, msg in enumerate(frame_msgs((100 + i) * S // 100)):
                sync._add(index, msg)
            time.sleep(0.001)
        graph.wait_for(lambda: graph.node._slot._item is None, 5.0)
        time.sleep(0.1)  # the last outputs
        for received in graph.received.values():  # the test's own records are not the node's
            received.clear()
        graph.arrival_ns.clear()
        gc.collect()
        return tracemalloc.get_traced_memory()[0], graph.node.stats.frames_out - out_before

    window(0)  # imports, first-use caches
    tracemalloc.start()
    try:
        after_first, _ = window(400)
        after_second, processed = window(800)
    finally:
        tracemalloc.stop()
    growth_kib = (after_second - after_first) / 1024
    assert growth_kib < 32, (growth_kib, processed)
    assert processed >= 100, processed  # measured 230-360 of 400 (tracing slows the node)
