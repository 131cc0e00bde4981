"""One block of synthetic frames with capsule people: sample, ray cast, sense, shade.

Returns plain arrays; :mod:`privpose_ros.data.synth` wraps them into a SynthBatch.
"""

from __future__ import annotations

import numpy as np

from privpose_ros.data.body import (
    CAPSULE_REGIONS,
    ELLIPSOID_REGIONS,
    NUM_JOINTS,
    NUM_PRIMITIVES,
    POSE_FAMILIES,
    Bodies,
    random_bodies,
)
from privpose_ros.data.raycast import Primitives, project_bbox_px, render_zbuffer
from privpose_ros.data.scene import (
    furniture_boxes,
    place_cameras,
    room_planes,
)
from privpose_ros.data.scene_render import (
    box_primitives,
    people_labels,
    pixel_rays,
    room_depth,
    sample_intrinsics,
    sense_depth,
    to_camera,
    unit_frame,
)
from privpose_ros.data.shading import (
    albedo_image,
    camera_effects,
    concat_materials,
    person_materials,
    random_materials,
    shade,
    texture_coefficients,
)
from privpose_ros.data.synth_config import MAX_PEOPLE, SynthConfig


def _frame_primitives(
    bodies: Bodies, body_frame: np.ndarray, boxes, rot, eye, k, cfg
) -> dict[str, Primitives]:
    m = len(body_frame)
    n_cap = bodies.capsule_r_m.shape[1]
    n_ell = bodies.ellipsoid_semi_m.shape[1]
    ids = np.arange(m * NUM_PRIMITIVES).reshape(m, NUM_PRIMITIVES)
    # capsules
    cap_frame = np.repeat(body_frame, n_cap)
    a = to_camera(rot, eye, cap_frame, bodies.capsule_a_w_m.reshape(-1, 3)[:, None])[:, 0]
    b = to_camera(rot, eye, cap_frame, bodies.capsule_b_w_m.reshape(-1, 3)[:, None])[:, 0]
    r = bodies.capsule_r_m.reshape(-1)
    caps = Primitives(
        cap_frame,
        ids[:, :n_cap].reshape(-1),
        project_bbox_px(np.stack([a, b], 1), k[cap_frame], r, cfg.width, cfg.height),
        {"a": a, "b": b, "r": r},
    )

    ell_frame = np.repeat(body_frame, n_ell)
    semi = bodies.ellipsoid_semi_m.reshape(-1, 3)
    mat, org, centre = unit_frame(
        rot,
        eye,
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
    box_ids = m * NUM_PRIMITIVES + np.arange(len(boxes.frame))
    box_prims = box_primitives(boxes, box_ids, rot, eye, k, cfg)
    return {"capsule": caps, "ellipsoid": ells, "box": box_prims}


def _concat_bodies(parts: list[Bodies]) -> Bodies:
    return Bodies(
        *(np.concatenate([getattr(b, f) for b in parts]) for f in Bodies.__dataclass_fields__)
    )


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
    eye, rot = place_cameras(rng, origin, top, target_z, cfg.camera_distance_m)
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
    k, sensors = sample_intrinsics(rng, cfg, n)
    groups = _frame_primitives(bodies, body_frame, boxes, rot, eye, k, cfg)
    zbuf, obj = render_zbuffer(groups, k, n, h, w)
    # the room closes the scene: every pixel sees something (maybe beyond the sensor range)
    ray_x, ray_y = pixel_rays(k, w, h)
    normals_w, offsets = room_planes(rng, origin, eye)
    zroom, plane = room_depth(normals_w, offsets, rot, eye, ray_x, ray_y)
    first_room = len(bodies.family) * NUM_PRIMITIVES + len(boxes.frame)
    room_obj = first_room + np.arange(n)[:, None, None] * 6 + plane
    nearer = zbuf <= zroom
    depth = np.where(nearer, zbuf, zroom)
    obj = np.where(nearer, obj, room_obj)
    depth = np.where(np.isfinite(depth), depth, 0.0).astype(np.float32)
    # labels: the primary person is person 0 of its frame, a distractor person 1
    slot = np.concatenate([np.zeros(n, np.int64), np.ones(len(extra), np.int64)])
    body = obj // NUM_PRIMITIVES
    instance = np.where(
        obj < len(body_frame) * NUM_PRIMITIVES, slot[np.minimum(body, len(slot) - 1)], -1
    )
    joints = np.full((n, MAX_PEOPLE, NUM_JOINTS, 3), np.nan)
    surface = np.zeros((n, MAX_PEOPLE, NUM_JOINTS))
    cam = to_camera(rot, eye, body_frame, bodies.joints_w_m)
    joints[body_frame, slot] = cam
    surface[body_frame, slot] = bodies.surface_offset_m
    labels = people_labels(joints, surface, k, depth, instance, cfg.visibility_margin_m)
    depth_mm, (nx, ny, nz) = sense_depth(depth, k, (ray_x, ray_y), sensors, rng, cfg)
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
    return {"rgb": rgb, "depth_mm": depth_mm, "k": k, **labels}
