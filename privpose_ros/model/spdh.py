"""SPDH: semi-perspective decoupled heatmaps (METHODS.md section 2), encoder and decoder.

Per joint two heatmaps: ``uv`` (H, W) on the image plane and ``uz`` (B, W) whose rows are metric
depth bins and columns the image column u. With a metric ``sigma_m``:

- uv(u, v) = exp(-((u - pu)^2 / sx^2 + (v - pv)^2 / sy^2) / 2), sx = sigma_m * fx / Pz
- uz(u, r) = exp(-((X(u, z_r) - Px)^2 + (z_r - Pz)^2) / (2 sigma_m^2)), X(u, z) = (u - cx) z / fx

with (pu, pv) the projection of the joint P (camera optical frame, metres) and z_r the centre of
depth bin r (``torch.linspace(z_min_m, z_max_m, n_bins)``). All pixel quantities are heatmap
pixels; ``k_hm`` are the intrinsics of the heatmap grid (see :func:`scale_intrinsics`).

Decoding (``decode="peak"``) takes the arg-max of each map and refines it with one Newton step on
the log heatmap over the 3x3 neighbourhood (exact for a sampled Gaussian on the uv map); the
refined row of the uz map gives z, and P = z K^-1 [u, v, 1]. ``decode="integral"`` uses the
soft-argmax (expectation under softmax(beta * map)) instead, the decoding the coordinate loss
trains (integral regression); confidence is the peak value either way. Everything is plain
tensor algebra (no loops over data, no data-dependent control flow) so it exports to ONNX
opset 17.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from privpose_ros.core.errors import PrivposeInputError

_LOG_EPS = 1e-6
DECODERS = ("peak", "integral")


@dataclass(frozen=True)
class SPDHConfig:
    """Heatmap grid ``heatmap_hw`` (rows, cols), depth bins and the metric Gaussian size."""

    heatmap_hw: tuple[int, int] = (48, 64)
    z_min_m: float = 0.5
    z_max_m: float = 6.9
    n_bins: int = 65
    sigma_m: float = 0.15
    decode: str = "peak"  # "peak" (arg-max + Newton step) | "integral" (soft-argmax)
    softmax_beta: float = 20.0  # inverse temperature of the soft-argmax

    def __post_init__(self) -> None:
        if self.decode not in DECODERS or self.softmax_beta <= 0:
            raise PrivposeInputError(
                f"decode must be one of {DECODERS} and softmax_beta > 0, got {self.decode!r}, "
                f"{self.softmax_beta}"
            )
        object.__setattr__(self, "heatmap_hw", tuple(int(x) for x in self.heatmap_hw))
        if len(self.heatmap_hw) != 2 or min(self.heatmap_hw) < 3:
            raise PrivposeInputError(f"heatmap_hw must be 2 sizes >= 3, got {self.heatmap_hw}")
        if not 0 < self.z_min_m < self.z_max_m:
            raise PrivposeInputError(
                f"need 0 < z_min_m < z_max_m, got {self.z_min_m}, {self.z_max_m}"
            )
        if self.n_bins < 3 or self.sigma_m <= 0:
            raise PrivposeInputError(
                f"need n_bins >= 3 and sigma_m > 0, got {self.n_bins}, {self.sigma_m}"
            )

    @property
    def bin_step_m(self) -> float:
        """Distance between neighbouring depth-bin centres (metres)."""
        return (self.z_max_m - self.z_min_m) / (self.n_bins - 1)


def scale_intrinsics(k: Tensor, src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> Tensor:
    """Intrinsics (N, 3, 3) of an image of ``src_hw`` resized to ``dst_hw`` (pixel centres).

    Same convention as :meth:`CameraIntrinsics.scaled`: u' = (u + 0.5) * s - 0.5.
    """
    sy = dst_hw[0] / src_hw[0]
    sx = dst_hw[1] / src_hw[1]
    scale = k.new_tensor([[sx, 0.0, sx], [0.0, sy, sy], [0.0, 0.0, 1.0]])
    shift = k.new_tensor([[0.0, 0.0, 0.5 * sx - 0.5], [0.0, 0.0, 0.5 * sy - 0.5], [0, 0, 0]])
    return k * scale + shift


def check_joints_and_k(joints_cam_m: Tensor, k: Tensor) -> None:
    """Raise PrivposeInputError unless joints are (N, J, 3) and k is (N, 3, 3) floats."""
    if joints_cam_m.ndim != 3 or joints_cam_m.shape[-1] != 3:
        raise PrivposeInputError(
            f"joints_cam_m must be (N, J, 3) metres, got {tuple(joints_cam_m.shape)}"
        )
    if k.shape != (joints_cam_m.shape[0], 3, 3):
        raise PrivposeInputError(
            f"k must be (N, 3, 3) with N = {joints_cam_m.shape[0]}, got {tuple(k.shape)}"
        )
    if not (joints_cam_m.is_floating_point() and k.is_floating_point()):
        raise PrivposeInputError("joints_cam_m and k must be floating point tensors")


class SPDHCodec:
    """Encodes 3D joints into SPDH heatmaps and decodes heatmaps back (one object, both ways)."""

    def __init__(self, config: SPDHConfig) -> None:
        self.config = config

    def bin_centres_m(self, like: Tensor) -> Tensor:
        c = self.config
        return torch.linspace(c.z_min_m, c.z_max_m, c.n_bins, dtype=like.dtype, device=like.device)

    def encode(self, joints_cam_m: Tensor, k_hm: Tensor) -> tuple[Tensor, Tensor]:
        """Targets ``uv`` (N, J, H, W) and ``uz`` (N, J, B, W) for joints (N, J, 3) metres.

        ``k_hm`` (N, 3, 3): intrinsics of the heatmap grid. Joints with z <= 0 or non-finite
        coordinates get all-zero maps.
        """
        check_joints_and_k(joints_cam_m, k_hm)
        h, w = self.config.heatmap_hw
        sigma = self.config.sigma_m
        finite = torch.isfinite(joints_cam_m).all(-1) & (joints_cam_m[..., 2] > 1e-3)
        p = torch.where(finite[..., None], joints_cam_m, joints_cam_m.new_tensor([0, 0, 1.0]))
        fx, fy = k_hm[:, 0, 0, None], k_hm[:, 1, 1, None]
        cx, cy = k_hm[:, 0, 2, None], k_hm[:, 1, 2, None]
        pu = fx * p[..., 0] / p[..., 2] + cx  # (N, J)
        pv = fy * p[..., 1] / p[..., 2] + cy
        sx = sigma * fx / p[..., 2]
        sy = sigma * fy / p[..., 2]
        cols = torch.arange(w, dtype=p.dtype, device=p.device)
        rows = torch.arange(h, dtype=p.dtype, device=p.device)
        gu = torch.exp(-0.5 * ((cols - pu[..., None]) / sx[..., None]) ** 2)  # (N, J, W)
        gv = torch.exp(-0.5 * ((rows - pv[..., None]) / sy[..., None]) ** 2)  # (N, J, H)
        uv = gv[..., :, None] * gu[..., None, :]
        z_r = self.bin_centres_m(p)  # (B,)
        x_ur = (cols[None, :] - cx[..., None]) / fx[..., None]  # (N, 1, W) ray slope per column
        x_ur = x_ur[:, :, None, :] * z_r[:, None]  # (N, 1, B, W) metres
        dx = x_ur - p[..., 0, None, None]
        dz = z_r[:, None] - p[..., 2, None, None]
        uz = torch.exp(-(dx**2 + dz**2) / (2 * sigma**2))
        mask = finite[..., None, None].to(p.dtype)
        return uv * mask, uz * mask

    def decode(self, uv: Tensor, uz: Tensor, k_hm: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Joints (N, J, 3) metres, their heatmap pixels (N, J, 2) and confidence (N, J) in [0, 1].

        ``uv`` (N, J, H, W), ``uz`` (N, J, B, W), ``k_hm`` (N, 3, 3) of the heatmap grid.
        """
        c = self.config
        if uv.ndim != 4 or tuple(uv.shape[-2:]) != c.heatmap_hw:
            raise PrivposeInputError(f"uv must be (N, J, {c.heatmap_hw}), got {tuple(uv.shape)}")
        if uz.shape != (*uv.shape[:2], c.n_bins, c.heatmap_hw[1]):
            raise PrivposeInputError(
                f"uz must be (N, J, {c.n_bins}, {c.heatmap_hw[1]}), got {tuple(uz.shape)}"
            )
        u, v, peak_uv = refine_peak(uv)
        r, peak_uz = refine_peak(uz)[1:]
        if c.decode == "integral":
            u, v = soft_argmax(uv, c.softmax_beta)
            r = soft_argmax(uz, c.softmax_beta)[1]
        joints = self._back_project(u, v, r, k_hm)
        conf = torch.sqrt(peak_uv.clamp(0.0, 1.0) * peak_uz.clamp(0.0, 1.0))
        return joints, torch.stack([u, v], dim=-1), conf

    def decode_integral(self, uv: Tensor, uz: Tensor, k_hm: Tensor) -> Tensor:
        """Differentiable joints (N, J, 3) metres: soft-argmax of ``softmax_beta`` * each map.

        (u, v) is the expectation over softmax(beta * uv); z the expected depth-bin row of
        softmax(beta * uz) (its marginal over columns). Used for the coordinate loss.
        """
        u, v = soft_argmax(uv, self.config.softmax_beta)
        r = soft_argmax(uz, self.config.softmax_beta)[1]
        return self._back_project(u, v, r, k_hm)

    def _back_project(self, u: Tensor, v: Tensor, row: Tensor, k_hm: Tensor) -> Tensor:
        """Heatmap pixel (u, v) and fractional depth-bin ``row`` -> joints (N, J, 3) metres."""
        z = self.config.z_min_m + row * self.config.bin_step_m
        fx, fy = k_hm[:, 0, 0, None], k_hm[:, 1, 1, None]
        cx, cy = k_hm[:, 0, 2, None], k_hm[:, 1, 2, None]
        return torch.stack([(u - cx) / fx * z, (v - cy) / fy * z, z], dim=-1)


