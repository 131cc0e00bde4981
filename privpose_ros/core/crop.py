"""Per-person crops with their own pinhole intrinsics, and camera-agnostic depth.

A crop is an axis-aligned, isotropically scaled window of the source image: ``width_px`` x
``height_px`` crop pixels centred on the source pixel (cx_box, cy_box), each crop pixel covering
``s = src_px_per_crop_px`` source pixels. Pixel coordinates are continuous with integer values
at pixel centres (as in :mod:`privpose_ros.core.geometry` and ``cv2.warpAffine``), so the crop's
raster centre ((W - 1) / 2, (H - 1) / 2) maps to the box centre and

    u_src = cx_box + s * (u_crop - (W - 1) / 2)          (the same for v)

The crop is a camera of its own: the source camera resized by 1 / s, then cut
(:meth:`CameraIntrinsics.scaled`, then :meth:`CameraIntrinsics.cropped`), so that

    fx_crop = fx / s,   cx_crop = (cx - cx_box) / s + (W - 1) / 2

and projecting a camera-frame point with the crop intrinsics gives its crop pixel directly.
Boxes are not clamped to the image: a person at the border stays centred and at scale, and the
part of the crop outside the image is padding (see :meth:`CropBox.image_region_crop_px`).

Camera-agnostic depth. A person of metric extent S_m at depth z_m spans S_m * f / z_m source
pixels; the crop is sized to that extent (times a margin), so in crop pixels the person always
looks the same size and appearance alone says nothing about z. What appearance does say is the
person's metric size. The crop focal length carries the rest:

    zeta_m = z_m * W_crop / fx_crop                      (depth_to_normalized)
    z_m    = zeta_m * fx_crop / W_crop                   (normalized_to_depth)

``zeta_m`` is the metric width the crop covers at the person's depth (= margin x the person's
larger metric extent: independent of the camera and its resolution, and of the distance up to
the body's own depth relief, exactly so for a flat person), so a model
predicts ``zeta_m`` from the crop and recovers absolute depth with the crop's own focal length.
Equivalently depth = f_crop * reference_size_m / predicted_size_px with the predicted size in
crop pixels. Two cameras seeing the same person at the same place give identical crop
intrinsics and identical ``zeta_m`` (test/core/test_core_crop.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import PrivposeInputError

DEFAULT_MARGIN = 1.25


@dataclass(frozen=True)
class CropBox:
    """An axis-aligned crop: ``width_px`` x ``height_px`` crop pixels centred on source pixel
    (``centre_x_src_px``, ``centre_y_src_px``), ``src_px_per_crop_px`` source pixels per crop
    pixel in both directions."""

    centre_x_src_px: float
    centre_y_src_px: float
    src_px_per_crop_px: float
    width_px: int
    height_px: int

    def __post_init__(self) -> None:
        values = (self.centre_x_src_px, self.centre_y_src_px, self.src_px_per_crop_px)
        if not all(math.isfinite(float(v)) for v in values) or self.src_px_per_crop_px <= 0:
            raise PrivposeInputError(
                f"crop centre {values[:2]} must be finite and src_px_per_crop_px "
                f"{self.src_px_per_crop_px} positive"
            )
        if int(self.width_px) <= 0 or int(self.height_px) <= 0:
            raise PrivposeInputError(
                f"crop size must be positive, got {self.width_px}x{self.height_px}"
            )
        object.__setattr__(self, "width_px", int(self.width_px))
        object.__setattr__(self, "height_px", int(self.height_px))

    @property
    def raster_centre_px(self) -> np.ndarray:
        """(2,) the crop pixel (u, v) at the middle of the crop raster."""
        return np.array([(self.width_px - 1) / 2.0, (self.height_px - 1) / 2.0])

    @property
    def crop_to_src(self) -> np.ndarray:
        """(2, 3) affine map from crop pixels to source pixels (cv2 convention)."""
        cu, cv = self.raster_centre_px
        s = self.src_px_per_crop_px
        return np.array(
            [[s, 0.0, self.centre_x_src_px - s * cu], [0.0, s, self.centre_y_src_px - s * cv]]
        )

    @property
    def src_to_crop(self) -> np.ndarray:
        """(2, 3) affine map from source pixels to crop pixels (the inverse of crop_to_src)."""
        cu, cv = self.raster_centre_px
        k = 1.0 / self.src_px_per_crop_px
        return np.array(
            [[k, 0.0, cu - k * self.centre_x_src_px], [0.0, k, cv - k * self.centre_y_src_px]]
        )

    def src_to_crop_px(self, uv_src_px: np.ndarray) -> np.ndarray:
        """Source pixels (..., 2) -> crop pixels (..., 2)."""
        return _apply_affine(self.src_to_crop, uv_src_px, "uv_src_px")

    def crop_to_src_px(self, uv_crop_px: np.ndarray) -> np.ndarray:
        """Crop pixels (..., 2) -> source pixels (..., 2)."""
        return _apply_affine(self.crop_to_src, uv_crop_px, "uv_crop_px")

    @property
    def src_box_px(self) -> np.ndarray:
        """(4,) the crop's outer edges (x0, y0, x1, y1) in source pixel coordinates."""
        half = 0.5 * self.src_px_per_crop_px * np.array([self.width_px, self.height_px])
        centre = np.array([self.centre_x_src_px, self.centre_y_src_px])
        return np.concatenate([centre - half, centre + half])

    def intrinsics(self, source: CameraIntrinsics) -> CameraIntrinsics:
        """Pinhole intrinsics of the crop of an image with ``source`` intrinsics.

        The source camera resized by 1 / src_px_per_crop_px, then cut at the crop's first pixel
        (a sub-pixel offset: ``cropped`` is exact for non-integer offsets). Distortion is carried
        over for provenance only; the crop of a distorted image is not a pinhole image.
        """
        k = 1.0 / self.src_px_per_crop_px
        if min(source.width, source.height) * k < 0.5:
            raise PrivposeInputError(
                f"crop spans {self.src_px_per_crop_px * self.width_px:.0f} source px: the "
                f"{source.width}x{source.height} image would be under one crop pixel; "
                "check the person box units"
            )
        x0_src, y0_src = self.src_box_px[:2]
        # the first crop pixel's centre x0_src + s / 2 lies, in the image resized by k,
        # at (x0_src + s / 2 + 0.5) * k - 0.5 = (x0_src + 0.5) * k
        offset_x, offset_y = (x0_src + 0.5) * k, (y0_src + 0.5) * k
        return source.scaled(k, k).cropped(offset_x, offset_y, self.width_px, self.height_px)

    def image_region_crop_px(self, image_width_px: int, image_height_px: int) -> np.ndarray:
        """(4,) edges (x0, y0, x1, y1) in crop pixels of the part of the crop inside the image
        (x1 <= x0 or y1 <= y0: the crop misses the image); the rest of the crop is padding."""
        edges_src = np.array([-0.5, -0.5, image_width_px - 0.5, image_height_px - 0.5])
        lo = self.src_to_crop_px(edges_src[:2])
        hi = self.src_to_crop_px(edges_src[2:])
        crop_edges = np.array([-0.5, -0.5, self.width_px - 0.5, self.height_px - 0.5])
        return np.concatenate([np.maximum(lo, crop_edges[:2]), np.minimum(hi, crop_edges[2:])])

    def image_fraction(self, image_width_px: int, image_height_px: int) -> float:
        """Fraction of the crop's area that shows the image (1.0: no padding)."""
        x0, y0, x1, y1 = self.image_region_crop_px(image_width_px, image_height_px)
        area = max(x1 - x0, 0.0) * max(y1 - y0, 0.0)
        return float(area / (self.width_px * self.height_px))


