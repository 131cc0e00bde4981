"""A synthetic VIDEO of Anny people walking in one room: what `privpose demo` plays by default.

One camera (a Kinect v2 colour camera 1.15-1.5 m high, looking slightly down), one room with
furniture behind the walkers, 1-3 people at 1.0-1.5 m/s. Each walks to and fro on a straight
floor path whose ends lie outside the camera's view (about 2.5-3 s out of view at each end), so
people cross each other in the image, leave the view and come back:

- walker 0 at about 3 m, starting left of centre, walking right;
- walker 1 at about 4.3-4.9 m (a slightly diagonal path), starting right of centre, walking left;
- walker 2 (``people=3``) on a diagonal from 2.4 m (left, out of view) to 5.4 m (right).

Gait: the capsule pose parameters of ``body.py`` follow a walking cycle (hips swing +-0.35 rad
in opposition, the knee of the swinging leg bends up to 0.7 rad, arms swing against the legs,
the torso counter-rotates a little), its phase tied to the distance walked (one stride = 0.78
body heights); the poses are retargeted onto Anny (``anny_body.posed_people``) and rendered with
the generator's own steps (``render_anny.submit_people``, ``scene_depth``, ``scene_albedo``,
``scene_render.sense_depth``). Lighting and exposure stay fixed over the video (the same light
for every frame; camera noise is therefore the same pattern in every frame); depth noise and
artefacts are drawn per frame. RGB is stored as JPEG (quality 90), as a robot's compressed
camera stream would be, and decoded the same way whether just rendered or read from the cache.

Frames are rendered in chunks of ``CHUNK`` (chunk c from ``SeedSequence([seed, 1, c])``, the
scene from ``SeedSequence([seed, 0])``), so a frame does not depend on how many are asked for
and the same seed gives the same bytes. Chunks are cached under
``core.cache.default_cache_dir() / "walk_sequence"`` (keyed by version, configuration, seed).
World frame: z up, floor z = 0, metres; the camera stands at x = y = 0 looking along +y.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.frame import RGBDFrame
from privpose_ros.data.anny_body import posed_people
from privpose_ros.data.anny_look import sample_looks
from privpose_ros.data.anny_model import identity_pool
from privpose_ros.data.body import POSE_FAMILIES, sample_shapes
from privpose_ros.data.render_anny import scene_albedo, scene_depth, submit_people
from privpose_ros.data.scene import SENSORS, Boxes, furniture_boxes, look_at, room_planes
from privpose_ros.data.scene_render import project_joints, sense_depth
from privpose_ros.data.shading import (
    Materials,
    camera_effects,
    concat_materials,
    random_materials,
    shade,
)
from privpose_ros.data.synth import GENERATOR_VERSION
from privpose_ros.data.synth_config import SynthConfig

LOG = logging.getLogger(__name__)
SEQUENCE_VERSION = "1"  # part of the cache key: bump it whenever the frames change
CHUNK = 8  # frames rendered (and cached) together
JPEG_QUALITY = 90
OUT_OF_VIEW_S = 1.4  # each path end lies this long (walking) beyond the view, per way
_BODY_CLEARANCE_M = 0.45  # a walker's centre this far beyond the view edge is out of the image


@dataclass(frozen=True)
class WalkConfig:
    """The sequence's size: image (pixels), walkers (1-3), frame rate (Hz), sensor preset."""

    width: int = 640
    height: int = 480
    people: int = 2
    rate_hz: float = 30.0
    camera: str = "kinect_v2"

    def __post_init__(self) -> None:
        if self.width < 16 or self.height < 16:
            raise PrivposeInputError(
                f"image must be at least 16x16, got {self.width}x{self.height}"
            )
        if not 1 <= self.people <= 3:
            raise PrivposeInputError(f"people must be 1, 2 or 3, got {self.people}")
        if not 1.0 <= self.rate_hz <= 240.0:
            raise PrivposeInputError(f"rate_hz must be in [1, 240], got {self.rate_hz}")
        if self.camera not in SENSORS:
            raise PrivposeInputError(f"camera must be one of {sorted(SENSORS)}, got {self.camera}")


