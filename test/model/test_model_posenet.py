"""The v2 privileged-information model: person crops, the camera-agnostic codec, the three
variants, the stage-2 parameter split, a falling loss and the deployable's ONNX export."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.crop import (
    box_from_points_px,
    crop_box_from_person_box,
    depth_to_normalized,
    normalized_to_depth,
)
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.geometry import project_points_px
from privpose_ros.data.person_crops import PersonCropBatch, person_crop, person_crop_batch
from privpose_ros.data.synth import SynthConfig, SyntheticGenerator
from privpose_ros.model.posenet.codec import PosenetCodec, PosenetConfig, torch_normalized_to_depth
from privpose_ros.model.posenet.net import Posenet, PosenetDeployable
from privpose_ros.train.posenet_losses import stage2_parameters, v2_loss
from privpose_ros.train.teacher import PrivilegedPosenet

TINY = PosenetConfig(
    crop_px=64,
    heatmap_px=16,
    feature_channels=8,
    branch_width=8,
    head_width=16,
    n_bins=16,
    sigma_px=1.0,
    rgb_backbone="conv",
    landmark_prior=False,
)


@pytest.fixture(scope="module")
def synth():
    return SyntheticGenerator(SynthConfig(block_size=4)).batch(4, seed=1)


@pytest.fixture(scope="module")
def crops(synth) -> PersonCropBatch:
    return person_crop_batch(synth)


@pytest.fixture(scope="module")
def small(synth) -> PersonCropBatch:
    """The same people in 64 px crops, for the tiny conv-backbone models."""
    return person_crop_batch(synth, crop_px=64)


def _tensors(crops: PersonCropBatch, n: int | None = None) -> dict[str, torch.Tensor]:
    s = slice(0, n)
    return {
        "crop_k": torch.from_numpy(crops.k_crop[s]).float(),
        "crop_rgb_nhwc": torch.from_numpy(crops.rgb[s]).float() / 255.0,
        "crop_depth_m": torch.from_numpy(crops.depth_mm[s].astype(np.float32) / 1000.0)[:, None],
        "crop_mask": torch.from_numpy(crops.mask[s]),
    }


def test_person_crops_shapes_dtypes_and_joints_project_into_the_crop(synth, crops) -> None:
    m = len(crops)
    assert m == int((synth.people_visible.any(-1)).sum()) >= 4
    assert crops.rgb.shape == (m, 256, 256, 3) and crops.rgb.dtype == np.uint8
    assert crops.depth_mm.shape == (m, 256, 256) and crops.depth_mm.dtype == np.uint16
    assert crops.mask.dtype == bool and crops.k_crop.shape == (m, 3, 3)
    assert crops.joints_cam_m.shape == (m, 26, 3) and crops.visible.shape == (m, 26)
    on_mask, depth_ok = [], []
    for i in range(m):
        k = CameraIntrinsics.from_k(crops.k_crop[i], 256, 256)
        uv = project_points_px(crops.joints_cam_m[i], k)[crops.visible[i]]
        assert np.all((uv > -0.5) & (uv < 255.5)), uv
        px = np.clip(np.round(uv).astype(int), 0, 255)
        on_mask += list(crops.mask[i][px[:, 1], px[:, 0]])
        z_surface_m = crops.depth_mm[i][px[:, 1], px[:, 0]] / 1000.0
        z_joint_m = crops.joints_cam_m[i][crops.visible[i], 2]
        depth_ok += list((z_surface_m > 0) & (np.abs(z_surface_m - z_joint_m) < 0.3))
    # the depth and mask crops are registered to the labels: visible joints sit on the person
    assert np.mean(on_mask) > 0.8 and np.mean(depth_ok) > 0.7
    # a given box (e.g. a detector's) moves the crop: the same joint lands elsewhere
    f, p = int(crops.frame_index[0]), int(crops.person_index[0])
    shifted = person_crop(synth, f, p, box_src_px=crops.box_src_px[0] + [10.0, 0.0, 10.0, 0.0])
    uv0 = crops.k_crop[0] @ crops.joints_cam_m[0, 0].astype(np.float64)
    uv1 = shifted.k_crop @ crops.joints_cam_m[0, 0].astype(np.float64)
    scale = crops.k_crop[0, 0, 0] / synth.k[f, 0, 0]
    assert uv1[0] / uv1[2] - uv0[0] / uv0[2] == pytest.approx(-10.0 * scale, rel=1e-6)
    with pytest.raises(PrivposeInputError):
        person_crop_batch(synth, boxes_src_px=np.zeros((1, 4)))


def test_encode_decode_round_trip_recovers_metric_joints(crops) -> None:
    codec = PosenetCodec(PosenetConfig())
    k = torch.from_numpy(crops.k_crop)
    joints = torch.from_numpy(crops.joints_cam_m).double()
    t = codec.encode(joints, k)
    got, conf = codec.decode({"uv": t.uv, "uz": t.uz, "zeta_m": t.zeta_m}, k)
    used = t.weight.bool()
    err_m = (got - joints).norm(dim=-1)[used]
    assert used.float().mean() > 0.8  # most joints are on the grid and in the bin range
    assert float(err_m.median()) < 1e-6 and float(err_m.max()) < 5e-3  # max: grid border
    assert float(conf[used].min()) > 0.9
    for i in range(len(crops)):  # zeta and depth are core.crop's, with the crop's own K
        intr = CameraIntrinsics.from_k(crops.k_crop[i], 256, 256)
        z_root = float(joints[i, 0, 2])
        assert float(t.zeta_m[i]) == pytest.approx(float(depth_to_normalized(z_root, intr)))
        back = torch_normalized_to_depth(t.zeta_m[i : i + 1], k[i : i + 1], 256)
        assert float(back) == pytest.approx(float(normalized_to_depth(t.zeta_m[i], intr)))


def test_depth_is_camera_agnostic_across_very_different_cameras(crops) -> None:
    joints = crops.joints_cam_m[:3].astype(np.float64)  # real poses, same physical placement
    cameras = [
        CameraIntrinsics.from_k([[285.0, 0, 159.5], [0, 285.0, 119.5], [0, 0, 1]], 320, 240),
        CameraIntrinsics.from_k([[1400.0, 0, 990.0], [0, 1400.0, 530.0], [0, 0, 1]], 1920, 1080),
    ]
    codec = PosenetCodec(PosenetConfig())
    results = []
    for cam in cameras:
        boxes = [box_from_points_px(project_points_px(j, cam)) for j in joints]
        k = np.stack([crop_box_from_person_box(b).intrinsics(cam).k for b in boxes])
        t = codec.encode(torch.from_numpy(joints), torch.from_numpy(k))
        got, _ = codec.decode({"uv": t.uv, "uz": t.uz, "zeta_m": t.zeta_m}, torch.from_numpy(k))
        results.append((k, t, got))
    (k_a, t_a, got_a), (k_b, t_b, got_b) = results
    np.testing.assert_allclose(k_a, k_b, rtol=1e-9, atol=1e-7)
    for name in ("zeta_m", "rel_depth", "uv_hm_px", "uv", "uz", "weight"):
        torch.testing.assert_close(getattr(t_a, name), getattr(t_b, name), rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(got_a, got_b, rtol=1e-9, atol=1e-9)
    used = t_a.weight.bool()
    assert float((got_a - torch.from_numpy(joints)).norm(dim=-1)[used].max()) < 5e-3
    assert 0.5 < float(t_a.zeta_m.min()) and float(t_a.zeta_m.max()) < 4.0  # metres


def test_stage2_never_updates_f_depth_and_trains_f_hall(small) -> None:
    torch.manual_seed(0)
    model = PrivilegedPosenet(TINY).train()
    depth_before = {k: v.clone() for k, v in model.f_depth.state_dict().items()}
    rgb_before = {k: v.clone() for k, v in model.f_rgb.state_dict().items()}
    hall_before = [p.detach().clone() for p in model.f_hall.parameters()]
    params = stage2_parameters(model)
    assert {id(p) for p in model.f_depth.parameters()}.isdisjoint(id(p) for p in params)
    assert {id(p) for p in model.f_rgb.parameters()}.isdisjoint(id(p) for p in params)
    opt = torch.optim.Adam(params, lr=1e-2)
    inputs = _tensors(small, 4)
    out = model.forward_train(**inputs)
    targets = model.codec.encode(torch.from_numpy(small.joints_cam_m[:4]), inputs["crop_k"])
    loss, parts = v2_loss(out, targets, model.codec)
    assert parts["privileged"] > 0
    opt.zero_grad()
    loss.backward()
    opt.step()
    for k, v in model.f_depth.state_dict().items():  # weights and BatchNorm statistics
        assert torch.equal(v, depth_before[k]), k
    for k, v in model.f_rgb.state_dict().items():
        assert torch.equal(v, rgb_before[k]), k
    assert any(
        not torch.equal(p, q) for p, q in zip(model.f_hall.parameters(), hall_before, strict=True)
    )
    trained_rgb = PrivilegedPosenet(PosenetConfig(**{**TINY.__dict__, "train_rgb_backbone": True}))
    ids = {id(p) for p in stage2_parameters(trained_rgb)}
    assert all(id(p) in ids for p in trained_rgb.f_rgb.parameters())


def test_loss_falls_on_a_tiny_set(small) -> None:
    torch.manual_seed(1)
    assert len(small) >= 8
    model = PrivilegedPosenet(TINY).train()
    inputs = _tensors(small, 8)
    targets = model.codec.encode(torch.from_numpy(small.joints_cam_m[:8]), inputs["crop_k"])
    opt = torch.optim.Adam(stage2_parameters(model), lr=3e-3)
    losses = []
    for _ in range(30):
        loss, _ = v2_loss(model.forward_train(**inputs), targets, model.codec)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0], losses


def test_depth_teacher_forward_and_variants(small) -> None:
    inputs = _tensors(small, 2)
    teacher = PrivilegedPosenet(PosenetConfig(**{**TINY.__dict__, "variant": "depth"})).eval()
    joints, conf = teacher(inputs["crop_depth_m"], inputs["crop_k"])
    assert joints.shape == (2, 26, 3) and conf.shape == (2, 26)
    # the teacher's zeta starts at the median person depth's zeta: absolute depth from depth
    z_root = teacher.forward_train(
        inputs["crop_k"], crop_depth_m=inputs["crop_depth_m"], crop_mask=inputs["crop_mask"]
    )
    z_root_m = torch_normalized_to_depth(z_root["zeta_m"], inputs["crop_k"], 64)
    torch.testing.assert_close(
        z_root_m, torch.from_numpy(small.joints_cam_m[:2, 0, 2]), atol=0.3, rtol=0
    )
    rgb_only = PrivilegedPosenet(PosenetConfig(**{**TINY.__dict__, "variant": "rgb"}))
    assert rgb_only.f_depth is None and rgb_only.f_hall is None
    with pytest.raises(PrivposeInputError):
        PosenetDeployable(teacher)


def test_rgb_hall_deployable_exports_to_onnx_and_matches_onnxruntime(tmp_path, crops) -> None:
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(2)
    model = PrivilegedPosenet(PosenetConfig()).train()  # BlazePose lite F_rgb, frozen
    inputs = _tensors(crops, 3)
    targets = model.codec.encode(torch.from_numpy(crops.joints_cam_m[:3]), inputs["crop_k"])
    opt = torch.optim.Adam(stage2_parameters(model), lr=1e-2)
    for _ in range(15):  # peaked maps: an untrained head's near-ties would make arg-max flaky
        loss, _ = v2_loss(model.forward_train(**inputs), targets, model.codec)
        opt.zero_grad()
        loss.backward()
        opt.step()
    deployable = PosenetDeployable(model).eval()
    rgb, k = inputs["crop_rgb_nhwc"], inputs["crop_k"]
    path = tmp_path / "v2.onnx"
    with torch.no_grad():
        torch.onnx.export(
            deployable,
            (rgb[:2], k[:2]),
            str(path),
            opset_version=17,
            dynamo=False,
            input_names=["crop_rgb", "crop_k"],
            output_names=["joints_cam_m", "confidence"],
            dynamic_axes={
                n: {0: "n"} for n in ("crop_rgb", "crop_k", "joints_cam_m", "confidence")
            },
        )
        want_joints, want_conf = deployable(rgb, k)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got_joints, got_conf = session.run(None, {"crop_rgb": rgb.numpy(), "crop_k": k.numpy()})
    assert got_joints.shape == (3, 26, 3)  # a batch size other than the traced one
    assert np.abs(got_joints - want_joints.numpy()).max() < 1e-4
    assert np.abs(got_conf - want_conf.numpy()).max() < 1e-4
    assert np.isfinite(got_joints).all() and (got_joints[..., 2] > 0).all()


def test_rgb_posenet_holds_no_teacher_and_loads_a_training_file(small, tmp_path) -> None:
    from privpose_ros.model.posenet.weights import load_posenet_weights, write_posenet_weights

    with pytest.raises(PrivposeInputError, match="train.teacher"):
        Posenet(PosenetConfig(**{**TINY.__dict__, "variant": "depth"}))
    torch.manual_seed(3)
    trained = PrivilegedPosenet(TINY).eval()  # rgb_hall with its frozen teacher copy
    path = tmp_path / "rgb_hall.safetensors"
    write_posenet_weights(path, trained)
    rgb = load_posenet_weights(path)
    assert type(rgb) is Posenet and not hasattr(rgb, "f_depth")
    assert set(rgb.state_dict()) == {
        k for k in trained.state_dict() if not k.startswith("f_depth.")
    }
    inputs = _tensors(small, 2)
    with torch.no_grad():
        want = trained(inputs["crop_rgb_nhwc"], inputs["crop_k"])
        got = rgb(inputs["crop_rgb_nhwc"], inputs["crop_k"])
        deployed = PosenetDeployable(rgb).eval()(inputs["crop_rgb_nhwc"], inputs["crop_k"])
    for a, b, c in zip(want, got, deployed, strict=True):
        assert torch.equal(a, b) and torch.equal(a, c)
    teacher = tmp_path / "depth.safetensors"
    write_posenet_weights(
        teacher, PrivilegedPosenet(PosenetConfig(**{**TINY.__dict__, "variant": "depth"}))
    )
    with pytest.raises(PrivposeInputError, match="depth teacher"):
        load_posenet_weights(teacher)
