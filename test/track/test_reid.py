"""Re-identification signatures (track/reid.py): metric bone lengths, colour histograms, and a
gallery that gives each departed id back once, to the person who matches it."""

from __future__ import annotations

import numpy as np
import pytest

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.joints import CANONICAL
from privpose_ros.core.pose import PersonPose
from privpose_ros.track.reid import (
    BONES,
    HISTOGRAM_SIZE,
    Gallery,
    ReidConfig,
    Signature,
    appearance_histogram,
    bone_lengths_m,
    similarity,
)

J = {n: i for i, n in enumerate(CANONICAL.joint_names)}
RNG = np.random.default_rng(3)
BASE_M = RNG.normal([0.0, 0.0, 3.0], 0.25, size=(26, 3))


def _person(scale: float = 1.0, shift_px: float = 0.0, conf: float = 0.9) -> PersonPose:
    joints = BASE_M * np.array([scale, scale, 1.0])
    px = 300 + 100 * joints[:, :2] / joints[:, 2:] + shift_px
    return PersonPose(joints, np.full(26, conf), joints_px=px)


def _shirt_image(person: PersonPose, colour: tuple[int, int, int]) -> np.ndarray:
    rgb = np.full((600, 800, 3), 40, np.uint8)
    lo = np.floor(person.joints_px.min(axis=0)).astype(int)
    hi = np.ceil(person.joints_px.max(axis=0)).astype(int)
    rgb[lo[1] : hi[1] + 1, lo[0] : hi[0] + 1] = colour
    return rgb


def test_bone_lengths_are_the_metric_distances_of_confident_joints() -> None:
    person = _person()
    bones = bone_lengths_m(person, 0.5)
    a, b = BONES[0]
    assert bones.shape == (len(BONES) + 1,)
    assert bones[0] == pytest.approx(np.linalg.norm(BASE_M[a] - BASE_M[b]))
    assert bones[-1] == pytest.approx(np.linalg.norm(BASE_M[J["neck"]] - BASE_M[J["pelvis"]]))
    weak = np.full(26, 0.9)
    weak[a] = 0.2
    assert np.isnan(bone_lengths_m(PersonPose(BASE_M, weak), 0.5)[0])


def test_histogram_sums_to_one_and_tells_shirt_colours_apart() -> None:
    person = _person()
    red = appearance_histogram(_shirt_image(person, (200, 30, 30)), person, 0.5)
    blue = appearance_histogram(_shirt_image(person, (30, 30, 200)), person, 0.5)
    assert red.shape == (HISTOGRAM_SIZE,) and red.sum() == pytest.approx(1.0)
    assert np.minimum(red, red).sum() == pytest.approx(1.0)
    assert np.minimum(red, blue).sum() < 0.6
    assert (
        appearance_histogram(_shirt_image(person, (200, 30, 30)), _person(conf=0.1), 0.5) is None
    )


def _signature(person: PersonPose, colour, config: ReidConfig) -> Signature:
    sig = Signature(config.history)
    sig.add(
        bone_lengths_m(person, 0.5),
        appearance_histogram(_shirt_image(person, colour), person, 0.5),
    )
    return sig


def test_similarity_needs_bones_and_appearance_to_agree() -> None:
    config = ReidConfig()
    me = _signature(_person(), (200, 30, 30), config)
    again = _signature(_person(shift_px=40.0), (200, 30, 30), config)
    taller = _signature(_person(scale=1.3), (200, 30, 30), config)
    other_shirt = _signature(_person(), (30, 30, 200), config)
    assert similarity(again, me, config) > 0.95
    assert similarity(taller, me, config) < similarity(again, me, config) - 0.2
    assert similarity(other_shirt, me, config) == 0.0  # appearance disagrees: never the same


def test_gallery_gives_each_id_back_once_to_the_best_match() -> None:
    config = ReidConfig(window_s=30.0)
    gallery = Gallery(config)
    gallery.remember(4, _signature(_person(), (200, 30, 30), config), left_ns=0)
    gallery.remember(7, _signature(_person(scale=1.25), (30, 200, 30), config), left_ns=0)
    back = [
        _signature(_person(scale=1.25, shift_px=10), (30, 200, 30), config),
        _signature(_person(shift_px=-20), (200, 30, 30), config),
        _signature(_person(), (200, 30, 30), config),  # a look-alike of 4: 4 is taken
    ]
    assert gallery.match(back) == [7, 4, None]
    assert len(gallery) == 0 and gallery.reidentified == 2
    assert gallery.match(back) == [None, None, None]  # given back once only


def test_gallery_forgets_after_the_window_and_window_zero_remembers_nothing() -> None:
    config = ReidConfig(window_s=30.0)
    gallery = Gallery(config)
    gallery.remember(4, _signature(_person(), (200, 30, 30), config), left_ns=0)
    gallery.forget_older_than(29 * 10**9)
    assert len(gallery) == 1
    gallery.forget_older_than(31 * 10**9)
    assert len(gallery) == 0
    off = Gallery(ReidConfig(window_s=0.0))
    off.remember(4, _signature(_person(), (200, 30, 30), config), left_ns=0)
    assert len(off) == 0


@pytest.mark.parametrize("bad", [{"window_s": -1.0}, {"min_similarity": 1.5}, {"history": 0}])
def test_reid_config_rejects_bad_values(bad) -> None:
    with pytest.raises(PrivposeInputError):
        ReidConfig(**bad)
