"""Detector tiles, merging detections and the spanning-skeleton test, on numbers (no model)."""

from __future__ import annotations

import numpy as np
import pytest

from privpose_ros.core.crop import box_iou
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.runtime.detection import Detection
from privpose_ros.runtime.detector import MAX_PEOPLE, PersonDetector
from privpose_ros.runtime.tiles import (
    BLAZEPOSE_TO_COCO,
    ceil32,
    keypoint_similarity,
    merge_detections,
    shift_detection,
    span_reason,
    tile_boxes,
    tile_grid,
    touches_inner_edge,
)

# a standing person's COCO-17 keypoints in a unit box (x right, y down)
_UNIT_COCO = np.array(
    [[.5, .08], [.47, .06], [.53, .06], [.44, .08], [.56, .08], [.38, .2], [.62, .2], [.33, .38],
     [.67, .38], [.3, .52], [.7, .52], [.42, .55], [.58, .55], [.42, .77], [.58, .77], [.42, .98],
     [.58, .98]]
)  # fmt: skip


def _person(box, score: float = 0.5, kp_score: float = 0.9) -> Detection:
    box = np.asarray(box, dtype=np.float64)
    size = box[2:] - box[:2]
    return Detection(box, score, box[:2] + _UNIT_COCO * size, np.full(17, kp_score))


def _skeleton(det: Detection) -> tuple[np.ndarray, np.ndarray]:
    """BlazePose 33 points on ``det``'s keypoints (the others at its box centre), all visible."""
    points = np.tile((det.box_px[:2] + det.box_px[2:]) / 2, (33, 1))
    points[list(BLAZEPOSE_TO_COCO)] = det.keypoints_px
    return points, np.ones(33)


# ---------------------------------------------------------------- tiles


def test_tile_grid_follows_the_aspect_ratio():
    assert tile_grid(540, 1920) == (2, 1)
    assert tile_grid(480, 640) == (2, 2)
    assert tile_grid(1000, 600) == (1, 2)
    with pytest.raises(PrivposeInputError, match="positive"):
        tile_grid(0, 10)


def test_tile_boxes_cover_the_image_with_the_overlap():
    tiles = tile_boxes(540, 1920, (2, 1), overlap=0.2)
    # tile side 1920 / (2 - 0.2) = 1066.7; the second starts 0.8 of a side on
    np.testing.assert_array_equal(tiles, [[0, 0, 1067, 540], [853, 0, 1920, 540]])
    overlap = tiles[0, 2] - tiles[1, 0]
    assert overlap == pytest.approx(0.2 * 1066.7, abs=1.0)
    quads = tile_boxes(480, 640, (2, 2), overlap=0.2)
    assert quads.shape == (4, 4)
    np.testing.assert_array_equal(quads[:, 0], [0, 284, 0, 284])  # row by row
    np.testing.assert_array_equal(quads[:, 1], [0, 0, 213, 213])
    assert quads[:, 2].max() == 640 and quads[:, 3].max() == 480
    np.testing.assert_array_equal(tile_boxes(480, 640, (1, 1)), [[0, 0, 640, 480]])
    with pytest.raises(PrivposeInputError, match="overlap"):
        tile_boxes(480, 640, (2, 2), overlap=0.5)


def test_ceil32_gives_a_movenet_side():
    assert [ceil32(v) for v in (1, 128, 129, 356, 1067)] == [128, 128, 160, 384, 1088]


def test_shift_detection_moves_box_and_keypoints():
    det = _person((10, 20, 110, 220))
    moved = shift_detection(det, 853.0, 5.0)
    np.testing.assert_allclose(moved.box_px, (863, 25, 963, 225))
    np.testing.assert_allclose(
        moved.keypoints_px - det.keypoints_px, np.tile((853.0, 5.0), (17, 1))
    )
    assert moved.score == det.score and det.box_px[0] == 10  # the input is left alone


def test_touches_inner_edge_only_for_edges_inside_the_image():
    tile = np.array([853, 0, 1920, 540])
    assert touches_inner_edge(np.array([850.0, 100, 950, 400]), tile, (540, 1920))  # cut at x0
    assert not touches_inner_edge(np.array([900.0, 0, 1000, 539]), tile, (540, 1920))
    left = np.array([0, 0, 1067, 540])
    assert touches_inner_edge(np.array([1000.0, 10, 1066, 300]), left, (540, 1920))
    assert not touches_inner_edge(np.array([0.0, 10, 1000, 300]), left, (540, 1920))


# ---------------------------------------------------------------- merging


def test_box_iou_and_keypoint_similarity_on_numbers():
    a, b = np.array([0.0, 0, 10, 10]), np.array([5.0, 0, 15, 10])
    assert box_iou(a, b)[0, 0] == pytest.approx(50 / 150)
    assert box_iou(a, np.array([20.0, 20, 30, 30]))[0, 0] == 0.0
    det = _person((100, 100, 200, 400))
    assert keypoint_similarity(det, det) == pytest.approx(1.0)
    # 10 px off everywhere on a 100 x 300 box: exp(-100 / (2 * 30000 * (2 sigma)^2))
    off = shift_detection(det, 10.0, 0.0)
    sig = np.array(
        [0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089]
    )
    expected = np.mean(np.exp(-100.0 / (2 * 30000.0 * (2 * sig) ** 2)))
    assert keypoint_similarity(det, off) == pytest.approx(expected)
    # the head points alone (MoveNet shares them between neighbours) do not make a duplicate
    head_only = Detection(det.box_px, 0.4, det.keypoints_px, np.r_[np.ones(5), np.zeros(12)])
    assert keypoint_similarity(det, head_only) == 0.0


