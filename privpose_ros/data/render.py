"""One block of synthetic frames: sample people, cameras and rooms, ray cast, sense, shade.

Returns plain arrays; :mod:`privpose_ros.data.synth` wraps them into a SynthBatch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from privpose_ros.data.body import (
    CAPSULE_REGIONS,
    ELLIPSOID_REGIONS,
    NUM_PRIMITIVES,
    POSE_FAMILIES,
    Bodies,
    random_bodies,
)
from privpose_ros.data.raycast import Primitives, project_bbox_px, render_zbuffer
from privpose_ros.data.scene import (
    SENSORS,
    furniture_boxes,
    place_cameras,
    room_planes,
    sensor_names,
)
from privpose_ros.data.sensor import DepthArtifacts, apply_depth_sensor, surface_normals_cam
from privpose_ros.data.shading import (
    albedo_image,
    camera_effects,
    concat_materials,
    person_materials,
    random_materials,
    shade,
    texture_coefficients,
)

if TYPE_CHECKING:
    from privpose_ros.data.synth import SynthConfig

_NO_ARTIFACTS = DepthArtifacts(0.0, 0.0, 0.0, 0.0)


def _rot_z(yaw: np.ndarray) -> np.ndarray:
    c, s, z, o = np.cos(yaw), np.sin(yaw), np.zeros_like(yaw), np.ones_like(yaw)
    return np.stack([c, -s, z, s, c, z, z, z, o], -1).reshape(-1, 3, 3)


def _sample_k(rng: np.random.Generator, cfg: SynthConfig, n: int) -> tuple[np.ndarray, list]:
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


def _to_cam(rot: np.ndarray, eye: np.ndarray, frame: np.ndarray, pts_w: np.ndarray) -> np.ndarray:
    """World points (P, ..., 3) of frames ``frame`` (P,) into each frame's camera."""
    flat = pts_w.reshape(len(frame), -1, 3) - eye[frame][:, None, :]
    return np.einsum("pij,pqj->pqi", rot[frame], flat).reshape(pts_w.shape)


def _frame_primitives(
    bodies: Bodies, body_frame: np.ndarray, boxes, rot, eye, k, cfg
) -> dict[str, Primitives]:
    m = len(body_frame)
    n_cap = bodies.capsule_r_m.shape[1]
    n_ell = bodies.ellipsoid_semi_m.shape[1]
    ids = np.arange(m * NUM_PRIMITIVES).reshape(m, NUM_PRIMITIVES)
    # capsules
    cap_frame = np.repeat(body_frame, n_cap)
    a = _to_cam(rot, eye, cap_frame, bodies.capsule_a_w_m.reshape(-1, 3)[:, None])[:, 0]
    b = _to_cam(rot, eye, cap_frame, bodies.capsule_b_w_m.reshape(-1, 3)[:, None])[:, 0]
    r = bodies.capsule_r_m.reshape(-1)
    caps = Primitives(
        cap_frame,
        ids[:, :n_cap].reshape(-1),
        project_bbox_px(np.stack([a, b], 1), k[cap_frame], r, cfg.width, cfg.height),
        {"a": a, "b": b, "r": r},
    )

    def unit_frame(
        frame: np.ndarray, centre_w: np.ndarray, axes_w: np.ndarray, semi: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        axes_c = rot[frame] @ axes_w  # columns: primitive axes in camera
        mat = np.swapaxes(axes_c, 1, 2) / semi[:, :, None]
        centre = _to_cam(rot, eye, frame, centre_w[:, None])[:, 0]
        return mat, -np.einsum("pij,pj->pi", mat, centre), centre

    ell_frame = np.repeat(body_frame, n_ell)
    semi = bodies.ellipsoid_semi_m.reshape(-1, 3)
    mat, org, centre = unit_frame(
        ell_frame,
        bodies.ellipsoid_c_w_m.reshape(-1, 3),
        bodies.ellipsoid_rot_w.reshape(-1, 3, 3),
        semi,
    )
    ells = Primitives(
        ell_frame,
        ids[:, n_cap:].reshape(-1),
        project_bbox_px(centre[:, None], k[ell_frame], semi.max(1), cfg.width, cfg.height),
        {"m": mat, "o": org},
    )
    corners = np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1], indexing="ij")).reshape(3, 8).T
    box_rot = _rot_z(boxes.yaw)
    mat, org, _ = unit_frame(boxes.frame, boxes.centre_w_m, box_rot, boxes.half_m)
    corners_w = boxes.centre_w_m[:, None] + np.einsum(
        "pij,pqj->pqi", box_rot, corners[None] * boxes.half_m[:, None, :]
    )
    box_ids = m * NUM_PRIMITIVES + np.arange(len(boxes.frame))
    box_prims = Primitives(
        boxes.frame,
        box_ids,
        project_bbox_px(
            _to_cam(rot, eye, boxes.frame, corners_w),
            k[boxes.frame],
            np.zeros(len(box_ids)),
            cfg.width,
            cfg.height,
        ),
        {"m": mat, "o": org},
    )
    return {"capsule": caps, "ellipsoid": ells, "box": box_prims}


