"""Colour of the synthetic images: materials with solid textures, lights and camera effects.

Textures are functions of the world point of each pixel (solid texturing), so stripes, checks,
prints and noise need no texture coordinates. Everything is batched over (N, H, W).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from privpose_ros.data.body import REGION_HAIR, REGION_SHIRT, REGION_SKIN
from privpose_ros.data.sensor import fast_standard_normal

TEX_PLAIN, TEX_STRIPES, TEX_NOISE, TEX_CHECKER, TEX_DOTS = 0, 1, 2, 3, 4

_SKIN = np.array(
    [
        [0.95, 0.80, 0.69],
        [0.87, 0.67, 0.53],
        [0.76, 0.57, 0.42],
        [0.55, 0.38, 0.26],
        [0.36, 0.24, 0.16],
        [0.98, 0.86, 0.78],
    ]
)
_HAIR = np.array(
    [
        [0.05, 0.04, 0.03],
        [0.22, 0.14, 0.08],
        [0.45, 0.30, 0.16],
        [0.80, 0.68, 0.45],
        [0.60, 0.60, 0.60],
        [0.55, 0.22, 0.10],
    ]
)


@dataclass(frozen=True)
class Materials:
    """Per-object appearance, indexed by object id: two albedos, a texture and its axes."""

    albedo_a: np.ndarray  # (O, 3) linear RGB in [0, 1]
    albedo_b: np.ndarray  # (O, 3)
    texture: np.ndarray  # (O,) TEX_*
    axis_a: np.ndarray  # (O, 3) world direction * spatial frequency (cycles per metre)
    axis_b: np.ndarray  # (O, 3)
    phase: np.ndarray  # (O, 2)


def random_materials(
    rng: np.random.Generator, count: int, texture_prob: float = 0.7, scale_m: float = 0.3
) -> Materials:
    """``count`` random materials (clothes, walls, furniture); frequency about 1/scale_m."""
    a = rng.uniform(0.05, 0.95, (count, 3)) ** 1.5
    b = np.clip(a * rng.uniform(0.3, 1.6, (count, 1)) + rng.normal(0, 0.15, (count, 3)), 0, 1)
    tex = np.where(rng.random(count) < texture_prob, rng.integers(1, 5, count), TEX_PLAIN)
    dirs = rng.normal(size=(count, 2, 3))
    dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
    freq = rng.uniform(0.5, 2.5, (count, 2, 1)) / scale_m
    return Materials(
        a, b, tex, dirs[:, 0] * freq[:, 0], dirs[:, 1] * freq[:, 1], rng.uniform(0, 1, (count, 2))
    )


def person_materials(
    rng: np.random.Generator, regions: np.ndarray, up_w: np.ndarray
) -> tuple[Materials, np.ndarray]:
    """Materials for the primitives of P people and their hair colours (P, 3).

    ``regions`` (P, K) REGION_* per primitive, ``up_w`` (P, 3) the body's up axis. Skin tone and
    hair colour per person; shirt, trousers and shoes textured per person (stripes run across
    the body's up axis).
    """
    p = regions.shape[0]
    skin = _SKIN[rng.integers(0, len(_SKIN), p)] * rng.uniform(0.9, 1.1, (p, 1))
    hair = _HAIR[rng.integers(0, len(_HAIR), p)]
    clothes = random_materials(rng, 3 * p, texture_prob=0.6, scale_m=0.08)
    pick = np.arange(p)[:, None] * 3 + np.clip(regions - REGION_SHIRT, 0, 2)  # shirt/pants/shoes
    albedo_a, albedo_b = clothes.albedo_a[pick], clothes.albedo_b[pick]
    texture, axis_a = clothes.texture[pick], clothes.axis_a[pick]
    stripes = np.linalg.norm(axis_a, axis=-1, keepdims=True) * up_w[:, None, :]
    axis_a = np.where((texture == TEX_STRIPES)[..., None], stripes, axis_a)
    is_skin = (regions == REGION_SKIN)[..., None]
    albedo_a = np.where(is_skin, skin[:, None], albedo_a)
    albedo_b = np.where(is_skin, skin[:, None] * 0.92, albedo_b)
    texture = np.where(is_skin[..., 0] | (regions == REGION_HAIR), TEX_PLAIN, texture)
    mats = Materials(
        albedo_a.reshape(-1, 3),
        albedo_b.reshape(-1, 3),
        texture.reshape(-1),
        axis_a.reshape(-1, 3),
        clothes.axis_b[pick].reshape(-1, 3),
        clothes.phase[pick].reshape(-1, 2),
    )
    return mats, hair


def concat_materials(parts: list[Materials]) -> Materials:
    return Materials(
        *(np.concatenate([getattr(m, f) for m in parts]) for f in Materials.__dataclass_fields__)
    )


def texture_coefficients(
    mat: Materials, frame: np.ndarray, rot: np.ndarray, eye_w_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-object (O, 4) coefficients c so that the texture coordinate of a pixel of depth z and
    ray (rx, ry, 1) is z (c0 rx + c1 ry + c2) + c3: world axes moved into the object's camera.

    ``frame`` (O,) is the frame of each object, ``rot`` (N, 3, 3) world-to-camera rotations.
    """
    out = []
    for axis, phase in ((mat.axis_a, mat.phase[:, 0]), (mat.axis_b, mat.phase[:, 1])):
        axis_c = np.einsum("oij,oj->oi", rot[frame], axis)
        offset = np.einsum("oj,oj->o", eye_w_m[frame], axis) + phase
        out.append(np.concatenate([axis_c, offset[:, None]], 1).astype(np.float32))
    return out[0], out[1]


def albedo_image(
    mat: Materials,
    coef: tuple[np.ndarray, np.ndarray],
    obj: np.ndarray,
    depth_m: np.ndarray,
    ray_x: np.ndarray,
    ray_y: np.ndarray,
) -> np.ndarray:
    """Albedo (3, N, H, W) float32 (planar RGB) of object ids ``obj`` (N, H, W) at ``depth_m``."""
    flat = obj.reshape(-1)
    tex = np.take(mat.texture.astype(np.int8), flat)
    w = np.zeros(flat.shape, np.float32)
    zx = (depth_m * ray_x).reshape(-1)
    zy = (depth_m * ray_y).reshape(-1)
    zf = depth_m.reshape(-1)
    for kind in (TEX_STRIPES, TEX_NOISE, TEX_CHECKER, TEX_DOTS):
        sel = np.nonzero(tex == kind)[0]
        if sel.size == 0:
            continue
        o = flat[sel]
        x, y, z = zx[sel], zy[sel], zf[sel]
        c1 = [np.take(col, o) for col in coef[0].T.copy()]
        s1 = x * c1[0] + y * c1[1] + z * c1[2] + c1[3]
        if kind == TEX_STRIPES:
            w[sel] = (s1 - np.floor(s1)) < 0.5
            continue
        c2 = [np.take(col, o) for col in coef[1].T.copy()]
        s2 = x * c2[0] + y * c2[1] + z * c2[2] + c2[3]
        if kind == TEX_NOISE:
            wave = np.sin(6.283 * s1) + np.sin(6.283 * s2 + 2.0 * np.sin(3.7 * s1))
            w[sel] = 0.5 + 0.25 * wave
        elif kind == TEX_CHECKER:
            w[sel] = (np.floor(s1) + np.floor(s2)) % 2
        else:
            f1, f2 = s1 - np.floor(s1) - 0.5, s2 - np.floor(s2) - 0.5
            w[sel] = (f1 * f1 + f2 * f2) < 0.08
    base = mat.albedo_a.T.astype(np.float32)
    step = (mat.albedo_b - mat.albedo_a).T.astype(np.float32)
    out = np.empty((3, flat.size), np.float32)
    for c in range(3):
        out[c] = np.take(base[c], flat) + np.take(step[c], flat) * w
    return out.reshape(3, *obj.shape)


def shade(
    albedo: np.ndarray, normals_cam: tuple[np.ndarray, ...], rng: np.random.Generator
) -> np.ndarray:
    """Lambertian shading with a random key light, a camera fill light and ambient.

    ``albedo`` (3, N, H, W) planar RGB; ``normals_cam`` the (nx, ny, nz) components, each
    (N, H, W), facing the camera. Returns planar linear RGB (3, N, H, W).
    """
    n = albedo.shape[1]
    light = rng.normal(size=(n, 3)) + np.array([0.0, -1.2, -0.8])  # mostly from above/camera
    light /= np.linalg.norm(light, axis=1, keepdims=True)
    light = light.astype(np.float32)[:, :, None, None]
    ambient = rng.uniform(0.15, 0.45, (n, 1, 1)).astype(np.float32)
    key = rng.uniform(0.5, 1.0, (n, 1, 1)).astype(np.float32)
    tint = rng.uniform(0.85, 1.15, (3, n, 1, 1)).astype(np.float32)
    nx, ny, nz = normals_cam[:3]
    lam = nx * light[:, 0] + ny * light[:, 1] + nz * light[:, 2]
    lit = ambient + key * np.maximum(lam, 0.0) - np.float32(0.25) * nz
    return albedo * lit[None] * tint


# linear intensity in 1/1023 steps -> gamma-encoded 8-bit
_GAMMA_LUT = np.round(np.linspace(0.0, 1.0, 1024) ** (1 / 2.2) * 255.0).astype(np.uint8)


def camera_effects(
    linear_rgb: np.ndarray,
    rng: np.random.Generator,
    blur_prob: float = 0.4,
    jpeg_prob: float = 0.5,
) -> np.ndarray:
    """Exposure, sensor noise, gamma, blur and JPEG artefacts of planar linear RGB (3, N, H, W);
    returns (N, H, W, 3) uint8.

    Noise is added in the linear domain (as in a sensor), so it is strongest in the shadows
    after gamma; one normal draw per pixel, shifted by one and two pixels for G and B.
    """
    n = linear_rgb.shape[1]
    gain = np.exp(rng.normal(0.1, 0.3, (n, 1, 1))).astype(np.float32) * 1023.0
    sigma = rng.uniform(1.0, 6.0, (n, 1, 1)).astype(np.float32)
    noise = sigma * fast_standard_normal(rng, linear_rgb.shape[1:])
    out = np.empty((*linear_rgb.shape[1:], 3), np.uint8)
    for c in range(3):
        level = linear_rgb[c] * gain
        if c == 0:
            level += noise
        else:
            level[:, :, c:] += noise[:, :, :-c]
        np.clip(level, 0.0, 1023.0, out=level)
        out[..., c] = _GAMMA_LUT[level.astype(np.int16)]
    blur = rng.random(n) < blur_prob
    blur_sigma = rng.uniform(0.4, 1.3, n)
    jpeg = rng.random(n) < jpeg_prob
    quality = rng.integers(30, 95, n)
    for i in np.nonzero(blur | jpeg)[0]:
        frame = out[i]
        if blur[i]:
            frame = cv2.GaussianBlur(frame, (0, 0), float(blur_sigma[i]))
        if jpeg[i]:
            ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(quality[i])])
            frame = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else frame
        out[i] = frame
    return out
