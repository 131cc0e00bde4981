"""Depth that stops while colour and camera_info keep coming: RGB-only frames, never blind."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("rclpy", reason="rclpy not installed: run `make setup`")
from conftest import frame_msgs  # noqa: E402
from diagnostic_msgs.msg import DiagnosticStatus  # noqa: E402

S = 1_000_000_000
PERIOD_NS = S // 30


class DepthSeer:
    """A depth stage that records whether each frame it refined had depth."""

    def __init__(self) -> None:
        self.with_depth = 0

    def refine(self, frame, persons):
        self.with_depth += int(frame.depth_mm is not None)
        return persons


def _stream(graph, first: int, count: int, depth: bool) -> int:
    """Publish ``count`` frames at 30 Hz from frame number ``first``; the frames answered."""
    before = len(graph.received["pose"])
    for i in range(first, first + count):
        rgb, info, dep = frame_msgs(100 * S + i * PERIOD_NS)
        graph.publish((rgb, info, dep if depth else None))
        time.sleep(1 / 30)
    time.sleep(0.2)
    return len(graph.received["pose"]) - before


def _values(diag) -> dict[str, str]:
    return {kv.key: kv.value for kv in diag.status[0].values}


def test_silent_depth_gives_rgb_only_frames_until_depth_returns(make_graph) -> None:
    refiner = DepthSeer()
    graph = make_graph(refiner=refiner, **{"diagnostics.period_s": 0.2})
    node = graph.node
    assert _stream(graph, 0, 10, depth=True) >= 8
    assert refiner.with_depth >= 8 and node.stats.rgb_only_frames == 0
    seen_with_depth = refiner.with_depth
    # depth stops for 2 s; after sync.depth_timeout_s (0.5 s) colour + camera_info answer
    answered = _stream(graph, 10, 60, depth=False)
    assert answered >= 35, answered  # 60 sent: ~15 wait out the timeout, the rest answered
    assert refiner.with_depth == seen_with_depth  # no depth reached the depth stage
    assert node.stats.rgb_only_frames == answered
    assert node.stats.events["depth_dropouts"] == 1  # said once, not per frame
    gap = [d for d in graph.received["diag"] if _values(d).get("depth") == "rgb_only"]
    assert gap, "no /diagnostics sample reported the RGB-only mode"
    assert gap[-1].status[0].level == DiagnosticStatus.WARN  # with the cause
    assert gap[-1].status[0].message.startswith("RGB-only: no depth on /depth_registered")
    assert int(_values(gap[-1])["rgb_only_frames"]) > 0
    # depth is back: RGB-D again, at once
    rgb_only = node.stats.rgb_only_frames
    assert _stream(graph, 70, 10, depth=True) >= 8
    assert refiner.with_depth >= seen_with_depth + 8
    assert node.stats.rgb_only_frames == rgb_only
    assert node.stats.events["depth_dropouts"] == 1
    assert graph.wait_for(lambda: _values(graph.received["diag"][-1]).get("depth") == "ok")


def test_an_image_is_answered_once_when_depth_returns_after_the_rgb_only_answer(
    make_graph,
) -> None:
    """Depth silent: colour + camera_info are answered RGB-only; the late depth of the same
    stamp must not answer it a second time (an RGB-D match of an image already used)."""
    graph = make_graph(**{"sync.depth_timeout_s": 0.1})
    time.sleep(0.3)  # no depth since activation, but no colour image either: not silent yet
    graph.publish(frame_msgs(199 * S)[:2])  # waits for its depth
    time.sleep(0.3)
    assert graph.handled() == 0
    rgb, info, depth = frame_msgs(200 * S)  # the second colour image without depth: silent
    assert graph.send_and_wait((rgb, info, None))
    assert graph.node.stats.rgb_only_frames == 1
    graph.publish((None, None, depth))
    time.sleep(0.5)
    assert graph.node.stats.frames_in == 1 and graph.node.stats.frames_out == 1
    assert graph.node.stats.skipped["out_of_order"] == 0
    assert graph.send_and_wait(frame_msgs(201 * S))  # the next image waits for its depth
    assert graph.node.stats.rgb_only_frames == 1 and graph.node.stats.frames_out == 2


def test_input_monitor_rules_on_plain_stamps() -> None:
    """The rules without a graph: depth silence, one claim per image, latched camera_info,
    and why an unused image was skipped."""
    from privpose_ros.ros.sync import COLOUR, DEPTH, INFO, InputMonitor

    clock = [10.0]
    skipped: list[str] = []
    monitor = InputMonitor(3, 4, 0.01, 0.5, skipped.append, lambda: clock[0])
    assert not monitor.depth_silent  # 0 s since activation
    clock[0] += 0.6
    assert not monitor.depth_silent  # no image came either: a paused stream, not silent depth
    monitor.arrived(INFO, S // 2, "cam", "i0")
    monitor.arrived(COLOUR, S // 2, "cam", "c0")
    assert not monitor.depth_silent  # one image: it may still get its depth
    monitor.arrived(COLOUR, S // 2 + S // 30, "cam", "c0b")
    assert monitor.depth_silent  # two images, 0.6 s, no depth since activation
    monitor = InputMonitor(3, 4, 0.01, 0.5, skipped.append, lambda: clock[0])
    assert monitor.arrived(DEPTH, 1 * S, "cam", "d1") == []
    assert monitor.arrived(INFO, 1 * S, "cam", "i1") == []
    assert monitor.arrived(COLOUR, 1 * S, "cam", "c1") == []  # its own camera_info came
    assert not monitor.claim(1 * S, with_depth=False)  # depth is not silent: wait for it
    assert monitor.claim(1 * S, with_depth=True)
    assert not monitor.claim(1 * S, with_depth=True)  # once
    # camera_info stops (latched): image 2 waits for its own; with image 3 both get the kept one
    assert monitor.arrived(COLOUR, 2 * S, "cam", "c2") == []
    assert monitor.arrived(COLOUR, 3 * S, "cam", "c3") == [(2 * S, "i1"), (3 * S, "i1")]
    assert monitor.arrived(COLOUR, 4 * S, "cam", "c4") == [(4 * S, "i1")]  # at once
    assert monitor.arrived(COLOUR, 5 * S, "other", "c5") == []  # no camera_info for its id
    clock[0] += 0.6  # depth lags (images 2-5 after it), silent, but so is camera_info: a
    assert not monitor.depth_silent  # stalled transport (a reliable one repairing): wait
    clock[0] += 10.0  # camera_info silent > STALL_S: sent once; depth silent: RGB-only, once
    assert monitor.depth_silent
    assert monitor.claim(4 * S, with_depth=False)
    assert not monitor.claim(4 * S, with_depth=True)
    assert monitor.rgb_only_claims == 1
    # image 3 arrived before image 4, which went on: superseded (late), never processed after it
    assert not monitor.claim(3 * S, with_depth=True) and monitor.late == 1
    assert skipped == []
    monitor.arrived(COLOUR, 6 * S, "other", "c6")  # 2 leaves the window of 4: superseded too
    monitor.arrived(COLOUR, 7 * S, "other", "c7")  # 3 leaves, claimed as late: not a skip
    monitor.arrived(COLOUR, 8 * S, "other", "c8")  # 4 leaves, claimed: not a skip
    monitor.arrived(COLOUR, 9 * S, "other", "c9")  # 5 (no camera_info ever) leaves
    assert skipped == ["missing_camera_info"] and monitor.late == 2
    monitor.arrived(DEPTH, 10 * S, "other", "d10")
    monitor.arrived(INFO, 10 * S, "other", "i10")
    monitor.arrived(COLOUR, 10 * S, "other", "c10")
    assert monitor.claim(10 * S, with_depth=True)
    monitor.arrived(COLOUR, 5 * S, "other", "c5 again")  # arrives after, stamped older:
    assert monitor.claim(5 * S, with_depth=True)  # the camera's reordering, the node judges


def test_a_stream_slower_than_the_timeout_stays_rgbd(make_graph) -> None:
    """Frames 0.7 s apart (a slow camera, a paused bag): each waits for its own depth, since no
    colour image came without depth in between (found by the real-model end-to-end test)."""
    refiner = DepthSeer()
    graph = make_graph(refiner=refiner)
    for i in range(3):
        rgb, info, depth = frame_msgs((210 + i) * S)
        graph.publish((rgb, info, None))  # the colour image first, its depth a moment later
        time.sleep(0.05)
        assert graph.send_and_wait((None, None, depth))
        time.sleep(0.7)
    assert refiner.with_depth == 3 and graph.node.stats.rgb_only_frames == 0