@dataclass(frozen=True)
class Walker:
    """To and fro between floor points ``a_xy_m`` and ``b_xy_m`` at ``speed_mps``, ``start_m``
    along the loop a -> b -> a at t = 0; gait phase from the distance walked."""

    a_xy_m: np.ndarray
    b_xy_m: np.ndarray
    speed_mps: float
    start_m: float
    stride_m: float
    phase0: float

    def at(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Floor position (T, 2) m, unit heading (T, 2) and gait phase (T,) rad at ``t_s``."""
        length = float(np.linalg.norm(self.b_xy_m - self.a_xy_m))
        unit = (self.b_xy_m - self.a_xy_m) / length
        walked = self.start_m + self.speed_mps * np.asarray(t_s, dtype=np.float64)
        s = np.mod(walked, 2.0 * length)
        back = s > length
        d = np.where(back, 2.0 * length - s, s)
        heading = np.where(back[:, None], -unit, unit)
        phase = self.phase0 + 2.0 * np.pi * walked / self.stride_m
        return self.a_xy_m + d[:, None] * unit, heading, phase


@dataclass(frozen=True)
class WalkFrame(RGBDFrame):
    """An RGB-D frame of the sequence with every walker's ground truth, slot = stable id."""

    person_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (P,)
    people_joints_cam_m: np.ndarray = field(default_factory=lambda: np.zeros((0, 26, 3)))
    people_visible: np.ndarray = field(default_factory=lambda: np.zeros((0, 26), bool))
    people_in_view: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # (P,)


def gait_pose(phase: np.ndarray) -> dict[str, np.ndarray]:
    """Capsule pose parameters (``body.sample_poses`` names, radians) of a walking cycle at
    ``phase`` (M,): the left leg swings forward while cos(phase) > 0, the right half a cycle
    later."""
    phase = np.asarray(phase, dtype=np.float64)
    m = len(phase)
    legs = np.stack([phase, phase + np.pi], 1)  # (M, 2) left, right
    hip = 0.35 * np.sin(legs)
    arms = -0.5 * np.sin(legs)
    return {
        "bend": np.full(m, 0.06),
        "lean": np.zeros(m),
        "twist": 0.08 * np.sin(phase),
        "head_pitch": np.full(m, 0.05),
        "head_yaw": np.zeros(m),
        "sh_flex": arms,
        "sh_abd": np.full((m, 2), 0.12),
        "sh_rot": np.zeros((m, 2)),
        "elbow": 0.3 + 0.3 * np.maximum(arms, 0.0),
        "hip_flex": hip,
        "hip_abd": np.full((m, 2), 0.04),
        "knee": 0.08 + 0.62 * np.maximum(np.cos(legs), 0.0),
    }


def walkers(rng: np.random.Generator, people: int, tan_half_fov: float) -> list[Walker]:
    """The scripted paths (module docstring) with seeded depths, speeds and starts."""
    jitter = rng.uniform(-1.0, 1.0, (3, 3))
    speed = rng.uniform([1.1, 1.0, 1.0], [1.4, 1.3, 1.3])
    stride = 0.78 * rng.uniform(1.6, 1.85, 3)
    phase0 = rng.uniform(0.0, 2.0 * np.pi, 3)

    def end_x(y_m: float, v: float) -> float:  # out of view for OUT_OF_VIEW_S beyond the edge
        return y_m * tan_half_fov + _BODY_CLEARANCE_M + v * OUT_OF_VIEW_S

    y0 = 3.0 + 0.3 * jitter[0, 0]
    x0 = end_x(y0, speed[0])
    y1a, y1b = 4.9 + 0.2 * jitter[1, 0], 4.3 + 0.2 * jitter[1, 1]
    x1 = end_x(max(y1a, y1b), speed[1])
    y2a, y2b = 2.4 + 0.1 * jitter[2, 0], 5.4 + 0.2 * jitter[2, 1]
    x2a = y2a * tan_half_fov + _BODY_CLEARANCE_M + 0.3
    paths = [
        ((-x0, y0), (x0, y0), x0 - 1.0 + 0.3 * jitter[0, 1]),
        ((x1, y1a), (-x1, y1b), x1 - 1.8 + 0.3 * jitter[1, 2]),
        ((-x2a, y2a), (end_x(y2b, speed[2]), y2b), 0.0),
    ]
    return [
        Walker(np.array(a), np.array(b), float(speed[i]), float(s0), stride[i], phase0[i])
        for i, (a, b, s0) in enumerate(paths[:people])
    ]


@dataclass(frozen=True)
class _Scene:
    """What stays fixed over the video."""

    cfg: SynthConfig
    rot: np.ndarray  # (3, 3) world to camera
    eye: np.ndarray  # (3,) m
    k: np.ndarray  # (3, 3) pixels
    walkers: list[Walker]
    shape: dict[str, np.ndarray]  # (P, ...) body.sample_shapes
    identity: np.ndarray  # (P,) identity pool indices, all different
    looks: list
    boxes: Boxes  # one frame's furniture
    room: tuple[np.ndarray, np.ndarray]  # (1, 6, 3) normals, (1, 6) offsets
    materials: Materials  # furniture, then the six room planes
    light_seed: int
    effects_seed: int


class WalkSequence:
    """``WalkSequence(WalkConfig(), seed).frames(count)``: the first ``count`` frames.

    ``cache_dir``: where rendered chunks are kept (default: the user cache; None: nowhere).
    """

    def __init__(
        self, config: WalkConfig | None = None, seed: int = 0, cache_dir: Path | None | str = ""
    ) -> None:
        from privpose_ros.core.cache import default_cache_dir

        self.config = config if config is not None else WalkConfig()
        self.seed = int(seed)
        key = json.dumps([SEQUENCE_VERSION, GENERATOR_VERSION, asdict(self.config), self.seed])
        self.key = hashlib.sha256(key.encode()).hexdigest()[:16]
        if cache_dir == "":
            cache_dir = default_cache_dir() / "walk_sequence"
        self.cache_dir = None if cache_dir is None else Path(cache_dir) / self.key
        self.scene = self._scene()

    @property
    def intrinsics(self) -> CameraIntrinsics:
        return CameraIntrinsics.from_k(self.scene.k, self.config.width, self.config.height)

    def _scene(self) -> _Scene:
        c = self.config
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0]))
        cfg = SynthConfig(width=c.width, height=c.height, camera=c.camera, block_size=CHUNK)
        k = SENSORS[c.camera].intrinsics_at(c.width, c.height).k
        eye = np.array([0.0, 0.0, rng.uniform(1.15, 1.5)])
        target = np.array([0.0, 4.0, 0.85 + rng.uniform(-0.1, 0.1)])
        rot = look_at(eye[None], target[None], np.array([[0.0, 0.0, 1.0]]))[0]
        paths = walkers(rng, c.people, 0.5 * c.width / k[0, 0])
        shape = sample_shapes(rng, c.people)
        identity = rng.choice(len(identity_pool()), c.people, replace=False)
        looks = sample_looks(rng, c.people)
        ends = np.concatenate([[w.a_xy_m, w.b_xy_m] for w in paths])
        far = float(ends[:, 1].max())
        behind = np.array([[0.0, far + 2.5]])
        none, zero = np.zeros(1, bool), np.zeros(1)
        boxes = furniture_boxes(rng, behind, eye[None], none, none, zero, 4)
        clear = boxes.centre_w_m[:, 1] - np.linalg.norm(boxes.half_m[:, :2], axis=1) > far + 0.4
        boxes = Boxes(*(getattr(boxes, f)[clear] for f in Boxes.__dataclass_fields__))
        room = room_planes(rng, behind, eye[None], ends[None])
        materials = concat_materials(
            [
                random_materials(rng, len(boxes.frame), scale_m=0.3),
                random_materials(rng, 6, texture_prob=0.8, scale_m=0.6),
            ]
        )
        seeds = rng.integers(0, 2**31, 2)
        return _Scene(
            cfg,
            rot,
            eye,
            k,
            paths,
            shape,
            identity,
            looks,
            boxes,
            room,
            materials,
            *map(int, seeds),
        )

    # ground truth without rendering -----------------------------------------------------------
    def times_s(self, start: int, count: int) -> np.ndarray:
        return np.arange(start, start + count) / self.config.rate_hz

    def floor_positions(self, count: int, start: int = 0) -> np.ndarray:
        """(count, P, 2) walkers' floor positions (world, m) at frames start..start+count."""
        t = self.times_s(start, count)
        return np.stack([w.at(t)[0] for w in self.scene.walkers], 1)

    def _people(self, start: int, count: int):  # -> (AnnyPeople, frame, slot)
        t = self.times_s(start, count)
        states = [w.at(t) for w in self.scene.walkers]
        p = len(states)
        xy = np.stack([s[0] for s in states], 1).reshape(-1, 2)  # frame-major (count * P)
        heading = np.stack([s[1] for s in states], 1).reshape(-1, 2)
        phase = np.stack([s[2] for s in states], 1).reshape(-1)
        slot = np.tile(np.arange(p), count)
        frame = np.repeat(np.arange(count), p)
        shape = {name: v[slot] for name, v in self.scene.shape.items()}
        yaw = np.arctan2(-heading[:, 0], heading[:, 1])  # forward = (-sin yaw, cos yaw)
        family = np.full(len(slot), POSE_FAMILIES.index("walking"))
        people = posed_people(gait_pose(phase), shape, yaw, self.scene.identity[slot], family, xy)
        return people, frame, slot

    # frames -----------------------------------------------------------------------------------
    def frames(self, count: int, start: int = 0) -> list[WalkFrame]:
        """Frames ``start`` .. ``start + count`` (rendered, or read from the cache)."""
        if count < 0 or start < 0:
            raise PrivposeInputError(f"count and start must be >= 0, got {count}, {start}")
        out: list[WalkFrame] = []
        for chunk in range(start // CHUNK, (start + count + CHUNK - 1) // CHUNK):
            out.extend(self._chunk(chunk))
        offset = start - (start // CHUNK) * CHUNK
        return out[offset : offset + count]

    def _chunk(self, chunk: int) -> list[WalkFrame]:
        path = None if self.cache_dir is None else self.cache_dir / f"chunk_{chunk:05d}.npz"
        if path is not None and path.is_file():
            try:
                with np.load(path, allow_pickle=False) as data:
                    arrays = {name: data[name] for name in data.files}
            except (OSError, ValueError, KeyError) as exc:
                LOG.warning("re-rendering the unreadable cached chunk %s (%s)", path, exc)
            else:
                return self._frames_of(chunk, arrays)
        arrays = self._render(chunk)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
            np.savez_compressed(tmp, **arrays)
            os.replace(tmp, path)
        return self._frames_of(chunk, arrays)

    def _render(self, chunk: int) -> dict[str, np.ndarray]:
        """One chunk: JPEG bytes of the colour images, depth (mm) and the walkers' labels."""
        sc, n, p = self.scene, CHUNK, self.config.people
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 1, chunk]))
        people, frame, slot = self._people(chunk * CHUNK, n)
        rot, eye, k = (np.repeat(a[None], n, 0) for a in (sc.rot, sc.eye, sc.k))
        looks = [sc.looks[s] for s in slot]
        gl = submit_people(sc.cfg, people, frame, rot, eye, k, looks)
        b = len(sc.boxes.frame)
        boxes = Boxes(
            np.repeat(np.arange(n), b),
            *(np.tile(getattr(sc.boxes, f), (n, 1)) for f in ("centre_w_m", "half_m")),
            np.tile(sc.boxes.yaw, n),
        )
        room = (np.repeat(sc.room[0], n, 0), np.repeat(sc.room[1], n, 0))
        scene = scene_depth(sc.cfg, gl, people, frame, slot, (rot, eye, k), boxes, room)
        sensor = SENSORS[self.config.camera]
        depth_mm, normals = sense_depth(scene.depth_m, k, scene.rays, [sensor] * n, rng, sc.cfg)
        # object ids: furniture f * b + i of frame f, then the room planes b * n + 6 f + plane
        index = np.concatenate([np.tile(np.arange(b), n), b + np.tile(np.arange(6), n)])
        materials = Materials(
            *(getattr(sc.materials, f)[index] for f in Materials.__dataclass_fields__)
        )
        obj_frame = np.concatenate([boxes.frame, np.repeat(np.arange(n), 6)])
        albedo, shading_normals = scene_albedo(scene, normals, materials, obj_frame, rot, eye)
        jpegs = []
        for f in range(n):  # the same light and exposure in every frame
            lit = shade(
                albedo[:, f : f + 1],
                tuple(c[f : f + 1] for c in shading_normals),
                np.random.default_rng(sc.light_seed),
            )
            rgb = camera_effects(lit, np.random.default_rng(sc.effects_seed), 0.0, 0.0)[0]
            bgr = np.ascontiguousarray(rgb[..., ::-1])
            ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if not ok:
                raise RuntimeError("OpenCV could not JPEG-encode a rendered frame")
            jpegs.append(buf.reshape(-1))
        labels = scene.labels
        return {
            "jpeg": np.concatenate(jpegs),
            "jpeg_end": np.cumsum([len(j) for j in jpegs]),
            "depth_mm": depth_mm,
            "joints_cam_m": labels["people_joints_cam_m"][:, :p].astype(np.float32),
            "visible": labels["people_visible"][:, :p],
        }

    def _frames_of(self, chunk: int, arrays: dict[str, np.ndarray]) -> list[WalkFrame]:
        intrinsics = self.intrinsics
        ends = arrays["jpeg_end"]
        starts = np.concatenate([[0], ends[:-1]])
        joints = arrays["joints_cam_m"]
        _, inside = project_joints(
            joints,
            np.repeat(self.scene.k[None], len(joints), 0),
            intrinsics.width,
            intrinsics.height,
        )
        out = []
        for f in range(len(ends)):
            bgr = cv2.imdecode(arrays["jpeg"][starts[f] : ends[f]], cv2.IMREAD_COLOR)
            index = chunk * CHUNK + f
            out.append(
                WalkFrame(
                    rgb=np.ascontiguousarray(bgr[..., ::-1]),
                    intrinsics=intrinsics,
                    depth_mm=arrays["depth_mm"][f],
                    stamp_ns=int(round(index * 1e9 / self.config.rate_hz)),
                    person_ids=np.arange(joints.shape[1], dtype=np.int64),
                    people_joints_cam_m=joints[f],
                    people_visible=arrays["visible"][f],
                    people_in_view=inside[f].any(axis=1),
                )
            )
        return out
