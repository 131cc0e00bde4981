"""v2 weights files: the network's state dict as safetensors with its PosenetConfig in the
metadata. The files of every stage share one format; :func:`load_posenet_weights` gives the RGB
model (rgb, rgb_hall; the rgb_hall file's ``f_depth.*`` teacher copy is left out) and
``privpose_ros.train.teacher.load_training_weights`` the training network of any stage.

Metadata keys: ``format`` (``privpose-v2-weights-v1``), ``v2_config`` (PosenetConfig JSON),
``stage`` (the variant) and whatever the writer adds (the recipe and step count when
train/posenet_train.py wrote it).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from torch import Tensor, nn

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.model.posenet.codec import PosenetConfig
from privpose_ros.model.posenet.net import Posenet

WEIGHTS_FORMAT = "privpose-v2-weights-v1"


def write_posenet_weights(
    path: str | Path, net: nn.Module, extra: dict[str, str] | None = None
) -> None:
    """Write ``net``'s state dict (a Posenet or a training net: any module with ``config``) to
    ``path`` atomically (metadata: see the module docstring)."""
    meta = {"v2_config": json.dumps(asdict(net.config)), "stage": net.config.variant}
    write_state_dict(path, net, {**(extra or {}), "format": WEIGHTS_FORMAT, **meta})


def write_state_dict(path: str | Path, net: nn.Module, metadata: dict[str, str]) -> None:
    """``net``'s state dict (CPU copies) as safetensors with ``metadata``, written atomically
    (a temporary file beside ``path``, then renamed)."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in net.state_dict().items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
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


TEACHER_PREFIX = "f_depth."  # the depth teacher's tensors (training only)


def load_posenet_weights(path: str | Path) -> Posenet:
    """The RGB Posenet a weights file of the rgb or rgb_hall stage describes, in eval mode
    (tensors under ``f_depth.``, the teacher copy rgb_hall carries, are not loaded)."""
    config, state, _ = read_posenet_weights(path)
    if config.variant == "depth":
        raise PrivposeInputError(
            f"{path} holds the depth teacher (stage 'depth'), which needs depth and is not "
            "deployable; use the weights of the rgb_hall (or rgb) stage (training code loads "
            "the teacher with privpose_ros.train.teacher.load_training_weights)"
        )
    net = Posenet(config)
    net.load_state_dict({k: v for k, v in state.items() if not k.startswith(TEACHER_PREFIX)})
    return net.eval()
