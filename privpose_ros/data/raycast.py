"""Vectorised analytic ray casting of capsules, ellipsoids and boxes into a batched z-buffer.

Every primitive is intersected only with the pixels of its projected bounding box: the pixels of
all primitives of all frames form one flat (ragged) array, so a whole batch is a handful of numpy
operations, and ``np.minimum.at`` keeps the nearest hit per pixel. Rays start at the camera
centre with direction ((u - cx) / fx, (v - cy) / fy, 1), so the ray parameter t is the depth z.
All geometry is in the camera optical frame (x right, y down, z forward), metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_NEAR_M = 0.05


@dataclass(frozen=True)
class Primitives:
    """P primitives of one kind in a batch; ``frame`` and ``object_id`` are (P,) int."""

    frame: np.ndarray
    object_id: np.ndarray
    bbox_px: np.ndarray  # (P, 4) int u0, v0, u1, v1 (exclusive), clipped to the image
    params: dict[str, np.ndarray]


def project_bbox_px(
    points_cam_m: np.ndarray, k: np.ndarray, pad_m: np.ndarray, width: int, height: int
) -> np.ndarray:
    """(P, 4) pixel boxes covering points (P, Q, 3) padded by ``pad_m`` (P,) metres.

    Primitives reaching behind the near plane get the whole image (safe, slower).
    """
    z = points_cam_m[..., 2]
    zc = np.maximum(z - pad_m[:, None], _NEAR_M)
    fx, fy, cx, cy = k[:, 0, 0, None], k[:, 1, 1, None], k[:, 0, 2, None], k[:, 1, 2, None]
    u = fx * points_cam_m[..., 0] / zc + cx
    v = fy * points_cam_m[..., 1] / zc + cy
    pu, pv = fx[:, 0] * pad_m / zc.min(1), fy[:, 0] * pad_m / zc.min(1)
    box = np.stack([u.min(1) - pu, v.min(1) - pv, u.max(1) + pu + 1, v.max(1) + pv + 1], 1)
    near = (z - pad_m[:, None] < _NEAR_M).any(1)
    box[near] = [0, 0, width, height]
    box = np.nan_to_num(box, nan=0.0, posinf=1e6, neginf=-1e6)
    box = np.floor(box).astype(np.int64)
    box[:, [0, 2]] = np.clip(box[:, [0, 2]], 0, width)
    box[:, [1, 3]] = np.clip(box[:, [1, 3]], 0, height)
    behind = (z + pad_m[:, None] < _NEAR_M).all(1)
    box[behind] = 0
    return box


def _ragged_pixels(bbox: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Primitive index, u and v of every pixel of every box (one flat array each)."""
    w = np.maximum(bbox[:, 2] - bbox[:, 0], 0)
    h = np.maximum(bbox[:, 3] - bbox[:, 1], 0)
    count = w * h
    pid = np.repeat(np.arange(len(bbox), dtype=np.int32), count)
    start = np.cumsum(count) - count
    local = np.arange(int(count.sum()), dtype=np.int32) - np.repeat(start.astype(np.int32), count)
    row, col = np.divmod(local, np.repeat(w.astype(np.int32), count))
    u = (np.repeat(bbox[:, 0].astype(np.int32), count) + col).astype(np.float32)
    v = (np.repeat(bbox[:, 1].astype(np.int32), count) + row).astype(np.float32)
    return pid, u, v


def _gather(columns: np.ndarray, pid: np.ndarray) -> list[np.ndarray]:
    """Per-primitive values (P, K) as K flat float32 arrays, one value per pixel element."""
    table = np.ascontiguousarray(np.asarray(columns, dtype=np.float32).T)
    return [np.take(row, pid) for row in table]


def _rays(frame: np.ndarray, u: np.ndarray, v: np.ndarray, k: np.ndarray) -> tuple:
    fx, fy, cx, cy = _gather(np.stack([k[:, 0, 0], k[:, 1, 1], k[:, 0, 2], k[:, 1, 2]], 1), frame)
    return (u - cx) / fx, (v - cy) / fy


