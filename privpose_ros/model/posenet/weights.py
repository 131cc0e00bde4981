"""v2 weights files: the Posenet state dict as safetensors with its PosenetConfig in the metadata.

Metadata keys: ``format`` (``privpose-v2-weights-v1``), ``v2_config`` (PosenetConfig JSON),
``stage`` (the variant) and whatever the writer adds (the recipe and step count when
train/posenet_train.py wrote it).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from torch import Tensor

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.model.posenet.codec import PosenetConfig
from privpose_ros.model.posenet.net import Posenet

WEIGHTS_FORMAT = "privpose-v2-weights-v1"


def write_posenet_weights(
    path: str | Path, net: Posenet, extra: dict[str, str] | None = None
) -> None:
    """Write ``net``'s state dict to ``path`` atomically (metadata: see the module docstring)."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in net.state_dict().items()}
    meta = {
        **(extra or {}),
        "format": WEIGHTS_FORMAT,
        "v2_config": json.dumps(asdict(net.config)),
        "stage": net.config.variant,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(path)


def read_posenet_weights(
    path: str | Path,
) -> tuple[PosenetConfig, dict[str, Tensor], dict[str, str]]:
    """(config, state dict, metadata) of a v2 weights file."""
    from safetensors import safe_open

    if not Path(path).is_file():
        raise PrivposeInputError(f"v2 weights {path} do not exist")
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        if meta.get("format") != WEIGHTS_FORMAT:
            raise PrivposeInputError(f"{path} is not a privpose v2 weights file")
        state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open API
    return PosenetConfig(**json.loads(meta["v2_config"])), state, meta


def load_posenet_weights(path: str | Path) -> Posenet:
    """The Posenet a weights file describes, in eval mode."""
    config, state, _ = read_posenet_weights(path)
    net = Posenet(config)
    net.load_state_dict(state)
    return net.eval()
