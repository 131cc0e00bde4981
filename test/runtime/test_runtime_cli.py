"""`privpose export` and `privpose bench` end to end on a tiny model."""

from __future__ import annotations

import json

import onnx

from privpose_ros import cli


def test_export_command_writes_a_checked_graph(tiny_weights, tmp_path, capsys) -> None:
    out = tmp_path / "tiny.onnx"
    code = cli.main(["export", "--weights", str(tiny_weights), "--onnx", str(out), "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["checker"] == "ok" and summary["batch"] == 1
    assert summary["input_hw"] == [32, 48] and summary["parity"]["ok"]
    assert summary["parity"]["num_joints"] == 8 * 26
    onnx.checker.check_model(onnx.load(str(out)))
    assert cli.main(["export", "--weights", str(tmp_path / "missing"), "--onnx", str(out)]) == 1
    assert "not found" in capsys.readouterr().err


def test_bench_command_json(tiny_weights, tmp_path, capsys) -> None:
    args = ["bench", "--json", "--frames", "3", "--warmup", "1", "--batch", "2"]
    args += ["--weights", str(tiny_weights), "--backend", "onnxruntime", "--backend", "torch"]
    args += ["--cache-dir", str(tmp_path)]
    assert cli.main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["backends"]) == {"onnxruntime", "torch"}
    assert report["frames"] == 3 and report["batch"] == 2 and report["source_hw"] == [480, 640]
    for name, result in report["backends"].items():
        assert result["device"] == "cpu" and result["input_hw"] == [32, 48], name
        for stage in (
            "preprocess_ms",
            "model_ms",
            "postprocess_ms",
            "facade_ms",
            "model_batch_ms",
        ):
            p50, p95, p99 = (result[stage][q] for q in ("p50", "p95", "p99"))
            assert 0 < p50 <= p95 <= p99, (name, stage)
        assert result["peak_rss_mib"] >= result["peak_rss_before_backend_mib"] > 0
    assert report["torch_over_onnxruntime_model_p50"] > 0
    v2 = report["v2_lifter"]
    assert v2["threads"] == 2 and v2["device"] == "cpu" and v2["weights"]
    assert set(v2["backends"]) == {"onnxruntime", "torch"}
    for name, result in v2["backends"].items():
        assert set(result) == {"batch1_ms_per_person", "batch4_ms_per_person"}, name
        for key, times in result.items():
            assert 0 < times["p50"] <= times["p95"] <= times["p99"], (name, key)
