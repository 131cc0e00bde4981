"""Refiner weights: safetensors files whose metadata carry the module's frozen config as JSON."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.paths import WEIGHTS_DIR

WEIGHT_FILES = {
    "A": "refine_a.safetensors",
    "B": "refine_b.safetensors",
    "C": "refine_c.safetensors",
}

ConfigT = TypeVar("ConfigT")


def weights_path(module: str, weights_dir: Path | None = None) -> Path:
    """Path of the weights of refinement module ``module`` ("A", "B" or "C")."""
    if module not in WEIGHT_FILES:
        raise PrivposeInputError(f"unknown refinement module {module!r}; use one of A, B, C")
    return Path(weights_dir or WEIGHTS_DIR) / WEIGHT_FILES[module]


def save_refiner(
    net: torch.nn.Module, config: Any, path: Path, extra: dict[str, Any] | None = None
) -> None:
    """Save ``net``'s state dict with ``config`` (a dataclass) and ``extra`` in the metadata."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}
    metadata = {"config": json.dumps(dataclasses.asdict(config))}
    metadata["extra"] = json.dumps(extra or {})
    save_file(tensors, str(path), metadata=metadata)


def load_config(path: Path, config_cls: type[ConfigT]) -> ConfigT:
    """Read the config dataclass stored in the metadata of the weights at ``path``."""
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"refiner weights {path} not found; train them with `privpose train --refine` "
            "or point RefineConfig.weights_dir at a folder holding refine_{a,b,c}.safetensors"
        )
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
    if "config" not in metadata:
        raise PrivposeInputError(f"{path} has no 'config' metadata; it is not a refiner file")
    raw = json.loads(metadata["config"])
    names = {f.name for f in dataclasses.fields(config_cls)}  # type: ignore[arg-type]
    return config_cls(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in names}
    )


def load_refiner(
    path: Path, config_cls: type[ConfigT], net_cls: type[torch.nn.Module]
) -> torch.nn.Module:
    """Build ``net_cls(config)`` from the config in the file and load its weights (eval mode)."""
    config = load_config(path, config_cls)
    net = net_cls(config)
    net.load_state_dict(load_file(str(path)))
    net.eval()
    return net
