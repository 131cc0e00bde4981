"""A departed person's markers are deleted in the next frame (no ghosts with any lifetime)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy not installed: run `make setup`")
from visualization_msgs.msg import Marker  # noqa: E402

from privpose_ros.core.joints import CANONICAL  # noqa: E402
from privpose_ros.core.pose import PersonPose  # noqa: E402
from privpose_ros.ros.markers import SkeletonMarkers, person_namespace  # noqa: E402


def _person(person_id: int) -> PersonPose:
    joints = np.random.default_rng(person_id).normal([0, 0, 2], 0.3, (26, 3))
    return PersonPose(joints, np.full(26, 0.9), person_id=person_id)


def _actions(array) -> dict[tuple[str, int], int]:
    return {(m.ns, m.id): m.action for m in array.markers}


def test_departed_person_markers_are_deleted_with_lifetime_0() -> None:
    markers = SkeletonMarkers()
    first = markers([_person(1), _person(2)], CANONICAL, 10, "cam", 0.0)
    assert set(_actions(first).values()) == {Marker.ADD}
    second = _actions(markers([_person(2)], CANONICAL, 20, "cam", 0.0))
    gone = person_namespace(1)
    assert second[(gone, 0)] == second[(gone, 1)] == Marker.DELETE
    assert second[(person_namespace(2), 0)] == Marker.ADD
    third = _actions(markers([_person(2)], CANONICAL, 30, "cam", 0.0))
    assert (gone, 0) not in third  # deleted once, not every frame
    empty = markers([], CANONICAL, 40, "cam", 0.0).markers
    assert [m.action for m in empty] == [Marker.DELETEALL]
    back = _actions(markers([_person(3)], CANONICAL, 50, "cam", 0.0))
    assert set(back.values()) == {Marker.ADD}  # nobody shown after DELETEALL: no DELETE
