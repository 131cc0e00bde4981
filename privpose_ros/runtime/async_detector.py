"""The person detector in its own thread: a frame never waits for MoveNet.

On a video stream the front end follows known people from their own landmarks on every frame;
the detector only has to find newcomers, so it runs beside that, on the newest frame handed to
it (an older frame still waiting is replaced, never queued), and its detections are merged
into a later frame when they are ready. Each result carries the ``stream`` token of the frame it
came from and is only given to that stream (not after a reset or an image size change, nor to
another follow state a benchmark swaps in).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import numpy as np

from privpose_ros.runtime.detection import Detection
from privpose_ros.runtime.detector import PersonDetector

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectionResult:
    """Detections of one frame: ``stream`` token, ``image_hw``, MoveNet ``passes`` and the
    worker's ``detector_ms`` for it."""

    detections: tuple[Detection, ...]
    stream: int
    image_hw: tuple[int, int]
    passes: int
    detector_ms: float


class AsyncDetector:
    """One worker thread around a :class:`PersonDetector` (whose runner it then owns: nothing
    else may run that detector while this lives). ``submit`` never blocks; ``poll`` gives the
    finished result of a stream once."""

    def __init__(self, detector: PersonDetector) -> None:
        self.detector = detector
        self._lock = threading.Condition()
        self._pending: tuple[np.ndarray, int] | None = None
        self._result: DetectionResult | None = None
        self._busy = False
        self._closed = False
        self.failures = 0
        self._thread = threading.Thread(target=self._work, name="privpose-detector", daemon=True)
        self._thread.start()

    @property
    def idle(self) -> bool:
        """Nothing running and nothing waiting."""
        with self._lock:
            return not self._busy and self._pending is None

    def submit(self, rgb: np.ndarray, stream: int) -> None:
        """Detect on ``rgb`` (copied) next; replaces a frame still waiting."""
        with self._lock:
            self._pending = (rgb.copy(), int(stream))
            self._lock.notify()

    def poll(self, stream: int) -> DetectionResult | None:
        """The finished result of ``stream`` (then forgotten), None while none is ready; a
        result of another stream is left for it (the next result replaces it)."""
        with self._lock:
            result = self._result
            if result is None or result.stream != stream:
                return None
            self._result = None
            return result

    def wait(self, timeout_s: float) -> bool:
        """Block until the worker is idle (tests, shutdown); False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while self._busy or self._pending is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._pending = None
            self._lock.notify_all()
        self._thread.join(timeout=5.0)

    def _work(self) -> None:
        while True:
            with self._lock:
                while self._pending is None and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return
                (rgb, stream), self._pending = self._pending, None
                self._busy = True
            t0 = time.perf_counter()
            try:
                found = tuple(self.detector.detect(rgb))
            except Exception as exc:  # noqa: BLE001 - a failed detection costs one detection
                self.failures += 1
                LOG.warning("person detection failed (%s: %s)", type(exc).__name__, exc)
                found = None
            ms = (time.perf_counter() - t0) * 1e3
            with self._lock:
                if found is not None:
                    hw = (int(rgb.shape[0]), int(rgb.shape[1]))
                    self._result = DetectionResult(found, stream, hw, self.detector.passes, ms)
                self._busy = False
                self._lock.notify_all()
