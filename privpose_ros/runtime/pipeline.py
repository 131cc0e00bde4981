"""The whole per-frame job, without ROS: ``PosePipeline.process(frame) -> PoseResult``.

The one entry for the node, ``privpose infer``, ``privpose eval --real``, replay, the demo and
the benches, so all give the same answers for the same frame and parameters. Its stages:

1. the front end (:class:`~privpose_ros.runtime.people.PeopleEstimator`) finds every person:
   2D joints, confidence, box and BlazePose landmarks (no 3D);
2. the 3D lifter, chosen by ``model``, places each person once: the landmarks' own monocular
   placement (:class:`~privpose_ros.runtime.placement.MonocularLifter`, ``model: blazepose``)
   or the privpose model on every person's crop (:class:`~privpose_ros.runtime.lifter.
   PrivposeLifter`, ``model: privpose``); this is the RGB-only output and the depth stage's
   fallback skeleton;
3. with a depth image registered to the colour one, the depth stage
   (:class:`~privpose_ros.refine.fusion.DepthFusion`) refines every skeleton and fuses it with
   the lifter's (its fusion policy lives there);
4. stable ids (:class:`~privpose_ros.track.tracker.PersonTracker`) and per-joint One Euro
   smoothing on the image stamps (:class:`~privpose_ros.track.smoothing.PoseSmoother`).

Stages are injected (:class:`PosePipeline` takes them; :meth:`PosePipeline.from_config` builds
the shipped ones), so a test fakes one stage instead of running another pipeline. Stamps that go
backwards (a bag loop, a simulator restart) reset tracking and smoothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

from privpose_ros.core.frame import RGBDFrame
from privpose_ros.core.pose import PersonPose, PoseResult
from privpose_ros.refine.pipeline import RefineConfig
from privpose_ros.runtime.lifter import PrivposeLifterConfig
from privpose_ros.runtime.people import FrontEndConfig
from privpose_ros.track.smoothing import PoseSmoother, SmoothingConfig
from privpose_ros.track.tracker import IdSource, PersonTracker, TrackerConfig

LOG = logging.getLogger(__name__)
Persons = tuple[PersonPose, ...]


class FrontEnd(Protocol):
    """Finds every person of a frame (2D joints, confidence, box, landmarks)."""

    backend_name: str

    @property
    def times_ms(self) -> dict[str, float]: ...

    def find_persons(self, frame: RGBDFrame) -> Persons: ...

    def reset(self) -> None: ...

    def close(self) -> None: ...


class Lifter(Protocol):
    """Places every person in metres in the camera optical frame of ``frame.intrinsics``."""

    def lift(self, frame: RGBDFrame, persons: Persons) -> Persons: ...

    def close(self) -> None: ...


class DepthStage(Protocol):
    """Refines the lifted persons with ``frame.depth_mm`` (unchanged without depth)."""

    def refine(self, frame: RGBDFrame, persons: Persons) -> Persons: ...


@dataclass(frozen=True)
class PipelineConfig:
    """``refine`` None: no depth refinement (RGB-only 3D even with depth); ``tracking`` None:
    ids are detection ranks per frame; ``smoothing`` None (or without tracking): raw joints;
    ``lifter`` None: the front end's monocular 3D (``model: blazepose``), else the privpose
    model's 3D for every person (``model: privpose``)."""

    frontend: FrontEndConfig = field(default_factory=FrontEndConfig)
    refine: RefineConfig | None = field(default_factory=RefineConfig)
    tracking: TrackerConfig | None = field(default_factory=TrackerConfig)
    smoothing: SmoothingConfig | None = field(default_factory=SmoothingConfig)
    lifter: PrivposeLifterConfig | None = None