def soft_argmax(heatmaps: Tensor, beta: float) -> tuple[Tensor, Tensor]:
    """Expected (x, y) (each (N, J)) of softmax(beta * heatmaps) over each (H, W) map."""
    n, j, h, w = heatmaps.shape
    prob = torch.softmax(beta * heatmaps.reshape(n, j, h * w), dim=-1).reshape(n, j, h, w)
    xs = torch.arange(w, dtype=heatmaps.dtype, device=heatmaps.device)
    ys = torch.arange(h, dtype=heatmaps.dtype, device=heatmaps.device)
    return (prob.sum(2) * xs).sum(-1), (prob.sum(3) * ys).sum(-1)


def refine_peak(heatmaps: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Sub-pixel peak (x, y) of each map (N, J, H, W) and the peak value, each (N, J).

    Arg-max, then one Newton step on log(h) using the 3x3 neighbourhood (offsets clamped to
    +-1 px); where the 2D log-Hessian is not negative definite or the peak is on the border, a
    1D parabola along each axis that has both neighbours and negative curvature.
    """
    n, j, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, j, h * w)
    peak, idx = flat.max(dim=-1)
    iy = torch.div(idx, w, rounding_mode="floor")
    ix = idx - iy * w
    offs = torch.tensor([-1, 0, 1], device=heatmaps.device)
    ny = (iy[..., None, None] + offs[:, None]).clamp(0, h - 1)  # (N, J, 3, 1)
    nx = (ix[..., None, None] + offs[None, :]).clamp(0, w - 1)  # (N, J, 1, 3)
    nb = torch.gather(flat, 2, (ny * w + nx).reshape(n, j, 9)).reshape(n, j, 3, 3)
    lg = torch.log(nb.clamp(min=_LOG_EPS))
    gx = 0.5 * (lg[..., 1, 2] - lg[..., 1, 0])
    gy = 0.5 * (lg[..., 2, 1] - lg[..., 0, 1])
    hxx = lg[..., 1, 2] - 2 * lg[..., 1, 1] + lg[..., 1, 0]
    hyy = lg[..., 2, 1] - 2 * lg[..., 1, 1] + lg[..., 0, 1]
    hxy = 0.25 * (lg[..., 2, 2] - lg[..., 2, 0] - lg[..., 0, 2] + lg[..., 0, 0])
    det = hxx * hyy - hxy * hxy
    in_x = (ix > 0) & (ix < w - 1)
    in_y = (iy > 0) & (iy < h - 1)
    both = in_x & in_y & (hxx < 0) & (det > 0)
    ok_x = in_x & (hxx < 0)  # 1D refinement where only one axis is usable (map borders)
    ok_y = in_y & (hyy < 0)
    one = torch.ones_like(det)
    zero = torch.zeros_like(det)
    safe_det = torch.where(both, det, one)
    dx = torch.where(ok_x, -gx / torch.where(ok_x, hxx, -one), zero)
    dy = torch.where(ok_y, -gy / torch.where(ok_y, hyy, -one), zero)
    dx = torch.where(both, -(hyy * gx - hxy * gy) / safe_det, dx)
    dy = torch.where(both, -(hxx * gy - hxy * gx) / safe_det, dy)
    x = ix.to(heatmaps.dtype) + dx.clamp(-1.0, 1.0)
    y = iy.to(heatmaps.dtype) + dy.clamp(-1.0, 1.0)
    return x, y, peak