def _apply_affine(affine: np.ndarray, uv_px: np.ndarray, name: str) -> np.ndarray:
    uv = np.asarray(uv_px, dtype=np.float64)
    if uv.ndim == 0 or uv.shape[-1] != 2:
        raise PrivposeInputError(f"{name} must have shape (..., 2), got {uv.shape}")
    return uv @ affine[:, :2].T + affine[:, 2]


def crop_box_from_person_box(
    box_src_px: np.ndarray | tuple[float, float, float, float],
    crop_size_px: tuple[int, int] = (256, 256),
    margin: float = DEFAULT_MARGIN,
    min_side_src_px: float = 1.0,
) -> CropBox:
    """The crop of ``crop_size_px`` (width, height) around a person box (x0, y0, x1, y1).

    The box is centred, grown by ``margin`` in both directions and then widened along one axis to
    the crop's aspect, so the whole box (with margin) fits and the scale is isotropic. The crop
    side in source pixels is at least ``min_side_src_px`` (degenerate, zero-size boxes).
    """
    box = np.asarray(box_src_px, dtype=np.float64).reshape(-1)
    if box.shape != (4,) or not np.all(np.isfinite(box)):
        raise PrivposeInputError(
            f"box_src_px must be 4 finite numbers (x0, y0, x1, y1), got {box}"
        )
    if box[2] < box[0] or box[3] < box[1]:
        raise PrivposeInputError(f"box_src_px must have x1 >= x0 and y1 >= y0, got {box}")
    width_px, height_px = (int(v) for v in crop_size_px)
    if width_px <= 0 or height_px <= 0 or not margin > 0:
        raise PrivposeInputError(
            f"crop_size_px {crop_size_px} must be positive and margin {margin} > 0"
        )
    aspect = width_px / height_px
    side_w = max(margin * (box[2] - box[0]), margin * (box[3] - box[1]) * aspect, min_side_src_px)
    return CropBox(
        centre_x_src_px=float(0.5 * (box[0] + box[2])),
        centre_y_src_px=float(0.5 * (box[1] + box[3])),
        src_px_per_crop_px=float(side_w / width_px),
        width_px=width_px,
        height_px=height_px,
    )


