"""One block of synthetic frames with Anny people: 0-4 posed bodies per frame, rendered with
OpenGL (people) and ray casting (room, furniture), then sensed and shaded.

Person 0 of a frame (the primary) stands at the origin with the camera looking at it; the others
stand 0.6-3 m from it and at least 0.55 m from each other, so they occlude each other and the
primary from some views. Only the primary may sit (on a stool placed under it).
"""

from __future__ import annotations

import os

import numpy as np

from privpose_ros.data.anny_body import AnnyPeople, pose_people
from privpose_ros.data.anny_look import sample_looks
from privpose_ros.data.anny_model import identity_pool, load_anny, skin, skin_matrix, triangles
from privpose_ros.data.body import NUM_JOINTS, POSE_FAMILIES
from privpose_ros.data.gl_render import MeshRenderer, PosedPerson
from privpose_ros.data.raycast import render_zbuffer
from privpose_ros.data.scene import furniture_boxes, place_cameras, room_planes
from privpose_ros.data.scene_render import (
    box_primitives,
    people_labels,
    pixel_rays,
    room_depth,
    sample_intrinsics,
    sense_depth,
    to_camera,
)
from privpose_ros.data.shading import (
    albedo_image,
    camera_effects,
    concat_materials,
    random_materials,
    shade,
    texture_coefficients,
)
from privpose_ros.data.synth_config import MAX_PEOPLE, SynthConfig

_RENDERERS: dict[tuple[int, int, int], MeshRenderer] = {}
_SPACING_M = 0.55  # people centres at least this far apart
_CAMERA_CLEARANCE_M = 0.45  # people closer than this to the camera (horizontally) are left out


def renderer(width: int, height: int) -> MeshRenderer:
    """This process's renderer for ``width`` x ``height`` (a GL context is not fork-safe)."""
    key = (os.getpid(), width, height)
    if key not in _RENDERERS:
        model = load_anny()
        _RENDERERS[key] = MeshRenderer(width, height, triangles(model), model.num_vertices)
    return _RENDERERS[key]