def _hit_capsules(prims: Primitives, pid, dx, dy) -> np.ndarray:
    a, b, r = prims.params["a"], prims.params["b"], prims.params["r"]
    ba = b - a
    baba = np.einsum("ij,ij->i", ba, ba)
    baoa = -np.einsum("ij,ij->i", ba, a)
    qc = baba * np.einsum("ij,ij->i", a, a) - baoa * baoa - r * r * baba
    cc_a = np.einsum("ij,ij->i", a, a) - r * r
    cc_b = np.einsum("ij,ij->i", b, b) - r * r
    per = np.column_stack([a, b, ba, baba, baoa, qc, cc_a, cc_b])
    ax, ay, az, bx, by, bz, bax, bay, baz, baba, baoa, qc, cc_a, cc_b = _gather(per, pid)
    dd = dx * dx + dy * dy + 1.0
    bard = bax * dx + bay * dy + baz
    rdoa = -(ax * dx + ay * dy + az)
    qa = baba * dd - bard * bard
    qb = baba * rdoa - baoa * bard
    disc = qb * qb - qa * qc
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (-qb - np.sqrt(disc)) / qa
        y = baoa + t * bard
        first = y <= 0  # beyond end a: the cap sphere at a, else at b
        cb = -np.where(
            first, ax * dx + ay * dy + az, bx * dx + by * dy + bz
        )  # d . (origin - centre)
        ch = cb * cb - dd * np.where(first, cc_a, cc_b)
        t_cap = (-cb - np.sqrt(ch)) / dd
    t = np.where((y > 0) & (y < baba), t, t_cap)
    return np.where(disc >= 0, t, np.inf)


def _local_ray(prims: Primitives, pid, dx, dy) -> tuple[list, list]:
    """Ray origin and direction in the unit frame of ellipsoids / boxes (M = S^-1 R^T)."""
    m = prims.params["m"]
    per = np.column_stack([m.reshape(-1, 9), prims.params["o"]])
    g = _gather(per, pid)
    direction = [g[3 * i] * dx + g[3 * i + 1] * dy + g[3 * i + 2] for i in range(3)]
    return g[9:], direction


def _hit_ellipsoids(prims: Primitives, pid, dx, dy) -> np.ndarray:
    (ox, oy, oz), (px, py, pz) = _local_ray(prims, pid, dx, dy)
    qa = px * px + py * py + pz * pz
    qb = ox * px + oy * py + oz * pz
    disc = qb * qb - qa * (ox * ox + oy * oy + oz * oz - 1.0)
    with np.errstate(invalid="ignore"):
        t = (-qb - np.sqrt(disc)) / qa
    return np.where(disc >= 0, t, np.inf)


def _hit_boxes(prims: Primitives, pid, dx, dy) -> np.ndarray:
    origin, direction = _local_ray(prims, pid, dx, dy)
    near = np.full(dx.shape, -np.inf, np.float32)
    far = np.full(dx.shape, np.inf, np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        for o, d in zip(origin, direction, strict=True):
            inv = 1.0 / d
            t1 = (-1.0 - o) * inv
            t2 = (1.0 - o) * inv
            np.fmax(near, np.fmin(t1, t2), out=near)  # fmax/fmin skip the NaN of 0 * inf
            np.fmin(far, np.fmax(t1, t2), out=far)
    return np.where((near <= far) & (far > 0), near, np.inf)


_HITS = {"capsule": _hit_capsules, "ellipsoid": _hit_ellipsoids, "box": _hit_boxes}


def render_zbuffer(
    groups: dict[str, Primitives], k: np.ndarray, n: int, height: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest depth (N, H, W) float32 metres (inf = no hit) and object id (N, H, W) int32 (-1).

    ``groups`` maps a kind ("capsule", "ellipsoid", "box") to its primitives; ``k`` (N, 3, 3).
    """
    flat_idx, flat_z, flat_obj = [], [], []
    for kind, prims in groups.items():
        if len(prims.frame) == 0:
            continue
        pid, u, v = _ragged_pixels(prims.bbox_px)
        frame = np.take(prims.frame, pid)
        dx, dy = _rays(frame, u, v, k)
        z = _HITS[kind](prims, pid, dx, dy)
        hit = np.isfinite(z) & (z > _NEAR_M)
        pix = (v[hit].astype(np.int64) * width) + u[hit].astype(np.int64)
        flat_idx.append(frame[hit].astype(np.int64) * (height * width) + pix)
        flat_z.append(z[hit].astype(np.float32))
        flat_obj.append(prims.object_id[pid[hit]])
    zbuf = np.full(n * height * width, np.inf, dtype=np.float32)
    obj = np.full(n * height * width, -1, dtype=np.int32)
    if flat_idx:
        idx = np.concatenate(flat_idx)
        z = np.concatenate(flat_z)
        np.minimum.at(zbuf, idx, z)
        win = z == zbuf[idx]
        obj[idx[win]] = np.concatenate(flat_obj)[win]
    return zbuf.reshape(n, height, width), obj.reshape(n, height, width)
