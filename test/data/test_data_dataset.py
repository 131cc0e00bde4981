"""On-disk format round trip, chunk independence, and the on-the-fly stream."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.data import dataset as dataset_mod
from privpose_ros.data.dataset import (
    SAMPLE_KEYS,
    PrivposeDataset,
    SyntheticStream,
    write_dataset,
)
from privpose_ros.data.synth import SynthConfig, SyntheticGenerator

CFG = SynthConfig(width=80, height=60, block_size=4)


def test_write_and_read_round_trip(tmp_path) -> None:
    root = write_dataset(tmp_path / "ds", CFG, frames=10, seed=5, chunk_size=4)
    meta = json.loads((root / "meta.json").read_text())
    assert meta["frames"] == 10 and len(meta["chunks"]) == 3
    assert meta["generator"]["seed"] == 5 and meta["joint_names"][0] == "pelvis"
    assert meta["config"]["width"] == 80 and "millimetres" in meta["units"]["depth_mm"]
    ds = PrivposeDataset(root)
    ref = SyntheticGenerator(CFG).batch(10, seed=5)
    assert len(ds) == 10
    for i in (0, 3, 4, 9, -1):
        sample = ds[i]
        assert set(sample) == set(SAMPLE_KEYS)
        j = i % 10
        np.testing.assert_array_equal(sample["rgb"], ref.rgb[j])
        np.testing.assert_array_equal(sample["depth_mm"], ref.depth_mm[j])
        np.testing.assert_array_equal(sample["joints_px"], ref.joints_px[j])
        np.testing.assert_array_equal(sample["visible"], ref.visible[j])
        assert sample["k"].dtype == np.float32 and sample["k"].shape == (3, 3)
        assert sample["depth_mm"].dtype == np.uint16 and sample["person_mask"].dtype == bool
    with pytest.raises(IndexError):
        ds[10]
    # a torch DataLoader collates the samples
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert batch["rgb"].shape == (3, 60, 80, 3) and batch["joints_cam_m"].dtype == torch.float32


def test_content_does_not_depend_on_chunk_size(tmp_path) -> None:
    a = PrivposeDataset(write_dataset(tmp_path / "a", CFG, frames=6, seed=2, chunk_size=2))
    b = PrivposeDataset(
        write_dataset(tmp_path / "b", CFG, frames=6, seed=2, chunk_size=3, workers=2)
    )
    for i in range(6):
        assert a[i]["depth_mm"].tobytes() == b[i]["depth_mm"].tobytes()


def test_refuses_overwrite_and_foreign_dirs(tmp_path) -> None:
    root = write_dataset(tmp_path / "ds", CFG, frames=2, seed=0)
    with pytest.raises(PrivposeInputError, match="already"):
        write_dataset(root, CFG, frames=2, seed=0)
    with pytest.raises(PrivposeInputError, match="meta.json"):
        PrivposeDataset(tmp_path)


def test_stream_matches_generator_and_splits_workers(monkeypatch) -> None:
    stream = SyntheticStream(CFG, seed=9, batch_size=3)
    it = iter(stream)
    got = [next(it) for _ in range(6)]
    ref = SyntheticGenerator(SynthConfig(width=80, height=60, block_size=3)).batch(6, seed=9)
    for i, sample in enumerate(got):
        np.testing.assert_array_equal(sample["depth_mm"], ref.depth_mm[i])
        assert set(sample) == set(SAMPLE_KEYS)

    class Info:
        id, num_workers = 1, 2

    monkeypatch.setattr(dataset_mod.torch.utils.data, "get_worker_info", lambda: Info())
    worker1 = iter(SyntheticStream(CFG, seed=9, batch_size=3))
    first = next(worker1)  # worker 1 of 2 starts at block 1 = frame 3
    np.testing.assert_array_equal(first["depth_mm"], ref.depth_mm[3])
