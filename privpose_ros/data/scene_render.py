"""Scene pieces shared by the people renderers: cameras, furniture, the room, labels, sensing.

World frame: z up, floor at z = 0, metres; cameras as ``data/scene.py``. Labels of up to
MAX_PEOPLE (synth_config) people per frame come as (N, MAX_PEOPLE, ...) arrays padded with
NaN / False.
"""

from __future__ import annotations

import numpy as np

from privpose_ros.data.raycast import Primitives, project_bbox_px
from privpose_ros.data.scene import SENSORS, Boxes, SensorPreset, sensor_names
from privpose_ros.data.sensor import DepthArtifacts, apply_depth_sensor, surface_normals_cam
from privpose_ros.data.synth_config import SynthConfig

_NO_ARTIFACTS = DepthArtifacts(0.0, 0.0, 0.0, 0.0)


def rot_z(yaw: np.ndarray) -> np.ndarray:
    c, s, z, o = np.cos(yaw), np.sin(yaw), np.zeros_like(yaw), np.ones_like(yaw)
    return np.stack([c, -s, z, s, c, z, z, z, o], -1).reshape(-1, 3, 3)


def sample_intrinsics(
    rng: np.random.Generator, cfg: SynthConfig, n: int
) -> tuple[np.ndarray, list]:
    names = sensor_names(cfg.camera)
    pick = rng.integers(0, len(names), n)
    sensors = [SENSORS[names[i]] for i in pick]
    k = np.stack([s.intrinsics_at(cfg.width, cfg.height).k for s in sensors])
    jit = 1.0 + cfg.intrinsics_jitter * rng.standard_normal((n, 3))
    k[:, 0, 0] *= jit[:, 0]
    k[:, 1, 1] = k[:, 0, 0] * (1.0 + 0.002 * rng.standard_normal(n))
    k[:, 0, 2] += (jit[:, 1] - 1.0) * cfg.width * 0.5
    k[:, 1, 2] += (jit[:, 2] - 1.0) * cfg.height * 0.5
    return k, sensors


def to_camera(
    rot: np.ndarray, eye: np.ndarray, frame: np.ndarray, pts_w: np.ndarray
) -> np.ndarray:
    """World points (P, ..., 3) of frames ``frame`` (P,) into each frame's camera."""
    flat = pts_w.reshape(len(frame), -1, 3) if len(frame) else pts_w.reshape(0, 0, 3)
    flat = flat - eye[frame][:, None, :]
    return np.einsum("pij,pqj->pqi", rot[frame], flat).reshape(pts_w.shape)


def box_primitives(
    boxes: Boxes, ids: np.ndarray, rot: np.ndarray, eye: np.ndarray, k: np.ndarray, cfg
) -> Primitives:
    """Ray-casting primitives of furniture ``boxes`` with object ids ``ids``."""
    corners = np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1], indexing="ij")).reshape(3, 8).T
    box_rot = rot_z(boxes.yaw)
    mat, org, _ = unit_frame(rot, eye, boxes.frame, boxes.centre_w_m, box_rot, boxes.half_m)
    corners_w = boxes.centre_w_m[:, None] + np.einsum(
        "pij,pqj->pqi", box_rot, corners[None] * boxes.half_m[:, None, :]
    )
    return Primitives(
        boxes.frame,
        ids,
        project_bbox_px(
            to_camera(rot, eye, boxes.frame, corners_w),
            k[boxes.frame],
            np.zeros(len(ids)),
            cfg.width,
            cfg.height,
        ),
        {"m": mat, "o": org},
    )


