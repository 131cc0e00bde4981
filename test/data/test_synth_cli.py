"""`privpose synth`: dataset, preview and benchmark through the real CLI entry point."""

from __future__ import annotations

import json

import cv2

from privpose_ros import cli
from privpose_ros.data.dataset import PrivposeDataset


def test_synth_writes_dataset_and_preview(tmp_path, capsys) -> None:
    out = tmp_path / "ds"
    preview = tmp_path / "sheet.png"
    code = cli.main(
        [
            "synth",
            "--out",
            str(out),
            "--frames",
            "5",
            "--seed",
            "4",
            "--view",
            "top",
            "--size",
            "64x48",
            "--preview",
            str(preview),
            "--preview-frames",
            "3",
            "--json",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["frames"] == 5
    ds = PrivposeDataset(out)
    assert len(ds) == 5 and ds[4]["rgb"].shape == (48, 64, 3)
    assert ds.meta["config"]["view"] == "top" and ds.meta["generator"]["seed"] == 4
    sheet = cv2.imread(str(preview))
    assert sheet.shape == (48, 4 * 2 * 64, 3)  # one row of 4 tiles (RGB + depth each)


def test_synth_bench_json(capsys) -> None:
    code = cli.main(["synth", "--bench", "--json", "--frames", "8", "--size", "64x48"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["width"] == 64 and result["height"] == 48 and result["frames_per_s"] > 0


def test_synth_user_errors(capsys) -> None:
    assert cli.main(["synth"]) == 1
    assert "nothing to do" in capsys.readouterr().err
