"""`privpose infer`: every person in one image (optionally with a registered depth image).

Runs the node's per-frame job (:class:`~privpose_ros.runtime.pipeline.PosePipeline`, same
defaults) once and prints, with ``--json``, one JSON object::

    {"joint_set": str, "joint_names": [...], "image_size": [w, h], "backend": str,
     "persons": [{"id": int, "score": float, "box_px": [x0, y0, x1, y1],
                  "joints_px": [[u, v], ...], "joints_cam_m": [[x, y, z], ...],
                  "confidence": [...]}]}

``joints_px`` / ``box_px`` are pixels of the input image, ``joints_cam_m`` metres in its camera
optical frame (x right, y down, z forward); a joint the set cannot derive or the pipeline could
not place is ``null``. Confidence is reported raw (nothing is hidden below a threshold).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import PrivposeInputError, optional_import
from privpose_ros.core.frame import RGBDFrame
from privpose_ros.core.geometry import depth_m_to_mm
from privpose_ros.core.joints import JOINT_SETS, JointSet
from privpose_ros.core.pose import PersonPose
from privpose_ros.data.skeleton_draw import draw_skeleton_px
from privpose_ros.runtime.people import LANDMARK_MODELS
from privpose_ros.runtime.runner import GRAPH_BACKENDS

CV2_HINT = "pip install opencv-python-headless (or apt install python3-opencv)"
YAML_HINT = "pip install pyyaml (or apt install python3-yaml)"
DEPTH_UNITS = ("auto", "mm", "m")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image", type=Path, required=True, help="colour image (any cv2 format)")
    parser.add_argument(
        "--depth",
        type=Path,
        help="depth registered to the colour image (16-bit PNG/TIFF or float)",
    )
    parser.add_argument(
        "--depth-unit",
        choices=DEPTH_UNITS,
        default="auto",
        help="unit of the depth values (auto: uint16 = mm, float = m)",
    )
    camera = parser.add_mutually_exclusive_group(required=True)
    camera.add_argument("--intrinsics", help="fx,fy,cx,cy in pixels of the image (no distortion)")
    camera.add_argument("--camera-info", type=Path, help="camera_info YAML (camera_calibration)")
    parser.add_argument(
        "--rectified",
        action="store_true",
        help="with --camera-info: the image is rectified, use P and no distortion (default: K+D)",
    )
    parser.add_argument(
        "--joint-set", choices=sorted(JOINT_SETS), default="canonical", help="output joints"
    )
    parser.add_argument("--draw", type=Path, help="write the image with the skeletons (PNG)")
    parser.add_argument("--landmark-model", choices=LANDMARK_MODELS, default="full")
    parser.add_argument("--backend", choices=GRAPH_BACKENDS, default="auto")
    parser.add_argument(
        "--device", default=None, help="cpu or cuda[:N] (default: cuda for tensorrt, else cpu)"
    )
    parser.add_argument("--no-refine", action="store_true", help="RGB-only 3D even with --depth")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


# inputs


def read_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB from any image cv2 decodes (grey and 16-bit images are converted)."""
    cv2 = optional_import("cv2", CV2_HINT)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image {path} does not exist; pass --image PATH")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise PrivposeInputError(f"could not decode image {path}; pass a PNG/JPEG/TIFF file")
    return np.ascontiguousarray(bgr[..., ::-1])


def read_depth_mm(path: Path, unit: str = "auto") -> np.ndarray:
    """(H, W) uint16 millimetres (0 = no reading) from a 16-bit (mm) or float (m) depth image.

    ``unit``: "mm" or "m" says what the stored values are; "auto" takes uint16 as mm and float
    as metres.
    """
    cv2 = optional_import("cv2", CV2_HINT)
    path = Path(path)
    if unit not in DEPTH_UNITS:
        raise PrivposeInputError(f"depth unit must be one of {DEPTH_UNITS}, got {unit!r}")
    if not path.is_file():
        raise FileNotFoundError(f"depth image {path} does not exist; pass --depth PATH")
    depth = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if depth is None:
        raise PrivposeInputError(f"could not decode depth image {path}; use a 16-bit PNG or TIFF")
    if depth.ndim != 2:
        raise PrivposeInputError(
            f"depth image {path} has {depth.shape[2]} channels; save one channel (16-bit mm)"
        )
    if depth.dtype == np.uint8:
        raise PrivposeInputError(
            f"depth image {path} is 8-bit, which holds no metric depth; save it as 16-bit "
            "PNG in millimetres or as a float TIFF in metres"
        )
    if unit == "auto":
        unit = "m" if np.issubdtype(depth.dtype, np.floating) else "mm"
    if unit == "mm" and depth.dtype == np.uint16:
        return depth
    scale_to_m = 1e-3 if unit == "mm" else 1.0
    return depth_m_to_mm(depth.astype(np.float64) * scale_to_m)


