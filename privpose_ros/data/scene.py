"""Cameras and rooms for the synthetic scenes: sensor presets, camera placement, furniture.

World frame: z up, floor at z = 0, metres. A camera pose is ``rot_world_to_cam`` (rows are the
optical axes x right, y down, z forward in world coordinates) and ``eye_w_m``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import PrivposeInputError


@dataclass(frozen=True)
class SensorPreset:
    """A colour camera with registered depth: native intrinsics and a depth noise model.

    Depth noise std is ``noise_base_m + noise_quad_per_m * z**2`` (z in metres); readings are
    then quantised in disparity so that levels are ``quant_quad_per_m * z**2`` apart, and to mm.
    """

    name: str
    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    min_range_m: float
    max_range_m: float
    noise_base_m: float
    noise_quad_per_m: float
    quant_quad_per_m: float

    def intrinsics_at(self, width: int, height: int) -> CameraIntrinsics:
        """Native intrinsics scaled to cover ``width`` x ``height``, then centre-cropped."""
        native = CameraIntrinsics(self.fx, self.fy, self.cx, self.cy, self.width, self.height)
        scale = max(width / self.width, height / self.height)
        scaled = native.scaled(scale, scale)
        x0 = (scaled.width - width) // 2
        y0 = (scaled.height - height) // 2
        return scaled.cropped(x0, y0, width, height)


# Typical published / factory values (colour camera of each sensor; depth registered to it).
SENSORS: dict[str, SensorPreset] = {
    "itop": SensorPreset(
        "itop", 320, 240, 285.714, 285.714, 160.0, 120.0, 0.5, 6.0, 1e-3, 1.4e-3, 2.8e-3
    ),
    "kinect_v2": SensorPreset(
        "kinect_v2", 1920, 1080, 1081.37, 1081.37, 959.5, 539.5, 0.5, 6.0, 1.5e-3, 1.0e-3, 0.0
    ),
    "azure_kinect": SensorPreset(
        "azure_kinect", 1280, 720, 605.0, 605.0, 639.5, 363.5, 0.5, 5.5, 1.0e-3, 0.8e-3, 0.0
    ),
    "realsense_d435": SensorPreset(
        "realsense_d435", 640, 480, 615.0, 615.0, 320.0, 240.0, 0.3, 6.0, 1.0e-3, 2.5e-3, 1.0e-3
    ),
}


def sensor_names(camera: str) -> tuple[str, ...]:
    """The sensor presets a ``SynthConfig.camera`` value draws from."""
    if camera == "mixed":
        return tuple(SENSORS)
    if camera not in SENSORS:
        raise PrivposeInputError(f"unknown camera '{camera}'; choose one of {[*SENSORS, 'mixed']}")
    return (camera,)


def look_at(eye_w_m: np.ndarray, target_w_m: np.ndarray, up_hint_w: np.ndarray) -> np.ndarray:
    """(N, 3, 3) world-to-camera rotations looking from ``eye`` at ``target`` (optical frame)."""
    fwd = target_w_m - eye_w_m
    fwd /= np.linalg.norm(fwd, axis=-1, keepdims=True)
    right = np.cross(fwd, up_hint_w)
    right /= np.linalg.norm(right, axis=-1, keepdims=True)
    down = np.cross(fwd, right)
    return np.stack([right, down, fwd], axis=1)


def place_cameras(
    rng: np.random.Generator,
    person_xy_m: np.ndarray,
    view: np.ndarray,
    target_z_m: np.ndarray,
    distance_m: tuple[float, float] = (1.0, 6.0),
) -> tuple[np.ndarray, np.ndarray]:
    """Camera eye (N, 3) and world-to-camera rotation (N, 3, 3).

    ``view`` (N,) bool: True = ITOP-like top view (camera 2.4-3.8 m high looking down),
    False = side/front view (camera 0.5-2.5 m high, person ``distance_m`` away (horizontally,
    denser near), tilted at the person).
    """
    n = len(view)
    az = rng.uniform(-np.pi, np.pi, n)
    lo, hi = distance_m
    dist = lo + (hi - lo) * rng.uniform(0, 1, n) ** 1.3
    height = rng.uniform(0.5, 2.5, n)
    side_eye = np.stack(
        [person_xy_m[:, 0] + dist * np.cos(az), person_xy_m[:, 1] + dist * np.sin(az), height], 1
    )
    jitter = rng.normal(0.0, 0.12, (n, 3)) * np.minimum(dist, 3.0)[:, None]
    side_target = np.concatenate([person_xy_m, target_z_m[:, None]], 1) + jitter
    top_eye = np.concatenate(
        [person_xy_m + rng.normal(0, 0.35, (n, 2)), rng.uniform(2.4, 3.8, n)[:, None]], 1
    )
    top_target = np.concatenate([person_xy_m + rng.normal(0, 0.3, (n, 2)), np.zeros((n, 1))], 1)
    eye = np.where(view[:, None], top_eye, side_eye)
    target = np.where(view[:, None], top_target, side_target)
    horiz = np.stack([np.cos(az + np.pi / 2), np.sin(az + np.pi / 2), np.zeros(n)], 1)
    roll = rng.normal(0.0, 0.05, n)
    up = np.where(view[:, None], horiz, np.stack([np.zeros(n), np.zeros(n), np.ones(n)], 1))
    up = (
        up
        + roll[:, None]
        * np.cross(target - eye, up)
        / np.linalg.norm(target - eye, axis=1)[:, None]
    )
    return eye, look_at(eye, target, up)


@dataclass(frozen=True)
class Boxes:
    """B axis-aligned-in-yaw boxes standing on the floor, world frame."""

    frame: np.ndarray  # (B,) int
    centre_w_m: np.ndarray  # (B, 3)
    half_m: np.ndarray  # (B, 3) half extents along the box axes
    yaw: np.ndarray  # (B,)


def furniture_boxes(
    rng: np.random.Generator,
    person_xy_m: np.ndarray,
    eye_w_m: np.ndarray,
    occluder: np.ndarray,
    chair: np.ndarray,
    chair_top_m: np.ndarray,
    per_frame: int = 3,
) -> Boxes:
    """Random furniture around the person, an occluder between camera and person where
    ``occluder`` (N,) is True, and a stool under a sitting person where ``chair`` is True."""
    n = len(person_xy_m)
    frames, centres, halves, yaws = [], [], [], []
    # background furniture: ring 1.2-4 m around the person, away from the camera line
    ang = rng.uniform(-np.pi, np.pi, (n, per_frame))
    rad = rng.uniform(1.2, 4.0, (n, per_frame))
    half = rng.uniform([0.15, 0.15, 0.2], [0.8, 0.5, 1.0], (n, per_frame, 3))
    xy = person_xy_m[:, None, :] + rad[..., None] * np.stack([np.cos(ang), np.sin(ang)], -1)
    to_cam = eye_w_m[:, None, :2] - xy
    keep = np.linalg.norm(to_cam, axis=-1) > 1.2 + half[..., :2].max(-1)
    f = np.repeat(np.arange(n)[:, None], per_frame, 1)
    frames.append(f[keep])
    centres.append(np.concatenate([xy, half[..., 2:]], -1)[keep])
    halves.append(half[keep])
    yaws.append(rng.uniform(-np.pi, np.pi, (n, per_frame))[keep])
    # occluders: a crate or table top between camera and person, partly covering the body
    frac = rng.uniform(0.35, 0.7, n)
    line = eye_w_m[:, :2] - person_xy_m
    side = np.stack([-line[:, 1], line[:, 0]], 1) / np.linalg.norm(line, axis=1, keepdims=True)
    oxy = person_xy_m + frac[:, None] * line + side * rng.normal(0.0, 0.25, (n, 1))
    ohalf = rng.uniform([0.2, 0.15, 0.25], [0.6, 0.4, 0.6], (n, 3))
    reach = np.linalg.norm(ohalf[:, :2], axis=1)  # keep clear of the camera and the person
    dist = np.linalg.norm(line, axis=1)
    ok = occluder & (dist * (1 - frac) > 0.3 + reach) & (dist * frac > 0.25 + reach)
    frames.append(np.nonzero(ok)[0])
    centres.append(np.concatenate([oxy, ohalf[:, 2:]], 1)[ok])
    halves.append(ohalf[ok])
    yaws.append(rng.uniform(-np.pi, np.pi, n)[ok])
    # stools for sitting people (top just under the pelvis)
    shalf = np.stack([np.full(n, 0.22), np.full(n, 0.22), chair_top_m / 2], 1)
    frames.append(np.nonzero(chair)[0])
    centres.append(np.concatenate([person_xy_m, shalf[:, 2:]], 1)[chair])
    halves.append(shalf[chair])
    yaws.append(rng.uniform(-np.pi, np.pi, n)[chair])
    return Boxes(
        np.concatenate(frames).astype(np.int64),
        np.concatenate(centres),
        np.concatenate(halves),
        np.concatenate(yaws),
    )


def room_planes(
    rng: np.random.Generator,
    person_xy_m: np.ndarray,
    eye_w_m: np.ndarray,
    others_xy_m: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Six inward room planes per frame: normals (N, 6, 3) and offsets (N, 6) with n.x = d.

    Plane 0 is the floor, 1 the ceiling, 2-5 the walls. The room contains camera and person,
    and the other people ``others_xy_m`` (N, K, 2), NaN where a frame has fewer.
    """
    n = len(person_xy_m)
    yaw = rng.uniform(-np.pi, np.pi, n)
    c, s = np.cos(yaw), np.sin(yaw)
    ax = np.stack([c, s], 1)
    ay = np.stack([-s, c], 1)
    pts = np.stack([person_xy_m, eye_w_m[:, :2]], 1)  # (N, 2, 2)
    if others_xy_m is not None:
        pts = np.concatenate([pts, others_xy_m], 1)
    px = np.einsum("npk,nk->np", pts, ax)
    py = np.einsum("npk,nk->np", pts, ay)
    margin = rng.uniform(0.6, 4.0, (n, 4))
    lo_x, hi_x = np.nanmin(px, 1) - margin[:, 0], np.nanmax(px, 1) + margin[:, 1]
    lo_y, hi_y = np.nanmin(py, 1) - margin[:, 2], np.nanmax(py, 1) + margin[:, 3]
    ceiling = np.maximum(eye_w_m[:, 2] + 0.3, rng.uniform(2.5, 3.5, n))
    zero = np.zeros(n)
    ax3 = np.stack([ax[:, 0], ax[:, 1], zero], 1)
    ay3 = np.stack([ay[:, 0], ay[:, 1], zero], 1)
    up = np.stack([zero, zero, np.ones(n)], 1)
    normals = np.stack([up, -up, ax3, -ax3, ay3, -ay3], 1)
    offsets = np.stack([zero, -ceiling, lo_x, -hi_x, lo_y, -hi_y], 1)
    return normals, offsets
