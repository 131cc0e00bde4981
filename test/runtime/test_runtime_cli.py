"""`privpose export` and `privpose bench` end to end on small self-written v2 weights."""

from __future__ import annotations

import json

import onnx
import pytest
import torch
from safetensors.torch import save_file

from privpose_ros import cli
from privpose_ros.apps.bench_lifter import BenchConfig, prepare_weights
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.runtime import lifter


def test_export_command_writes_a_checked_graph(tiny_weights, tmp_path, capsys) -> None:
    out = tmp_path / "v2.onnx"
    args = ["export", "--weights", str(tiny_weights), "--onnx", str(out), "--parity-crops", "3"]
    assert cli.main([*args, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["checker"] == "ok" and summary["variant"] == "rgb"
    assert summary["inputs"] == ["crop_rgb", "crop_k"] and summary["crop_px"] == 256
    assert summary["parity"]["ok"] and summary["parity"]["crops"] == 3
    assert summary["parity"]["max_joint_error_m"] <= summary["parity"]["tolerance_m"]
    onnx.checker.check_model(onnx.load(str(out)))
    assert cli.main(args) == 0
    assert "parity vs torch over 3 crops" in capsys.readouterr().out


def test_export_command_fails_with_one_line(tmp_path, capsys) -> None:
    out = tmp_path / "v2.onnx"
    assert cli.main(["export", "--weights", str(tmp_path / "missing"), "--onnx", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not found" in err[0] and "privpose train" in err[0]
    old = tmp_path / "old.safetensors"  # no v2 format marker, like a whole-image model file
    save_file({"w": torch.zeros(2)}, str(old), metadata={"variant": "rgb_hall"})
    assert cli.main(["export", "--weights", str(old), "--onnx", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a privpose v2 weights file" in err[0] and not out.exists()


def test_bench_command_json(tiny_weights, tmp_path, capsys) -> None:
    args = ["bench", "--json", "--frames", "4", "--warmup", "1"]
    args += ["--weights", str(tiny_weights), "--backend", "onnxruntime", "--backend", "torch"]
    args += ["--backend", "tensorrt", "--cache-dir", str(tmp_path)]
    assert cli.main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["frames"] == 4 and report["source_hw"] == [480, 640]
    v2 = report["v2_lifter"]
    assert v2["threads"] == 2 and v2["device"] == "cpu" and v2["weights"] == str(tiny_weights)
    assert set(v2["backends"]) == {"onnxruntime", "torch", "tensorrt"}
    assert "cuda" in v2["backends"]["tensorrt"]["skipped"]  # device cpu: not tried
    for name in ("onnxruntime", "torch"):
        result = v2["backends"][name]
        assert result["runner"] == name and result["crop_px"] == 256
        for key in ("batch1_ms_per_person", "batch4_ms_per_person"):
            times = result[key]
            assert 0 < times["p50"] <= times["p95"] <= times["p99"], (name, key)
        assert result["peak_rss_mib"] >= result["peak_rss_before_backend_mib"] > 0


def _unloadable(tmp_path) -> list:
    old = tmp_path / "old.safetensors"  # no v2 format marker
    save_file({"w": torch.zeros(2)}, str(old), metadata={"variant": "rgb_hall"})
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file")
    return [tmp_path / "missing.safetensors", old, garbage]


def test_bench_fails_on_weights_that_do_not_load_in_one_line(tmp_path, capsys) -> None:
    for bad in _unloadable(tmp_path):
        args = ["bench", "--json", "--frames", "1", "--warmup", "0", "--backend", "onnxruntime"]
        assert cli.main([*args, "--weights", str(bad)]) == 1, bad
        captured = capsys.readouterr()
        err = captured.err.strip().splitlines()
        assert len(err) == 1 and captured.out == "", (bad, captured)
        assert err[0].startswith(f"privpose bench: error: --weights {bad} do not load ("), err


def test_shipped_weights_that_do_not_load_fail_never_random_ones(
    tiny_weights, tmp_path, monkeypatch
) -> None:
    for bad in _unloadable(tmp_path):
        monkeypatch.setattr(lifter, "SHIPPED_WEIGHTS", bad)
        with pytest.raises(PrivposeInputError) as exc:
            prepare_weights(BenchConfig())
        message = str(exc.value)
        assert message.startswith(f"the shipped v2 weights {bad} do not load (") and (
            message.endswith("reinstall privpose or pass --weights W")
        )
        assert "\n" not in message
    monkeypatch.setattr(lifter, "SHIPPED_WEIGHTS", tiny_weights)
    assert prepare_weights(BenchConfig()) == (tiny_weights, str(tiny_weights))
