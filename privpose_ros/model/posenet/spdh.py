"""SPDH (semi-perspective decoupled heatmaps) grid and the heatmap primitives of the v2 model.

Per joint two heatmaps: ``uv`` (H, W) on the image plane and ``uz`` (B, W) whose rows are depth
bins and columns the image column u (their metric meaning is the v2 codec's,
:mod:`privpose_ros.model.posenet.codec`). Here: the grid (:class:`SPDHConfig`), intrinsics of a
resized grid (:func:`scale_intrinsics`), the sub-pixel peak (:func:`refine_peak`) and the
soft-argmax (:func:`soft_argmax`). Plain tensor algebra (no loops over data, no data-dependent
control flow), so everything exports to ONNX opset 17.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from privpose_ros.core.errors import PrivposeInputError

_LOG_EPS = 1e-6


@dataclass(frozen=True)
class SPDHConfig:
    """Heatmap grid ``heatmap_hw`` (rows, cols) and the number of depth bins (uz rows)."""

    heatmap_hw: tuple[int, int] = (48, 64)
    n_bins: int = 65

    def __post_init__(self) -> None:
        object.__setattr__(self, "heatmap_hw", tuple(int(x) for x in self.heatmap_hw))
        if len(self.heatmap_hw) != 2 or min(self.heatmap_hw) < 3:
            raise PrivposeInputError(f"heatmap_hw must be 2 sizes >= 3, got {self.heatmap_hw}")
        if self.n_bins < 3:
            raise PrivposeInputError(f"need n_bins >= 3, got {self.n_bins}")


def scale_intrinsics(k: Tensor, src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> Tensor:
    """Intrinsics (N, 3, 3) of an image of ``src_hw`` resized to ``dst_hw`` (pixel centres).

    Same convention as :meth:`CameraIntrinsics.scaled`: u' = (u + 0.5) * s - 0.5.
    """
    sy = dst_hw[0] / src_hw[0]
    sx = dst_hw[1] / src_hw[1]
    scale = k.new_tensor([[sx, 0.0, sx], [0.0, sy, sy], [0.0, 0.0, 1.0]])
    shift = k.new_tensor([[0.0, 0.0, 0.5 * sx - 0.5], [0.0, 0.0, 0.5 * sy - 0.5], [0, 0, 0]])
    return k * scale + shift


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
