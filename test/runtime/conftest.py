"""Shared fixtures: small self-written v2 weights (random init, seeded) and their ONNX export."""

from __future__ import annotations

import pytest
import torch

from privpose_ros.model.posenet.codec import PosenetConfig
from privpose_ros.model.posenet.net import Posenet
from privpose_ros.model.posenet.weights import write_posenet_weights
from privpose_ros.runtime.export import export_posenet_onnx
from privpose_ros.runtime.lifter import load_deployable


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "w.safetensors"
    write_posenet_weights(path, Posenet(PosenetConfig(variant="rgb")))
    return path


@pytest.fixture(scope="session")
def tiny_model(tiny_weights):
    return load_deployable(tiny_weights)


@pytest.fixture(scope="session")
def tiny_onnx(tiny_model, tmp_path_factory):
    return export_posenet_onnx(tiny_model, tmp_path_factory.mktemp("onnx") / "v2.onnx")