def test_merge_keeps_one_detection_per_person_best_first():
    full = [_person((100, 100, 200, 400), 0.5), _person((300, 100, 400, 400), 0.4)]
    # the tile sees the first person again, better, and a third person
    tiled = [
        shift_detection(_person((100, 100, 200, 400), 0.6), 2.0, 1.0),
        _person((600, 120, 680, 380), 0.3),
    ]
    merged = merge_detections([full, tiled])
    assert [d.score for d in merged] == pytest.approx([0.6, 0.4, 0.3])
    np.testing.assert_allclose(merged[0].box_px, (102, 101, 202, 401))
    assert len(merge_detections([full, tiled], max_count=2)) == 2
    # a small person standing in front of a large one's box is not its duplicate
    big, small = _person((0, 0, 400, 500), 0.5), _person((300, 250, 360, 430), 0.3)
    assert len(merge_detections([[big], [small]])) == 2


def test_detector_tiles_only_when_full_and_more_are_wanted():
    with pytest.raises(PrivposeInputError, match="tiles"):
        PersonDetector(runner=None, tiles="maybe")
    six = [_person((i * 100, 0, i * 100 + 90, 300)) for i in range(MAX_PEOPLE)]
    auto = PersonDetector(runner=None, tiles="auto", max_count=10)
    assert auto.wants_tiles(six) and not auto.wants_tiles(six[:5])
    assert not PersonDetector(runner=None, tiles="auto", max_count=6).wants_tiles(six)
    assert PersonDetector(runner=None, tiles="always").wants_tiles([])
    assert not PersonDetector(runner=None, tiles="off", max_count=32).wants_tiles(six)


# ---------------------------------------------------------------- spanning skeletons


def test_a_skeleton_on_its_own_person_does_not_span():
    det = _person((100, 100, 200, 400))
    points, vis = _skeleton(det)
    assert span_reason(points, vis, det, [np.array([300.0, 100, 400, 400])]) is None


def test_a_skeleton_moved_onto_the_next_person_is_found():
    """The crowdpose case: the second ROI pass put the whole body on the person beside."""
    det, beside = _person((100, 100, 200, 400)), _person((170, 110, 270, 410))
    points, vis = _skeleton(beside)  # 70 px right: inside the grown box, far from det's points
    assert span_reason(points, vis, det) == "far_from_detection"
    # the same skeleton with the detector's keypoints not confident: nothing to compare with
    weak = Detection(det.box_px, det.score, det.keypoints_px, np.full(17, 0.1))
    assert span_reason(points, vis, weak) is None


def test_legs_on_someone_else_are_outside_the_box():
    det = _person((100, 100, 200, 400))
    points, vis = _skeleton(det)
    points[[24, 26, 28, 30, 32]] += (400.0, 0.0)  # right leg + foot on a person 400 px right
    points[[11, 13, 15]] += (400.0, 0.0)  # and the left arm
    # 6 of 12 body points 400 px out of a 300 px box: outside even grown by 150 px
    weak = Detection(det.box_px, det.score, det.keypoints_px, np.zeros(17))
    assert span_reason(points, vis, weak) is None  # exactly half: not more than half
    points[27] += (400.0, 0.0)
    assert span_reason(points, vis, weak) == "outside_box"
    # invisible points do not count
    vis[[11, 13, 15, 24, 26, 28, 27]] = 0.0
    assert span_reason(points, vis, weak) is None


def test_hips_in_two_other_boxes_span_two_people():
    det = _person((100, 100, 200, 400))
    weak = Detection(det.box_px, det.score, det.keypoints_px, np.zeros(17))
    points, vis = _skeleton(det)
    vis[:] = 0.0  # no visible body: only the hips test speaks
    points[23], points[24] = (250.0, 250.0), (450.0, 250.0)
    others = [np.array([220.0, 100, 320, 400]), np.array([420.0, 100, 520, 400])]
    assert span_reason(points, vis, weak, others) == "hips_apart"
    assert span_reason(points, vis, weak, others[:1]) is None  # one hip nowhere
    points[24] = (260.0, 250.0)
    assert span_reason(points, vis, weak, others) is None  # both on one other person
    with pytest.raises(PrivposeInputError, match="33"):
        span_reason(points[:17], vis, det)


def test_a_skeleton_far_from_its_detection_spans_only_if_nearer_another_one() -> None:
    """The span fix re-crops a skeleton that moved onto the person beside (nearer that
    detection's keypoints), not one whose own detector points are off (a person cut by the
    image: the TUE robot frame where the standing person was lost)."""
    from privpose_ros.core.landmarks import Landmarks, Roi
    from privpose_ros.runtime.people import _nearer_another

    coco_px = np.array([[100.0 + 10 * j, 100.0 + 20 * j] for j in range(17)])
    own = Detection(np.array([80.0, 80, 300, 500]), 0.9, coco_px + 60.0, np.ones(17))
    beside = Detection(np.array([80.0, 80, 300, 500]), 0.9, coco_px + 1.0, np.ones(17))
    far = Detection(np.array([500.0, 80, 700, 500]), 0.9, coco_px + 400.0, np.ones(17))
    points = np.zeros((33, 2))
    points[list(BLAZEPOSE_TO_COCO)] = coco_px
    lm = Landmarks(
        points_px=points,
        depth_rel=np.zeros(33),
        visibility=np.ones(33),
        presence=np.ones(33),
        world_m=np.zeros((33, 3)),
        pose_score=0.9,
        next_roi=Roi(np.array([150.0, 300.0]), 300.0, 0.0),
    )
    assert _nearer_another(lm, 0, [own, beside])  # moved onto the person beside
    assert not _nearer_another(lm, 0, [own, far])  # off, but nearer nobody else
    assert not _nearer_another(lm, 0, [own])