def box_from_points_px(points_px: np.ndarray) -> np.ndarray:
    """(4,) the tight box (x0, y0, x1, y1) of finite points (..., 2), e.g. projected joints."""
    pts = np.asarray(points_px, dtype=np.float64).reshape(-1, 2)
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    if len(pts) == 0:
        raise PrivposeInputError("box_from_points_px needs at least one finite point")
    return np.concatenate([pts.min(axis=0), pts.max(axis=0)])


def box_iou(a_px: np.ndarray, b_px: np.ndarray) -> np.ndarray:
    """IoU (A, B) of boxes a (A, 4) and b (B, 4), each (x0, y0, x1, y1) pixels; 0 where a box
    is not finite or empty."""
    a = np.asarray(a_px, np.float64).reshape(-1, 4)[:, None]
    b = np.asarray(b_px, np.float64).reshape(-1, 4)[None]
    lo = np.maximum(a[..., :2], b[..., :2])
    hi = np.minimum(a[..., 2:], b[..., 2:])
    inter = np.clip(hi - lo, 0, None).prod(-1)
    area_a = np.clip(a[..., 2:] - a[..., :2], 0, None).prod(-1)
    area_b = np.clip(b[..., 2:] - b[..., :2], 0, None).prod(-1)
    union = area_a + area_b - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    return np.nan_to_num(iou, nan=0.0)


def depth_to_normalized(z_m: np.ndarray | float, crop_intrinsics: CameraIntrinsics) -> np.ndarray:
    """Camera-agnostic depth zeta_m = z_m * W_crop / fx_crop (the crop's metric width at z)."""
    return np.asarray(z_m, dtype=np.float64) * (crop_intrinsics.width / crop_intrinsics.fx)


def normalized_to_depth(
    zeta_m: np.ndarray | float, crop_intrinsics: CameraIntrinsics
) -> np.ndarray:
    """Depth z_m = zeta_m * fx_crop / W_crop along the optical axis (inverse of the above)."""
    return np.asarray(zeta_m, dtype=np.float64) * (crop_intrinsics.fx / crop_intrinsics.width)