def _place_people(
    rng: np.random.Generator, count: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame, slot and floor position (metres) of every person; slot 0 at the origin."""
    frames, slots, positions = [], [], []
    for f, c in enumerate(count):
        placed = [np.zeros(2)] if c else []
        for _ in range(1, c):
            for _try in range(12):
                ang, dist = rng.uniform(-np.pi, np.pi), rng.uniform(0.6, 3.0)
                xy = dist * np.array([np.cos(ang), np.sin(ang)])
                if min(np.linalg.norm(xy - p) for p in placed) >= _SPACING_M:
                    placed.append(xy)
                    break
        frames += [f] * len(placed)
        slots += list(range(len(placed)))
        positions += placed
    return (
        np.array(frames, np.int64),
        np.array(slots, np.int64),
        np.array(positions, np.float64).reshape(-1, 2),
    )


def _families(rng: np.random.Generator, cfg: SynthConfig, slots: np.ndarray) -> np.ndarray:
    allowed = np.array([POSE_FAMILIES.index(f) for f in cfg.families])
    standing = np.array([f for f in allowed if POSE_FAMILIES[f] != "sitting"] or allowed)
    primary = allowed[rng.integers(0, len(allowed), len(slots))]
    other = standing[rng.integers(0, len(standing), len(slots))]
    return np.where(slots == 0, primary, other)


def _render_people(
    cfg: SynthConfig,
    people: AnnyPeople,
    frame: np.ndarray,
    rot: np.ndarray,
    eye: np.ndarray,
    k: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """GL depth (N, H, W) (inf = nobody), person index, albedo (N, H, W, 3), normals."""
    n, h, w = len(eye), cfg.height, cfg.width
    depth = np.full((n, h, w), np.inf, np.float32)
    person = np.full((n, h, w), -1, np.int16)
    albedo = np.zeros((n, h, w, 3), np.float32)
    normal = np.zeros((n, h, w, 3), np.float32)
    looks = sample_looks(rng, len(frame))
    gl = renderer(w, h)
    rest = identity_pool().rest_vertices_m
    weights = skin_matrix()
    for f in range(n):
        idx = np.nonzero(frame == f)[0]
        if idx.size == 0:
            continue
        batch = []
        for i in idx:
            bones = np.einsum("ij,bjk->bik", rot[f], people.bones_w[i])  # world -> camera
            bones[:, :, 3] -= rot[f] @ eye[f]
            body = int(people.identity[i])
            verts = skin(bones, rest[body], weights)
            batch.append(PosedPerson(body, rest[body], verts, looks[i]))
        img = gl.render(k[f], batch)
        hit = img.person >= 0
        depth[f][hit] = img.depth_m[hit]
        person[f] = img.person
        albedo[f], normal[f] = img.albedo, img.normal_cam
    return depth, person, albedo, normal


def render_block(cfg: SynthConfig, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Render ``n`` frames: rgb, depth_mm, k and the labels of ``scene_render.people_labels``."""
    h, w = cfg.height, cfg.width
    weights = np.asarray(cfg.people_weights, dtype=float)
    count = rng.choice(MAX_PEOPLE + 1, n, p=weights / weights.sum())
    frame, slot, position = _place_people(rng, count)
    people = pose_people(rng, len(frame), position, _families(rng, cfg, slot))
    origin = np.zeros((n, 2))
    if cfg.view == "mixed":
        top = rng.random(n) < cfg.top_view_fraction
    else:
        top = np.full(n, cfg.view == "top")
    target_z = np.full(n, 1.0)
    primary = slot == 0
    target_z[frame[primary]] = people.joints_w_m[primary, :, 2].mean(1)
    eye, rot = place_cameras(rng, origin, top, target_z, cfg.camera_distance_m)
    # leave out people standing on the camera; the rest keep their slot order
    clear = np.linalg.norm(position - eye[frame, :2], axis=1) >= _CAMERA_CLEARANCE_M
    clear |= primary
    keep = np.nonzero(clear)[0]
    frame, people = frame[keep], _subset(people, keep)
    slot = np.concatenate([np.arange(np.sum(frame == f)) for f in range(n)]).astype(np.int64)
    primary = slot == 0
    chair = np.zeros(n, bool)
    chair_top = np.zeros(n)
    sitting = primary & (people.family == POSE_FAMILIES.index("sitting"))
    chair[frame[sitting]] = True
    chair_top[frame[sitting]] = people.seat_top_m[sitting] - 0.01
    occluder = (rng.random(n) < cfg.distractor_prob) & (count > 0)
    boxes = furniture_boxes(rng, origin, eye, occluder, chair, chair_top, cfg.furniture_per_frame)
    k, sensors = sample_intrinsics(rng, cfg, n)
    ids = np.arange(len(boxes.frame))
    zbuf, obj = render_zbuffer({"box": box_primitives(boxes, ids, rot, eye, k, cfg)}, k, n, h, w)
    ray_x, ray_y = pixel_rays(k, w, h)
    normals_w, offsets = room_planes(rng, origin, eye)
    zroom, plane = room_depth(normals_w, offsets, rot, eye, ray_x, ray_y)
    nearer = zbuf <= zroom
    depth = np.where(nearer, zbuf, zroom)
    obj = np.where(nearer, obj, len(boxes.frame) + np.arange(n)[:, None, None] * 6 + plane)
    zpeople, person, albedo_people, normal_people = _render_people(
        cfg, people, frame, rot, eye, k, rng
    )
    on_person = zpeople < depth
    depth = np.where(on_person, zpeople, depth)
    depth = np.where(np.isfinite(depth), depth, 0.0).astype(np.float32)
    instance = np.where(on_person, person, -1)
    joints = np.full((n, MAX_PEOPLE, NUM_JOINTS, 3), np.nan)
    surface = np.zeros((n, MAX_PEOPLE, NUM_JOINTS))
    joints[frame, slot] = to_camera(rot, eye, frame, people.joints_w_m)
    surface[frame, slot] = people.surface_offset_m
    labels = people_labels(joints, surface, k, depth, instance, cfg.visibility_margin_m)
    depth_mm, normals = sense_depth(depth, k, (ray_x, ray_y), sensors, rng, cfg)
    mat = concat_materials(
        [
            random_materials(rng, len(boxes.frame), scale_m=0.3),
            random_materials(rng, 6 * n, texture_prob=0.8, scale_m=0.6),
        ]
    )
    obj_frame = np.concatenate([boxes.frame, np.repeat(np.arange(n), 6)])
    coef = texture_coefficients(mat, obj_frame, rot, eye)
    albedo = albedo_image(mat, coef, obj, depth, ray_x, ray_y)
    for c in range(3):
        np.copyto(albedo[c], albedo_people[..., c], where=on_person)
    shading_normals = tuple(
        np.where(on_person, normal_people[..., c], normals[c]) for c in range(3)
    )
    effects = 1.0 if cfg.rgb_effects else 0.0
    rgb = camera_effects(shade(albedo, shading_normals, rng), rng, 0.4 * effects, 0.5 * effects)
    return {"rgb": rgb, "depth_mm": depth_mm, "k": k, **labels}


def _subset(people: AnnyPeople, index: np.ndarray) -> AnnyPeople:
    return AnnyPeople(*(getattr(people, f)[index] for f in AnnyPeople.__dataclass_fields__))
