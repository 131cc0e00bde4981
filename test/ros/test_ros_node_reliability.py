"""The node holds up through clock jumps, future stamps, unexpected exceptions, stalls and
reconfiguration, in a real rclpy graph (a fake estimator keeps it fast)."""

from __future__ import annotations

import itertools
import time

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy not installed: run `make setup`")
from conftest import FakeEstimator, frame_msgs  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from privpose_ros.ros.pose_msgs import stamp_ns_of  # noqa: E402

S = 1_000_000_000


def _now_ns() -> int:
    return time.time_ns()


def _answered(graph) -> list[int]:
    return [stamp_ns_of(p.header.stamp) for p in graph.received["pose"]]


def test_a_future_stamped_frame_does_not_block_later_frames(make_graph) -> None:
    graph = make_graph()
    future = _now_ns() + 3600 * S  # one set stamped an hour ahead
    assert graph.send_and_wait(frame_msgs(future))
    assert graph.node.stats.skipped["future_stamp"] == 1
    base = _now_ns()
    good = [base + i * 50_000_000 for i in range(5)]
    for stamp in good:
        assert graph.send_and_wait(frame_msgs(stamp))
    assert graph.wait_for(lambda: set(good) <= set(_answered(graph)))
    assert future not in _answered(graph)


def test_a_30_s_backwards_jump_resets_and_is_answered_within_a_second(make_graph) -> None:
    graph = make_graph()
    base = _now_ns()
    for i in range(3):
        assert graph.send_and_wait(frame_msgs(base + i * 33_000_000))
    back = base - 30 * S  # a bag loops / a simulator restarts
    sent = time.monotonic()
    graph.publish(frame_msgs(back))
    assert graph.wait_for(lambda: back in _answered(graph), timeout_s=1.0)
    assert time.monotonic() - sent < 1.0
    assert graph.node.stats.events["clock_jumps"] == 1
    assert graph.send_and_wait(frame_msgs(back + 33_000_000))
    assert graph.wait_for(lambda: back + 33_000_000 in _answered(graph))
    assert graph.node.stats.skipped["out_of_order"] == 0
    # a small reordering is still refused
    assert graph.send_and_wait(frame_msgs(back + 10_000_000))
    assert graph.node.stats.skipped["out_of_order"] == 1


class _Exploding(FakeEstimator):
    """Raises an exception type the node does not expect on the calls listed."""

    def __init__(self, failures: dict[int, BaseException]) -> None:
        super().__init__()
        self.failures = failures

    def find_persons(self, frame):
        exc = self.failures.get(self.calls)
        if exc is not None:
            self.calls += 1
            raise exc
        return super().find_persons(frame)


def test_unexpected_exceptions_cost_one_frame_each_never_the_worker(make_graph) -> None:
    errors = {0: KeyError("joint"), 1: OSError("disk"), 2: IndexError("x"), 3: TypeError("t")}
    graph = make_graph(_Exploding(errors))
    base = _now_ns()
    for i in range(5):
        assert graph.send_and_wait(frame_msgs(base + i * 40_000_000))
    assert graph.node.stats.skipped["unexpected_error"] == 4
    assert graph.wait_for(lambda: base + 4 * 40_000_000 in _answered(graph))
    assert graph.node._worker.is_alive() and graph.node._worker_state() == "ok"


