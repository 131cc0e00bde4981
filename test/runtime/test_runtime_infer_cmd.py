"""`privpose infer`: the JSON contract, camera_info parsing, depth reading and readable errors."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from privpose_ros import cli
from privpose_ros.apps.infer_cmd import parse_intrinsics, read_camera_info, read_depth_mm
from privpose_ros.core.joints import CANONICAL_JOINTS, COCO_17

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
MPI_3DHP = DATA / "real3d" / "mpi_inf_3dhp"
TS1_IMAGE = MPI_3DHP / "TS1_002001.jpg"
TS1_PELVIS_Z_M = 3.16  # ground-truth pelvis depth of this frame
TOP_KEYS = {"joint_set", "joint_names", "image_size", "backend", "persons"}
PERSON_KEYS = {"id", "score", "box_px", "joints_px", "joints_cam_m", "confidence"}


def _infer_json(capsys, *args: str) -> dict:
    assert cli.main(["infer", *args, "--json"]) == 0
    out = capsys.readouterr().out.strip()
    assert "\n" not in out, "one JSON object on one line"
    report = json.loads(out)
    assert set(report) == TOP_KEYS
    for person in report["persons"]:
        assert set(person) == PERSON_KEYS
    return report


def _ts1_intrinsics() -> tuple[float, float, float, float]:
    cam = json.loads((MPI_3DHP / "cameras_test.json").read_text())["TS1"]
    (fx,), (fy,) = cam["f"]
    (cx,), (cy,) = cam["c"]
    return fx, fy, cx, cy


def _ts1_arg() -> str:
    return ",".join(repr(v) for v in _ts1_intrinsics())


@pytest.fixture(scope="module")
def ts1() -> Path:
    if not TS1_IMAGE.is_file():
        pytest.skip(f"{TS1_IMAGE} absent (the shared real-data folder is not mounted)")
    return TS1_IMAGE


@pytest.fixture(scope="module")
def ts1_run(ts1, tmp_path_factory) -> tuple[dict, Path]:
    """The canonical JSON of TS1 and the --draw PNG (one pipeline run for several tests)."""
    draw = tmp_path_factory.mktemp("infer") / "ts1.png"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = cli.main(
            ["infer", "--image", str(ts1), "--intrinsics", _ts1_arg(), "--draw", str(draw)]
            + ["--json"]
        )
    assert code == 0
    return json.loads(buf.getvalue()), draw


def _write_image(path: Path, rgb: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), rgb[..., ::-1])
    return path


def test_blank_and_noise_images_give_no_person(tmp_path, capsys) -> None:
    grey = _write_image(tmp_path / "grey.png", np.full((480, 640, 3), 128, np.uint8))
    rng = np.random.default_rng(0)
    noise = _write_image(tmp_path / "noise.png", rng.integers(0, 256, (480, 640, 3), np.uint8))
    for image in (grey, noise):
        report = _infer_json(capsys, "--image", str(image), "--intrinsics", "525,525,319.5,239.5")
        assert report["persons"] == []
        assert report["image_size"] == [640, 480]
        assert report["joint_set"] == "canonical"
        assert report["joint_names"] == list(CANONICAL_JOINTS)
        assert report["backend"] == "onnxruntime"


def test_ts1_one_person_metric_and_in_image(ts1_run) -> None:
    report, _ = ts1_run
    assert report["image_size"] == [2048, 2048]
    assert len(report["persons"]) == 1
    person = report["persons"][0]
    assert len(person["joints_cam_m"]) == len(person["joints_px"]) == 26
    assert len(person["confidence"]) == 26
    pelvis = person["joints_cam_m"][CANONICAL_JOINTS.index("pelvis")]
    assert abs(pelvis[2] - TS1_PELVIS_Z_M) < 0.5, pelvis
    px = np.array(person["joints_px"], dtype=float)
    assert np.isfinite(px).all()
    assert (px >= 0).all() and (px[:, 0] < 2048).all() and (px[:, 1] < 2048).all()
    x0, y0, x1, y1 = person["box_px"]
    assert 0 <= x0 < x1 <= 2048 and 0 <= y0 < y1 <= 2048
    assert 0.0 <= person["score"] <= 1.0
    assert all(0.0 <= c <= 1.0 for c in person["confidence"])


def test_ts1_draw_writes_png_of_input_size(ts1_run) -> None:
    _, draw = ts1_run
    image = cv2.imread(str(draw))
    assert image is not None and image.shape == (2048, 2048, 3)
    original = cv2.imread(str(TS1_IMAGE))
    changed = np.any(image != original, axis=2).mean()
    assert 0.001 < changed < 0.2, changed  # a skeleton, not a blank or a repainted image


def test_ts1_coco17_names_order_and_null_round_trip(ts1, capsys) -> None:
    report = _infer_json(
        capsys, "--image", str(ts1), "--intrinsics", _ts1_arg(), "--joint-set", "coco17"
    )
    assert report["joint_set"] == "coco17"
    assert report["joint_names"] == list(COCO_17.joint_names)
    assert len(report["joint_names"]) == 17 and report["joint_names"][0] == "nose"
    (person,) = report["persons"]
    assert len(person["joints_cam_m"]) == len(person["joints_px"]) == 17


def test_ts1_kinect_underivable_joints_are_null(ts1, capsys) -> None:
    """kinect_v2_25 has joints the canonical skeleton cannot give: NaN inside, null outside."""
    from privpose_ros.core.joints import KINECT_V2_25

    report = _infer_json(
        capsys, "--image", str(ts1), "--intrinsics", _ts1_arg(), "--joint-set", "kinect_v2_25"
    )
    (person,) = report["persons"]
    missing = [i for i, ok in enumerate(KINECT_V2_25.derivable) if not ok]
    assert len(missing) == 4 and len(person["joints_cam_m"]) == 25
    for i, (xyz, uv) in enumerate(zip(person["joints_cam_m"], person["joints_px"], strict=True)):
        if i in missing:
            assert xyz == [None] * 3 and uv == [None] * 2
        else:
            assert None not in xyz and None not in uv


def test_nan_joints_are_written_as_null() -> None:
    from privpose_ros.apps.infer_cmd import persons_to_json
    from privpose_ros.core.joints import CANONICAL
    from privpose_ros.core.pose import PersonPose

    joints = np.zeros((26, 3))
    joints[3] = np.nan
    person = PersonPose(joints_cam_m=joints, confidence=np.ones(26), person_id=4)
    text = json.dumps(persons_to_json((person,), CANONICAL, (64, 48), "onnxruntime"))
    report = json.loads(text)  # strict JSON: no NaN token
    assert "NaN" not in text
    (out,) = report["persons"]
    assert out["id"] == 4 and out["joints_cam_m"][3] == [None, None, None]
    assert out["joints_px"][0] == [None, None] and out["box_px"] == [None] * 4
    assert out["joints_cam_m"][0] == [0.0, 0.0, 0.0]


def _camera_yaml(path: Path, fx, fy, cx, cy, w, h, d=(0.0,) * 5, p=None) -> Path:
    p = p or (fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0)
    path.write_text(
        f"image_width: {w}\nimage_height: {h}\ncamera_name: test_cam_1\n"
        f"camera_matrix:\n  rows: 3\n  cols: 3\n  data: [{fx}, 0, {cx}, 0, {fy}, {cy}, 0, 0, 1]\n"
        f"distortion_model: plumb_bob\ndistortion_coefficients:\n  rows: 1\n  cols: 5\n"
        f"  data: [{', '.join(map(str, d))}]\n"
        f"rectification_matrix:\n  rows: 3\n  cols: 3\n  data: [1, 0, 0, 0, 1, 0, 0, 0, 1]\n"
        f"projection_matrix:\n  rows: 3\n  cols: 4\n  data: [{', '.join(map(str, p))}]\n"
    )
    return path


def test_camera_info_yaml_same_as_intrinsics(ts1, ts1_run, tmp_path, capsys) -> None:
    yaml_path = _camera_yaml(tmp_path / "ts1.yaml", *_ts1_intrinsics(), 2048, 2048)
    report = _infer_json(capsys, "--image", str(ts1), "--camera-info", str(yaml_path))
    expected, _ = ts1_run
    assert report == expected


def test_camera_info_parsing_raw_rectified_and_ros2_echo(tmp_path) -> None:
    d = (-0.2, 0.05, 0.001, -0.002, 0.0)
    p = (500.0, 0.0, 330.0, 0.0, 0.0, 505.0, 235.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    path = _camera_yaml(tmp_path / "cam.yaml", 520.0, 521.0, 321.5, 241.5, 640, 480, d, p)
    raw = read_camera_info(path)
    assert (raw.fx, raw.fy, raw.cx, raw.cy) == (520.0, 521.0, 321.5, 241.5)
    assert (raw.width, raw.height) == (640, 480) and raw.distortion == d
    assert raw.distortion_model == "plumb_bob"
    rect = read_camera_info(path, rectified=True)
    assert (rect.fx, rect.fy, rect.cx, rect.cy) == (500.0, 505.0, 330.0, 235.0)
    assert rect.distortion == ()
    echo = tmp_path / "echo.yaml"  # `ros2 topic echo --once /camera_info > echo.yaml`
    echo.write_text(
        "header:\n  stamp:\n    sec: 1\n    nanosec: 0\n  frame_id: cam\nheight: 480\n"
        "width: 640\ndistortion_model: plumb_bob\nd:\n- -0.2\n- 0.05\n- 0.001\n- -0.002\n- 0.0\n"
        "k:\n- 520.0\n- 0.0\n- 321.5\n- 0.0\n- 521.0\n- 241.5\n- 0.0\n- 0.0\n- 1.0\n---\n"
    )
    assert read_camera_info(echo) == raw


def test_parse_intrinsics_takes_size_from_image() -> None:
    k = parse_intrinsics("600, 601.5, 320, 240", 640, 480)
    assert (k.fx, k.fy, k.cx, k.cy, k.width, k.height) == (600.0, 601.5, 320.0, 240.0, 640, 480)


def test_depth_png_mm_and_float_tiff_m_agree(tmp_path) -> None:
    depth_mm = np.zeros((48, 64), np.uint16)
    depth_mm[10:30, 5:40] = 3160
    depth_mm[0, 0] = 65535
    png = tmp_path / "d.png"
    assert cv2.imwrite(str(png), depth_mm)
    np.testing.assert_array_equal(read_depth_mm(png), depth_mm)
    np.testing.assert_array_equal(read_depth_mm(png, "mm"), depth_mm)
    depth_m = depth_mm.astype(np.float32) / 1000.0
    depth_m[depth_mm == 0] = np.nan
    depth_m[0, 0] = 70.0  # beyond uint16 mm: no reading
    tif = tmp_path / "d.tiff"
    assert cv2.imwrite(str(tif), depth_m)
    expected = depth_mm.copy()
    expected[0, 0] = 0
    np.testing.assert_array_equal(read_depth_mm(tif), expected)
    np.testing.assert_array_equal(read_depth_mm(tif, "m"), expected)


def test_flat_depth_moves_ts1_to_the_depth(ts1, ts1_run, tmp_path, capsys) -> None:
    """A wall at 3.16 m behind the whole frame: with depth the pelvis goes there; with
    --no-refine the monocular answer is kept."""
    depth = tmp_path / "wall.png"
    assert cv2.imwrite(str(depth), np.full((2048, 2048), 3160, np.uint16))
    common = ["--image", str(ts1), "--intrinsics", _ts1_arg(), "--depth", str(depth)]
    with_depth = _infer_json(capsys, *common)
    pelvis = CANONICAL_JOINTS.index("pelvis")
    z = with_depth["persons"][0]["joints_cam_m"][pelvis][2]
    assert abs(z - 3.16) < 0.15, z
    rgb_only = _infer_json(capsys, *common, "--no-refine")
    assert rgb_only["persons"] == ts1_run[0]["persons"]


def _error_line(capsys, *args: str) -> str:
    assert cli.main(["infer", *args]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


def test_errors_exit_1_with_one_line(tmp_path, capsys) -> None:
    image = _write_image(tmp_path / "img.png", np.full((48, 64, 3), 90, np.uint8))
    line = _error_line(capsys, "--image", str(image), "--intrinsics", "1,2", "--json")
    assert "fx,fy,cx,cy" in line and "'1,2'" in line
    assert "does not exist" in _error_line(
        capsys, "--image", str(tmp_path / "nope.png"), "--intrinsics", "50,50,32,24"
    )
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert "could not decode" in _error_line(
        capsys, "--image", str(bad), "--intrinsics", "5,5,3,2"
    )
    depth = tmp_path / "small_depth.png"
    assert cv2.imwrite(str(depth), np.full((24, 32), 1000, np.uint16))
    line = _error_line(
        capsys, "--image", str(image), "--intrinsics", "50,50,32,24", "--depth", str(depth)
    )
    assert "32x24" in line and "64x48" in line and "register" in line
    cam = _camera_yaml(tmp_path / "cam.yaml", 50.0, 50.0, 32.0, 24.0, 640, 480)
    line = _error_line(capsys, "--image", str(image), "--camera-info", str(cam))
    assert "640x480" in line and "64x48" in line
