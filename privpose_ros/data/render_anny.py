"""One block of synthetic frames with Anny people: 0-4 posed bodies per frame, rendered with
OpenGL (people) and ray casting (room, furniture), then sensed and shaded.

Person 0 of a frame (the primary) stands at the origin with the camera looking at it; the others
stand in the camera's view around it (``_place_others``), so people overlap and occlude each
other. Only the primary may sit (on a stool placed under it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from privpose_ros.data.anny_body import AnnyPeople, pose_people
from privpose_ros.data.anny_look import sample_looks
from privpose_ros.data.anny_model import identity_pool, load_anny, skin, skin_matrix, triangles
from privpose_ros.data.body import NUM_JOINTS, POSE_FAMILIES, J
from privpose_ros.data.gl_render import MeshRenderer, PersonLook, PosedPerson
from privpose_ros.data.raycast import render_zbuffer
from privpose_ros.data.scene import Boxes, furniture_boxes, place_cameras, room_planes
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
    Materials,
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


def renderer(width: int, height: int, frames: int = 1) -> MeshRenderer:
    """This process's renderer of ``frames`` images of ``width`` x ``height`` (a GL context is
    not fork-safe: a forked child makes its own)."""
    key = (os.getpid(), width, height, frames)
    if key not in _RENDERERS:
        model = load_anny()
        _RENDERERS[key] = MeshRenderer(
            width, height, triangles(model), model.num_vertices, frames, MAX_PEOPLE
        )
    return _RENDERERS[key]


def _frames_and_slots(count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    frame = np.repeat(np.arange(len(count)), count)
    slot = np.concatenate([np.arange(c) for c in count]) if len(count) else np.zeros(0)
    return frame.astype(np.int64), slot.astype(np.int64)


def _place_others(
    rng: np.random.Generator,
    frame: np.ndarray,
    slot: np.ndarray,
    eye: np.ndarray,
    rot: np.ndarray,
    k: np.ndarray,
    top: np.ndarray,
    width: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Floor positions (P, 2) of every person (the primary at the origin) and which are kept.

    Side views: the others stand inside the camera's horizontal field of view, up to 2.5 m
    nearer or 3 m farther than the primary (so they overlap and occlude each other); top
    views: 0.6-2.5 m around the primary. At least 0.55 m between people, 0.45 m from the
    camera; a person that finds no place in 12 tries is left out.
    """
    position = np.zeros((len(frame), 2))
    keep = slot == 0
    for f in np.unique(frame):
        placed = [np.zeros(2)]
        ahead = rot[f, 2, :2] / max(np.linalg.norm(rot[f, 2, :2]), 1e-6)
        side = np.array([-ahead[1], ahead[0]])
        primary_d = float(np.dot(-eye[f, :2], ahead))
        half_fov = 0.5 * width / k[f, 0, 0]
        for i in np.nonzero((frame == f) & (slot > 0))[0]:
            for _try in range(12):
                if top[f]:
                    ang, dist = rng.uniform(-np.pi, np.pi), rng.uniform(0.6, 2.5)
                    xy = dist * np.array([np.cos(ang), np.sin(ang)])
                else:
                    d = rng.uniform(max(0.8, primary_d - 2.5), primary_d + 3.0)
                    xy = eye[f, :2] + d * ahead + rng.uniform(-1, 1) * 0.9 * half_fov * d * side
                far_apart = min(np.linalg.norm(xy - q) for q in placed) >= _SPACING_M
                if far_apart and np.linalg.norm(xy - eye[f, :2]) >= _CAMERA_CLEARANCE_M:
                    placed.append(xy)
                    position[i], keep[i] = xy, True
                    break
    return position, keep


def _moved(people: AnnyPeople, index: np.ndarray, position_xy_m: np.ndarray) -> AnnyPeople:
    """People ``index`` (posed at the origin) moved onto the floor at ``position_xy_m``."""
    shift = np.concatenate([position_xy_m, np.zeros((len(index), 1))], 1)
    bones = people.bones_w[index].copy()
    bones[..., 3] += shift[:, None]
    fields = {f: getattr(people, f)[index] for f in AnnyPeople.__dataclass_fields__}
    fields.update(bones_w=bones, joints_w_m=people.joints_w_m[index] + shift[:, None])
    return AnnyPeople(**fields)