def test_an_error_outside_frame_processing_does_not_end_the_worker(
    make_graph, monkeypatch
) -> None:
    graph = make_graph()
    real = graph.node.process_msgs
    calls = {"n": 0}

    def flaky(*msgs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyError("outside")
        return real(*msgs)

    monkeypatch.setattr(graph.node, "process_msgs", flaky)
    base = _now_ns()
    graph.publish(frame_msgs(base))
    assert graph.wait_for(lambda: graph.node.stats.skipped["internal_error"] == 1)
    assert graph.send_and_wait(frame_msgs(base + S // 10))
    assert graph.wait_for(lambda: base + S // 10 in _answered(graph))


def test_watchdog_reports_a_stalled_worker(make_graph) -> None:
    graph = make_graph(FakeEstimator(delay_s=2.5), **{"watchdog.stall_s": 0.5})
    base = _now_ns()
    graph.publish(frame_msgs(base))  # the worker is busy for 2.5 s with this one
    assert graph.wait_for(
        lambda: graph.node.process_msgs is not None and graph.node.stats.frames_in >= 1
    )
    time.sleep(0.2)
    graph.publish(frame_msgs(base + S // 10))  # waits in the slot
    assert graph.wait_for(lambda: graph.node._worker_state() == "stalled", timeout_s=3.0)
    assert graph.wait_for(lambda: graph.node._worker_state() == "ok", timeout_s=8.0)


class _Recording(FakeEstimator):
    """Remembers the stamp of every frame it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.stamps: list[int] = []

    def find_persons(self, frame):
        self.stamps.append(frame.stamp_ns)
        return super().find_persons(frame)


def test_deactivate_activate_drops_a_stale_frame_and_processes_fresh_ones(make_graph) -> None:
    estimator = _Recording()
    graph = make_graph(estimator)
    graph.node.trigger_deactivate()
    stale = _now_ns()
    graph.node._slot.put(frame_msgs(stale))  # left behind when the node went inactive
    graph.node.trigger_activate()
    time.sleep(0.5)  # long enough for the new worker to take a frame left in the slot
    assert estimator.stamps == []
    # the re-activated worker really runs: fresh frames are estimated and answered (the
    # inputs are subscribed anew on activation, so publish until the first one gets through)
    fresh = (_now_ns() + i for i in itertools.count())  # increasing, never ahead
    assert graph.wait_for(lambda: graph.send_and_wait(frame_msgs(next(fresh)), timeout_s=0.2))
    more = [next(fresh) for _ in range(3)]
    for stamp in more:
        assert graph.send_and_wait(frame_msgs(stamp))
    assert graph.wait_for(lambda: set(more) <= set(_answered(graph)))
    assert stale not in estimator.stamps and set(more) <= set(estimator.stamps)
    assert graph.node._worker.is_alive() and graph.node._worker_state() == "ok"


def test_cleanup_and_reconfigure_with_tf_off_really_turns_tf_off(make_graph) -> None:
    graph = make_graph(**{"tf.enabled": True, "hri.enabled": False})  # REP 155 has its own TF
    assert graph.node._tf_broadcaster is not None
    assert graph.node.tf_prefix == "pose_node/"  # empty tf.prefix: unique per node
    graph.node.trigger_deactivate()
    graph.node.trigger_cleanup()
    assert graph.node._tf_broadcaster is None and graph.node._pubs == {}
    graph.node.set_parameters([Parameter("tf.enabled", value=False)])
    graph.node.trigger_configure()
    graph.node.trigger_activate()
    assert graph.node._tf_broadcaster is None
    assert graph.wait_for(lambda: graph.node._pubs.get("pose") is not None)

    # the node's own publishers: a graph query by node name can answer for another
    # "pose_node" an earlier test of the same session left in the domain
    names = [pub.topic_name for pub in graph.node.publishers]
    assert "/human_pose" in names and "/tf" not in names, names


def test_sim_time_from_a_clock_topic(make_graph) -> None:
    from rosgraph_msgs.msg import Clock

    from privpose_ros.ros.pose_msgs import stamp_msg

    graph = make_graph(**{"use_sim_time": True})
    clock_pub = graph.io.create_publisher(Clock, "/clock", 10)
    sim = 500 * S  # a replayed bag's time, far from the wall clock
    for i in range(4):
        stamp = sim + i * 100_000_000
        clock_pub.publish(Clock(clock=stamp_msg(stamp)))
        assert graph.wait_for(lambda s=stamp: graph.node.get_clock().now().nanoseconds >= s)
        assert graph.send_and_wait(frame_msgs(stamp))
    assert graph.wait_for(lambda: len(_answered(graph)) == 4)
    assert graph.node.stats.skipped["future_stamp"] == 0
    clock_pub.publish(Clock(clock=stamp_msg(sim + S)))
    assert graph.wait_for(lambda: graph.node.get_clock().now().nanoseconds >= sim + S)
    assert graph.send_and_wait(frame_msgs(sim + 3600 * S))  # an hour ahead of sim time
    assert graph.node.stats.skipped["future_stamp"] == 1


def test_sim_time_end_to_end_with_privpose_replay_clock(make_graph) -> None:
    """`privpose replay --clock` publishes /clock and stamps frames with it; a node with
    use_sim_time answers them although they are far from the wall clock."""
    import threading

    from privpose_ros.cli import main as cli_main

    graph = make_graph(**{"use_sim_time": True})
    argv = ["replay", "--frames", "6", "--rate", "10", "--width", "64", "--height", "48"]
    argv += ["--distinct", "2", "--clock", "5000", "--wait-subscriber", "5"]
    runner = threading.Thread(target=cli_main, args=(argv,), daemon=True)
    runner.start()
    runner.join(timeout=60)
    assert graph.wait_for(lambda: len(_answered(graph)) >= 5, timeout_s=10.0)
    stamps = sorted(_answered(graph))
    assert all(5000 * S <= s < 5001 * S for s in stamps), stamps
    assert graph.node.stats.skipped["future_stamp"] == 0
    assert graph.node.get_clock().now().nanoseconds >= 5000 * S
