"""`privpose bench --frontend`: composite frames of real people and the per-stage report.

Speed goals live in the documentation, never in the report nor here: these tests check the
report's shape and meaning on a few timed frames per person count. The real photos are looked
for beside the checkout (``../shared/data``) by the tests only: the bench takes ``--real DIR``.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np
import pytest

from privpose_ros import cli
from privpose_ros.apps import bench_frontend as bf
from privpose_ros.apps.bench_cmd import synthetic_person_crops
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.data.crossing import Sprite

STAGE_KEYS = (
    "detector_ms",
    "landmarks_ms",
    "landmarks_per_person_ms",
    "lifter_ms",
    "refine_ms",
    "tracking_ms",
    "whole_ms",
    "other_ms",
    "whole_cpu_ms",
)
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
HAVE_SHARED = SHARED_DATA.is_dir()
NO_SHARED = f"{SHARED_DATA} absent: the composites would be synthetic people"
CONFIG = bf.FrontendBenchConfig(
    iterations=5, warmup=1, threads=2, distinct_frames=2
)  # 1 detection


@pytest.fixture(scope="module")
def frames():
    crops = functools.partial(synthetic_person_crops, 640, 480, 6)
    return bf.frontend_frames(CONFIG, SHARED_DATA if HAVE_SHARED else None, crops)


@pytest.fixture(scope="module")
def report(frames):
    by_persons, kind, _ = frames
    return bf.bench_frontend(CONFIG, by_persons, kind)


def test_composites_hold_people_at_2_to_4_m_before_a_5_m_background(frames) -> None:
    by_persons, kind, sources = frames
    assert kind == (bf.REAL_FRAMES if HAVE_SHARED else bf.SYNTHETIC_FRAMES)
    assert len(sources) == 4 and set(by_persons) == {1, 2, 4}
    for persons, frame_list in by_persons.items():
        assert len(frame_list) == CONFIG.distinct_frames
        for rgb, depth_mm, k in frame_list:
            assert rgb.shape == (480, 640, 3) and rgb.dtype == np.uint8
            assert depth_mm.shape == (480, 640) and depth_mm.dtype == np.uint16
            assert (k.width, k.height) == (640, 480) and k.fx == pytest.approx(525.0)
            person = depth_mm[depth_mm != bf.BACKGROUND_MM]
            assert person.size > 0.01 * depth_mm.size * persons, persons
            assert 1950 <= person.min() and person.max() <= 4050
            assert (depth_mm == bf.BACKGROUND_MM).mean() > 0.5
    # the person columns drift a few pixels between frames (tracking sees motion)
    assert not np.array_equal(by_persons[4][0][0], by_persons[4][1][0])


def test_report_has_every_stage_per_person_count(report) -> None:
    assert report["mode"] == "frontend"
    assert report["frames"] in (bf.REAL_FRAMES, bf.SYNTHETIC_FRAMES)
    assert report["image_wh"] == [640, 480] and report["depth"] is True
    assert report["backend"] == "onnxruntime" and report["threads"] == 2
    assert report["providers"] == [["CPUExecutionProvider"]] * 2
    assert report["cpu_count"] >= 1 and report["peak_rss_mib"] > 0
    assert report["refine"] == "lifting+skeleton_b" and report["landmark_model"] == "full"
    assert set(report["per_persons"]) == {"1", "2", "4"}
    for n, r in report["per_persons"].items():
        assert r["persons_requested"] == int(n)
        found = r["persons_found"]
        assert len(found) == CONFIG.iterations
        assert all(isinstance(v, int) and 0 <= v <= 6 for v in found), found
        assert r["persons_found_mean"] == pytest.approx(np.mean(found), abs=1e-3)
        for key in STAGE_KEYS:
            if key == "landmarks_per_person_ms" and r["detections_mean"] == 0:
                assert r[key] is None
                continue
            stats = r[key]
            assert set(stats) >= {"p50", "p95", "mean"}, key
            assert 0 <= stats["p50"] <= stats["p95"] and stats["mean"] >= 0, key
        # followed people never wait for the detector: it runs in its own thread (on the
        # frame's thread only while nobody is followed, e.g. the first frame)
        assert r["whole_ms"]["p50"] >= r["detector_ms"]["p50"] >= 0
        assert r["detector_ms"]["p50"] == 0.0
        assert r["whole_ms"]["mean"] >= r["detector_ms"]["mean"] + r["landmarks_ms"]["mean"]
        assert r["cpu_per_wall"] > 0 and r["whole_cpu_ms"]["mean"] > 0


@pytest.mark.skipif(not HAVE_SHARED, reason=NO_SHARED)
def test_four_person_composites_find_more_people_than_one(report) -> None:
    one, four = (report["per_persons"][n]["persons_found_mean"] for n in ("1", "4"))
    assert one >= 1 and four > one, (one, four)
    assert report["per_persons"]["4"]["detections_mean"] >= 3


def test_without_a_real_dir_the_frames_are_synthetic_people_and_say_so(caplog) -> None:
    config = bf.FrontendBenchConfig(persons=(1, 2), distinct_frames=1)
    with pytest.raises(PrivposeInputError, match="synthetic"):
        bf.frontend_frames(config)
    crops = functools.partial(synthetic_person_crops, 640, 480, 2)
    with caplog.at_level(logging.WARNING, logger=bf.__name__):
        by_persons, kind, sources = bf.frontend_frames(config, None, crops)
    said = [r.getMessage() for r in caplog.records if r.name == bf.__name__]
    assert said == ["no real data folder given (--real DIR): benchmarking synthetic people"]
    assert kind == bf.SYNTHETIC_FRAMES and sources == ["synthetic/0", "synthetic/1"]
    depth_mm = by_persons[2][0][1]
    for column in (depth_mm[:, :320], depth_mm[:, 320:]):  # one person per column
        person = column[column != bf.BACKGROUND_MM]
        assert person.size > 1000 and 1950 <= person.min() and person.max() <= 4050


def test_a_named_real_dir_that_is_absent_or_too_small_is_an_error(tmp_path) -> None:
    config = bf.FrontendBenchConfig(persons=(1,), distinct_frames=1)
    crops = functools.partial(synthetic_person_crops, 640, 480, 2)  # never a fallback
    with pytest.raises(FileNotFoundError, match="no-such-dir"):
        bf.frontend_frames(config, tmp_path / "no-such-dir", crops)
    with pytest.raises(PrivposeInputError, match="holds 0 usable people"):
        bf.frontend_frames(config, tmp_path, crops)


def blank_crops(count: int) -> list[Sprite]:
    """Cheap stand-in people (grey blocks; found or not, the figures are reported)."""
    rgb, mask = np.full((180, 60, 3), 200, np.uint8), np.ones((180, 60), bool)
    return [Sprite(rgb, mask, f"blank/{i}") for i in range(count)]


def test_the_report_holds_figures_and_no_goals() -> None:
    config = bf.FrontendBenchConfig(
        persons=(1,), iterations=2, warmup=0, threads=1, width=160, height=120
    )
    report = bf.run_frontend_bench(config, None, functools.partial(blank_crops, 1))
    assert report["frames"] == bf.SYNTHETIC_FRAMES and report["real_dir"] is None
    assert report["frame_sources"] == ["blank/0"]
    assert len(report["per_persons"]["1"]["persons_found"]) == 2
    assert report["per_persons"]["1"]["whole_ms"]["p50"] > 0
    keys = set(report) | {k for r in report["per_persons"].values() for k in r}
    assert not [k for k in keys if "target" in k or "goal" in k or k.endswith("_met")], keys


def test_the_command_passes_real_and_never_falls_back(tmp_path, capsys) -> None:
    missing = tmp_path / "no-such-dir"
    assert cli.main(["bench", "--frontend", "--real", str(missing)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"privpose bench: error: real data folder {missing} not found"], err


def test_config_and_command_refuse_bad_requests(capsys) -> None:
    with pytest.raises(PrivposeInputError, match="persons"):
        bf.FrontendBenchConfig(persons=(0,))
    with pytest.raises(PrivposeInputError, match="landmark_model"):
        bf.FrontendBenchConfig(landmark_model="huge")
    two = ["--backend", "onnxruntime", "--backend", "torch"]
    assert cli.main(["bench", "--frontend", *two]) == 1
    assert cli.main(["bench", "--frontend", "--persons", "one"]) == 1
    assert cli.main(["bench", "--warmup", "-1"]) == 1  # the v2 lifter benchmark, before any run
    assert cli.main(["bench", "--real", "somewhere"]) == 1  # --real feeds --frontend only
    err = capsys.readouterr().err
    assert "one --backend" in err and "1,2,4" in err and "warmup and threads >= 0" in err
    assert "--real DIR feeds --frontend only" in err