@dataclass(frozen=True)
class RotatedCropCamera:
    """A square crop cut along a rotated region of interest, as an exact pinhole camera.

    The crop is the source camera rolled about its optical axis by ``roll_rad``, scaled and
    shifted: a camera-frame point X (metres, optical frame of the source camera) lands at the
    crop pixel ``K_crop @ R_roll @ X`` (after division by z), where ``R_roll`` =
    :attr:`rot_cam_to_crop` turns about the optical axis only, so depths are unchanged. With
    square source pixels (fx == fy) ``K_crop`` has no skew and fx_crop = fy_crop = f / s (s =
    source pixels per crop pixel); otherwise ``K_crop`` is upper triangular with the skew the
    rolled non-square pixels need (still exact). ``crop_to_src`` is the (2, 3) affine map from
    crop to source pixels (pixel-centre based, as :meth:`CropBox.crop_to_src`)."""

    k_crop: np.ndarray  # (3, 3) upper triangular
    rot_cam_to_crop: np.ndarray  # (3, 3) rotation about the optical axis
    roll_rad: float
    size_px: int
    crop_to_src: np.ndarray  # (2, 3)

    def cam_to_crop_frame(self, points_cam_m: np.ndarray) -> np.ndarray:
        """Points (..., 3) metres in the source optical frame -> the crop camera's frame."""
        return np.asarray(points_cam_m, dtype=np.float64) @ self.rot_cam_to_crop.T

    def crop_frame_to_cam(self, points_crop_m: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`cam_to_crop_frame`."""
        return np.asarray(points_crop_m, dtype=np.float64) @ self.rot_cam_to_crop

    def project_px(self, points_cam_m: np.ndarray) -> np.ndarray:
        """Points (..., 3) metres in the source optical frame -> crop pixels (..., 2)."""
        q = self.cam_to_crop_frame(points_cam_m) @ self.k_crop.T
        with np.errstate(divide="ignore", invalid="ignore"):
            return q[..., :2] / q[..., 2:3]

    def back_project_m(self, uv_crop_px: np.ndarray, z_m: np.ndarray) -> np.ndarray:
        """Crop pixels (..., 2) at depths z (...) metres -> points (..., 3) in the crop camera's
        frame (rotate with :meth:`crop_frame_to_cam` for the source frame)."""
        uv = np.asarray(uv_crop_px, dtype=np.float64)
        z = np.asarray(z_m, dtype=np.float64)
        k = self.k_crop
        y = (uv[..., 1] - k[1, 2]) / k[1, 1]
        x = (uv[..., 0] - k[0, 2] - k[0, 1] * y) / k[0, 0]
        return np.stack([x * z, y * z, z], axis=-1)

    def src_to_crop_px(self, uv_src_px: np.ndarray) -> np.ndarray:
        """Source pixels (..., 2) -> crop pixels (..., 2)."""
        return _apply_affine(_invert_affine(self.crop_to_src), uv_src_px, "uv_src_px")

    def crop_to_src_px(self, uv_crop_px: np.ndarray) -> np.ndarray:
        """Crop pixels (..., 2) -> source pixels (..., 2)."""
        return _apply_affine(self.crop_to_src, uv_crop_px, "uv_crop_px")

    @property
    def src_px_per_crop_px(self) -> float:
        """The crop's scale: source pixels per crop pixel (the affine map is a similarity)."""
        return float(math.sqrt(abs(np.linalg.det(self.crop_to_src[:, :2]))))


def _invert_affine(affine: np.ndarray) -> np.ndarray:
    inv = np.linalg.inv(affine[:, :2])
    return np.hstack([inv, -(inv @ affine[:, 2])[:, None]])


def rotated_crop_camera(
    crop_to_src: np.ndarray, size_px: int, source: CameraIntrinsics
) -> RotatedCropCamera:
    """The crop camera of a square ``size_px`` crop whose pixels map to source pixels by the
    (2, 3) similarity ``crop_to_src`` (rotation + isotropic scale + offset, pixel-centre based:
    e.g. :meth:`privpose_ros.core.landmarks.Roi.crop_to_image`).

    crop_h = A^-1 K X = M X (A the homogeneous affine map) has M's last row (0, 0, 1), and the RQ
    split M = K_crop R_z(roll) with K_crop[1, 0] = 0 gives roll = atan2(m10, m11). Distortion is
    ignored (rectified images): the crop of a distorted image is not a pinhole image.
    """
    a = np.asarray(crop_to_src, dtype=np.float64)
    if a.shape != (2, 3) or not np.all(np.isfinite(a)):
        raise PrivposeInputError(f"crop_to_src must be a finite (2, 3) affine map, got {a}")
    lin = a[:, :2]
    det = float(np.linalg.det(lin))
    if not det > 0 or not np.allclose(lin @ lin.T, det * np.eye(2), rtol=1e-6, atol=1e-9):
        raise PrivposeInputError(
            "crop_to_src must be a rotation with an isotropic scale (a mirror or a shear is not "
            f"a camera roll), got {lin}"
        )
    if int(size_px) <= 0:
        raise PrivposeInputError(f"size_px must be positive, got {size_px}")
    a_h = np.vstack([a, [0.0, 0.0, 1.0]])
    m = np.linalg.inv(a_h) @ source.k
    m = m / m[2, 2]
    roll = math.atan2(m[1, 0], m[1, 1])
    c, s = math.cos(roll), math.sin(roll)
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    k_crop = m @ rot.T
    k_crop[1, 0] = 0.0
    k_crop[2, :2] = 0.0
    return RotatedCropCamera(k_crop, rot, roll, int(size_px), a.copy())
