"""Shared fixtures: small self-written v2 weights (random init, seeded) and their ONNX export."""

from __future__ import annotations

import pytest
import torch

from privpose_ros.model.v2_codec import V2Config
from privpose_ros.model.v2_net import V2Net
from privpose_ros.model.v2_weights import write_v2_weights
from privpose_ros.runtime.v2_lifter import export_v2_onnx, load_deployable


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "w.safetensors"
    write_v2_weights(path, V2Net(V2Config(variant="rgb")))
    return path


@pytest.fixture(scope="session")
def tiny_model(tiny_weights):
    return load_deployable(tiny_weights)


@pytest.fixture(scope="session")
def tiny_onnx(tiny_model, tmp_path_factory):
    return export_v2_onnx(tiny_model, tmp_path_factory.mktemp("onnx") / "v2.onnx")