class PosePipeline:
    """One instance per camera stream (tracking state); not thread-safe. ``smoother`` runs
    only with a tracker (it filters per person id)."""

    def __init__(
        self,
        frontend: FrontEnd,
        lifter: Lifter,
        refiner: DepthStage | None = None,
        tracker: PersonTracker | None = None,
        smoother: PoseSmoother | None = None,
    ) -> None:
        self.frontend = frontend
        self.lifter = lifter
        self.refiner = refiner
        self.tracker = tracker
        self.smoother = smoother if tracker is not None else None
        self._last_stamp_ns: int | None = None
        self.resets = 0
        self.times_ms: dict[str, float] = {}

    @classmethod
    def from_config(
        cls, config: PipelineConfig = PipelineConfig(), ids: IdSource | None = None
    ) -> PosePipeline:
        """The shipped stages of ``config`` (ONNX front end, lifter, depth fusion, tracker);
        ``ids``: the tracker's id source (a node's, so ids outlive a reconfigure)."""
        from privpose_ros.runtime.people import PeopleEstimator

        frontend = PeopleEstimator(config.frontend)
        try:
            lifter = build_lifter(config)
            refiner = None
            if config.refine is not None:
                from privpose_ros.refine.fusion import DepthFusion

                refiner = DepthFusion(config.refine)
        except BaseException:
            frontend.close()
            raise
        tracker = PersonTracker(config.tracking, ids) if config.tracking is not None else None
        smoother = None
        if config.smoothing is not None and tracker is not None:
            smoother = PoseSmoother(config.smoothing)
        return cls(frontend, lifter, refiner, tracker, smoother)

    @property
    def backend_name(self) -> str:
        return self.frontend.backend_name

    def reset(self) -> None:
        """Forget tracks and filter state (ids keep increasing)."""
        for part in (self.tracker, self.smoother):
            if part is not None:
                part.reset()
        self.frontend.reset()
        self._last_stamp_ns = None

    def process(self, frame: RGBDFrame) -> PoseResult:
        """Every person in ``frame``: joints in metres in the optical frame of
        ``frame.intrinsics``, stamped with ``frame.stamp_ns`` in ``frame.frame_id``."""
        stamp_ns = int(frame.stamp_ns)
        if self._last_stamp_ns is not None and stamp_ns < self._last_stamp_ns:
            LOG.warning(
                "image stamps went back by %.3f s: tracking and smoothing reset",
                (self._last_stamp_ns - stamp_ns) * 1e-9,
            )
            self.reset()
            self.resets += 1
        self._last_stamp_ns = stamp_ns
        t0 = time.perf_counter()
        persons = self.frontend.find_persons(frame)
        t1 = time.perf_counter()
        times = {"frontend_ms": (t1 - t0) * 1e3, **self.frontend.times_ms}
        if persons:
            persons = self.lifter.lift(frame, persons)
        t2 = time.perf_counter()
        if self.refiner is not None and frame.depth_mm is not None and persons:
            persons = self.refiner.refine(frame, persons)
        t3 = time.perf_counter()
        if self.tracker is not None:
            persons = self.tracker.update(persons, stamp_ns, frame.rgb)
        if self.smoother is not None:
            persons = self.smoother.update(persons, stamp_ns)
        times["lifter_ms"] = (t2 - t1) * 1e3
        times["refine_ms"] = (t3 - t2) * 1e3
        times["tracking_ms"] = (time.perf_counter() - t3) * 1e3
        self.times_ms = times
        return PoseResult(persons=tuple(persons), stamp_ns=stamp_ns, frame_id=frame.frame_id)

    def close(self) -> None:
        self.frontend.close()
        self.lifter.close()

    def __enter__(self) -> PosePipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_lifter(config: PipelineConfig) -> Lifter:
    """The lifter ``config`` chooses: the privpose model, or the front end's monocular one."""
    if config.lifter is not None:
        from privpose_ros.runtime.lifter import PrivposeLifter

        return PrivposeLifter(config.lifter)
    from privpose_ros.runtime.placement import MonocularLifter

    return MonocularLifter(config.frontend.world_scale)