def _concat_bodies(parts: list[Bodies]) -> Bodies:
    return Bodies(
        *(np.concatenate([getattr(b, f) for b in parts]) for f in Bodies.__dataclass_fields__)
    )


def _room_depth(
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


def _hair(
    obj: np.ndarray,
    depth: np.ndarray,
    ray_x: np.ndarray,
    ray_y: np.ndarray,
    rot: np.ndarray,
    eye: np.ndarray,
    bodies: Bodies,
) -> tuple[np.ndarray, np.ndarray]:
    """(body index, flat pixel index) of pixels showing hair: top and back of each head."""
    n_cap = CAPSULE_REGIONS.size
    num = len(bodies.family) * NUM_PRIMITIVES
    flat = obj.reshape(-1)
    pix = np.nonzero((flat < num) & (flat % NUM_PRIMITIVES == n_cap))[0]
    body = flat[pix] // NUM_PRIMITIVES
    f, rem = np.divmod(pix, depth.shape[1] * depth.shape[2])
    v, u = np.divmod(rem, depth.shape[2])
    z = depth[f, v, u]
    pts_c = np.stack([z * ray_x[f, 0, u], z * ray_y[f, v, 0], z], 1)
    pts_w = np.einsum("pji,pj->pi", rot[f], pts_c) + eye[f]
    local = (
        np.einsum(
            "pji,pj->pi", bodies.ellipsoid_rot_w[body, 0], pts_w - bodies.ellipsoid_c_w_m[body, 0]
        )
        / bodies.ellipsoid_semi_m[body, 0]
    )
    hair = (local[:, 2] > 0.15 - 0.4 * np.clip(-local[:, 1], 0, 1)) | (local[:, 1] < -0.45)
    return body[hair], pix[hair]


def render_block(cfg: SynthConfig, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Render ``n`` frames: rgb, depth_mm, joints_cam_m, joints_px, visible, person_mask, k."""
    h, w = cfg.height, cfg.width
    fams = np.array([POSE_FAMILIES.index(f) for f in cfg.families])
    origin = np.zeros((n, 2))
    primary = random_bodies(rng, n, origin, fams[rng.integers(0, len(fams), n)])
    if cfg.view == "mixed":
        top = rng.random(n) < cfg.top_view_fraction
    else:
        top = np.full(n, cfg.view == "top")
    target_z = primary.joints_w_m[:, :, 2].mean(1)
    eye, rot = place_cameras(rng, origin, top, target_z)
    # distractors 0.7-2.5 m from the person (moved to its other side if next to the camera)
    extra = np.nonzero(rng.random(n) < cfg.distractor_prob)[0]
    ang, dist = rng.uniform(-np.pi, np.pi, n), rng.uniform(0.7, 2.5, n)
    pos = np.stack([dist * np.cos(ang), dist * np.sin(ang)], 1)[extra]
    near_cam = np.linalg.norm(pos - eye[extra, :2], axis=1) < 0.8
    pos[near_cam] *= -1.0
    standing_fams = np.array([i for i, f in enumerate(POSE_FAMILIES) if f != "sitting"])
    extra_fams = standing_fams[rng.integers(0, len(standing_fams), len(extra))]  # no stools
    bodies = _concat_bodies([primary, random_bodies(rng, len(extra), pos, extra_fams)])
    body_frame = np.concatenate([np.arange(n), extra])
    chair = primary.family == POSE_FAMILIES.index("sitting")
    chair_top = primary.ellipsoid_c_w_m[:, 3, 2] - 0.9 * primary.ellipsoid_semi_m[:, 3, 2]
    occluder = rng.random(n) < cfg.distractor_prob
    boxes = furniture_boxes(rng, origin, eye, occluder, chair, chair_top, cfg.furniture_per_frame)
    k, sensors = _sample_k(rng, cfg, n)
    groups = _frame_primitives(bodies, body_frame, boxes, rot, eye, k, cfg)
    zbuf, obj = render_zbuffer(groups, k, n, h, w)
    # the room closes the scene: every pixel sees something (maybe beyond the sensor range)
    ray_x = (np.arange(w)[None, None, :] - k[:, 0, 2, None, None]) / k[:, 0, 0, None, None]
    ray_y = (np.arange(h)[None, :, None] - k[:, 1, 2, None, None]) / k[:, 1, 1, None, None]
    ray_x, ray_y = ray_x.astype(np.float32), ray_y.astype(np.float32)
    normals_w, offsets = room_planes(rng, origin, eye)
    zroom, plane = _room_depth(normals_w, offsets, rot, eye, ray_x, ray_y)
    first_room = len(bodies.family) * NUM_PRIMITIVES + len(boxes.frame)
    room_obj = first_room + np.arange(n)[:, None, None] * 6 + plane
    nearer = zbuf <= zroom
    depth = np.where(nearer, zbuf, zroom)
    obj = np.where(nearer, obj, room_obj)
    depth = np.where(np.isfinite(depth), depth, 0.0).astype(np.float32)
    person_mask = (obj < n * NUM_PRIMITIVES) & (
        obj // NUM_PRIMITIVES == np.arange(n)[:, None, None]
    )
    # labels: joints of the primary person in the camera, z-buffer visibility
    joints = _to_cam(rot, eye, np.arange(n), primary.joints_w_m)
    z = joints[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_z = np.where(z > 0, 1.0 / z, np.nan)  # behind the camera: NaN, as core.geometry
        u = k[:, 0, 0, None] * joints[..., 0] * inv_z + k[:, 0, 2, None]
        v = k[:, 1, 1, None] * joints[..., 1] * inv_z + k[:, 1, 2, None]
    inside = (z > 0.05) & (u >= -0.5) & (u < w - 0.5) & (v >= -0.5) & (v < h - 0.5)
    ui = np.clip(np.nan_to_num(np.round(u)), 0, w - 1).astype(np.int64)
    vi = np.clip(np.nan_to_num(np.round(v)), 0, h - 1).astype(np.int64)
    seen = depth[np.arange(n)[:, None], vi, ui]
    limit = z - primary.surface_offset_m - cfg.visibility_margin_m
    visible = inside & (seen >= limit)
    # depth sensor
    nx, ny, nz, cos_inc = surface_normals_cam(depth, k, ray_x, ray_y)
    noise = 1.0 if cfg.depth_noise else 0.0
    depth_mm = apply_depth_sensor(
        depth,
        cos_inc,
        noise * np.array([s.noise_base_m for s in sensors]),
        noise * np.array([s.noise_quad_per_m for s in sensors]),
        noise * np.array([s.quant_quad_per_m for s in sensors]),
        np.array([(s.min_range_m, s.max_range_m) for s in sensors]),
        rng,
        DepthArtifacts() if cfg.depth_artifacts else _NO_ARTIFACTS,
    )
    # colour
    regions = np.concatenate([CAPSULE_REGIONS, ELLIPSOID_REGIONS])[None].repeat(len(body_frame), 0)
    person_mat, hair_rgb = person_materials(rng, regions, bodies.root_rot_w[:, :, 2])
    mat = concat_materials(
        [
            person_mat,
            random_materials(rng, len(boxes.frame), scale_m=0.3),
            random_materials(rng, 6 * n, texture_prob=0.8, scale_m=0.6),
        ]
    )
    obj_frame = np.concatenate(
        [np.repeat(body_frame, NUM_PRIMITIVES), boxes.frame, np.repeat(np.arange(n), 6)]
    )
    coef = texture_coefficients(mat, obj_frame, rot, eye)
    albedo = albedo_image(mat, coef, obj, depth, ray_x, ray_y)
    hair_body, hair_pix = _hair(obj, depth, ray_x, ray_y, rot, eye, bodies)
    albedo.reshape(3, -1)[:, hair_pix] = hair_rgb[hair_body].T
    effects = 1.0 if cfg.rgb_effects else 0.0
    rgb = camera_effects(shade(albedo, (nx, ny, nz), rng), rng, 0.4 * effects, 0.5 * effects)
    return {
        "rgb": rgb,
        "depth_mm": depth_mm,
        "joints_cam_m": joints,
        "joints_px": np.stack([u, v], -1),
        "visible": visible,
        "person_mask": person_mask,
        "k": k,
    }