def _families(rng: np.random.Generator, cfg: SynthConfig, slots: np.ndarray) -> np.ndarray:
    allowed = np.array([POSE_FAMILIES.index(f) for f in cfg.families])
    standing = np.array([f for f in allowed if POSE_FAMILIES[f] != "sitting"] or allowed)
    primary = allowed[rng.integers(0, len(allowed), len(slots))]
    other = standing[rng.integers(0, len(standing), len(slots))]
    return np.where(slots == 0, primary, other)


def submit_people(
    cfg: SynthConfig,
    people: AnnyPeople,
    frame: np.ndarray,
    rot: np.ndarray,
    eye: np.ndarray,
    k: np.ndarray,
    looks: list[PersonLook],
) -> MeshRenderer:
    """Skin every person (of frame ``frame[i]``, outfit ``looks[i]``) into its camera and queue
    the frames' draws (rendered meanwhile); a person's index in its frame is its order here."""
    rest = identity_pool().rest_vertices_m
    weights = skin_matrix()
    batch: list[list[PosedPerson]] = [[] for _ in range(len(eye))]
    for i, f in enumerate(frame):
        bones = np.einsum("ij,bjk->bik", rot[f], people.bones_w[i])  # world -> camera
        bones[:, :, 3] -= rot[f] @ eye[f]
        body = int(people.identity[i])
        batch[f].append(PosedPerson(body, rest[body], skin(bones, rest[body], weights), looks[i]))
    gl = renderer(cfg.width, cfg.height, len(eye))
    gl.submit(k, batch)
    return gl


def _collect_people(gl: MeshRenderer) -> tuple[np.ndarray, ...]:
    """GL depth (N, H, W) (inf = nobody), person index, albedo (N, H, W, 3), normals."""
    images = gl.collect()
    depth = np.stack([np.where(im.person >= 0, im.depth_m, np.inf) for im in images])
    person = np.stack([im.person for im in images])
    albedo = np.stack([im.albedo for im in images])
    normal = np.stack([im.normal_cam for im in images])
    return depth.astype(np.float32), person, albedo, normal


@dataclass(frozen=True)
class SceneDepth:
    """N frames' geometry: true depth, what each pixel shows, the people layer and the labels."""

    depth_m: np.ndarray  # (N, H, W) float32 camera z, 0 where nothing
    obj: np.ndarray  # (N, H, W) object (material) id of the room and furniture behind people
    on_person: np.ndarray  # (N, H, W) bool
    albedo_people: np.ndarray  # (N, H, W, 3) float32 linear RGB
    normal_people: np.ndarray  # (N, H, W, 3) float32, camera frame
    rays: tuple[np.ndarray, np.ndarray]  # pixel_rays of k
    labels: dict[str, np.ndarray]  # scene_render.people_labels


def scene_depth(
    cfg: SynthConfig,
    gl: MeshRenderer,
    people: AnnyPeople,
    frame: np.ndarray,
    slot: np.ndarray,
    cameras: tuple[np.ndarray, np.ndarray, np.ndarray],
    boxes: Boxes,
    room: tuple[np.ndarray, np.ndarray],
) -> SceneDepth:
    """Furniture ``boxes`` (ray cast; object ids 0..B-1) and the room's planes ``room`` (normals
    (N, 6, 3), offsets (N, 6); object ids B + 6 f + plane) behind the people ``gl`` rendered
    (``submit_people``; person ``i`` in frame ``frame[i]``, label slot ``slot[i]``), seen by
    ``cameras`` (rot (N, 3, 3) world to camera, eye (N, 3) m, k (N, 3, 3))."""
    rot, eye, k = cameras
    n, h, w = len(eye), cfg.height, cfg.width
    ids = np.arange(len(boxes.frame))
    zbuf, obj = render_zbuffer({"box": box_primitives(boxes, ids, rot, eye, k, cfg)}, k, n, h, w)
    ray_x, ray_y = pixel_rays(k, w, h)
    zroom, plane = room_depth(room[0], room[1], rot, eye, ray_x, ray_y)
    nearer = zbuf <= zroom
    depth = np.where(nearer, zbuf, zroom)
    obj = np.where(nearer, obj, len(boxes.frame) + np.arange(n)[:, None, None] * 6 + plane)
    zpeople, person, albedo_people, normal_people = _collect_people(gl)
    on_person = zpeople < depth
    depth = np.where(on_person, zpeople, depth)
    depth = np.where(np.isfinite(depth), depth, 0.0).astype(np.float32)
    instance = np.where(on_person, person, -1)
    joints = np.full((n, MAX_PEOPLE, NUM_JOINTS, 3), np.nan)
    surface = np.zeros((n, MAX_PEOPLE, NUM_JOINTS))
    joints[frame, slot] = to_camera(rot, eye, frame, people.joints_w_m)
    surface[frame, slot] = people.surface_offset_m
    labels = people_labels(joints, surface, k, depth, instance, cfg.visibility_margin_m)
    return SceneDepth(depth, obj, on_person, albedo_people, normal_people, (ray_x, ray_y), labels)


