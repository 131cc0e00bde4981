"""`open_graph("auto")` on CUDA falls back to ONNX Runtime when TensorRT fails or is missing,
and says so once per graph and reason at WARNING: what was tried and why it failed. No GPU
needed: TensorRT and ONNX Runtime are stand-ins."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from privpose_ros.runtime import graph, trt_graph


class _FakeOrt:
    name = "onnxruntime"

    def __init__(self, onnx_path, device, *rest) -> None:  # noqa: ANN001, ANN002
        self.onnx_path, self.device = Path(onnx_path), device


@pytest.fixture
def failing_trt(monkeypatch):
    """TensorRT raises ``failing_trt["exc"]``; every fallback counts as not yet said."""
    state = {"exc": KeyError("engine tensor"), "tried": 0}

    def fail(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        state["tried"] += 1
        raise state["exc"]

    monkeypatch.setattr(trt_graph, "TrtGraphRunner", fail)
    monkeypatch.setattr(graph, "OrtGraphRunner", _FakeOrt)
    monkeypatch.setattr(graph, "_FALLBACKS_SAID", set())
    return state


def _said(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == graph.__name__ and r.levelno == logging.WARNING
    ]


def test_a_fallback_is_said_once_per_graph_with_its_reason(failing_trt, tmp_path, caplog):
    onnx = tmp_path / "det.onnx"
    with caplog.at_level(logging.WARNING, logger=graph.__name__):
        for _ in range(3):  # e.g. a node configured three times
            runner = graph.open_graph(onnx, backend="auto", device="cuda:0")
            assert runner.name == "onnxruntime" and runner.device == "cuda:0"
    assert failing_trt["tried"] == 3  # tried every time, said once
    said = _said(caplog)
    assert len(said) == 1, said
    for part in ("tried TensorRT", str(onnx), "cuda:0", "it failed", "KeyError", "engine tensor"):
        assert part in said[0], (part, said[0])
    assert "using onnxruntime instead" in said[0]


def test_another_graph_or_another_reason_is_said_again(failing_trt, tmp_path, caplog) -> None:
    det, lm = tmp_path / "det.onnx", tmp_path / "lm.onnx"
    with caplog.at_level(logging.WARNING, logger=graph.__name__):
        graph.open_graph(det, backend="auto", device="cuda:0")
        graph.open_graph(lm, backend="auto", device="cuda:0")
        failing_trt["exc"] = RuntimeError("out of GPU memory")
        graph.open_graph(det, backend="auto", device="cuda:0")
        graph.open_graph(det, backend="auto", device="cuda:0")
    said = _said(caplog)
    assert len(said) == 3, said
    assert str(det) in said[0] and str(lm) in said[1]
    assert str(det) in said[2] and "RuntimeError: out of GPU memory" in said[2]


def test_missing_tensorrt_is_said_once_too(failing_trt, tmp_path, caplog) -> None:
    failing_trt["exc"] = ImportError("No module named 'tensorrt'")
    with caplog.at_level(logging.WARNING, logger=graph.__name__):
        graph.open_graph(tmp_path / "det.onnx", backend="auto", device="cuda")
        graph.open_graph(tmp_path / "det.onnx", backend="auto", device="cuda")
    said = _said(caplog)
    assert len(said) == 1 and "TensorRT is unavailable" in said[0], said
    assert "ImportError: No module named 'tensorrt'" in said[0]


def test_named_tensorrt_and_cpu_never_fall_back_silently(failing_trt, tmp_path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger=graph.__name__):
        with pytest.raises(KeyError, match="engine tensor"):
            graph.open_graph(tmp_path / "det.onnx", backend="tensorrt", device="cuda:0")
        assert graph.open_graph(tmp_path / "det.onnx", backend="auto", device="cpu").device == (
            "cpu"
        )
    assert failing_trt["tried"] == 1 and _said(caplog) == []  # cpu: TensorRT not tried
