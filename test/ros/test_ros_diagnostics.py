"""/diagnostics tells the truth: WARN, naming the cause, whenever input arrives and nothing is
published; the input rate counts colour images as they arrive, before synchronisation."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy not installed: run `make setup`")
from conftest import frame_msgs, image_msg  # noqa: E402
from diagnostic_msgs.msg import DiagnosticStatus  # noqa: E402

S = 1_000_000_000
PERIOD_NS = S // 30


def _values(diag) -> dict[str, str]:
    return {kv.key: kv.value for kv in diag.status[0].values}


def _stream_until_warned(graph, frame, seconds: float = 4.0):
    """Publish ``frame(i)`` (a message triple) at 30 Hz until /diagnostics says WARN with a
    cause; the seconds it took and the WARN message (None if it never came)."""
    start = time.monotonic()
    first_diag = len(graph.received["diag"])
    i = 0
    while time.monotonic() - start < seconds:
        graph.publish(frame(i))
        i += 1
        time.sleep(1 / 30)
        for diag in graph.received["diag"][first_diag:]:
            status = diag.status[0]
            if status.level == DiagnosticStatus.WARN and "no output" in status.message:
                return time.monotonic() - start, diag
    return time.monotonic() - start, None


def test_no_camera_info_warns_within_seconds_naming_it(make_graph) -> None:
    graph = make_graph(**{"diagnostics.period_s": 0.2})

    def no_info(i):
        rgb, _, depth = frame_msgs(300 * S + i * PERIOD_NS)
        return rgb, None, depth

    took_s, diag = _stream_until_warned(graph, no_info)
    assert diag is not None, [d.status[0].message for d in graph.received["diag"]]
    assert took_s < 3.0  # > 2 s without output, told at the next sample
    message = diag.status[0].message
    assert "no camera_info on /rgb/camera_info yet" in message, message
    values = _values(diag)
    assert float(values["input_rate_hz"]) == pytest.approx(30.0, rel=0.3)  # raw colour
    assert float(values["synced_rate_hz"]) == 0.0 and values["frames_out"] == "0"
    assert int(values["recent_skipped"]) >= 30  # the missing-input skips reach the tally
    assert int(values["skipped.missing_camera_info"]) == int(values["recent_skipped"])


def test_depth_that_never_matches_warns_naming_it(make_graph) -> None:
    """Depth arrives, stamped 0.3 s off the colour images (beyond sync.slop_s): not silent, so
    no RGB-only frames, and nothing synchronises."""
    graph = make_graph(**{"diagnostics.period_s": 0.2})

    def late_depth(i):
        rgb, info, _ = frame_msgs(400 * S + i * PERIOD_NS)
        _, _, depth = frame_msgs(400 * S + i * PERIOD_NS - 3 * S // 10)
        return rgb, info, depth

    _, diag = _stream_until_warned(graph, late_depth)
    assert diag is not None, [d.status[0].message for d in graph.received["diag"]]
    message = diag.status[0].message
    assert "depth on /depth_registered/image_rect arrives but matches no colour image" in message
    assert "colour at 3" in message or "colour at 2" in message, message  # ~30 Hz


def test_refused_frames_warn_naming_the_reason(make_graph) -> None:
    graph = make_graph(**{"diagnostics.period_s": 0.2})

    def bad_encoding(i):
        rgb, info, depth = frame_msgs(500 * S + i * PERIOD_NS)
        yuv = image_msg(np.zeros((24, 32), np.uint8), "mono8", 500 * S + i * PERIOD_NS, "cam")
        yuv.encoding = "yuv422"
        return yuv, info, depth

    _, diag = _stream_until_warned(graph, bad_encoding)
    assert diag is not None, [d.status[0].message for d in graph.received["diag"]]
    assert "frames skipped (bad_rgb)" in diag.status[0].message, diag.status[0].message


def test_good_frames_are_ok_and_silence_is_not_a_warning(make_graph) -> None:
    graph = make_graph(**{"diagnostics.period_s": 0.2})
    for i in range(45):
        graph.publish(frame_msgs(600 * S + i * PERIOD_NS))
        time.sleep(1 / 30)
    last = graph.received["diag"][-1]
    assert last.status[0].level == DiagnosticStatus.OK, last.status[0].message
    assert float(_values(last)["input_rate_hz"]) > 15.0
    time.sleep(2.5)  # the camera stops: no input, nothing to answer
    assert graph.wait_for(lambda: len(graph.received["diag"]) > 3)
    assert graph.received["diag"][-1].status[0].level == DiagnosticStatus.OK