def parse_intrinsics(text: str, width: int, height: int) -> CameraIntrinsics:
    """``"fx,fy,cx,cy"`` (pixels) for an image of ``width`` x ``height`` pixels, no distortion."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise PrivposeInputError(
            f"--intrinsics must be four numbers fx,fy,cx,cy in pixels (e.g. "
            f"615.0,615.0,320.0,240.0), got {text!r}"
        )
    fx, fy, cx, cy = values
    return CameraIntrinsics(fx=fx, fy=fy, cx=cx, cy=cy, width=width, height=height)


def _matrix(doc: dict, keys: tuple[str, ...], size: int, path: Path) -> list[float] | None:
    """``data`` of a camera_calibration matrix (or a CameraInfo list) under the first key."""
    for key in keys:
        if key in doc and doc[key] is not None:
            value = doc[key]
            data = value.get("data") if isinstance(value, dict) else value
            try:
                out = [float(x) for x in data]
            except (TypeError, ValueError):
                raise PrivposeInputError(f"{path}: {key} must be a list of numbers") from None
            if size and len(out) != size:
                raise PrivposeInputError(
                    f"{path}: {key} must have {size} numbers (row-major), got {len(out)}"
                )
            return out
    return None


def read_camera_info(path: Path, rectified: bool = False) -> CameraIntrinsics:
    """Intrinsics from a camera_info YAML: the camera_calibration file (image_width,
    image_height, camera_matrix, distortion_model, distortion_coefficients, projection_matrix)
    or a ``ros2 topic echo`` of sensor_msgs/CameraInfo (width, height, k, d, p).

    Raw images (default): K and D. ``rectified``: P's fx, fy, cx, cy and no distortion.
    """
    yaml = optional_import("yaml", YAML_HINT)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"camera info {path} does not exist; pass --camera-info FILE")
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except yaml.YAMLError as exc:
        raise PrivposeInputError(f"{path} is not valid YAML: {exc}".splitlines()[0]) from None
    if not docs or not isinstance(docs[0], dict):
        raise PrivposeInputError(f"{path} holds no camera_info mapping")
    doc = docs[0]
    width = int(doc.get("image_width", doc.get("width", 0)) or 0)
    height = int(doc.get("image_height", doc.get("height", 0)) or 0)
    if width <= 0 or height <= 0:
        raise PrivposeInputError(f"{path}: image_width and image_height must be positive")
    if rectified:
        p = _matrix(doc, ("projection_matrix", "p"), 12, path)
        if p is None:
            raise PrivposeInputError(f"{path} has no projection_matrix; drop --rectified")
        return CameraIntrinsics(fx=p[0], fy=p[5], cx=p[2], cy=p[6], width=width, height=height)
    k = _matrix(doc, ("camera_matrix", "k"), 9, path)
    if k is None:
        raise PrivposeInputError(f"{path} has no camera_matrix (K)")
    d = _matrix(doc, ("distortion_coefficients", "d"), 0, path) or []
    model = str(doc.get("distortion_model") or "plumb_bob")
    return CameraIntrinsics.from_k(k, width, height, tuple(d), model)


# outputs


def _finite(values: np.ndarray | float, decimals: int) -> Any:
    """Rounded float (nested lists for arrays) with NaN/inf as None, so the JSON stays valid."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        return round(float(arr), decimals) if math.isfinite(float(arr)) else None
    return [_finite(a, decimals) for a in arr]


def persons_to_json(
    persons: tuple[PersonPose, ...],
    joint_set: JointSet,
    image_size: tuple[int, int],
    backend: str,
) -> dict[str, Any]:
    """The output object (see the module docstring); ``persons`` already in ``joint_set``."""
    out = []
    for p in persons:
        n = joint_set.num_joints
        px = p.joints_px if p.joints_px is not None else np.full((n, 2), np.nan)
        box = p.box_px if p.box_px is not None else np.full(4, np.nan)
        out.append(
            {
                "id": int(p.person_id),
                "score": _finite(p.score, 4),
                "box_px": _finite(box, 2),
                "joints_px": _finite(px, 2),
                "joints_cam_m": _finite(p.joints_cam_m, 4),
                "confidence": _finite(p.confidence, 4),
            }
        )
    return {
        "joint_set": joint_set.name,
        "joint_names": list(joint_set.joint_names),
        "image_size": [int(image_size[0]), int(image_size[1])],
        "backend": backend,
        "persons": out,
    }


