"""Readers for the small real data sets in ``../shared/data`` (see its README.md).

Three layouts, each read into plain frozen records (no model, no ROS):

- ``real2d/<set>/`` (coco, crowdpose, mpii, aic, mhp): images with 2D keypoints, reduced to the
  12 COCO-17 LIMB joints (:data:`LIMB_NAMES`: shoulders, elbows, wrists, hips, knees, ankles).
  COCO-style files name their joints in ``categories[0].keypoints``; the names are normalised
  (lower case, ``-``/space -> ``_``) and matched to ours, so CrowdPose-14, AIC-14 and MHP-16 map
  by name. mmpose's MPII list has no names: its joints are in the MPII-16 order
  (:data:`MPII_16_NAMES`), 1-based MATLAB pixels (we subtract 1, as mmpose does), ``joints_vis``.
  OKS area (px^2, the COCO "s^2"): the segmentation ``area`` when the annotation has a
  segmentation (COCO); else 0.53 * bbox width * height, the rule xtcocotools applies to sets
  without segmentation area (CrowdPose, AIC; MHP's ``area`` is just its bbox area); MPII has no
  box, so 0.53 * the extent of its labelled joints (all 16, head top to ankles: close to a tight
  person box; its ``scale * 200`` square is 1.3-1.5x the person height and would inflate the
  area about four-fold).
- ``real3d/mpi_inf_3dhp/``: four frames with metric 3D ground truth. The README lists an
  H36M-style joint order, but the files are in the MPI-INF-3DHP 17-joint order
  (:data:`MPI_INF_3DHP_17_NAMES`: head_top first, root 14): checked by bone lengths (left and
  right limbs equal, root exactly the midpoint of the hips) and by drawing ``part`` on the
  images. ``cameras_train.json`` says ``h = 204`` for its 2048 x 2048 images, so the image size
  is taken from the JPEG itself.
- ``rgbd_tue/*.bag``: one RGB-D frame per ROS 1 bag, read with
  :func:`privpose_ros.data.rosbag_reader.read_frames` (colour and depth are 0.1-0.34 s apart
  in these bags, hence ``slop_s`` 0.5; one static scene). No ground truth; the standing person's
  reference box (:data:`TUE_STANDING_BOXES_PX`) is the depth silhouette
  (:func:`standing_person_box_px`), extended to the image bottom (the registered depth has no
  valid rows below 461).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.frame import RGBDFrame
from privpose_ros.core.joints import COCO_17

# the 12 COCO-17 limb joints (shoulders to ankles), in COCO order
LIMB_NAMES: tuple[str, ...] = COCO_17.joint_names[5:]
MPII_16_NAMES: tuple[str, ...] = (
    "right_ankle",
    "right_knee",
    "right_hip",
    "left_hip",
    "left_knee",
    "left_ankle",
    "pelvis",
    "thorax",
    "upper_neck",
    "head_top",
    "right_wrist",
    "right_elbow",
    "right_shoulder",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
)
MPI_INF_3DHP_17_NAMES: tuple[str, ...] = (
    "head_top",
    "neck",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "right_hip",
    "right_knee",
    "right_ankle",
    "left_hip",
    "left_knee",
    "left_ankle",
    "pelvis",
    "spine",
    "head",
)
REAL2D_SETS: tuple[str, ...] = ("coco", "crowdpose", "mpii", "aic", "mhp")
REAL_SECTIONS: tuple[str, ...] = ("real2d", "real3d", "rgbd_tue")
XTCOCO_BOX_AREA_FACTOR = 0.53
TUE_INTRINSICS = CameraIntrinsics(
    fx=537.03, fy=537.56, cx=320.66, cy=227.70, width=640, height=480
)
TUE_STANDING_BOXES_PX: dict[str, tuple[float, float, float, float]] = {
    "2019-05-03-12-41-38": (238.0, 61.0, 379.0, 479.0),
    "2019-05-03-12-42-18": (272.0, 30.0, 476.0, 479.0),
    "2019-05-03-12-42-25": (272.0, 29.0, 475.0, 479.0),
    "2019-05-03-12-42-30": (228.0, 31.0, 441.0, 479.0),
    "2019-05-03-12-42-34": (233.0, 30.0, 441.0, 479.0),
}


@dataclass(frozen=True)
class Person2D:
    """One annotated person: ``limbs_px`` (12, 2) pixels, ``limbs_visible`` (12,) COCO v
    (0 = not labelled), ``area_px2`` the OKS scale s^2, ``box_xywh_px`` (4,) or None."""

    limbs_px: np.ndarray
    limbs_visible: np.ndarray
    area_px2: float
    box_xywh_px: np.ndarray | None = None

    @property
    def n_labelled(self) -> int:
        return int(np.count_nonzero(self.limbs_visible > 0))


@dataclass(frozen=True)
class Image2D:
    set_name: str
    image_path: Path
    width: int
    height: int
    persons: tuple[Person2D, ...]


@dataclass(frozen=True)
class Frame3D:
    """One MPI-INF-3DHP frame; joints in :data:`MPI_INF_3DHP_17_NAMES` order.

    ``joints_px`` (17, 2) pixels, ``joints_cam_m`` (17, 3) metres in the camera optical frame,
    ``visible`` (17,) bool (``part`` and ``S`` visibility agree in these files).
    """

    image_path: Path
    camera: str
    intrinsics: CameraIntrinsics
    joints_px: np.ndarray
    joints_cam_m: np.ndarray
    visible: np.ndarray


@dataclass(frozen=True)
class TueFrame:
    name: str
    frame: RGBDFrame
    standing_box_px: tuple[float, float, float, float] | None


def normalise_joint_name(name: str) -> str:
    """'Right Shoulder' / 'Right-shoulder' / 'right_shoulder' -> 'right_shoulder'."""
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def limb_indices(joint_names: tuple[str, ...] | list[str]) -> np.ndarray:
    """(12,) index of each :data:`LIMB_NAMES` joint in ``joint_names`` (-1 = absent)."""
    names = [normalise_joint_name(n) for n in joint_names]
    return np.array([names.index(n) if n in names else -1 for n in LIMB_NAMES], dtype=np.int64)


def _limbs(joints_xyv: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    px = np.full((len(LIMB_NAMES), 2), np.nan)
    vis = np.zeros(len(LIMB_NAMES), dtype=np.int64)
    ok = index >= 0
    px[ok] = joints_xyv[index[ok], :2]
    vis[ok] = joints_xyv[index[ok], 2]
    vis[vis < 0] = 0
    px[vis == 0] = np.nan
    return px, vis


def _annotation_file(set_dir: Path) -> Path:
    found = sorted(set_dir.glob("test_*.json")) or sorted(set_dir.glob("*.json"))
    if not found:
        raise FileNotFoundError(f"no annotation file (test_*.json) in {set_dir}")
    return found[0]


def _coco_style(set_dir: Path, name: str, data: dict) -> tuple[Image2D, ...]:
    categories = data.get("categories") or []
    if not categories or "keypoints" not in categories[0]:
        raise PrivposeInputError(
            f"{set_dir}: COCO-style file without categories[0].keypoints (joint names)"
        )
    index = limb_indices(categories[0]["keypoints"])
    if (index < 0).any():
        missing = [n for n, i in zip(LIMB_NAMES, index, strict=True) if i < 0]
        raise PrivposeInputError(
            f"{set_dir}: joints {missing} not in {categories[0]['keypoints']}"
        )
    by_image: dict[int, list[Person2D]] = {int(im["id"]): [] for im in data["images"]}
    for ann in data["annotations"]:
        xyv = np.asarray(ann["keypoints"], dtype=np.float64).reshape(-1, 3)
        px, vis = _limbs(xyv, index)
        box = np.asarray(ann["bbox"], dtype=np.float64) if "bbox" in ann else None
        if ann.get("segmentation") and "area" in ann:
            area = float(ann["area"])
        elif box is not None:
            area = XTCOCO_BOX_AREA_FACTOR * float(box[2] * box[3])
        else:
            raise PrivposeInputError(f"{set_dir}: annotation {ann.get('id')} has no bbox or area")
        by_image[int(ann["image_id"])].append(Person2D(px, vis, area, box))
    return tuple(
        Image2D(
            name,
            set_dir / im["file_name"],
            int(im["width"]),
            int(im["height"]),
            tuple(by_image[int(im["id"])]),
        )
        for im in data["images"]
    )


def _mpii_style(set_dir: Path, name: str, data: list) -> tuple[Image2D, ...]:
    index = limb_indices(MPII_16_NAMES)
    by_image: dict[str, list[Person2D]] = {}
    for ann in data:
        joints = np.asarray(ann["joints"], dtype=np.float64) - 1.0  # MATLAB 1-based -> 0-based
        vis = (np.asarray(ann["joints_vis"]) > 0).astype(np.float64)
        xyv = np.concatenate([joints, vis[:, None]], axis=1)
        px, limb_vis = _limbs(xyv, index)
        labelled = joints[vis > 0]
        extent = np.ptp(labelled, axis=0) if len(labelled) else np.zeros(2)
        area = XTCOCO_BOX_AREA_FACTOR * float(extent[0] * extent[1])
        by_image.setdefault(ann["image"], []).append(Person2D(px, limb_vis, area))
    images = []
    for file_name, persons in by_image.items():
        width, height = image_size(set_dir / file_name)
        images.append(Image2D(name, set_dir / file_name, width, height, tuple(persons)))
    return tuple(images)


def read_real2d_set(set_dir: str | Path, name: str | None = None) -> tuple[Image2D, ...]:
    """All images of one real2d set folder (``test_*.json`` plus its images)."""
    set_dir = Path(set_dir)
    path = _annotation_file(set_dir)
    data = json.loads(path.read_text())
    name = name or set_dir.name
    if isinstance(data, list):
        return _mpii_style(set_dir, name, data)
    return _coco_style(set_dir, name, data)


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image file, read from its header."""
    from PIL import Image  # a dependency of matplotlib (requirements.txt)

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image {path} does not exist")
    with Image.open(path) as image:
        return int(image.width), int(image.height)


