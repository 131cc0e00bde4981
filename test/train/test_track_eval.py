"""Tracking evaluation: IoU, matching and id-switch counting on hand-made results, and the
real-people crossing sequence (green-screen MPI-INF-3DHP people, skipped without the data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.crop import box_iou
from privpose_ros.core.joints import CANONICAL
from privpose_ros.core.pose import PersonPose, PoseResult
from privpose_ros.data.crossing import SequenceFrame, crossing_sequence, green_screen_sprites
from privpose_ros.train.track_eval import evaluate_tracking

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real3d" / "mpi_inf_3dhp"
K = CameraIntrinsics(500.0, 500.0, 319.5, 239.5, 640, 480)


def _frame(n: int, boxes: list[tuple[float, ...]], ids: list[int]) -> SequenceFrame:
    return SequenceFrame(
        np.zeros((480, 640, 3), np.uint8),
        np.zeros((480, 640), np.uint16),
        K,
        (n + 1) * 33_000_000,
        np.array(boxes, float).reshape(-1, 4),
        np.array(ids),
        np.ones(len(ids)),
    )


def _person(box: tuple[float, ...], person_id: int) -> PersonPose:
    joints = np.full((CANONICAL.num_joints, 3), 2.0)
    return PersonPose(joints, np.ones(CANONICAL.num_joints), person_id=person_id, box_px=box)


def test_box_iou_hand_values() -> None:
    iou = box_iou([[0, 0, 10, 10]], [[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    np.testing.assert_allclose(iou, [[1.0, 50 / 150, 0.0]])


def test_ids_that_follow_their_person_count_no_switch_and_a_swap_counts_two() -> None:
    a, b = (100.0, 100.0, 200.0, 400.0), (300.0, 100.0, 400.0, 400.0)
    frames = [_frame(n, [a, b], [0, 1]) for n in range(6)]

    def steady(frame: SequenceFrame) -> PoseResult:
        return PoseResult((_person(a, 7), _person(b, 8)))

    report = evaluate_tracking(frames, steady)
    assert report["id_switches"] == 0 and report["recall_visible"] == 1.0
    assert report["precision"] == 1.0 and report["ids_per_person"] == {"0": [7], "1": [8]}

    def swapped_after_3(frame: SequenceFrame) -> PoseResult:
        late = frame.stamp_ns > 3 * 33_000_000
        return PoseResult((_person(a, 8 if late else 7), _person(b, 7 if late else 8)))

    report = evaluate_tracking(frames, swapped_after_3)
    assert report["id_switches"] == 2 and report["track_ids_used"] == 2


def test_missed_and_false_persons_lower_recall_and_precision() -> None:
    a = (100.0, 100.0, 200.0, 400.0)
    frames = [_frame(n, [a], [0]) for n in range(4)]

    def flaky(frame: SequenceFrame) -> PoseResult:
        if frame.stamp_ns == 33_000_000:
            return PoseResult(())
        return PoseResult((_person(a, 1), _person((500.0, 10.0, 600.0, 50.0), 2)))

    report = evaluate_tracking(frames, flaky)
    assert report["recall_visible"] == pytest.approx(3 / 4)
    assert report["precision"] == pytest.approx(3 / 6)
    assert report["id_switches"] == 0


def test_crossing_sequence_of_real_people() -> None:
    if not DATA.is_dir():
        pytest.skip(f"real people not found at {DATA} (../shared/data is not beside the repo)")
    sprites = green_screen_sprites(DATA)
    assert len(sprites) == 4
    for sprite in sprites:  # a person, not the whole green box
        assert 0.1 < sprite.alpha.mean() < 0.7
    frames = list(crossing_sequence(sprites, persons=3, frames=120, seed=0))
    assert [f.stamp_ns for f in frames[:2]] == [33_333_333, 66_666_666]
    crossings, order = 0, None
    for f in frames:
        assert set(f.ids.tolist()) <= {0, 1, 2}
        assert np.all((f.visible >= 0) & (f.visible <= 1))
        assert np.all(f.boxes_px[:, :2] >= 0) and np.all(f.boxes_px[:, 2] < 640)
        assert f.depth_mm.max() == 6000 and 2000 < f.depth_mm.min() < 5500
        if len(f.ids) == 3:
            now = tuple(f.ids[np.argsort(f.boxes_px[:, 0])])
            crossings += order is not None and now != order
            order = now
    assert crossings >= 1, "the walkers cross each other"
    assert min(f.visible.min() for f in frames if len(f.ids)) < 0.9, "someone gets occluded"


def test_eval_tracking_command_runs_the_pipeline_on_the_crossing_frames(capsys) -> None:
    """`privpose eval --tracking` end to end on a short crossing (the command once handed the
    pipeline the sequence's own frame type instead of an RGBDFrame)."""
    if not DATA.is_dir():
        pytest.skip(f"real people not found at {DATA} (../shared/data is not beside the repo)")
    import json

    from privpose_ros import cli

    argv = ["eval", "--tracking", str(DATA), "--persons", "1", "--seq-frames", "20", "--json"]
    assert cli.main(argv) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["frames"] == 20 and report["persons"] == 1
    assert report["recall_visible"] > 0.5 and report["id_switches"] == 0
