"""The v2 model as the 3D stage of the front end: one person crop in, metric 3D joints out.

:class:`PrivposeLifter` takes the front end's persons (:class:`~privpose_ros.runtime.people.
PeopleEstimator`: 2D joints and the box of their extent, in source pixels), cuts every person's
``crop_px`` x ``crop_px`` crop around that box (grown by ``margin``,
:func:`~privpose_ros.core.crop.crop_box_from_person_box`), gives each crop its own pinhole
intrinsics (:meth:`~privpose_ros.core.crop.CropBox.intrinsics`) and runs the deployable v2 model
(:class:`~privpose_ros.model.posenet.net.PosenetDeployable`) on all crops in one batch. Each
person's ``joints_cam_m`` become the model's joints: metres in the optical frame of the source
camera (the crop camera shares its frame: a crop only scales and shifts the image plane).

Confidence: the v2 map peak (how sure the model is of the joint's crop position and depth) times
the front end's 2D confidence (BlazePose visibility: low for occluded or out-of-image joints,
which the crop model cannot tell from the crop alone). Both lie in [0, 1], so the product does;
a joint is only trusted when both stages trust it, and downstream weighting (depth refinement's
``min`` with the depth confidence, the tracker, the smoother) keeps working on one scale.

Distorted cameras: the crop is cut from the raw image around the raw-pixel box and its
intrinsics are the pinhole part of the camera model (distortion is ignored), so the joints come
out in the ideal pinhole frame of ``K``. That is exact for rectified images and for cameras with
negligible distortion; with strong distortion the error grows towards the image border, so
rectify first (``image_proc``) for wide-angle lenses.

Residual weights (``privpose-residual-weights-v1``, model/residual/net.py): the lifter is then
the residual design, :class:`~privpose_ros.runtime.residual_lifter.ResidualLifter` (the front
end's own 3D plus the model's residuals, on the same runner; ``world_scale`` must be the front
end's), so ``model: privpose`` and ``privpose eval --real --v2-weights`` take either
kind of file.

The ONNX export (:mod:`privpose_ros.runtime.export`) is made once per weights file and code
version and cached on disk
(``<cache_dir>/v2_onnx/v2_<key>.onnx``, keyed by the weights' SHA-256, the privpose code version,
the torch version and the opset), so a second start reuses it. ``backend="torch"`` runs the
torch module itself (no export).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from privpose_ros.core.cache import default_cache_dir
from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.crop import DEFAULT_MARGIN
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.frame import RGBDFrame
from privpose_ros.core.paths import WEIGHTS_DIR
from privpose_ros.core.pose import PersonPose
from privpose_ros.runtime.engine_cache import temporary_export_dir, writable_dir
from privpose_ros.runtime.export import (
    INPUT_NAMES,
    OUTPUT_NAMES,
    PARITY_TOLERANCE_M,
    export_error_m,
    export_key,
    export_posenet_onnx,
)
from privpose_ros.runtime.graph import open_graph
from privpose_ros.runtime.runner import GraphRunner, RunnerConfig

LOG = logging.getLogger(__name__)
SHIPPED_WEIGHTS = WEIGHTS_DIR / "rgb_hall.safetensors"
TRAIN_HINT = (
    "train them with `privpose train --config config/train/v2.yaml` (it writes "
    "<out_dir>/rgb_hall.safetensors) and pass that file as the lifter's weights_path"
)


@dataclass(frozen=True)
class PrivposeLifterConfig:
    """``weights_path``: v2 weights of the ``rgb`` or ``rgb_hall`` stage (None: the shipped
    ``privpose_ros/weights/rgb_hall.safetensors``). ``runner``: where the model runs
    (:class:`~privpose_ros.runtime.runner.RunnerConfig`, shared with the front end; backend
    "torch" runs the torch module; ``cache_dir`` holds the exported ONNX and TensorRT engines,
    None: ``$XDG_CACHE_HOME/privpose``). ``max_persons``: largest batch of one run (TensorRT
    profile; more persons run in several batches). ``margin``: crop side / larger person box
    side. ``world_scale``: the front end's (FrontEndConfig.world_scale), used by residual
    weights, whose base is the front end's own 3D."""

    weights_path: Path | None = None
    runner: RunnerConfig = field(default_factory=RunnerConfig)
    max_persons: int = 6
    margin: float = DEFAULT_MARGIN
    world_scale: float = 1.1

    def __post_init__(self) -> None:
        if not 1 <= int(self.max_persons) <= 32:
            raise PrivposeInputError(f"max_persons must be in [1, 32], got {self.max_persons}")
        if not 1.0 <= float(self.margin) <= 4.0:
            raise PrivposeInputError(f"margin must be in [1, 4], got {self.margin}")

    @property
    def weights(self) -> Path:
        return Path(self.weights_path) if self.weights_path is not None else SHIPPED_WEIGHTS