def load_rgb(path: str | Path) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB."""
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"cannot read image {path} (missing or not an image)")
    return np.ascontiguousarray(bgr[..., ::-1])


def _camera_key(image_name: str) -> str:
    match = re.match(r"(TS\d+|S\d+_Seq\d+_Cam\d+)_", image_name)
    if match is None:
        raise PrivposeInputError(f"cannot tell the camera of 3DHP image {image_name}")
    return match.group(1)


def read_3dhp(folder: str | Path) -> tuple[Frame3D, ...]:
    """All frames of ``test_3dhp_*.npz`` in ``folder`` with intrinsics from ``cameras_*.json``."""
    folder = Path(folder)
    cameras: dict[str, dict] = {}
    for path in sorted(folder.glob("cameras_*.json")):
        cameras.update(json.loads(path.read_text()))
    frames = []
    for path in sorted(folder.glob("test_3dhp_*.npz")):
        with np.load(path, allow_pickle=False) as npz:
            names, part, s = npz["imgname"], npz["part"], npz["S"]
        for i, image_name in enumerate(names):
            key = _camera_key(str(image_name))
            if key not in cameras:
                raise PrivposeInputError(f"{path}: camera {key} not in {folder}/cameras_*.json")
            cam = cameras[key]
            (fx, fy), (cx, cy) = np.ravel(cam["f"]), np.ravel(cam["c"])
            width, height = image_size(folder / str(image_name))
            visible = (part[i, :, 2] > 0) & (s[i, :, 3] > 0)
            frames.append(
                Frame3D(
                    folder / str(image_name),
                    key,
                    CameraIntrinsics(fx, fy, cx, cy, width, height),
                    part[i, :, :2].astype(np.float64),
                    s[i, :, :3].astype(np.float64),
                    visible,
                )
            )
    if not frames:
        raise FileNotFoundError(f"no test_3dhp_*.npz in {folder}")
    return tuple(frames)


def standing_person_box_px(
    depth_mm: np.ndarray, near_m: float = 0.5, far_m: float = 3.0, min_pixels: int = 2000
) -> tuple[float, float, float, float] | None:
    """Box (x0, y0, x1, y1) px of the largest depth blob in [near_m, far_m] metres that touches
    neither the left nor the right image border (people cut by the border are not "standing in
    front"); the box reaches the bottom row when the blob reaches the last valid depth row."""
    from scipy import ndimage

    depth_m = np.asarray(depth_mm, dtype=np.float64) / 1000.0
    mask = ndimage.binary_opening((depth_m > near_m) & (depth_m < far_m), iterations=2)
    labels, _ = ndimage.label(mask)
    last_valid_row = int(np.nonzero((depth_mm > 0).any(axis=1))[0].max())
    best, best_size = None, min_pixels
    for i, (rows, cols) in enumerate(ndimage.find_objects(labels)):
        size = int(np.count_nonzero(labels[rows, cols] == i + 1))
        if cols.start == 0 or cols.stop == depth_m.shape[1] or size < best_size:
            continue
        y1 = depth_m.shape[0] - 1 if rows.stop - 1 >= last_valid_row else rows.stop - 1
        best, best_size = (float(cols.start), float(rows.start), float(cols.stop - 1), y1), size
    return None if best is None else tuple(float(v) for v in best)


def read_rgbd_tue(folder: str | Path, slop_s: float = 0.5) -> tuple[TueFrame, ...]:
    """Every frame of the ``*.bag`` files in ``folder`` (camera_info or :data:`TUE_INTRINSICS`)."""
    from privpose_ros.data.rosbag_reader import read_frames

    bags = sorted(Path(folder).glob("*.bag"))
    if not bags:
        raise FileNotFoundError(f"no .bag files in {folder}")
    out = []
    for bag in bags:
        for frame in read_frames(bag, slop_s=slop_s, intrinsics=TUE_INTRINSICS):
            box = TUE_STANDING_BOXES_PX.get(bag.stem)
            if box is None and frame.depth_mm is not None:
                box = standing_person_box_px(frame.depth_mm)
            out.append(TueFrame(bag.stem, frame, box))
    return tuple(out)


def resolve_real_dirs(root: str | Path) -> dict[str, dict[str, Path]]:
    """Which real sets a folder holds: the data root, ``real2d``, one of its sets, ``real3d``,
    ``real3d/mpi_inf_3dhp`` or ``rgbd_tue``. Returns {section: {set name: folder}}."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"real data folder {root} does not exist (e.g. ../shared/data)")
    found: dict[str, dict[str, Path]] = {}

    def add_2d(folder: Path) -> None:
        sets = {n: folder / n for n in REAL2D_SETS if (folder / n).is_dir()}
        if sets:
            found["real2d"] = sets

    if (root / "real2d").is_dir() or (root / "real3d").is_dir() or (root / "rgbd_tue").is_dir():
        add_2d(root / "real2d")
        if (root / "real3d" / "mpi_inf_3dhp").is_dir():
            found["real3d"] = {"mpi_inf_3dhp": root / "real3d" / "mpi_inf_3dhp"}
        if (root / "rgbd_tue").is_dir():
            found["rgbd_tue"] = {"rgbd_tue": root / "rgbd_tue"}
    elif root.name == "real2d":
        add_2d(root)
    elif list(root.glob("test_3dhp_*.npz")):
        found["real3d"] = {root.name: root}
    elif (root / "mpi_inf_3dhp").is_dir():
        found["real3d"] = {"mpi_inf_3dhp": root / "mpi_inf_3dhp"}
    elif list(root.glob("*.bag")):
        found["rgbd_tue"] = {root.name: root}
    elif list(root.glob("test_*.json")):
        found["real2d"] = {root.name: root}
    if not found:
        raise FileNotFoundError(
            f"{root} holds none of real2d/, real3d/mpi_inf_3dhp/, rgbd_tue/ (or one of their "
            "sets); pass the data root, e.g. --real ../shared/data"
        )
    return found
