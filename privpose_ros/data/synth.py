"""Synthetic RGB-D humans with exact labels: the data every privpose model trains on.

``SyntheticGenerator(SynthConfig()).batch(n, seed)`` renders n frames. Frame i of a seed is
rendered in block i // block_size from ``SeedSequence([seed, block])``, so frames do not depend on
n (a longer batch extends a shorter one) and the same (n, seed) gives the same bytes.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.frame import LabeledFrame
from privpose_ros.data import render, render_anny
from privpose_ros.data.synth_config import BODIES, VIEWS, SynthConfig

__all__ = [
    "BODIES",
    "GENERATOR_VERSION",
    "VIEWS",
    "SynthBatch",
    "SynthConfig",
    "SyntheticGenerator",
]
GENERATOR_VERSION = "2"


@dataclass(frozen=True)
class SynthBatch:
    """N labelled frames; joints are CANONICAL, in the camera optical frame (metres).

    The primary person is person 0 of each frame (NaN joints, nothing visible in a frame with
    nobody); ``people_*`` hold all MAX_PEOPLE slots, NaN / False where a slot is empty.
    """

    rgb: np.ndarray  # (N, H, W, 3) uint8 RGB
    depth_mm: np.ndarray  # (N, H, W) uint16 mm, 0 = no reading, registered to rgb
    joints_cam_m: np.ndarray  # (N, 26, 3) float32, primary person
    joints_px: np.ndarray  # (N, 26, 2) float32, pixels of this image
    visible: np.ndarray  # (N, 26) bool: in the image and not occluded (z-buffer test)
    person_mask: np.ndarray  # (N, H, W) bool, primary person
    k: np.ndarray  # (N, 3, 3) float64 intrinsics at width x height
    people_joints_cam_m: np.ndarray  # (N, P, 26, 3) float32
    people_joints_px: np.ndarray  # (N, P, 26, 2) float32
    people_visible: np.ndarray  # (N, P, 26) bool
    people_boxes_px: np.ndarray  # (N, P, 4) float32 x0, y0, x1, y1 of the visible pixels
    instance_mask: np.ndarray  # (N, H, W) uint8: 0 nobody, i + 1 person i

    def __len__(self) -> int:
        return int(self.rgb.shape[0])

    def intrinsics(self, i: int) -> CameraIntrinsics:
        h, w = self.rgb.shape[1:3]
        return CameraIntrinsics.from_k(self.k[i], w, h)

    def frame(self, i: int) -> LabeledFrame:
        return LabeledFrame(
            rgb=self.rgb[i],
            intrinsics=self.intrinsics(i),
            depth_mm=self.depth_mm[i],
            stamp_ns=0,
            joints_cam_m=self.joints_cam_m[i],
            joints_px=self.joints_px[i],
            visible=self.visible[i],
            person_mask=self.person_mask[i],
        )

    def subset(self, index: slice | np.ndarray) -> SynthBatch:
        return SynthBatch(*(getattr(self, f)[index] for f in SynthBatch.__dataclass_fields__))

    @staticmethod
    def concat(batches: list[SynthBatch]) -> SynthBatch:
        return SynthBatch(
            *(
                np.concatenate([getattr(b, f) for b in batches])
                for f in SynthBatch.__dataclass_fields__
            )
        )


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """Processes for rendering in parallel. Spawned, not forked: an OpenGL context does not
    survive a fork (a forked worker of a process that has rendered hangs)."""
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


class SyntheticGenerator:
    """Renders labelled RGB-D frames of synthetic people (see SynthConfig)."""

    def __init__(self, config: SynthConfig | None = None) -> None:
        self.config = config if config is not None else SynthConfig()

    def batch(self, n: int, seed: int, start: int = 0) -> SynthBatch:
        """Frames ``start`` .. ``start + n`` of the stream defined by ``seed``."""
        if n < 0 or start < 0:
            raise PrivposeInputError(f"n and start must be >= 0, got n={n}, start={start}")
        bs = self.config.block_size
        first, last = start // bs, (start + n + bs - 1) // bs
        blocks = [self.block(seed, b) for b in range(first, last)] or [self.block(seed, 0)]
        out = SynthBatch.concat(blocks)
        offset = start - first * bs
        return out.subset(slice(offset, offset + n))

    def block(self, seed: int, index: int) -> SynthBatch:
        """One block of ``block_size`` frames, seeded by (seed, index)."""
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))
        renderer = render_anny if self.config.body == "anny" else render
        raw = renderer.render_block(self.config, rng, self.config.block_size)
        raw["joints_cam_m"] = raw["joints_cam_m"].astype(np.float32)
        raw["joints_px"] = raw["joints_px"].astype(np.float32)
        return SynthBatch(**raw)
