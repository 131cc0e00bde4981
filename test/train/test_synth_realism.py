"""`privpose synth --realism`'s metric: a detector that returns the labels scores 1, one that
mirrors left and right or finds nobody scores less, and the visible-people subset is honest."""

from __future__ import annotations

import numpy as np
import pytest

from privpose_ros.core.joints import CANONICAL
from privpose_ros.core.pose import PersonPose, PoseResult
from privpose_ros.data.synth import SynthConfig, SyntheticGenerator
from privpose_ros.train.synth_realism import RealismConfig, evaluate_realism, frame_people


def _mirror_permutation(names: tuple[str, ...]) -> np.ndarray:
    """Index of each joint's left/right partner (itself for the midline joints)."""
    index = {n: i for i, n in enumerate(names)}
    swap = {"left": "right", "right": "left"}
    other = ["_".join(swap.get(w, w) for w in n.split("_")) for n in names]
    return np.array([index.get(o, i) for i, o in enumerate(other)])


@pytest.fixture(scope="module")
def batch():
    return SyntheticGenerator(SynthConfig(width=320, height=240, block_size=4)).batch(8, seed=2)


def _labels(batch, mirror: bool = False):
    perm = _mirror_permutation(CANONICAL.joint_names) if mirror else np.arange(26)

    def estimate(rgb, k, depth):
        i = next(j for j in range(len(batch)) if np.shares_memory(batch.rgb[j], rgb))
        persons = []
        for p in range(4):
            if np.isfinite(batch.people_boxes_px[i, p]).all():
                px = batch.people_joints_px[i, p][perm]
                persons.append(
                    PersonPose(batch.people_joints_cam_m[i, p][perm], np.ones(26), joints_px=px)
                )
        return PoseResult(persons=tuple(persons))

    return estimate


def test_the_labels_themselves_score_one(batch) -> None:
    report = evaluate_realism(batch, _labels(batch))
    assert report["all_people"]["n_people"] >= 8
    assert report["all_people"]["recall_at_oks"] == 1.0
    assert report["all_people"]["mean_oks"] == pytest.approx(1.0)
    assert report["visible_people"]["n_people"] <= report["all_people"]["n_people"]


def test_mirrored_or_missing_people_score_less(batch) -> None:
    mirrored = evaluate_realism(batch, _labels(batch, mirror=True))
    assert mirrored["all_people"]["mean_oks"] < 0.9
    nobody = evaluate_realism(batch, lambda rgb, k, d: PoseResult())
    assert nobody["all_people"]["recall_at_oks"] == 0.0 and nobody["n_pred_persons"] == 0


def test_countable_people_follow_the_config(batch) -> None:
    strict = RealismConfig(min_visible_joints=10, visible_joints=10, min_height_px=60.0)
    loose = RealismConfig(min_visible_joints=1, visible_joints=1, min_height_px=0.0)
    for i in range(len(batch)):
        few, many = frame_people(batch, i, strict), frame_people(batch, i, loose)
        assert len(few) <= len(many)
        for person in few:
            assert np.count_nonzero(person.limbs_visible == 2) >= 10 and person.area_px2 > 0
