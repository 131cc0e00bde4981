"""privpose's own on-disk dataset format, its reader, and an on-the-fly synthetic stream.

Layout of a dataset directory::

    meta.json                 format, version, generator version and seed, config, joint names,
                              units, image size, and the list of chunks
    chunk_00000/rgb.npy       (n, H, W, 3) uint8 RGB
    chunk_00000/depth_mm.npy  (n, H, W) uint16 millimetres, 0 = no reading
    chunk_00000/joints_cam_m.npy (n, 26, 3) float32 metres, camera optical frame
    chunk_00000/joints_px.npy (n, 26, 2) float32 pixels
    chunk_00000/visible.npy   (n, 26) bool
    chunk_00000/person_mask.npy (n, H, W) bool
    chunk_00000/k.npy         (n, 3, 3) float64 intrinsics in pixels

Arrays are plain .npy files, memory-mapped by the reader, so random access needs no
decompression. Every sample is a dict with the keys of :data:`SAMPLE_KEYS`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.joints import CANONICAL
from privpose_ros.data.synth import (
    GENERATOR_VERSION,
    SynthBatch,
    SynthConfig,
    SyntheticGenerator,
    worker_pool,
)

log = logging.getLogger(__name__)

FORMAT = "privpose-dataset"
FORMAT_VERSION = 2  # 2 adds every person's labels and the instance mask; 1 is still read
PRIMARY_KEYS = ("rgb", "depth_mm", "joints_cam_m", "joints_px", "visible", "person_mask", "k")
PEOPLE_KEYS = (
    "people_joints_cam_m",
    "people_joints_px",
    "people_visible",
    "people_boxes_px",
    "instance_mask",
)
SAMPLE_KEYS = PRIMARY_KEYS + PEOPLE_KEYS
UNITS = {
    "rgb": "uint8 RGB",
    "depth_mm": "uint16 millimetres, 0 = no reading, registered to rgb",
    "joints_cam_m": "metres, camera optical frame (x right, y down, z forward)",
    "joints_px": "pixels (u column, v row), integer values at pixel centres",
    "visible": "in the image and not occluded",
    "person_mask": "primary person (person 0; NaN joints when a frame has nobody)",
    "k": "3x3 intrinsics in pixels of the stored image",
    "people_joints_cam_m": "every person (4 slots, NaN = empty), metres, camera optical frame",
    "people_joints_px": "every person, pixels",
    "people_visible": "every person: in the image and not occluded",
    "people_boxes_px": "every person: x0, y0, x1, y1 pixel edges of the visible pixels",
    "instance_mask": "0 = nobody, i + 1 = person i",
}


def batch_sample(batch: SynthBatch, i: int) -> dict[str, np.ndarray]:
    """Frame ``i`` of a SynthBatch as a training sample dict (the keys of SAMPLE_KEYS)."""
    sample = {key: getattr(batch, key)[i] for key in SAMPLE_KEYS}
    sample["k"] = batch.k[i].astype(np.float32)
    return sample


def _write_chunk(
    out: Path, config: SynthConfig, seed: int, index: int, start: int, count: int
) -> dict[str, object]:
    """Render frames start .. start + count into chunk folder ``index``; return its entry."""
    batch = SyntheticGenerator(config).batch(count, seed, start=start)
    name = f"chunk_{index:05d}"
    (out / name).mkdir(exist_ok=True)
    for key in SAMPLE_KEYS:
        np.save(out / name / f"{key}.npy", np.ascontiguousarray(getattr(batch, key)))
    log.info("wrote %s (frames %d-%d)", name, start, start + count - 1)
    return {"name": name, "start": start, "count": count}


def write_dataset(
    out_dir: str | Path,
    config: SynthConfig,
    frames: int,
    seed: int,
    chunk_size: int = 256,
    workers: int = 1,
) -> Path:
    """Render ``frames`` synthetic frames into ``out_dir`` (created) and return its path.

    The content depends on (config, frames, seed) only, not on ``chunk_size`` or ``workers``
    (processes rendering chunks in parallel).
    """
    if frames < 1 or chunk_size < 1 or workers < 1:
        raise PrivposeInputError(
            f"frames, chunk_size and workers must be >= 1, got {frames}, {chunk_size}, {workers}"
        )
    out = Path(out_dir)
    if (out / "meta.json").exists():
        raise PrivposeInputError(f"{out} already holds a dataset; choose an empty directory")
    out.mkdir(parents=True, exist_ok=True)
    starts = list(range(0, frames, chunk_size))
    jobs = [(out, config, seed, c, s, min(chunk_size, frames - s)) for c, s in enumerate(starts)]
    if workers == 1 or len(jobs) == 1:
        chunks = [_write_chunk(*job) for job in jobs]
    else:
        with worker_pool(min(workers, len(jobs))) as pool:
            chunks = list(pool.map(_write_chunk, *zip(*jobs, strict=True)))
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "generator": {"name": "privpose.synth", "version": GENERATOR_VERSION, "seed": seed},
        "config": dataclasses.asdict(config),
        "frames": frames,
        "width": config.width,
        "height": config.height,
        "joint_set": CANONICAL.name,
        "joint_names": list(CANONICAL.joint_names),
        "units": UNITS,
        "chunks": chunks,
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
    return out


class PrivposeDataset(torch.utils.data.Dataset):
    """Reads a directory written by :func:`write_dataset`; samples are dicts of numpy arrays."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        meta_path = self.root / "meta.json"
        if not meta_path.is_file():
            raise PrivposeInputError(
                f"{self.root} has no meta.json; write one with `privpose synth --out {self.root}`"
            )
        self.meta = json.loads(meta_path.read_text())
        if self.meta.get("format") != FORMAT or self.meta.get("version") not in (
            1,
            FORMAT_VERSION,
        ):
            raise PrivposeInputError(
                f"{meta_path} is not a {FORMAT} v1/v{FORMAT_VERSION} dataset "
                f"(format={self.meta.get('format')}, version={self.meta.get('version')})"
            )
        self.keys = SAMPLE_KEYS if self.meta["version"] >= 2 else PRIMARY_KEYS
        self._starts = np.array([c["start"] for c in self.meta["chunks"]], dtype=np.int64)
        self._arrays: dict[int, dict[str, np.ndarray]] = {}

    def __len__(self) -> int:
        return int(self.meta["frames"])

    def _chunk(self, c: int) -> dict[str, np.ndarray]:
        if c not in self._arrays:  # opened lazily: each DataLoader worker maps its own files
            folder = self.root / self.meta["chunks"][c]["name"]
            self._arrays[c] = {
                key: np.load(folder / f"{key}.npy", mmap_mode="r") for key in self.keys
            }
        return self._arrays[c]

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        n = len(self)
        if not -n <= int(i) < n:
            raise IndexError(f"index {i} out of range for a dataset of {n} frames")
        i = int(i) % n
        c = int(np.searchsorted(self._starts, i, side="right") - 1)
        arrays = self._chunk(c)
        j = i - int(self._starts[c])
        sample = {key: np.array(arrays[key][j]) for key in self.keys}
        sample["k"] = sample["k"].astype(np.float32)
        return sample


class SyntheticStream(torch.utils.data.IterableDataset):
    """Endless synthetic samples rendered on the fly (same keys as PrivposeDataset).

    Worker w of W renders blocks w, w + W, w + 2W, ... of the seed's stream, so workers never
    repeat each other and the union over workers is the generator's stream for ``seed``.
    """

    def __init__(self, config: SynthConfig, seed: int, batch_size: int = 16) -> None:
        super().__init__()
        if batch_size < 1:
            raise PrivposeInputError(f"batch_size must be >= 1, got {batch_size}")
        self.generator = SyntheticGenerator(dataclasses.replace(config, block_size=batch_size))
        self.seed = int(seed)

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        info = torch.utils.data.get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        block = worker
        while True:
            batch = self.generator.block(self.seed, block)
            for i in range(len(batch)):
                yield batch_sample(batch, i)
            block += workers