def unit_frame(
    rot: np.ndarray,
    eye: np.ndarray,
    frame: np.ndarray,
    centre_w: np.ndarray,
    axes_w: np.ndarray,
    semi: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Camera-frame map onto a primitive's unit frame (matrix, origin) and its centre."""
    axes_c = rot[frame] @ axes_w  # columns: primitive axes in camera
    mat = np.swapaxes(axes_c, 1, 2) / semi[:, :, None]
    centre = to_camera(rot, eye, frame, centre_w[:, None])[:, 0]
    return mat, -np.einsum("pij,pj->pi", mat, centre), centre


def room_depth(
    normals_w: np.ndarray,
    offsets: np.ndarray,
    rot: np.ndarray,
    eye: np.ndarray,
    ray_x: np.ndarray,
    ray_y: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Depth (N, H, W) to the nearest room plane in front of the camera and its index.

    Planes come in opposite pairs (2i, 2i + 1) (room_planes): a ray leaves through plane 2i
    where its component d along that normal is negative, else through plane 2i + 1.
    """
    n_c = np.einsum("nij,npj->npi", rot, normals_w).astype(np.float32)[..., None, None]
    num = (offsets - np.einsum("npj,nj->np", normals_w, eye)).astype(np.float32)[..., None, None]
    best = np.full((len(eye), ray_y.shape[1], ray_x.shape[2]), np.inf, np.float32)
    plane = np.zeros(best.shape, np.int8)
    for p in range(0, normals_w.shape[1], 2):
        d = (n_c[:, p, 0] * ray_x + n_c[:, p, 2]) + n_c[:, p, 1] * ray_y
        exits_first = d < 0
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(exits_first, num[:, p], -num[:, p + 1]) / d
        closer = z < best  # NaN and -inf (d == 0) never win
        closer &= z > 0
        np.copyto(best, z, where=closer)
        np.copyto(plane, np.where(exits_first, p, p + 1).astype(np.int8), where=closer)
    return best, plane


def pixel_rays(k: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Ray slopes x/z (N, 1, W) and y/z (N, H, 1) float32 of every pixel centre."""
    ray_x = (np.arange(width)[None, None, :] - k[:, 0, 2, None, None]) / k[:, 0, 0, None, None]
    ray_y = (np.arange(height)[None, :, None] - k[:, 1, 2, None, None]) / k[:, 1, 1, None, None]
    return ray_x.astype(np.float32), ray_y.astype(np.float32)


def project_joints(
    joints_cam_m: np.ndarray, k: np.ndarray, width: int, height: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (N, P, J, 2) of camera-frame joints (N, P, J, 3) and whether each is in the image
    (in front of the camera and inside the pixel grid). Behind the camera: NaN."""
    z = joints_cam_m[..., 2]
    fx, fy = k[:, 0, 0, None, None], k[:, 1, 1, None, None]
    cx, cy = k[:, 0, 2, None, None], k[:, 1, 2, None, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_z = np.where(z > 0, 1.0 / z, np.nan)  # as core.geometry
        u = fx * joints_cam_m[..., 0] * inv_z + cx
        v = fy * joints_cam_m[..., 1] * inv_z + cy
        inside = (z > 0.05) & (u >= -0.5) & (u < width - 0.5) & (v >= -0.5) & (v < height - 0.5)
    return np.stack([u, v], -1), inside


def people_labels(
    joints_cam_m: np.ndarray,
    surface_offset_m: np.ndarray,
    k: np.ndarray,
    depth_m: np.ndarray,
    instance: np.ndarray,
    margin_m: float,
) -> dict[str, np.ndarray]:
    """Labels of every person: joints (N, P, 26, 3) NaN-padded, their pixels, visibility (in the
    image, and the pixel shows the person's own skin no nearer than the joint's depth below it,
    or nothing nearer than the joint: the z-buffer test covers self-occlusion, other people,
    furniture and the floor), visible-extent boxes (x0, y0, x1, y1) from
    ``instance`` (N, H, W) int (person index, -1 none), the instance mask (0 none, i + 1 person
    i) and the primary person's (index 0) fields."""
    n, height, width = depth_m.shape
    uv, inside = project_joints(joints_cam_m, k, width, height)
    ui = np.clip(np.nan_to_num(np.round(uv[..., 0])), 0, width - 1).astype(np.int64)
    vi = np.clip(np.nan_to_num(np.round(uv[..., 1])), 0, height - 1).astype(np.int64)
    frames = np.arange(n)[:, None, None]
    seen = depth_m[frames, vi, ui]
    own = instance[frames, vi, ui] == np.arange(joints_cam_m.shape[1])[None, :, None]
    z = joints_cam_m[..., 2]
    # its own skin in front within the body's depth, or nothing in front at all (a joint just
    # off a thin limb's silhouette); NaN joints (no person) compare False
    visible = inside & ((own & (seen >= z - surface_offset_m - margin_m)) | (seen >= z))
    boxes = np.full((n, joints_cam_m.shape[1], 4), np.nan, np.float32)
    for f in range(n):
        for p in range(joints_cam_m.shape[1]):
            rows, cols = np.nonzero(instance[f] == p)
            if rows.size:
                boxes[f, p] = (
                    cols.min() - 0.5,
                    rows.min() - 0.5,
                    cols.max() + 0.5,
                    rows.max() + 0.5,
                )
    return {
        "joints_cam_m": joints_cam_m[:, 0],
        "joints_px": uv[:, 0],
        "visible": visible[:, 0],
        "person_mask": instance == 0,
        "people_joints_cam_m": joints_cam_m.astype(np.float32),
        "people_joints_px": uv.astype(np.float32),
        "people_visible": visible,
        "people_boxes_px": boxes,
        "instance_mask": (instance + 1).astype(np.uint8),
    }


def sense_depth(
    depth_m: np.ndarray,
    k: np.ndarray,
    rays: tuple[np.ndarray, np.ndarray],
    sensors: list[SensorPreset],
    rng: np.random.Generator,
    cfg: SynthConfig,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The depth sensor's reading (N, H, W) uint16 mm of true depth, and the depth normals."""
    nx, ny, nz, cos_inc = surface_normals_cam(depth_m, k, *rays)
    noise = 1.0 if cfg.depth_noise else 0.0
    depth_mm = apply_depth_sensor(
        depth_m,
        cos_inc,
        noise * np.array([s.noise_base_m for s in sensors]),
        noise * np.array([s.noise_quad_per_m for s in sensors]),
        noise * np.array([s.quant_quad_per_m for s in sensors]),
        np.array([(s.min_range_m, s.max_range_m) for s in sensors]),
        rng,
        DepthArtifacts() if cfg.depth_artifacts else _NO_ARTIFACTS,
    )
    return depth_mm, (nx, ny, nz)
