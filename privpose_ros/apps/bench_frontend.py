"""Latency of the whole front end (``PosePipeline.process``) on frames with N real people.

Frames: "real-photo composites" when the caller names a real data folder (``privpose bench
--frontend --real DIR``; the layout of ``privpose eval --real``): person crops cut from its photos
(MPI-INF-3DHP and isolated COCO people, boxes from their 2D joint annotations) side by side in
a ``width`` x ``height`` canvas, with a synthetic registered depth map in mm (each person's
silhouette, drawn from its joints, at 2-4 m; background at 5 m). Without a folder, the caller's
synthetic crops (``privpose bench`` renders synthetic people), logged once and reported as
"synthetic"; a folder that is absent or holds too few people is an error, never a fallback.
No data path is guessed. Per person count it times every stage of ``PosePipeline.times_ms`` and
the whole call, and counts the persons found (a frame where nobody is found is visible). The
report holds figures only: goals belong to the documentation.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from privpose_ros.apps.bench_lifter import _machine, _peak_rss_mib, percentiles_ms
from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.data.crossing import Sprite
from privpose_ros.runtime.people import LANDMARK_MODELS
from privpose_ros.runtime.runner import GRAPH_BACKENDS

LOG = logging.getLogger(__name__)
REAL_FRAMES, SYNTHETIC_FRAMES = "real-photo composites", "synthetic"
STAGES = ("detector", "landmarks", "lifter", "refine", "tracking")
SERIES = (*STAGES, "whole", "other", "whole_cpu")  # whole_cpu: CPU time of all our threads
REFINE_STEPS = ("lifting", "patch_a", "skeleton_b", "pointcloud_c")  # RefineConfig switches
FRONTEND_FIELDS = (
    "detector_long_side_px",
    "roi_passes",
    "detect_every_n",
    "async_detection",
    "min_person_score",
)
BACKGROUND_MM = 5000
FOCAL_PX = 525.0  # at 640 px wide (Kinect-like), scaled with the width
# limbs of the annotation joint orders, for the depth silhouettes
LIMBS_3DHP = tuple(  # MPI-INF-3DHP's own order (head_top, neck, r_shoulder ... spine, head)
    tuple(map(int, pair.split("-")))
    for pair in "0-16 16-1 1-2 2-3 3-4 1-5 5-6 6-7 1-15 15-14 14-8 8-9 9-10 14-11 11-12 12-13"
    " 2-8 5-11".split()
)
LIMBS_COCO = tuple(
    tuple(map(int, pair.split("-")))
    for pair in "5-7 7-9 6-8 8-10 5-6 11-12 5-11 6-12 11-13 13-15 12-14 14-16 0-5 0-6 5-12 "
    "6-11".split()
)


BenchFrame = tuple[np.ndarray, np.ndarray, CameraIntrinsics]  # rgb, depth_mm (uint16), K
CropSource = Callable[[], list[Sprite]]


@dataclass(frozen=True)
class FrontendBenchConfig:
    """``iterations`` timed ``process`` calls after ``warmup`` untimed ones, per person count
    in ``persons``, on ``distinct_frames`` composites cycled with increasing 30 Hz stamps.
    ``threads``: ONNX Runtime intra-op and torch threads (0: library default);
    ``landmark_model``, ``detector_long_side_px``, ``roi_passes``, ``async_detection``: as in
    ``FrontEndConfig`` (None: its default, what the node runs)."""

    persons: tuple[int, ...] = (1, 2, 4)
    iterations: int = 100
    warmup: int = 10
    threads: int = 0
    landmark_model: str = "full"
    detector_long_side_px: int | None = None
    roi_passes: int | None = None
    async_detection: bool | None = None
    backend: str = "auto"
    device: str = "cpu"
    enable_fp16: bool = False
    cache_dir: Path | None = None
    width: int = 640
    height: int = 480
    depth: bool = True
    distinct_frames: int = 8
    seed: int = 7

    def __post_init__(self) -> None:
        if not self.persons or any(not 1 <= n <= 6 for n in self.persons):
            raise PrivposeInputError(f"persons must be counts in [1, 6], got {self.persons}")
        if self.iterations < 1 or self.warmup < 0 or self.threads < 0:
            raise PrivposeInputError(
                f"iterations must be >= 1, warmup and threads >= 0; got {self.iterations}, "
                f"{self.warmup}, {self.threads}"
            )
        if self.landmark_model not in LANDMARK_MODELS or self.backend not in GRAPH_BACKENDS:
            raise PrivposeInputError(
                f"landmark_model must be one of {LANDMARK_MODELS} and backend one of "
                f"{GRAPH_BACKENDS}; got {self.landmark_model!r}, {self.backend!r}"
            )
        if self.width < 64 or self.height < 64 or self.distinct_frames < 1:
            raise PrivposeInputError(
                f"frames must be at least 64x64 and distinct_frames >= 1, got "
                f"{self.width}x{self.height}, {self.distinct_frames}"
            )


def _limb_mask(
    shape_hw: tuple[int, int], joints_px: np.ndarray, ok: np.ndarray, limbs: Sequence
) -> np.ndarray:
    """Silhouette of a person from its 2D joints: thick limbs and a head disc."""
    mask = np.zeros(shape_hw, dtype=np.uint8)
    pts = joints_px[ok]
    size = float(np.ptp(pts[:, 1])) if len(pts) > 1 else 10.0
    width = max(3, round(0.09 * size))
    for a, b in limbs:
        if ok[a] and ok[b]:
            pa, pb = np.round(joints_px[[a, b]]).astype(int)
            cv2.line(mask, tuple(pa), tuple(pb), 1, width)
    top = np.round(pts[np.argmin(pts[:, 1])]).astype(int)
    cv2.circle(mask, tuple(top), width, 1, -1)
    return mask.astype(bool)


def _cut(image: np.ndarray, joints_px: np.ndarray, ok: np.ndarray, limbs, source: str):
    """Crop around the annotated joints (+15 % of their height above for the head top)."""
    pts = joints_px[ok]
    (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
    h = y1 - y0
    x0, x1 = max(0, int(x0 - 0.12 * h)), min(image.shape[1], int(x1 + 0.12 * h) + 1)
    y0, y1 = max(0, int(y0 - 0.15 * h)), min(image.shape[0], int(y1 + 0.06 * h) + 1)
    mask = _limb_mask(image.shape[:2], joints_px, ok, limbs)
    return Sprite(image[y0:y1, x0:x1].copy(), mask[y0:y1, x0:x1].copy(), source)


def _overlap(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether two COCO boxes (x, y, w, h) intersect."""
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"cannot read {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def real_person_crops(data_dir: Path, min_coco_joints: int = 13) -> list[Sprite]:
    """The 3DHP people (``part`` 2D joints of ``test_3dhp_*.npz``), then COCO people with at
    least ``min_coco_joints`` labelled keypoints whose box touches no other person's."""
    crops = []
    folder = Path(data_dir) / "real3d" / "mpi_inf_3dhp"
    for npz in sorted(folder.glob("test_3dhp_*.npz")):
        with np.load(npz, allow_pickle=False) as ann:
            for name, part in zip(ann["imgname"], ann["part"], strict=True):
                image = _rgb(folder / str(name))
                inside = (part[:, :2] >= 0).all(1) & (part[:, :2] < image.shape[1::-1]).all(1)
                crops.append(_cut(image, part[:, :2], inside, LIMBS_3DHP, f"3dhp/{name}"))
    coco = Path(data_dir) / "real2d" / "coco" / "test_coco.json"
    if coco.is_file():
        ann = json.loads(coco.read_text())
        files = {im["id"]: im["file_name"] for im in ann["images"]}
        for a in ann["annotations"]:
            kps = np.asarray(a["keypoints"], dtype=np.float64).reshape(17, 3)
            if (kps[:, 2] > 0).sum() < min_coco_joints:
                continue
            same_image = [b["bbox"] for b in ann["annotations"] if b["image_id"] == a["image_id"]]
            if sum(_overlap(a["bbox"], b) for b in same_image) > 1:  # itself + another
                continue
            image = _rgb(coco.parent / files[a["image_id"]])
            crops.append(_cut(image, kps[:, :2], kps[:, 2] > 0, LIMBS_COCO, f"coco/{a['id']}"))
    return crops


