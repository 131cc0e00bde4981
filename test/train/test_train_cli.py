"""`privpose train` and `privpose eval` end to end on a tiny generated dataset."""

from __future__ import annotations

import json

import yaml

from privpose_ros import cli


def test_train_refuses_a_yaml_that_is_not_a_v2_recipe(tmp_path, capsys) -> None:
    old = tmp_path / "whole_image.yaml"
    old.write_text(yaml.safe_dump({"out_dir": str(tmp_path / "run"), "model": {"variant": "rgb"}}))
    assert cli.main(["train", "--config", str(old)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "config/train/v2.yaml" in err[0] and str(old) in err[0]
    assert not (tmp_path / "run").exists()


def test_eval_refuses_weights_of_an_older_format(tmp_path, capsys) -> None:
    import torch
    from safetensors.torch import save_file

    old = tmp_path / "rgb_hall.safetensors"
    save_file({"backbone.weight": torch.zeros(2)}, str(old), metadata={"variant": "rgb_hall"})
    args = ["eval", "--weights", str(old), "--data", str(tmp_path), "--variant", "rgb_hall"]
    assert cli.main([*args, "--json"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a privpose v2 weights file" in err[0]


def test_eval_refuses_a_variant_mismatch(tmp_path, capsys) -> None:
    import torch

    from privpose_ros.model.posenet.codec import PosenetConfig
    from privpose_ros.model.posenet.net import Posenet
    from privpose_ros.model.posenet.weights import write_posenet_weights

    torch.manual_seed(0)
    write_posenet_weights(tmp_path / "rgb.safetensors", Posenet(PosenetConfig(variant="rgb")))
    args = ["eval", "--weights", str(tmp_path / "rgb.safetensors"), "--data", str(tmp_path)]
    assert cli.main([*args, "--variant", "rgb_hall"]) == 1
    assert "pass --variant rgb" in capsys.readouterr().err


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


def test_train_runs_a_residual_recipe_with_the_real_front_end_built_above_train(
    tmp_path, monkeypatch, capsys
) -> None:
    import json
    from pathlib import Path

    from privpose_ros import cli
    from privpose_ros.runtime import people
    from privpose_ros.runtime.placement import MonocularLifter
    from privpose_ros.train import posenet_residual_train

    seen = {}

    class FakeFront:
        def __init__(self, config) -> None:
            self.config = config

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            seen["closed"] = True

    def fake_run(recipe, frontend, lifter):
        seen.update(out_dir=recipe.out_dir, every_n=frontend.config.detect_every_n, lifter=lifter)
        return {"stages": list(recipe.stages)}

    monkeypatch.setattr(people, "PeopleEstimator", FakeFront)
    monkeypatch.setattr(posenet_residual_train, "run_residual_recipe", fake_run)
    tiny = Path(__file__).resolve().parents[2] / "config" / "train" / "residual_tiny.yaml"
    assert cli.main(["train", "--config", str(tiny), "--out-dir", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out)["stages"] == ["depth", "rgb", "rgb_hall"]
    assert seen["out_dir"] == str(tmp_path) and seen["every_n"] == 1 and seen["closed"]
    assert isinstance(seen["lifter"], MonocularLifter)
