"""`privpose train` and `privpose eval` end to end on a tiny generated dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from privpose_ros import cli
from privpose_ros.model.deployable import ModelConfig
from privpose_ros.train.data_io import letterbox


def _write_config(tmp_path) -> str:
    model = ModelConfig.tiny().to_dict()
    del model["variant"]
    cfg = {
        "out_dir": str(tmp_path / "run"),
        "augment": True,
        "data": {
            "train_dir": str(tmp_path / "train"),
            "test_dir": str(tmp_path / "test"),
            "width": 64,
            "height": 48,
            "train_frames": 8,
            "test_frames": 4,
            "train_seed": 3,
            "test_seed": 4,
        },
        "model": model,
        "optim": {"epochs": {"depth": 1, "rgb": 1, "rgb_hall": 1}, "batch_size": 4},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_train_from_the_command_line_then_eval_refuses_whole_image_weights(
    tmp_path, capsys
) -> None:
    config = _write_config(tmp_path)
    assert cli.main(["train", "--config", config]) == 0
    run = tmp_path / "run"
    for stage in ("depth", "rgb", "rgb_hall"):
        assert (run / f"{stage}.safetensors").is_file()
    # the training run still scores its held-out set itself
    during = json.loads((run / "rgb_hall.eval.json").read_text())
    assert {"mpjpe_mm", "pa_mpjpe_mm", "map_10cm", "per_joint_mm"} <= set(during)
    capsys.readouterr()
    # privpose eval takes v2 weights only (test_v2_eval_cmd.py): one readable line, exit 1
    args = ["eval", "--weights", str(run / "rgb_hall.safetensors"), "--data"]
    assert cli.main([*args, str(tmp_path / "test"), "--variant", "rgb_hall", "--json"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a privpose v2 weights file" in err[0]
    # a second run finds every stage done and trains nothing
    before = (run / "rgb.safetensors").stat().st_mtime_ns
    assert cli.main(["train", "--config", config, "--stages", "rgb"]) == 0
    assert (run / "rgb.safetensors").stat().st_mtime_ns == before


def test_eval_refuses_a_variant_mismatch(tmp_path, capsys) -> None:
    import torch

    from privpose_ros.model.v2_codec import V2Config
    from privpose_ros.model.v2_net import V2Net
    from privpose_ros.model.v2_weights import write_v2_weights

    torch.manual_seed(0)
    write_v2_weights(tmp_path / "rgb.safetensors", V2Net(V2Config(variant="rgb")))
    args = ["eval", "--weights", str(tmp_path / "rgb.safetensors"), "--data", str(tmp_path)]
    assert cli.main([*args, "--variant", "rgb_hall"]) == 1
    assert "pass --variant rgb" in capsys.readouterr().err


def test_letterbox_keeps_projection_consistent() -> None:
    rgb = np.zeros((48, 64, 3), np.uint8)
    depth = np.zeros((48, 64), np.uint16)
    k = np.array([[60.0, 0, 31.5], [0, 60.0, 23.5], [0, 0, 1]])
    point = np.array([0.3, -0.2, 2.0])
    u, v = (k @ point)[:2] / point[2]
    rgb[round(v), round(u)] = 255
    out_rgb, out_depth, k2 = letterbox(rgb, depth, k, (32, 48))
    assert out_rgb.shape == (32, 48, 3) and out_depth.shape == (32, 48)
    u2, v2 = (k2 @ point)[:2] / point[2]
    # 64x48 -> 43x32 centred in 48 columns (a 2-pixel shift)
    assert k2[0, 0] == pytest.approx(60.0 * 43 / 64)
    assert u2 == pytest.approx((u + 0.5) * 43 / 64 - 0.5 + 2, abs=1e-4)
    assert v2 == pytest.approx((v + 0.5) * 32 / 48 - 0.5, abs=1e-4)
    assert out_rgb[..., 0].argmax() // 48 == round(v2)


def test_train_and_eval_refine_from_the_command_line(tmp_path, capsys) -> None:
    recipe = tmp_path / "refine_b.yaml"
    recipe.write_text(
        yaml.safe_dump({"num_val": 4, "width": 80, "height": 60, "frames_per_step": 4})
    )
    out = tmp_path / "b.safetensors"
    argv = ["train", "--refine", "B", "--config", str(recipe), "--epochs", "1"]
    assert cli.main([*argv, "--num-train", "8", "--output", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["val_frames"] == 4 and out.is_file()
    assert cli.main(["eval", "--refine", "bench", "--frames", "2", "--views", "side"]) == 0
    bench = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(bench["side"]) >= {"lifting", "A", "B", "C"}
    assert cli.main(["train"]) == 1
    assert "--config is required" in capsys.readouterr().err
