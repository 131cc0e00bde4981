"""The detector in its own thread (runtime/async_detector.py) and the front end that uses it:
submit never waits, only the newest frame is detected, results stay with their stream, and a
newcomer found in the background joins a later frame while followed people never wait."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.frame import RGBDFrame
from privpose_ros.runtime.async_detector import AsyncDetector
from privpose_ros.runtime.detection import Detection
from privpose_ros.runtime.people import FrontEndConfig, PeopleEstimator

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
# five skiers in a row: several people to follow and one to take away
SKIERS = DATA / "real2d" / "coco" / "000000197388.jpg"


class _SlowDetector:
    """A PersonDetector stand-in: ``delay_s`` per detect, one detection at the image's mean."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.passes = 0
        self.seen: list[float] = []
        self.threads: list[str] = []

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        self.threads.append(threading.current_thread().name)
        time.sleep(self.delay_s)
        self.passes = 1
        self.seen.append(float(rgb.mean()))
        box = np.array([0.0, 0.0, 10.0, 20.0])
        return [Detection(box, float(rgb.mean()), np.zeros((17, 2)), np.ones(17))]


def test_submit_never_waits_and_only_the_newest_frame_is_detected() -> None:
    slow = _SlowDetector(0.3)
    worker = AsyncDetector(slow)
    try:
        worker.submit(np.full((4, 4, 3), 1, np.uint8), stream=7)
        deadline = time.monotonic() + 5.0
        while not slow.threads and time.monotonic() < deadline:  # the worker took frame 1
            time.sleep(0.005)
        for value in (2, 3):  # while 1 is detected: 2 waits and is replaced by 3
            worker.submit(np.full((4, 4, 3), value, np.uint8), stream=7)
        assert slow.seen == []  # submit returned while the first detection still runs
        assert worker.poll(7) is None and not worker.idle
        assert worker.wait(timeout_s=5.0) and worker.idle
        assert slow.seen == [1.0, 3.0]  # frame 2 was never detected
        result = worker.poll(7)
        assert result is not None and result.detections[0].score == 3.0
        assert result.image_hw == (4, 4) and result.detector_ms >= 250.0
        assert worker.poll(7) is None  # given once
        worker.submit(np.full((4, 4, 3), 5, np.uint8), stream=8)
        assert worker.wait(timeout_s=5.0)
        assert worker.poll(7) is None  # not given to another stream
        assert worker.poll(8).detections[0].score == 5.0
        assert set(slow.threads) == {"privpose-detector"}
    finally:
        worker.close()


def test_a_failed_detection_costs_one_result_not_the_worker() -> None:
    slow = _SlowDetector(0.0)
    worker = AsyncDetector(slow)
    try:
        worker.submit(np.zeros((2, 2), np.uint8), stream=1)  # rgb.mean works: make it fail
        slow.detect = lambda rgb: (_ for _ in ()).throw(RuntimeError("boom"))
        worker.submit(np.zeros((4, 4, 3), np.uint8), stream=1)
        assert worker.wait(timeout_s=5.0)
        slow.detect = _SlowDetector(0.0).detect
        worker.submit(np.zeros((4, 4, 3), np.uint8), stream=1)
        assert worker.wait(timeout_s=5.0)
        assert worker.failures >= 1 and worker.poll(1) is not None
    finally:
        worker.close()


@pytest.mark.skipif(not SKIERS.is_file(), reason=f"real COCO photo not found at {SKIERS}")
def test_followed_people_never_wait_and_a_newcomer_joins_from_the_background(tmp_path):
    bgr = cv2.imread(str(SKIERS), cv2.IMREAD_COLOR)
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    h, w = rgb.shape[:2]
    k = CameraIntrinsics(float(w), float(w), (w - 1) / 2, (h - 1) / 2, w, h)
    config = FrontEndConfig(detect_every_n=2, async_detection=True, max_persons=6)
    with PeopleEstimator(config) as front:
        calls: list[str] = []
        run = front._det_runner.run

        def slow_run(feeds):  # noqa: ANN001, ANN202
            calls.append(threading.current_thread().name)
            time.sleep(0.4)
            return run(feeds)

        front._det_runner.run = slow_run
        frame = RGBDFrame(rgb, k)
        everyone = front.find_persons(frame)  # nobody followed yet: detected on this thread
        assert len(everyone) >= 3 and calls == ["MainThread"]
        # forget one person, as if they had just walked in
        follow = front.follow
        front.follow = replace(follow, followed=follow.followed[1:])
        missing = everyone[0].joints_px

        def has_missing(persons) -> bool:  # noqa: ANN001
            return min(np.abs(p.joints_px - missing).max() for p in persons) < 2.0

        for _ in range(2):  # detect_every_n 2: the second is due and handed to the worker
            followed = front.find_persons(frame)
            assert not has_missing(followed) and front.times.detector_ms == 0.0
        assert front._async.wait(timeout_s=30.0)
        assert calls[1:] == ["privpose-detector"]
        joined = front.find_persons(frame)  # the background result merges in
        assert has_missing(joined) and len(joined) > len(followed)
        assert front.times.extra["detector_async_ms"] >= 400.0