def draw_persons(
    rgb: np.ndarray, persons: tuple[PersonPose, ...], joint_set: JointSet
) -> np.ndarray:
    """BGR copy of ``rgb`` with each person's bones, joints (pixels) and id; NaN joints skipped."""
    cv2 = optional_import("cv2", CV2_HINT)
    image = np.ascontiguousarray(rgb[..., ::-1]).copy()
    scale = max(1, round(max(rgb.shape[:2]) / 640))
    palette = ((40, 220, 40), (255, 160, 0), (0, 120, 255), (220, 40, 220), (0, 220, 220))
    for p in persons:
        if p.joints_px is None:
            continue
        colour = palette[int(p.person_id) % len(palette)]
        ok = np.isfinite(p.joints_px).all(axis=1)
        colours = [colour] * joint_set.num_joints
        bones = joint_set.bone_indices()
        draw_skeleton_px(image, p.joints_px, bones, colours, 2 * scale, 3 * scale, drawn=ok)
        pts = np.where(ok[:, None], p.joints_px, 0).round().astype(np.int32)
        anchor = pts[ok].min(axis=0) if ok.any() else np.zeros(2, np.int32)
        if p.box_px is not None and np.isfinite(p.box_px).all():
            anchor = np.round(p.box_px[:2]).astype(np.int32)
        org = (int(anchor[0]), max(int(anchor[1]) - 6 * scale, 12 * scale))
        font = cv2.FONT_HERSHEY_SIMPLEX
        cv2.putText(image, f"id {p.person_id}", org, font, 0.6 * scale, colour, scale, cv2.LINE_AA)
    return image


def _summary_line(p: PersonPose, joint_set: JointSet) -> str:
    finite = np.isfinite(p.joints_cam_m).all(axis=1)
    if "pelvis" in joint_set.joint_names and finite[joint_set.index("pelvis")]:
        where, centre = "pelvis", p.joints_cam_m[joint_set.index("pelvis")]
    elif finite.any():
        where, centre = "centre", p.joints_cam_m[finite].mean(axis=0)
    else:
        where, centre = "centre", np.full(3, np.nan)
    x, y, z = (float(c) for c in centre)
    return (
        f"person {p.person_id}: score {p.score:.2f}, {where} ({x:.2f}, {y:.2f}, {z:.2f}) m, "
        f"{int(finite.sum())}/{joint_set.num_joints} joints, mean confidence "
        f"{p.mean_confidence:.2f}"
    )


# the command


def _intrinsics(args: argparse.Namespace, width: int, height: int) -> CameraIntrinsics:
    if args.intrinsics is not None:
        if args.rectified:
            raise PrivposeInputError("--rectified only applies to --camera-info")
        return parse_intrinsics(args.intrinsics, width, height)
    intrinsics = read_camera_info(args.camera_info, args.rectified)
    if (intrinsics.width, intrinsics.height) != (width, height):
        raise PrivposeInputError(
            f"{args.camera_info} is for {intrinsics.width}x{intrinsics.height} images but "
            f"{args.image} is {width}x{height}; use the camera_info of this image"
        )
    return intrinsics


def run(args: argparse.Namespace) -> int:
    from privpose_ros.core.joints import get_joint_set
    from privpose_ros.runtime.people import FrontEndConfig
    from privpose_ros.runtime.pipeline import PipelineConfig, PosePipeline
    from privpose_ros.runtime.runner import RunnerConfig

    joint_set = get_joint_set(args.joint_set)
    rgb = read_rgb(args.image)
    height, width = rgb.shape[:2]
    intrinsics = _intrinsics(args, width, height)
    depth_mm = None
    if args.depth is not None:
        depth_mm = read_depth_mm(args.depth, args.depth_unit)
        if depth_mm.shape != (height, width):
            raise PrivposeInputError(
                f"depth {args.depth} is {depth_mm.shape[1]}x{depth_mm.shape[0]} but the image "
                f"is {width}x{height}; register the depth to the colour camera first"
            )
    frame = RGBDFrame(rgb, intrinsics, depth_mm)  # one still: stamp 0
    device = args.device or ("cuda" if args.backend == "tensorrt" else "cpu")
    runner = RunnerConfig(backend=args.backend, device=device)
    frontend = FrontEndConfig(runner=runner, landmark_model=args.landmark_model)
    config = PipelineConfig(frontend=frontend)
    if args.no_refine:
        config = PipelineConfig(frontend=frontend, refine=None)
    with PosePipeline.from_config(config) as pipeline:
        result = pipeline.process(frame)
        backend = pipeline.backend_name
    persons = tuple(p.to_joint_set(joint_set) for p in result.persons)
    if args.draw is not None:
        cv2 = optional_import("cv2", CV2_HINT)
        args.draw.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(args.draw), draw_persons(rgb, persons, joint_set)):
            raise PrivposeInputError(f"could not write {args.draw}; use a .png path")
    if args.json:
        report = persons_to_json(persons, joint_set, (width, height), backend)
        print(json.dumps(report, allow_nan=False))
        return 0
    depth_note = "" if depth_mm is None else (", RGB only" if args.no_refine else ", with depth")
    print(
        f"{args.image}: {width}x{height}, {len(persons)} person(s), joint set {joint_set.name}, "
        f"backend {backend}{depth_note}"
    )
    for p in persons:
        print(_summary_line(p, joint_set))
    if args.draw is not None:
        print(f"wrote {args.draw}")
    return 0