def scene_albedo(
    scene: SceneDepth,
    depth_normals: tuple[np.ndarray, np.ndarray, np.ndarray],
    materials: Materials,
    obj_frame: np.ndarray,
    rot: np.ndarray,
    eye: np.ndarray,
) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Albedo (3, N, H, W) of ``scene`` (room and furniture textured with ``materials``, object
    ``o`` in frame ``obj_frame[o]``; the people's own colours over them) and the shading
    normals (people's, else ``depth_normals`` of the sensed depth)."""
    coef = texture_coefficients(materials, obj_frame, rot, eye)
    albedo = albedo_image(materials, coef, scene.obj, scene.depth_m, *scene.rays)
    for c in range(3):
        np.copyto(albedo[c], scene.albedo_people[..., c], where=scene.on_person)
    normals = tuple(
        np.where(scene.on_person, scene.normal_people[..., c], depth_normals[c]) for c in range(3)
    )
    return albedo, normals


def render_block(cfg: SynthConfig, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Render ``n`` frames: rgb, depth_mm, k and the labels of ``scene_render.people_labels``."""
    weights = np.asarray(cfg.people_weights, dtype=float)
    count = rng.choice(MAX_PEOPLE + 1, n, p=weights / weights.sum())
    frame, slot = _frames_and_slots(count)
    people = pose_people(rng, len(frame), np.zeros((len(frame), 2)), _families(rng, cfg, slot))
    origin = np.zeros((n, 2))
    if cfg.view == "mixed":
        top = rng.random(n) < cfg.top_view_fraction
    else:
        top = np.full(n, cfg.view == "top")
    target_z = np.full(n, 1.0)
    primary = slot == 0
    target_z[frame[primary]] = people.joints_w_m[primary, :, 2].mean(1)
    eye, rot = place_cameras(rng, origin, top, target_z, cfg.camera_distance_m)
    k, sensors = sample_intrinsics(rng, cfg, n)
    position, kept = _place_others(rng, frame, slot, eye, rot, k, top, cfg.width)
    keep = np.nonzero(kept)[0]  # the rest keep their slot order
    frame, people = frame[keep], _moved(people, keep, position[keep])
    slot = _frames_and_slots(np.bincount(frame, minlength=n))[1]
    looks = sample_looks(rng, len(frame))
    gl = submit_people(cfg, people, frame, rot, eye, k, looks)  # renders while the room is cast
    primary = slot == 0
    chair = np.zeros(n, bool)
    chair_top = np.zeros(n)
    sitting = primary & (people.family == POSE_FAMILIES.index("sitting"))
    chair[frame[sitting]] = True
    chair_top[frame[sitting]] = people.seat_top_m[sitting] - 0.01
    occluder = (rng.random(n) < cfg.distractor_prob) & (count > 0)
    boxes = furniture_boxes(rng, origin, eye, occluder, chair, chair_top, cfg.furniture_per_frame)
    others = np.full((n, MAX_PEOPLE, 2), np.nan)
    others[frame, slot] = people.joints_w_m[:, J["pelvis"], :2]
    room = room_planes(rng, origin, eye, others)
    scene = scene_depth(cfg, gl, people, frame, slot, (rot, eye, k), boxes, room)
    depth_mm, normals = sense_depth(scene.depth_m, k, scene.rays, sensors, rng, cfg)
    mat = concat_materials(
        [
            random_materials(rng, len(boxes.frame), scale_m=0.3),
            random_materials(rng, 6 * n, texture_prob=0.8, scale_m=0.6),
        ]
    )
    obj_frame = np.concatenate([boxes.frame, np.repeat(np.arange(n), 6)])
    albedo, shading_normals = scene_albedo(scene, normals, mat, obj_frame, rot, eye)
    effects = 1.0 if cfg.rgb_effects else 0.0
    rgb = camera_effects(shade(albedo, shading_normals, rng), rng, 0.4 * effects, 0.5 * effects)
    return {"rgb": rgb, "depth_mm": depth_mm, "k": k, **scene.labels}
