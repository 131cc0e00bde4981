"""Reader for the public ITOP HDF5 files (Haque et al. 2016), side or top view.

Files: ``ITOP_{side|top}_{train|test}_depth_map.h5`` (``id``, ``data`` (N, 240, 320) metres) and
``ITOP_{side|top}_{train|test}_labels.h5`` (``id``, ``is_valid``, ``visible_joints`` (N, 15),
``image_coordinates`` (N, 15, 2) px, ``real_world_coordinates`` (N, 15, 3) metres,
``segmentation`` (N, 240, 320), -1 = background).

Coordinate conversion: ITOP ``real_world_coordinates`` are camera-centred metres with Y pointing
UP (x right, z forward), so a point (x, y, z) is (x, -y, z) in our camera optical frame
(x right, y down, z forward). Its ``image_coordinates`` are then the pinhole projection with
f = 285.714 px, cx = 160, cy = 120 (u = f x / z + cx, v = -f y / z + cy in ITOP coordinates).
Joints are in the ITOP-15 order (``core.joints.ITOP_15``). ITOP has no colour image: ``rgb`` is
all zeros so that samples share the keys of every other privpose dataset.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import torch

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import PrivposeInputError, optional_import
from privpose_ros.core.geometry import depth_m_to_mm, project_points_px
from privpose_ros.core.joints import ITOP_15

ITOP_INTRINSICS = CameraIntrinsics(
    fx=285.714, fy=285.714, cx=160.0, cy=120.0, width=320, height=240
)
ITOP_NUM_JOINTS = ITOP_15.num_joints
_Y_UP_TO_OPTICAL = np.array([1.0, -1.0, 1.0])


def itop_world_to_cam_m(real_world_coordinates: np.ndarray) -> np.ndarray:
    """ITOP real_world_coordinates (..., 3), metres, Y up -> camera optical frame (x, -y, z)."""
    pts = np.asarray(real_world_coordinates, dtype=np.float64)
    if pts.ndim == 0 or pts.shape[-1] != 3:
        raise PrivposeInputError(f"ITOP coordinates must have shape (..., 3), got {pts.shape}")
    return pts * _Y_UP_TO_OPTICAL


def _h5py() -> ModuleType:
    return optional_import("h5py", "install it with `pip install h5py` to read ITOP files")


class ItopDataset(torch.utils.data.Dataset):
    """Samples of one ITOP split: the privpose sample keys, joints in the ITOP-15 set.

    ``valid_only`` keeps frames whose ``is_valid`` label is set (the convention of published
    ITOP results). HDF5 files are opened lazily, once per DataLoader worker.
    """

    joint_set = ITOP_15

    def __init__(
        self, depth_map_path: str | Path, labels_path: str | Path, valid_only: bool = True
    ) -> None:
        self.depth_map_path = Path(depth_map_path)
        self.labels_path = Path(labels_path)
        for path in (self.depth_map_path, self.labels_path):
            if not path.is_file():
                raise FileNotFoundError(
                    f"{path} does not exist; download ITOP_<view>_<split>_depth_map.h5 and "
                    "_labels.h5 from the ITOP site"
                )
        h5py = _h5py()
        with h5py.File(self.depth_map_path, "r") as depth, h5py.File(self.labels_path, "r") as lab:
            for name, f, keys in (
                ("depth map", depth, ("id", "data")),
                ("labels", lab, ("id", "is_valid", "visible_joints", "real_world_coordinates")),
            ):
                missing = [k for k in keys if k not in f]
                if missing:
                    raise PrivposeInputError(f"ITOP {name} file {f.filename} lacks {missing}")
            ids_depth = np.asarray(depth["id"][:])
            ids_label = np.asarray(lab["id"][:])
            if ids_depth.shape != ids_label.shape or not np.array_equal(ids_depth, ids_label):
                raise PrivposeInputError(
                    "ITOP depth map and labels ids differ; pass files of the same view and split"
                )
            valid = np.asarray(lab["is_valid"][:]).astype(bool)
            self.has_segmentation = "segmentation" in lab
        self.ids = ids_depth
        self.indices = np.nonzero(valid)[0] if valid_only else np.arange(len(valid))
        self._files: tuple | None = None

    def __len__(self) -> int:
        return int(len(self.indices))

    def _open(self) -> tuple:
        if self._files is None:
            h5py = _h5py()
            self._files = (h5py.File(self.depth_map_path, "r"), h5py.File(self.labels_path, "r"))
        return self._files

    def frame_id(self, i: int) -> str:
        """ITOP id of sample i (e.g. '04_00123': person 04, frame 123)."""
        raw = self.ids[self.indices[i]]
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        if not 0 <= int(i) < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} ITOP frames")
        depth_file, labels = self._open()
        j = int(self.indices[int(i)])
        depth_mm = depth_m_to_mm(np.asarray(depth_file["data"][j], dtype=np.float32))
        joints = itop_world_to_cam_m(labels["real_world_coordinates"][j]).astype(np.float32)
        if self.has_segmentation:
            mask = np.asarray(labels["segmentation"][j]) >= 0
        else:
            mask = np.zeros(depth_mm.shape, dtype=bool)
        return {
            "rgb": np.zeros((*depth_mm.shape, 3), dtype=np.uint8),
            "depth_mm": depth_mm,
            "joints_cam_m": joints,
            "joints_px": project_points_px(joints, ITOP_INTRINSICS).astype(np.float32),
            "visible": np.asarray(labels["visible_joints"][j]).astype(bool),
            "person_mask": mask,
            "k": ITOP_INTRINSICS.k.astype(np.float32),
        }

    def close(self) -> None:
        if self._files is not None:
            for f in self._files:
                f.close()
            self._files = None

    def __getstate__(self) -> dict:  # open h5py handles do not pickle into workers
        state = self.__dict__.copy()
        state["_files"] = None
        return state
