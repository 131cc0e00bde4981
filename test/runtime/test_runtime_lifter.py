"""The v2 model as the front end's 3D stage: crops, ONNX export and its cache, batching, and the
pipeline using it for RGB-only output and as the depth path's fallback skeleton."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.frame import RGBDFrame
from privpose_ros.core.joints import CANONICAL
from privpose_ros.core.pose import PersonPose
from privpose_ros.data.synth import SynthConfig, SyntheticGenerator
from privpose_ros.model.posenet.codec import PosenetConfig
from privpose_ros.model.posenet.net import Posenet, PosenetDeployable
from privpose_ros.model.posenet.weights import load_posenet_weights, write_posenet_weights
from privpose_ros.runtime.lifter import PrivposeLifter, PrivposeLifterConfig
from privpose_ros.runtime.people import FrontEndConfig
from privpose_ros.runtime.pipeline import PipelineConfig, PosePipeline
from privpose_ros.runtime.placement import MonocularLifter
from privpose_ros.runtime.runner import RunnerConfig
from privpose_ros.train.teacher import PrivilegedPosenet

J = CANONICAL.num_joints
HEAD = tuple(
    CANONICAL.index(n)
    for n in ("head", "head_top", "nose", "left_eye", "right_eye", "left_ear", "right_ear")
)


@pytest.fixture(scope="module")
def weights(tiny_weights):
    return tiny_weights  # conftest.py: small self-written v2 weights


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("v2cache")


@pytest.fixture(scope="module")
def lifter_config(weights, cache) -> PrivposeLifterConfig:
    return PrivposeLifterConfig(weights, RunnerConfig("onnxruntime", threads=2, cache_dir=cache))


@pytest.fixture(scope="module")
def lifter(lifter_config):
    with PrivposeLifter(lifter_config) as lifter:
        yield lifter


@pytest.fixture(scope="module")
def frame():
    batch = SyntheticGenerator(SynthConfig(width=320, height=240, block_size=4)).batch(1, seed=3)
    return batch.rgb[0], batch.depth_mm[0], batch.intrinsics(0)


def _person(box) -> PersonPose:
    rng = np.random.default_rng(int(sum(box)))
    return PersonPose(
        joints_cam_m=np.full((J, 3), 2.0), confidence=rng.uniform(0.2, 1.0, J), box_px=box
    )


BOXES = ((150.0, 70.0, 210.0, 225.0), (20.0, 40.0, 90.0, 200.0), (250.0, 150.0, 330.0, 260.0))


def test_onnx_export_matches_torch_on_the_same_crops(lifter, weights, frame) -> None:
    rgb, _, k = frame
    crops, crop_k = lifter.crops(rgb, k, [np.array(b) for b in BOXES])
    assert crops.shape == (3, 256, 256, 3) and crops.dtype == np.float32
    assert 0.0 <= crops.min() and crops.max() <= 1.0 and crops.std() > 0.05
    joints, conf = lifter.infer(crops, crop_k)
    with torch.no_grad():
        want = PosenetDeployable(load_posenet_weights(weights)).eval()(
            torch.from_numpy(crops), torch.from_numpy(crop_k)
        )
    assert lifter.backend_name == "onnxruntime" and joints.shape == (3, J, 3)
    np.testing.assert_allclose(joints, want[0].numpy(), atol=1e-4, rtol=0)
    np.testing.assert_allclose(conf, want[1].numpy(), atol=1e-4, rtol=0)
    assert np.isfinite(joints).all() and (joints[..., 2] > 0).all()


def test_three_persons_run_in_one_batch_and_match_one_at_a_time(lifter, frame, monkeypatch):
    rgb, _, k = frame
    persons = tuple(_person(b) for b in BOXES)
    batches = []
    run = lifter._runner.run
    monkeypatch.setattr(
        lifter._runner, "run", lambda f: batches.append(len(f["crop_rgb"])) or run(f)
    )
    together = lifter.lift(RGBDFrame(rgb, k), persons)
    assert batches == [3]
    for person, got in zip(persons, together, strict=True):
        (alone,) = lifter.lift(RGBDFrame(rgb, k), (person,))
        np.testing.assert_allclose(got.joints_cam_m, alone.joints_cam_m, atol=1e-5, rtol=0)
        np.testing.assert_allclose(got.confidence, alone.confidence, atol=1e-6, rtol=0)
        assert not np.allclose(got.joints_cam_m, person.joints_cam_m)
    assert batches == [3, 1, 1, 1] and lifter.last_ms > 0
    # the three crops differ, so do the three skeletons
    assert np.abs(together[0].joints_cam_m - together[1].joints_cam_m).max() > 1e-3


def test_confidence_is_the_v2_confidence_times_the_front_end_one(lifter, frame) -> None:
    rgb, _, k = frame
    person = _person(BOXES[0])
    (lifted,) = lifter.lift(RGBDFrame(rgb, k), (person,))
    crops, crop_k = lifter.crops(rgb, k, [person.box_px])
    _, v2_conf = lifter.infer(crops, crop_k)
    np.testing.assert_allclose(lifted.confidence, v2_conf[0] * person.confidence, atol=1e-7)
    np.testing.assert_array_equal(lifted.box_px, person.box_px)
    assert lifted.person_id == person.person_id


def test_export_is_cached_by_weights_hash_and_reused(lifter, lifter_config, tmp_path) -> None:
    assert lifter.exported and lifter.onnx_path is not None and lifter.onnx_path.is_file()
    mtime = lifter.onnx_path.stat().st_mtime_ns
    with PrivposeLifter(lifter_config) as again:
        assert not again.exported and again.onnx_path == lifter.onnx_path
    assert lifter.onnx_path.stat().st_mtime_ns == mtime
    torch.manual_seed(1)
    other = tmp_path / "other.safetensors"
    write_posenet_weights(other, Posenet(PosenetConfig(variant="rgb")))
    with PrivposeLifter(replace(lifter_config, weights_path=other)) as fresh:
        assert fresh.exported and fresh.onnx_path != lifter.onnx_path


def test_torch_backend_gives_the_onnx_joints(lifter, lifter_config, frame) -> None:
    rgb, _, k = frame
    persons = tuple(_person(b) for b in BOXES[:2])
    with PrivposeLifter(
        replace(lifter_config, runner=replace(lifter_config.runner, backend="torch"))
    ) as eager:
        assert eager.backend_name == "torch" and eager.onnx_path is None
        for a, b in zip(
            eager.lift(RGBDFrame(rgb, k), persons),
            lifter.lift(RGBDFrame(rgb, k), persons),
            strict=True,
        ):
            np.testing.assert_allclose(a.joints_cam_m, b.joints_cam_m, atol=1e-4, rtol=0)


@pytest.mark.parametrize("size, box_side", [((640, 480), 300.0), ((1280, 960), 900.0)])
def test_crop_intrinsics_project_a_point_where_the_crop_shows_it(lifter, size, box_side):
    w, h = size
    k = CameraIntrinsics(
        fx=500.0 * w / 640, fy=505.0 * w / 640, cx=w / 2 + 7, cy=h / 2 - 5, width=w, height=h
    )
    point = np.array([0.31, -0.22, 2.7])  # metres, optical frame
    u, v = k.fx * point[0] / point[2] + k.cx, k.fy * point[1] / point[2] + k.cy
    yy, xx = np.mgrid[0:h, 0:w]
    sigma = 3.0 * box_side / 256  # a blob a few crop pixels wide
    blob = 255 * np.exp(-((xx - u) ** 2 + (yy - v) ** 2) / (2 * sigma**2))
    image = np.repeat(blob[..., None], 3, axis=2).round().astype(np.uint8)
    box = np.array(
        [u - 0.3 * box_side, v - 0.6 * box_side, u + 0.2 * box_side, v + 0.4 * box_side]
    )
    crops, crop_k = lifter.crops(image, k, [box])
    q = crop_k[0].astype(np.float64) @ point
    q = q[:2] / q[2]
    mass = crops[0, ..., 0].astype(np.float64)
    cy, cx = np.mgrid[0:256, 0:256]
    centroid = np.array([(mass * cx).sum(), (mass * cy).sum()]) / mass.sum()
    np.testing.assert_allclose(centroid, q, atol=0.15)
    s = 1.25 * box_side / 256  # source pixels per crop pixel
    np.testing.assert_allclose(crop_k[0, 0, 0], k.fx / s, rtol=1e-5)


def test_persons_without_a_box_pass_through(lifter, frame) -> None:
    rgb, _, k = frame
    no_box = PersonPose(np.full((J, 3), 1.5), np.full(J, 0.7), person_id=4)
    with_box = _person(BOXES[0])
    out = lifter.lift(RGBDFrame(rgb, k), (no_box, with_box))
    assert out[0] is no_box
    assert not np.allclose(out[1].joints_cam_m, with_box.joints_cam_m)
    assert lifter.lift(RGBDFrame(rgb, k), ()) == ()
    assert lifter.lift(RGBDFrame(rgb, k), (no_box,)) == (no_box,)


def test_bad_inputs_raise_clear_errors(lifter, lifter_config, frame, tmp_path) -> None:
    from safetensors.torch import save_file

    rgb, _, k = frame
    person = (_person(BOXES[0]),)
    with pytest.raises(PrivposeInputError, match="uint8"):
        lifter.lift(RGBDFrame(rgb[..., 0], k), person)
    with pytest.raises(PrivposeInputError, match="uint8"):
        lifter.lift(RGBDFrame(rgb.astype(np.float32), k), person)
    with pytest.raises(PrivposeInputError, match="intrinsics"):
        lifter.lift(RGBDFrame(rgb[:200], k), person)
    with pytest.raises(PrivposeInputError, match="privpose train"):
        PrivposeLifter(replace(lifter_config, weights_path=tmp_path / "missing.safetensors"))
    old = tmp_path / "old.safetensors"
    save_file({"w": torch.zeros(3)}, str(old))
    with pytest.raises(PrivposeInputError, match="not a privpose v2 weights file.*privpose train"):
        PrivposeLifter(replace(lifter_config, weights_path=old))
    teacher = tmp_path / "depth.safetensors"
    write_posenet_weights(teacher, PrivilegedPosenet(PosenetConfig(variant="depth")))
    with pytest.raises(PrivposeInputError, match="depth teacher.*rgb_hall"):
        PrivposeLifter(replace(lifter_config, weights_path=teacher))
    for bad in ({"max_persons": 0}, {"margin": 0.5}):
        with pytest.raises(PrivposeInputError):
            PrivposeLifterConfig(**bad)
    for bad in ({"backend": "cuda"}, {"threads": -1}, {"device": "gpu"}):
        with pytest.raises(PrivposeInputError):
            RunnerConfig(**bad)


# ------------------------------------------------------------------------------ the pipeline


@pytest.fixture(scope="module")
def pipeline(lifter_config, cache):
    front = FrontEndConfig(runner=lifter_config.runner)
    config = PipelineConfig(frontend=front, tracking=None, smoothing=None, lifter=lifter_config)
    with PosePipeline.from_config(config) as pipeline:
        yield pipeline


def _front_end_persons(pipeline, rgb, k) -> tuple[PersonPose, ...]:
    pipeline.frontend.reset()  # detect again, as on the frame just processed
    persons = pipeline.frontend.find_persons(RGBDFrame(rgb, k))
    pipeline.frontend.reset()
    return persons


def test_pipeline_rgb_only_uses_the_v2_joints(pipeline, frame) -> None:
    rgb, _, k = frame
    out = pipeline.process(RGBDFrame(rgb, k)).persons
    assert pipeline.times_ms["lifter_ms"] > 0
    front = _front_end_persons(pipeline, rgb, k)
    want = pipeline.lifter.lift(RGBDFrame(rgb, k), front)
    assert len(out) == len(front) == 1
    np.testing.assert_allclose(out[0].joints_cam_m, want[0].joints_cam_m, atol=1e-9, rtol=0)
    np.testing.assert_allclose(out[0].confidence, want[0].confidence, atol=1e-12)
    assert np.isnan(front[0].joints_cam_m).all()  # the front end places nobody in 3D
    (mono,) = MonocularLifter().lift(RGBDFrame(rgb, k), front)
    assert np.abs(out[0].joints_cam_m - mono.joints_cam_m).max() > 0.05  # not the monocular


def test_pipeline_with_depth_takes_v2_where_the_depth_is_missing(pipeline, frame) -> None:
    rgb, depth, k = frame
    front = _front_end_persons(pipeline, rgb, k)
    (v2,) = pipeline.lifter.lift(RGBDFrame(rgb, k), front)
    holed = depth.copy()
    yy, xx = np.mgrid[0 : depth.shape[0], 0 : depth.shape[1]]
    for u, v in front[0].joints_px[list(HEAD)]:
        holed[(xx - u) ** 2 + (yy - v) ** 2 < 12**2] = 0  # no depth on the head
    (out,) = pipeline.process(RGBDFrame(rgb, k, holed)).persons
    head = list(HEAD)
    # no-depth joints: the v2 skeleton moved by one offset, at half its confidence
    offsets = out.joints_cam_m[head] - v2.joints_cam_m[head]
    np.testing.assert_allclose(offsets, np.broadcast_to(offsets[0], offsets.shape), atol=1e-9)
    np.testing.assert_allclose(out.confidence[head], 0.5 * v2.confidence[head], atol=1e-12)
    (placed,) = MonocularLifter().lift(RGBDFrame(rgb, k), front)
    mono = out.joints_cam_m[head] - placed.joints_cam_m[head]
    assert np.abs(mono - mono[0]).max() > 0.01  # the front end's skeleton would not fit
    # joints with depth are placed by it, not by v2
    body = [i for i in range(J) if i not in head]
    assert np.abs(out.joints_cam_m[body] - (v2.joints_cam_m[body] + offsets[0])).max() > 0.01
