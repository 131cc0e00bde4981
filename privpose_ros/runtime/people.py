"""The real-world front end: every person in an RGB image, canonical 2D joints and landmarks.

MoveNet MultiPose finds the people (boxes + COCO-17 points); each person's rotated crop goes to
the BlazePose landmark model (all persons in one batch); its 33 landmarks become the canonical
26 joints (:mod:`privpose_ros.core.blazepose`) in source pixels with per-joint confidence (the
landmark visibility), and the person keeps its landmarks (metric world points included). The
front end places nobody in 3D: a lifter does, once (runtime/placement.py: the landmarks' own
monocular placement; runtime/lifter.py: the privpose model), then the depth refinement.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from privpose_ros.core.blazepose import confidence_to_canonical, landmarks_to_canonical
from privpose_ros.core.crop import box_from_points_px, box_iou
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.frame import RGBDFrame
from privpose_ros.core.joints import CANONICAL
from privpose_ros.core.landmarks import Landmarks, Roi
from privpose_ros.core.paths import WEIGHTS_DIR
from privpose_ros.core.pose import PersonPose
from privpose_ros.runtime.async_detector import AsyncDetector, DetectionResult
from privpose_ros.runtime.detection import Detection
from privpose_ros.runtime.detector import TILE_MODES, PersonDetector
from privpose_ros.runtime.graph import open_graph
from privpose_ros.runtime.landmarks import LandmarkModel, roi_from_detection
from privpose_ros.runtime.runner import RunnerConfig
from privpose_ros.runtime.tiles import keypoint_distance_px, span_reason

LOG = logging.getLogger(__name__)
LANDMARK_MODELS = ("full", "lite", "heavy")
DETECTOR_FILE = "movenet_multipose.onnx"
# person presence of the first landmark pass below which the second pass is not used (the S8
# studio light of MPI-INF-3DHP: 1e-6 then 0.97; real people cut off by the image: >= 0.05)
MIN_FIRST_PASS_SCORE = 0.01
# a detection overlapping a followed person's landmark box by more is that person, not a newcomer
NEWCOMER_MAX_IOU = 0.3
_STREAMS = itertools.count()


def landmark_file(variant: str) -> str:
    return f"blazepose_landmark_{variant}.onnx"


@dataclass(frozen=True)
class FrontEndConfig:
    """``runner``: where the graphs run (:class:`~privpose_ros.runtime.runner.RunnerConfig`,
    shared with the lifter). ``landmark_model``: "full" (default)
    or "lite" (weak CPUs). ``detector_long_side_px``: MoveNet input long side (multiple of 32).
    ``min_person_score``: MoveNet person score to keep a detection; ``min_pose_score``:
    BlazePose person presence to keep it after landmarks (rejects false detections).
    ``max_persons``: most persons per image (best first). ``detector_tiles``: "auto" (default)
    also runs MoveNet on overlapping tiles when the full frame gave its 6 and ``max_persons``
    asks for more; "always" on every detection; "off" never (at most 6 persons).
    ``roi_passes``: 2 (default) also
    re-crops each person from its own alignment landmarks, runs the landmarks again and keeps
    the pass with the higher person presence (2x landmark time; on the real development data it
    found the standing TUE person in 5 of 5 frames instead of 3 and lowered the 3DHP MPJPE).
    ``detect_every_n``: on a video stream the detector runs on every n-th frame (and whenever
    nobody is followed); in between each person is cropped from the ROI its own landmarks gave
    on the previous frame (one landmark pass, as MediaPipe tracks), so a new person is found
    within n frames. 1: detect on every image (independent photos).
    ``async_detection``: with ``detect_every_n`` > 1 the detector runs in its own thread on the
    newest frame (:mod:`privpose_ros.runtime.async_detector`), so no frame waits for it:
    followed people are cropped from their own landmarks on every frame and newcomers found
    by the detector join on the frame its result is ready (a few frames after the one it saw).
    The detector runs on the calling thread only when nobody is followed.
    ``world_scale``: scale applied to BlazePose's metric world points when the monocular lifter
    places them (BlazePose's limbs measure 0.83-0.91 of the true lengths on real studio frames).
    ``weights_dir``: folder
    of the ONNX files (None: the shipped ones)."""

    runner: RunnerConfig = field(default_factory=RunnerConfig)
    landmark_model: str = "full"
    detector_long_side_px: int = 512
    min_person_score: float = 0.1
    min_pose_score: float = 0.5
    max_persons: int = 6
    detector_tiles: str = "auto"
    roi_passes: int = 2
    detect_every_n: int = 5
    async_detection: bool = True
    world_scale: float = 1.1
    weights_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.landmark_model not in LANDMARK_MODELS:
            raise PrivposeInputError(
                f"landmark_model must be one of {LANDMARK_MODELS}, got {self.landmark_model!r}"
            )
        side = int(self.detector_long_side_px)
        if side % 32 or not 128 <= side <= 1536:
            raise PrivposeInputError(
                f"detector_long_side_px must be a multiple of 32 in [128, 1536], got {side}"
            )
        if not 1 <= int(self.detect_every_n) <= 1000:
            raise PrivposeInputError(
                f"detect_every_n must be in [1, 1000], got {self.detect_every_n}"
            )
        if self.roi_passes not in (1, 2) or not 1 <= int(self.max_persons) <= 32:
            raise PrivposeInputError(
                f"roi_passes must be 1 or 2 and max_persons in [1, 32], got {self.roi_passes}, "
                f"{self.max_persons}"
            )
        if self.detector_tiles not in TILE_MODES:
            raise PrivposeInputError(
                f"detector_tiles must be one of {TILE_MODES}, got {self.detector_tiles!r}"
            )
        if not isinstance(self.async_detection, bool):
            raise PrivposeInputError(
                f"async_detection must be true or false, got {self.async_detection!r}"
            )
        if not self.world_scale > 0:
            raise PrivposeInputError(f"world_scale must be > 0, got {self.world_scale}")

    @property
    def models_dir(self) -> Path:
        return Path(self.weights_dir) if self.weights_dir else WEIGHTS_DIR


@dataclass(frozen=True)
class FollowState:
    """What links one frame to the next: the persons followed (detection score, next ROI),
    frames since the last detection, the image size they belong to, and the ``stream`` token
    that ties asynchronous detections to it (a new state, a new stream)."""

    followed: tuple[tuple[float, Roi], ...] = ()
    since_detection: int = 0
    image_hw: tuple[int, int] | None = None
    stream: int = field(default_factory=lambda: next(_STREAMS))


@dataclass
class StageTimes:
    """Milliseconds spent per stage in the last ``estimate`` call; ``extra``: counts of that
    call (``detector_passes``: MoveNet runs, tiles included; ``spans_recropped`` /
    ``spans_dropped``: skeletons that spanned two people, replaced by the other ROI pass or
    dropped)."""

    detector_ms: float = 0.0
    landmarks_ms: float = 0.0
    persons: int = 0
    extra: dict[str, float] = field(default_factory=dict)


class PeopleEstimator:
    """An RGBDFrame -> every person in its colour image: canonical 2D joints, confidence, box
    and landmarks; ``joints_cam_m`` stay unknown (NaN) until a lifter places them.

    Person ids are detection ranks (0 = best); the tracker gives stable ids. Not thread-safe.
    """

    def __init__(self, config: FrontEndConfig = FrontEndConfig()) -> None:
        self.config = config
        graphs = config.models_dir
        run = config.runner
        common = dict(
            backend=run.backend,
            device=run.device,
            threads=run.threads,
            enable_fp16=run.enable_fp16,
            cache_dir=run.cache_dir,
        )
        side = config.detector_long_side_px
        det_shapes = {"image": ((1, 32, 32, 3), (1, side, side, 3), (1, side, side, 3))}
        self._det_runner = open_graph(graphs / DETECTOR_FILE, profile_shapes=det_shapes, **common)
        lm_shape = (256, 256, 3)
        lm_shapes = {"crop_rgb": ((1, *lm_shape), (4, *lm_shape), (config.max_persons, *lm_shape))}
        self._lm_runner = open_graph(
            graphs / landmark_file(config.landmark_model), profile_shapes=lm_shapes, **common
        )
        self.detector = PersonDetector(
            self._det_runner,
            side,
            config.min_person_score,
            tiles=config.detector_tiles,
            max_count=config.max_persons,
        )
        self.landmarks = LandmarkModel(self._lm_runner)
        self._async = None
        if config.async_detection and config.detect_every_n > 1:
            self._async = AsyncDetector(self.detector)
        self.times = StageTimes()
        self.follow = FollowState()
        # skeletons found spanning two people since construction, by what was done about them
        self.spans = {"recropped": 0, "dropped": 0}

    def reset(self) -> None:
        """Forget the persons followed from frame to frame (the next frame runs the detector)."""
        self.follow = FollowState(image_hw=self.follow.image_hw)

    @property
    def backend_name(self) -> str:
        return self._lm_runner.name

    def find_landmarks(self, rgb: np.ndarray) -> list[tuple[float, Landmarks]]:
        """(detection score, landmarks) of every person kept, best first."""
        state = self.follow
        if tuple(rgb.shape[:2]) != state.image_hw:
            state = FollowState(image_hw=tuple(rgb.shape[:2]))
        due = state.since_detection + 1 >= self.config.detect_every_n
        since = state.since_detection + 1
        if not state.followed:  # nobody to follow: the detector now, on this thread
            if self._async is not None:
                self._async.wait(timeout_s=5.0)  # the runner is the worker's meanwhile
            kept, since = self._detect_and_crop(rgb), 0
        elif self._async is None:
            kept = self._detect_and_crop(rgb) if due else self._follow(rgb, state.followed)
            since = 0 if due else since
        else:
            kept = self._follow(rgb, state.followed)
            ready = self._async.poll(state.stream)
            if ready is not None:
                kept = self._add_newcomers(rgb, kept, ready)
            if due and self._async.idle:
                self._async.submit(rgb, state.stream)
                since = 0
        self.follow = FollowState(
            tuple((score, lm.next_roi) for score, lm in kept), since, state.image_hw, state.stream
        )
        return kept

    def _detect_and_crop(self, rgb: np.ndarray) -> list[tuple[float, Landmarks]]:
        t0 = time.perf_counter()
        detections = self.detector.detect(rgb)[: self.config.max_persons]
        t1 = time.perf_counter()
        kept = self._crop_detections(rgb, detections)
        self.times.detector_ms = (t1 - t0) * 1e3
        self.times.landmarks_ms = (time.perf_counter() - t1) * 1e3
        self.times.extra["detector_passes"] = float(self.detector.passes)
        return kept

    def _crop_detections(
        self, rgb: np.ndarray, detections: list[Detection]
    ) -> list[tuple[float, Landmarks]]:
        """Landmarks of each detection (one or two ROI passes, spanning skeletons handled),
        those with enough person presence, duplicates dropped."""
        rois: list[Roi] = [roi_from_detection(d) for d in detections]
        first = self.landmarks.infer(rgb, rois)
        again = first
        if self.config.roi_passes == 2 and first:
            again = self.landmarks.infer(rgb, [lm.next_roi for lm in first])
        found = self._one_person_each(detections, first, again)
        kept = [
            (d.score, lm)
            for d, lm in zip(detections, found, strict=True)
            if lm is not None and lm.pose_score >= self.config.min_pose_score
        ]
        return _drop_duplicates(kept)

    def _add_newcomers(
        self, rgb: np.ndarray, kept: list[tuple[float, Landmarks]], ready: DetectionResult
    ) -> list[tuple[float, Landmarks]]:
        """``kept`` plus the detections of an earlier frame that no followed person explains,
        cropped on this frame (up to ``max_persons`` in all)."""
        known = [box_from_points_px(lm.points_px) for _, lm in kept]
        room = self.config.max_persons - len(kept)
        new = [
            d
            for d in ready.detections
            if not known or box_iou(d.box_px, np.stack(known)).max() <= NEWCOMER_MAX_IOU
        ][: max(room, 0)]
        self.times.extra.update(
            detector_async_ms=ready.detector_ms, detector_passes=float(ready.passes)
        )
        if not new:
            return kept
        t0 = time.perf_counter()
        found = self._crop_detections(rgb, new)
        self.times.landmarks_ms += (time.perf_counter() - t0) * 1e3
        return _drop_duplicates(kept + found)[: self.config.max_persons]

    def _one_person_each(
        self, detections: list[Detection], first: list[Landmarks], again: list[Landmarks]
    ) -> list[Landmarks | None]:
        """Per detection, the ROI pass kept: the second (re-cropped from the first pass's own
        landmarks) when its person presence is at least the first's, unless that skeleton
        spans two people (:func:`~privpose_ros.runtime.tiles.span_reason`): then the other
        pass (re-cropped from the detection); None (dropped) when both span, unless the only
        reason is that they are far from the detector's own keypoints."""
        boxes = [d.box_px for d in detections]
        out: list[Landmarks | None] = []
        recropped = dropped = 0
        for i, (det, a, b) in enumerate(zip(detections, first, again, strict=True)):
            # a first pass with no sign of a person (a lamp, a coat) is not re-cropped: the
            # larger second crop could hallucinate a tiny person in it
            second = a.pose_score >= MIN_FIRST_PASS_SCORE and b.pose_score >= a.pose_score
            order = (b, a) if second else (a, b)
            others = boxes[:i] + boxes[i + 1 :]
            why = [span_reason(lm.points_px, lm.visibility, det, others) for lm in order]
            if why[0] == "far_from_detection" and not _nearer_another(order[0], i, detections):
                # far from its own detector's points but no nearer anyone else's: the detector
                # may be the one that is wrong (a person seen side on, cut by the image)
                why[0] = None
            if why[0] is None:
                out.append(order[0])
                continue
            # counted when the spanning skeleton would have been output
            counted = order[0].pose_score >= self.config.min_pose_score
            if why[1] is None and order[1] is not order[0]:
                out.append(order[1])
                recropped += counted
            elif why[0] == "far_from_detection":
                # both passes disagree with the detector's own points: the detector may be the
                # one that is wrong (a person seen side on), so nothing is dropped for it
                out.append(order[0])
            else:
                out.append(None)
                dropped += counted
        self.times.extra.update(spans_recropped=float(recropped), spans_dropped=float(dropped))
        self.spans["recropped"] += recropped
        self.spans["dropped"] += dropped
        return out

    def _follow(
        self, rgb: np.ndarray, followed: tuple[tuple[float, Roi], ...]
    ) -> list[tuple[float, Landmarks]]:
        """One landmark pass per followed person, cropped where its landmarks last were."""
        t0 = time.perf_counter()
        found = self.landmarks.infer(rgb, [roi for _, roi in followed])
        self.times.detector_ms = 0.0
        self.times.landmarks_ms = (time.perf_counter() - t0) * 1e3
        self.times.extra.update(detector_passes=0.0, spans_recropped=0.0, spans_dropped=0.0)
        kept = [
            (score, lm)
            for (score, _), lm in zip(followed, found, strict=True)
            if lm.pose_score >= self.config.min_pose_score
        ]
        return _drop_duplicates(kept)

    @property
    def times_ms(self) -> dict[str, float]:
        """Milliseconds of the last ``find_persons`` per stage (detector, landmarks)."""
        return {"detector_ms": self.times.detector_ms, "landmarks_ms": self.times.landmarks_ms}

    def find_persons(self, frame: RGBDFrame) -> tuple[PersonPose, ...]:
        """Every person of ``frame.rgb``, best first: joints_px in pixels of the raw image,
        confidence, box_px and landmarks; joints_cam_m NaN (no 3D yet)."""
        kept = self.find_landmarks(frame.rgb)
        persons = tuple(self._person(rank, score, lm) for rank, (score, lm) in enumerate(kept))
        self.times.persons = len(persons)
        return persons

    def _person(self, rank: int, det_score: float, lm: Landmarks) -> PersonPose:
        joints_px = landmarks_to_canonical(lm.points_px)
        lo, hi = joints_px.min(axis=0), joints_px.max(axis=0)
        return PersonPose(
            joints_cam_m=np.full((CANONICAL.num_joints, 3), np.nan),
            confidence=np.clip(confidence_to_canonical(lm.visibility), 0.0, 1.0),
            joint_set=CANONICAL,
            person_id=rank,
            joints_px=joints_px,
            score=float(np.sqrt(det_score * lm.pose_score)),
            box_px=np.concatenate([lo, hi]),
            landmarks=lm,
        )

    def close(self) -> None:
        if self._async is not None:
            self._async.close()
        for runner in (self._det_runner, self._lm_runner):
            runner.close()

    def __enter__(self) -> PeopleEstimator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _nearer_another(lm: Landmarks, index: int, detections: list[Detection]) -> bool:
    """Whether skeleton ``lm`` of detection ``index`` lies nearer another detection's body
    keypoints than its own (its landmarks moved onto someone else)."""
    visible = lm.visibility >= 0.5
    own = keypoint_distance_px(lm.points_px, visible, detections[index])
    others = [
        keypoint_distance_px(lm.points_px, visible, d)
        for j, d in enumerate(detections)
        if j != index
    ]
    others = [d for d in others if d is not None]
    return own is not None and bool(others) and min(others) < own


def _drop_duplicates(
    kept: list[tuple[float, Landmarks]], max_rel_distance: float = 0.08
) -> list[tuple[float, Landmarks]]:
    """Two detections of one person give the same landmarks: keep the better one. Duplicate =
    median landmark distance under ``max_rel_distance`` x the better one's ROI side."""
    out: list[tuple[float, Landmarks]] = []
    for score, lm in sorted(kept, key=lambda item: -item[0]):
        same = any(
            np.median(np.linalg.norm(lm.points_px - other.points_px, axis=1))
            < max_rel_distance * other.next_roi.side_px
            for _, other in out
        )
        if not same:
            out.append((score, lm))
    return out