def load_deployable(path: Path):  # noqa: ANN201 - a PosenetDeployable (torch stays lazily imported)
    """The eval-mode PosenetDeployable of a weights file, with errors that say how to get one."""
    from privpose_ros.model.posenet.net import PosenetDeployable
    from privpose_ros.model.posenet.weights import load_posenet_weights

    if not Path(path).is_file():
        raise PrivposeInputError(f"v2 weights {path} not found; {TRAIN_HINT}")
    try:
        net = load_posenet_weights(path)
    except PrivposeInputError as exc:
        raise PrivposeInputError(f"{exc} (an older weights format?); {TRAIN_HINT}") from exc
    if net.config.variant == "depth":
        raise PrivposeInputError(
            f"{path} holds the depth teacher (stage 'depth'), which needs depth and is not "
            "deployable; use the weights of the rgb_hall (or rgb) stage"
        )
    return PosenetDeployable(net).eval()


class _TorchRunner(GraphRunner):
    """The PosenetDeployable itself behind the GraphRunner interface (``backend="torch"``)."""

    name = "torch"

    def __init__(self, model, device: str, threads: int) -> None:  # noqa: ANN001
        import torch

        if threads > 0:
            torch.set_num_threads(threads)  # process wide
        self._torch, self._model = torch, model.to(device)
        super().__init__(INPUT_NAMES, OUTPUT_NAMES, device)

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch, dev = self._torch, self.device
        with torch.no_grad():
            outs = self._model(*(torch.from_numpy(feeds[n]).to(dev) for n in INPUT_NAMES))
        return {n: o.cpu().numpy() for n, o in zip(OUTPUT_NAMES, outs, strict=True)}