def composite_frames(
    crops: Sequence[Sprite], persons: int, config: FrontendBenchConfig
) -> list[BenchFrame]:
    """``config.distinct_frames`` frames with the first ``persons`` crops side by side (one
    column each, bottom-aligned, drifting a few pixels per frame), a grey background, depth_mm
    uint16: each silhouette at its own depth in [2, 4] m (a person of 1.8 m spans that many
    pixels), ``BACKGROUND_MM`` elsewhere. Intrinsics: focal 525 px per 640 px of width."""
    if len(crops) < persons:
        raise PrivposeInputError(f"{persons} persons requested but only {len(crops)} crops")
    w, h = config.width, config.height
    focal = FOCAL_PX * w / 640.0
    k = CameraIntrinsics(focal, focal, (w - 1) / 2, (h - 1) / 2, w, h)
    rng = np.random.default_rng(config.seed + persons)
    cell_w = w // persons
    placed = []
    for crop in crops[:persons]:
        z_m = float(rng.uniform(2.0, 4.0))
        ch, cw = crop.rgb.shape[:2]
        scale = min(0.95 * cell_w / cw, 0.95 * h / ch, focal * 1.8 / z_m / ch)
        size = (max(1, round(cw * scale)), max(1, round(ch * scale)))
        rgb = cv2.resize(crop.rgb, size, interpolation=cv2.INTER_AREA)
        mask = cv2.resize(crop.alpha.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
        z_m = min(4.0, max(2.0, focal * 1.8 / (size[1] / 0.95)))  # metric size ~ pixel size
        placed.append((rgb, mask.astype(bool), z_m))
    ramp = np.linspace(90, 150, h, dtype=np.float32)[:, None, None]
    background = np.broadcast_to(ramp, (h, w, 3)).astype(np.uint8)
    frames = []
    drift = np.zeros((persons, 2))
    for _ in range(config.distinct_frames):
        rgb = background.copy()
        depth = np.full((h, w), BACKGROUND_MM, dtype=np.uint16)
        for i, (patch, mask, z_m) in enumerate(placed):
            ph, pw = patch.shape[:2]
            x = int(np.clip(i * cell_w + (cell_w - pw) // 2 + drift[i, 0], 0, w - pw))
            y = int(np.clip(h - ph - 4 + drift[i, 1], 0, h - ph))
            rgb[y : y + ph, x : x + pw] = patch
            noise = rng.normal(0.0, 5.0, mask.sum())
            depth[y : y + ph, x : x + pw][mask] = np.round(z_m * 1000.0 + noise).astype(np.uint16)
        frames.append((rgb, depth, k))
        drift = np.clip(drift + rng.integers(-3, 4, drift.shape), -12, 12)
    return frames


class _RoiCounter:
    """Wraps ``LandmarkModel.infer`` of one pipeline to count the crops each call got."""

    def __init__(self, landmarks) -> None:  # noqa: ANN001 - a LandmarkModel
        self._infer = landmarks.infer
        self.calls: list[int] = []
        landmarks.infer = self

    def __call__(self, rgb: np.ndarray, rois: list):
        self.calls.append(len(rois))
        return self._infer(rgb, rois)


class _Series:
    """Tracking state and samples of one person count."""

    def __init__(self, pipeline) -> None:  # noqa: ANN001 - a PosePipeline
        # fresh state per person count: ids and filters of this count only
        self.tracker = type(pipeline.tracker)(pipeline.tracker.config)
        self.smoother = type(pipeline.smoother)(pipeline.smoother.config)
        self.follow = pipeline.frontend.follow  # the front end's frame-to-frame crops
        self.samples_s: dict[str, list[float]] = {s: [] for s in SERIES}
        self.per_person_s: list[float] = []
        self.found: list[int] = []
        self.detections: list[int] = []

    def add(
        self, times_ms: dict[str, float], whole_s: float, cpu_s: float, rois: int, found: int
    ) -> None:
        times_s = {s: times_ms[f"{s}_ms"] / 1e3 for s in STAGES}
        for stage, value in times_s.items():
            self.samples_s[stage].append(value)
        self.samples_s["whole"].append(whole_s)
        self.samples_s["other"].append(max(0.0, whole_s - sum(times_s.values())))
        if rois:
            self.per_person_s.append(times_s["landmarks"] / rois)
        self.found.append(int(found))
        self.detections.append(int(rois))
        self.samples_s["whole_cpu"].append(cpu_s)

    def summary(self, persons: int) -> dict:
        stages = {f"{s}_ms": percentiles_ms(v) for s, v in self.samples_s.items()}
        per_person = percentiles_ms(self.per_person_s) if self.per_person_s else None
        cpu_s, wall_s = (sum(self.samples_s[k]) for k in ("whole_cpu", "whole"))
        return {
            "persons_requested": persons,
            "persons_found": self.found,
            "persons_found_mean": round(float(np.mean(self.found)), 3),
            "detections_mean": round(float(np.mean(self.detections)), 3),
            # CPU time of all our threads / wall time: under `threads` when others load the
            # machine (or ONNX Runtime's threads idle), above 1 when our threads overlap
            "cpu_per_wall": round(cpu_s / wall_s, 3),
            **stages,
            "landmarks_per_person_ms": per_person,
        }


def _torch_threads(threads: int) -> int | None:
    """Torch threads (the refiner's) set like ONNX Runtime's; None when torch is not used."""
    if "torch" not in sys.modules:
        return None
    torch = sys.modules["torch"]
    if threads > 0:
        torch.set_num_threads(threads)
    return int(torch.get_num_threads())


def bench_frontend(
    config: FrontendBenchConfig, frames_by_persons: dict[int, list[BenchFrame]], kind: str
) -> dict:
    """Time ``PosePipeline.process`` (default pipeline: refinement, tracking, smoothing) in
    this process on each person count's frames; one JSON-ready dict (times in ms)."""
    from privpose_ros.core.frame import RGBDFrame
    from privpose_ros.runtime.people import FrontEndConfig
    from privpose_ros.runtime.pipeline import PipelineConfig, PosePipeline
    from privpose_ros.runtime.runner import RunnerConfig

    rss_before = _peak_rss_mib()
    options = {
        k: getattr(config, k)
        for k in ("detector_long_side_px", "roi_passes", "async_detection")
        if getattr(config, k) is not None
    }
    runner = RunnerConfig(
        backend=config.backend,
        device=config.device,
        threads=config.threads,
        enable_fp16=config.enable_fp16,
        cache_dir=config.cache_dir,
    )
    frontend = FrontEndConfig(**options, runner=runner, landmark_model=config.landmark_model)
    report: dict = {"mode": "frontend", "frames": kind, "per_persons": {}}
    pipeline_config = PipelineConfig(frontend=frontend)
    with PosePipeline.from_config(pipeline_config) as pipeline:
        torch_threads = _torch_threads(config.threads)
        counter = _RoiCounter(pipeline.frontend.landmarks)
        runners = (pipeline.frontend._det_runner, pipeline.frontend._lm_runner)
        series = {n: _Series(pipeline) for n in config.persons}
        stamp_ns, step_ns = 0, 33_333_333 // len(config.persons)  # 30 Hz per person count
        # round robin over the person counts: machine noise hits all of them alike
        for i in range(config.warmup + config.iterations):
            for persons, state in series.items():
                frames = frames_by_persons[persons]
                rgb, depth_mm, k = frames[i % len(frames)]
                pipeline.tracker, pipeline.smoother = state.tracker, state.smoother
                pipeline.frontend.follow = state.follow
                counter.calls.clear()
                stamp_ns += step_ns
                c0, t0 = time.process_time(), time.perf_counter()
                frame = RGBDFrame(rgb, k, depth_mm if config.depth else None, stamp_ns)
                result = pipeline.process(frame)
                whole_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
                state.follow = pipeline.frontend.follow
                if i >= config.warmup:
                    rois = counter.calls[0] if counter.calls else 0
                    state.add(pipeline.times_ms, whole_s, cpu_s, rois, len(result.persons))
        for persons, state in series.items():
            report["per_persons"][str(persons)] = state.summary(persons)
        report.update(
            backend=pipeline.backend_name,
            providers=[list(getattr(r, "providers", ())) for r in runners],
            landmark_model=config.landmark_model,
            frontend={k: getattr(frontend, k) for k in FRONTEND_FIELDS},
            refine="+".join(s for s in REFINE_STEPS if getattr(pipeline_config.refine, s)),
        )
    report.update(
        image_wh=[config.width, config.height],
        depth=config.depth,
        iterations=config.iterations,
        warmup=config.warmup,
        threads=config.threads,
        torch_threads=torch_threads,
        cpu_count=os.cpu_count(),
        machine=_machine(),  # its load average: others sharing the machine during the run
        peak_rss_mib=_peak_rss_mib(),
        peak_rss_before_pipeline_mib=rss_before,
    )
    return report


def frontend_frames(
    config: FrontendBenchConfig,
    real_dir: Path | None = None,
    synthetic_crops: CropSource | None = None,
) -> tuple[dict[int, list[BenchFrame]], str, list[str]]:
    """Frames per person count, their kind (real or synthetic) and the crops' sources.

    ``real_dir``: a real data folder (``real3d/mpi_inf_3dhp``, ``real2d/coco``) whose people
    are composited; None: the people of ``synthetic_crops()`` (said once, at WARNING)."""
    needed = max(config.persons)
    if real_dir is not None:
        real_dir = Path(real_dir)
        if not real_dir.is_dir():
            raise FileNotFoundError(f"real data folder {real_dir} not found")
        crops, kind = real_person_crops(real_dir), REAL_FRAMES
        if len(crops) < needed:
            raise PrivposeInputError(
                f"{real_dir} holds {len(crops)} usable people (real3d/mpi_inf_3dhp, "
                f"real2d/coco) but --persons needs {needed}; lower --persons or leave out "
                "--real to benchmark synthetic people"
            )
    else:
        if synthetic_crops is None:
            raise PrivposeInputError(
                "no real data folder given: pass real_dir or synthetic person crops"
            )
        LOG.warning("no real data folder given (--real DIR): benchmarking synthetic people")
        crops, kind = synthetic_crops(), SYNTHETIC_FRAMES
    frames = {n: composite_frames(crops, n, config) for n in config.persons}
    return frames, kind, [c.source for c in crops[: max(config.persons)]]


def run_frontend_bench(
    config: FrontendBenchConfig,
    real_dir: Path | None = None,
    synthetic_crops: CropSource | None = None,
) -> dict:
    """Build the frames (see :func:`frontend_frames`) in one spawned process and benchmark in a
    fresh one, so the peak RSS is the pipeline's (photo decoding and the parent's imports never
    count towards it). Figures only: no goals."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1, maxtasksperchild=1) as pool:
        frames, kind, sources = pool.apply(frontend_frames, (config, real_dir, synthetic_crops))
        report = pool.apply(bench_frontend, (config, frames, kind))
    report["real_dir"] = None if real_dir is None else str(real_dir)
    report["frame_sources"] = sources
    return report
