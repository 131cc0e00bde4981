"""Readers of the real data in ../shared/data (skipped with a reason where it is absent)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from privpose_ros.core.geometry import project_points_px
from privpose_ros.data import real

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _data(sub: str) -> Path:
    path = DATA / sub
    if not path.is_dir():
        reason = f"real data folder {path} is absent (a fresh clone has no ../shared/data)"
        print(reason)
        pytest.skip(reason)
    return path


@pytest.mark.parametrize(
    ("name", "n_images", "n_people"),
    [("coco", 4, 14), ("crowdpose", 2, 5), ("mpii", 5, 5), ("aic", 3, 9), ("mhp", 2, 4)],
)
def test_real2d_counts_match_the_readme(name: str, n_images: int, n_people: int) -> None:
    images = real.read_real2d_set(_data(f"real2d/{name}"))
    assert len(images) == n_images
    assert sum(len(im.persons) for im in images) == n_people
    for im in images:
        assert im.image_path.is_file() and im.set_name == name
        for p in im.persons:
            assert p.limbs_px.shape == (12, 2) and p.area_px2 > 0
            assert np.isnan(p.limbs_px[p.limbs_visible == 0]).all()
            assert np.isfinite(p.limbs_px[p.limbs_visible > 0]).all()


def test_real2d_joint_orders_map_by_name() -> None:
    assert real.normalise_joint_name("Right Shoulder") == "right_shoulder"
    assert real.normalise_joint_name("Left-ankle") == "left_ankle"
    aic = json.loads((_data("real2d/aic") / "test_aic.json").read_text())
    idx = real.limb_indices(aic["categories"][0]["keypoints"])
    # AIC-14: right shoulder, elbow, wrist, left shoulder, ... right hip 6, left hip 9
    assert idx.tolist() == [3, 0, 4, 1, 5, 2, 9, 6, 10, 7, 11, 8]
    mhp = json.loads((_data("real2d/mhp") / "test_mhp.json").read_text())
    names = [real.normalise_joint_name(n) for n in mhp["categories"][0]["keypoints"]]
    assert names[:6] == list(real.MPII_16_NAMES[:6])  # MHP-16 is in the MPII order
    assert real.limb_indices(real.MPII_16_NAMES).tolist() == real.limb_indices(names).tolist()


def test_real2d_values_areas_and_mpii_one_based_pixels() -> None:
    coco = real.read_real2d_set(_data("real2d/coco"))
    first = coco[0].persons[0]
    assert first.limbs_px[0].tolist() == [399.0, 108.0] and first.limbs_visible[0] == 2
    assert first.area_px2 == pytest.approx(27789.11055)  # COCO segmentation area
    assert [p.n_labelled for p in coco[1].persons] == [10, 10, 0]
    crowd = real.read_real2d_set(_data("real2d/crowdpose"))
    assert crowd[0].persons[0].area_px2 == pytest.approx(0.53 * 273.15 * 352.42, rel=1e-3)
    mhp = real.read_real2d_set(_data("real2d/mhp"))
    box = mhp[0].persons[0].box_xywh_px
    assert mhp[0].persons[0].area_px2 == pytest.approx(0.53 * box[2] * box[3])
    mpii = {im.image_path.name: im for im in real.read_real2d_set(_data("real2d/mpii"))}
    p = mpii["005808361.jpg"].persons[0]
    # MPII-16 joint 12 (right shoulder) is (902, 253) 1-based -> (901, 252)
    assert p.limbs_px[1].tolist() == [901.0, 252.0]
    assert p.limbs_px[0].tolist() == [1066.0, 252.0]
    assert p.area_px2 == pytest.approx(0.53 * (1167 - 798) * (711 - 80.0306))
    assert mpii["051423444.jpg"].persons[0].n_labelled == 10  # both ankles unlabelled
    assert (mpii["005808361.jpg"].width, mpii["005808361.jpg"].height) == (1280, 720)


def test_3dhp_order_cameras_and_projection() -> None:
    frames = real.read_3dhp(_data("real3d/mpi_inf_3dhp"))
    assert [f.camera for f in frames] == ["TS1", "TS2", "S4_Seq2_Cam0", "S8_Seq1_Cam8"]
    names = real.MPI_INF_3DHP_17_NAMES
    for f in frames:
        # cameras_train.json says h = 204; the images are 2048 x 2048
        assert (f.intrinsics.width, f.intrinsics.height) == (2048, 2048)
        assert 1490 < f.intrinsics.fx < 1510
        err = np.linalg.norm(project_points_px(f.joints_cam_m, f.intrinsics) - f.joints_px, axis=1)
        assert err[f.visible].max() < 2.2 and np.median(err[f.visible]) < 0.2
        s = f.joints_cam_m
        mid_hip = (s[names.index("left_hip")] + s[names.index("right_hip")]) / 2
        np.testing.assert_allclose(s[names.index("pelvis")], mid_hip, atol=1e-9)
        arm = [
            np.linalg.norm(s[names.index(f"{side}_shoulder")] - s[names.index(f"{side}_elbow")])
            for side in ("left", "right")
        ]
        assert arm[0] == pytest.approx(arm[1], abs=1e-3) and 0.3 < arm[0] < 0.35
        assert 2.7 < s[names.index("pelvis"), 2] < 3.9  # README: 2.4-3.8 m (joints 2.8-4.5)
    assert frames[1].visible.sum() == 15  # TS2: both wrists unlabelled
    upright = frames[0].joints_px  # TS1: standing, facing the camera
    assert np.argmin(upright[:, 1]) == names.index("head_top")
    assert np.argmax(upright[:, 1]) in (names.index("left_ankle"), names.index("right_ankle"))
    assert upright[names.index("right_shoulder"), 0] < upright[names.index("left_shoulder"), 0]


def test_rgbd_tue_frames_and_standing_boxes() -> None:
    frames = real.read_rgbd_tue(_data("rgbd_tue"))
    assert [t.name for t in frames] == sorted(real.TUE_STANDING_BOXES_PX)
    for t in frames:
        f = t.frame
        assert f.rgb.shape == (480, 640, 3) and f.depth_mm.shape == (480, 640)
        assert f.intrinsics.fx == pytest.approx(537.03, abs=0.01)
        valid = f.depth_mm > 0
        assert 0.25 < valid.mean() < 0.4 and 1400 < f.depth_mm[valid].min() < 1800
        derived = real.standing_person_box_px(f.depth_mm)
        np.testing.assert_allclose(derived, t.standing_box_px, atol=3)


def test_standing_box_ignores_blobs_on_the_border() -> None:
    depth = np.zeros((120, 160), np.uint16)
    depth[:100] = 6000  # far background; the last 20 rows have no depth
    depth[40:100, 0:30] = 1800  # a seated person cut by the left border
    depth[10:100, 70:100] = 2000  # the standing person
    assert real.standing_person_box_px(depth, min_pixels=100) == (70.0, 10.0, 99.0, 119.0)
    assert real.standing_person_box_px(np.full((50, 50), 5000, np.uint16)) is None


def test_resolve_real_dirs(tmp_path: Path) -> None:
    (tmp_path / "real2d" / "coco").mkdir(parents=True)
    (tmp_path / "real3d" / "mpi_inf_3dhp").mkdir(parents=True)
    (tmp_path / "rgbd_tue").mkdir()
    found = real.resolve_real_dirs(tmp_path)
    assert set(found) == {"real2d", "real3d", "rgbd_tue"} and list(found["real2d"]) == ["coco"]
    assert list(real.resolve_real_dirs(tmp_path / "real2d")) == ["real2d"]
    (tmp_path / "real2d" / "coco" / "test_coco.json").write_text("{}")
    assert real.resolve_real_dirs(tmp_path / "real2d" / "coco") == {
        "real2d": {"coco": tmp_path / "real2d" / "coco"}
    }
    assert list(real.resolve_real_dirs(tmp_path / "real3d")) == ["real3d"]
    with pytest.raises(FileNotFoundError, match="--real ../shared/data"):
        real.resolve_real_dirs(tmp_path / "rgbd_tue")  # no bags in it
