"""The one skeleton drawing: bones in the child's colour, masks for drawn and hollow joints."""

from __future__ import annotations

import numpy as np

from privpose_ros.data.skeleton_draw import draw_skeleton_px

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def test_bones_take_the_child_colour_and_hollow_joints_are_rings() -> None:
    image = np.zeros((60, 60, 3), np.uint8)
    joints_px = np.array([[10.0, 30.0], [50.0, 30.0], [30.0, 50.0]])
    bones = np.array([[0, 1], [0, 2]])
    hollow = np.array([False, True, False])
    draw_skeleton_px(image, joints_px, bones, [RED, GREEN, BLUE], 3, 8, hollow=hollow)
    assert tuple(image[30, 30]) == GREEN  # middle of bone 0 -> 1, in joint 1's colour
    assert tuple(image[40, 20]) == BLUE  # middle of bone 0 -> 2, in joint 2's colour
    assert tuple(image[30, 3]) == RED  # joint 0 is a filled disc: 7 px from its centre
    ring = image[22, 50]  # joint 1's ring, 8 px above its centre (anti-aliased)
    assert ring[1] > 200 and ring[0] == ring[2] == 0
    assert not image[24:27, 49:52].any()  # inside the ring, off the bone: not filled


def test_undrawn_joints_and_their_bones_leave_the_image_alone() -> None:
    image = np.zeros((60, 60, 3), np.uint8)
    joints_px = np.array([[10.0, 30.0], [np.nan, np.nan], [30.0, 50.0]])
    drawn = np.isfinite(joints_px).all(axis=1)
    draw_skeleton_px(image, joints_px, np.array([[0, 1], [0, 2]]), [RED] * 3, drawn=drawn)
    assert tuple(image[40, 20]) == RED  # bone 0 -> 2 is drawn
    assert not image[:5, :5].any()  # nothing at (0, 0), where NaN would round to
    assert not image[25:35, 35:60].any()  # no bone towards the undrawn joint