class PrivposeLifter:
    """Front-end persons -> the same persons with v2 metric 3D joints (see the module
    docstring). ``exported``: whether this instance exported the ONNX (False: reused from the
    cache, or the torch backend). Not thread-safe."""

    def __init__(self, config: PrivposeLifterConfig = PrivposeLifterConfig()) -> None:
        from privpose_ros.model.residual.net import is_residual_weights

        self.config = config
        weights = config.weights
        self._residual = None
        self.exported = False
        self.onnx_path: Path | None = None
        self.last_ms = 0.0
        if is_residual_weights(weights):
            from privpose_ros.runtime.residual_lifter import ResidualLifter

            self._residual = ResidualLifter(
                weights,
                world_scale=config.world_scale,
                runner=config.runner,
                max_persons=config.max_persons,
            )
            LOG.info("%s holds residual weights: the residual lifter runs", weights)
            return
        self._model = load_deployable(weights)
        self.crop_px = int(self._model.config.crop_px)
        run = config.runner
        if run.backend == "torch":
            self._runner: GraphRunner = _TorchRunner(self._model, run.device, run.threads)
            return
        cache = Path(run.cache_dir) if run.cache_dir is not None else default_cache_dir()
        self.onnx_path = self._cached_export(weights, cache / "v2_onnx")
        n, s = config.max_persons, self.crop_px
        shapes = {
            "crop_rgb": ((1, s, s, 3), (min(4, n), s, s, 3), (n, s, s, 3)),
            "crop_k": ((1, 3, 3), (min(4, n), 3, 3), (n, 3, 3)),
        }
        self._runner = open_graph(
            self.onnx_path, run.backend, run.device, run.threads, run.enable_fp16, cache, shapes
        )

    @property
    def backend_name(self) -> str:
        return self._residual.backend_name if self._residual is not None else self._runner.name

    def _cached_export(self, weights: Path, directory: Path) -> Path:
        path = directory / f"v2_{export_key(weights)}.onnx"
        if path.is_file():
            return path
        why = writable_dir(directory)
        if why is not None:
            path = temporary_export_dir() / path.name
            LOG.warning("v2 ONNX cache %s is not writable (%s); using %s", directory, why, path)
            if path.is_file():
                return path
        export_posenet_onnx(self._model, path)
        self.exported = True
        self._check_export(path)
        LOG.info("exported the v2 model of %s to %s", weights, path)
        return path

    def _check_export(self, path: Path) -> None:
        """A fresh export must match torch on random crops (else it is deleted: RuntimeError)."""
        error = export_error_m(self._model, path, threads=self.config.runner.threads)
        if not error <= PARITY_TOLERANCE_M:
            path.unlink(missing_ok=True)
            raise RuntimeError(f"the v2 ONNX export disagrees with torch by {error:.2e} m")

    def crops(
        self, rgb: np.ndarray, intrinsics: CameraIntrinsics, boxes_px: list[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Model inputs for person boxes (x0, y0, x1, y1) in source pixels: crops (N, S, S, 3)
        float32 RGB in [0, 1] and their pinhole intrinsics (N, 3, 3) float32."""
        from privpose_ros.model.crops import crop_batch

        return crop_batch(rgb, intrinsics, boxes_px, self.crop_px, self.config.margin)

    def infer(self, crops: np.ndarray, crop_k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Joints (N, J, 3) metres (optical frame) and confidence (N, J) for model inputs, in
        batches of at most ``max_persons``."""
        joints, conf = [], []
        step = self.config.max_persons
        for i in range(0, len(crops), step):
            batch = (crops[i : i + step], crop_k[i : i + step])
            out = self._runner.run(dict(zip(INPUT_NAMES, batch, strict=True)))
            joints.append(out["joints_cam_m"])
            conf.append(out["confidence"])
        j = self._model.config.n_joints
        if not joints:
            return np.zeros((0, j, 3)), np.zeros((0, j))
        return np.concatenate(joints), np.concatenate(conf)

    def lift(self, frame: RGBDFrame, persons: tuple[PersonPose, ...]) -> tuple[PersonPose, ...]:
        """``persons`` of ``frame`` with their ``joints_cam_m`` (metres, optical frame of
        ``frame.intrinsics``) from the privpose model and confidence = model x front end;
        persons without a finite ``box_px`` are returned unchanged. Times the call in
        ``last_ms``."""
        if self._residual is not None:
            out = self._residual.lift(frame, persons)
            self.last_ms = self._residual.last_ms
            return out
        t0 = time.perf_counter()
        todo = [
            i
            for i, p in enumerate(persons)
            if p.box_px is not None and np.isfinite(p.box_px).all()
        ]
        for i in todo:
            if persons[i].joint_set.num_joints != self._model.config.n_joints:
                raise PrivposeInputError(
                    f"person {i} has {persons[i].joint_set.num_joints} joints "
                    f"({persons[i].joint_set.name}); the v2 model gives "
                    f"{self._model.config.n_joints} canonical joints"
                )
        crops, ks = self.crops(frame.rgb, frame.intrinsics, [persons[i].box_px for i in todo])
        joints, conf = self.infer(crops, ks)
        out = list(persons)
        for n, i in enumerate(todo):
            v2_conf = np.clip(conf[n].astype(np.float64), 0.0, 1.0)
            out[i] = replace(
                persons[i],
                joints_cam_m=joints[n].astype(np.float64),
                confidence=v2_conf * persons[i].confidence,
            )
        self.last_ms = (time.perf_counter() - t0) * 1e3
        return tuple(out)

    def close(self) -> None:
        if self._residual is not None:
            self._residual.close()
            return
        self._runner.close()

    def __enter__(self) -> PrivposeLifter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
