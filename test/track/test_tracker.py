from __future__ import annotations

import math

import numpy as np
import pytest

from privpose_ros.core import CANONICAL, PersonPose, PrivposeInputError
from privpose_ros.track import PersonTracker, TrackerConfig
from privpose_ros.track.reid import ReidConfig

FRAME_NS = 33_333_333  # 30 Hz
F_PX, CX_PX, CY_PX = 600.0, 320.0, 240.0

# A standing person, metres from the pelvis, camera optical frame (x right, y down, z forward).
_TEMPLATE = {
    "pelvis": (0.0, 0.0, 0.0),
    "spine": (0.0, -0.25, 0.0),
    "neck": (0.0, -0.50, 0.0),
    "head": (0.0, -0.62, 0.0),
    "head_top": (0.0, -0.75, 0.0),
    "nose": (0.0, -0.62, -0.10),
    "left_eye": (0.03, -0.65, -0.08),
    "right_eye": (-0.03, -0.65, -0.08),
    "left_ear": (0.07, -0.63, -0.02),
    "right_ear": (-0.07, -0.63, -0.02),
    "left_shoulder": (0.18, -0.48, 0.0),
    "right_shoulder": (-0.18, -0.48, 0.0),
    "left_elbow": (0.22, -0.22, 0.02),
    "right_elbow": (-0.22, -0.22, 0.02),
    "left_wrist": (0.24, 0.02, 0.0),
    "right_wrist": (-0.24, 0.02, 0.0),
    "left_hand": (0.25, 0.10, 0.0),
    "right_hand": (-0.25, 0.10, 0.0),
    "left_hip": (0.10, 0.0, 0.0),
    "right_hip": (-0.10, 0.0, 0.0),
    "left_knee": (0.10, 0.45, 0.0),
    "right_knee": (-0.10, 0.45, 0.0),
    "left_ankle": (0.10, 0.88, 0.02),
    "right_ankle": (-0.10, 0.88, 0.02),
    "left_foot": (0.10, 0.95, -0.10),
    "right_foot": (-0.10, 0.95, -0.10),
}
TEMPLATE_M = np.array([_TEMPLATE[n] for n in CANONICAL.joint_names])


def _person(
    pelvis_m: np.ndarray, rng: np.random.Generator, with_3d: bool = True, noise_px: float = 2.0
) -> PersonPose:
    """A detection of the template standing at ``pelvis_m``: noisy pixels, 3D and confidences."""
    truth_m = TEMPLATE_M + pelvis_m
    px = F_PX * truth_m[:, :2] / truth_m[:, 2:] + (CX_PX, CY_PX)
    px = px + rng.normal(0.0, noise_px, px.shape)
    joints_m = truth_m + rng.normal(0.0, 0.03, truth_m.shape)
    joints_m[:, 2] += rng.normal(0.0, 0.05)  # monocular depth wobbles for the whole body
    margin = 0.05 * (px.max(axis=0) - px.min(axis=0))
    box = np.concatenate([px.min(axis=0) - margin, px.max(axis=0) + margin])
    return PersonPose(
        joints_cam_m=joints_m if with_3d else np.full_like(joints_m, np.nan),
        confidence=rng.uniform(0.5, 1.0, len(truth_m)),
        joints_px=px,
        box_px=box,
        score=0.9,
    )


def _count_id_switches(frames: list[dict[str, int]]) -> int:
    """Times a ground-truth person's track id differs from the one it had when last seen."""
    last: dict[str, int] = {}
    switches = 0
    for frame in frames:
        for who, track_id in frame.items():
            switches += int(who in last and last[who] != track_id)
            last[who] = track_id
    return switches


def _pacing_x_m(t_s: float, half_range_m: float, speed_mps: float, start_sign: float) -> float:
    """Walks back and forth at constant speed between -half_range_m and +half_range_m."""
    period_s = 4.0 * half_range_m / speed_mps
    phase = math.asin(math.cos(2.0 * math.pi * t_s / period_s)) * 2.0 / math.pi
    return start_sign * half_range_m * phase


def _crossing(with_3d: bool, occlude: bool) -> tuple[list[dict[str, int]], int, int]:
    """A (3.0 m deep, 1.0 m/s) and B (4.2 m, 1.2 m/s) pace toward and past each other for
    300 frames; with ``occlude``, B is hidden while it walks behind A. Returns the per-frame
    ids, the id switches and how often the two crossed in the image."""
    rng = np.random.default_rng(7)
    tracker = PersonTracker()
    frames = []
    dropped = {"A": {40, 41, 230}, "B": {90, 250, 251, 252}}  # detector misses
    crossings, last_side = 0, 0.0
    for i in range(300):
        t_s = i / 30.0
        where = {
            "A": np.array([_pacing_x_m(t_s, 1.5, 1.0, -1.0), 0.1, 3.0]),
            "B": np.array([_pacing_x_m(t_s, 2.0, 1.2, 1.0), 0.05, 4.2]),
        }
        u_px = {w: F_PX * where[w][0] / where[w][2] for w in where}
        side = np.sign(u_px["A"] - u_px["B"])
        crossings += int(last_side != 0 and side != last_side)
        last_side = side
        behind = occlude and abs(u_px["A"] - u_px["B"]) < 50.0  # A is ~100 px wide
        who = [w for w in ("A", "B") if i not in dropped[w] and not (w == "B" and behind)]
        dets = [_person(where[w], rng, with_3d) for w in who]
        out = tracker.update(dets, i * FRAME_NS)
        assert [p.joints_px.tolist() for p in out] == [p.joints_px.tolist() for p in dets]
        frames.append({w: p.person_id for w, p in zip(who, out, strict=True)})
        assert len(set(frames[-1].values())) == len(who)
    return frames, _count_id_switches(frames), crossings


@pytest.mark.parametrize(
    ("with_3d", "occlude"), [(True, True), (False, True), (True, False), (False, False)]
)
def test_two_people_crossing_keep_their_ids(with_3d: bool, occlude: bool) -> None:
    frames, switches, crossings = _crossing(with_3d, occlude)
    assert crossings == 3
    hidden = sum("B" not in f for f in frames)
    assert hidden == (4 + 24 if occlude else 4)  # B behind A for 8 frames at each crossing
    assert switches == 0
    ids = {track_id for frame in frames for track_id in frame.values()}
    assert ids == {1, 2}  # occlusions and missed frames bridged, no spurious tracks
    assert frames[0] == {"A": 1, "B": 2}


def test_id_switch_counter_counts() -> None:
    frames = [{"A": 1, "B": 2}, {"A": 2, "B": 1}, {"B": 1}, {"A": 2, "B": 3}, {"A": 1}]
    assert _count_id_switches(frames) == 4


def test_3d_gate_is_active() -> None:
    """Control: a 5 cm gate against 5 cm depth wobble keeps breaking one person's track."""
    rng = np.random.default_rng(7)
    tracker = PersonTracker(TrackerConfig(gate_3d_m=0.05, gate_growth_mps=0.0))
    seen = set()
    for i in range(300):
        det = _person(np.array([-1.5 + 0.01 * i, 0.1, 3.0]), rng)
        seen |= {p.person_id for p in tracker.update([det], i * FRAME_NS)}
    assert len(seen) > 10


def test_new_person_gets_new_id_also_after_reset() -> None:
    rng = np.random.default_rng(1)
    # the template's twin walks in: without re-identification a new id (test_reid_* below)
    tracker = PersonTracker(TrackerConfig(reid=ReidConfig(window_s=0.0)))
    here = np.array([0.0, 0.1, 3.0])
    for i in range(30):
        assert tracker.update([_person(here, rng)], i * FRAME_NS)[0].person_id == 1
    # the person leaves; 2 s later (> max_age_s) someone enters at the same spot
    assert tracker.update([], 55 * FRAME_NS) == ()
    assert tracker.active_ids == (1,)  # 0.87 s unseen: not yet deleted
    assert tracker.update([], 90 * FRAME_NS) == ()
    assert tracker.active_ids == ()
    ids = [tracker.update([_person(here, rng)], i * FRAME_NS)[0].person_id for i in range(91, 120)]
    assert ids == [2] * len(ids)
    tracker.reset()
    assert tracker.active_ids == ()
    # after a reset (clock jump back to 0) the same person gets a fresh id, never 1 or 2
    out = tracker.update([_person(here, rng), _person(here + (1.5, 0, 0), rng)], 0)
    assert [p.person_id for p in out] == [3, 4]
    assert tracker.active_ids == (3, 4)


@pytest.mark.parametrize(("gap_s", "same_id"), [(0.8, True), (1.2, False)])
def test_track_bridges_gaps_shorter_than_max_age(gap_s: float, same_id: bool) -> None:
    rng = np.random.default_rng(2)
    tracker = PersonTracker(TrackerConfig(max_age_s=1.0))
    for i in range(30):  # walking right at 0.5 m/s
        tracker.update([_person(np.array([-1.0 + 0.5 * i / 30, 0.1, 3.0]), rng)], i * FRAME_NS)
    last_ns = 29 * FRAME_NS
    back_ns = last_ns + int(gap_s * 1e9)
    tracker.update([], last_ns + int(0.5e9))
    assert tracker.active_ids == (1,)
    t_s = back_ns * 1e-9
    out = tracker.update([_person(np.array([-1.0 + 0.5 * t_s, 0.1, 3.0]), rng)], back_ns)
    assert out[0].person_id == (1 if same_id else 2)
    assert tracker.active_ids == ((1,) if same_id else (2,))


def test_2d_only_and_3d_only_detections_are_tracked() -> None:
    rng = np.random.default_rng(3)
    tracker = PersonTracker()
    for i in range(20):
        p = _person(np.array([0.02 * i, 0.1, 3.0]), rng)
        only_3d = PersonPose(joints_cam_m=p.joints_cam_m, confidence=p.confidence)
        only_2d = _person(np.array([2.0, 0.1, 3.0 + 0.01 * i]), rng, with_3d=False)
        out = tracker.update([only_3d, only_2d], i * FRAME_NS)
        assert [q.person_id for q in out] == [1, 2]


def test_far_apart_in_depth_never_match() -> None:
    """Same image footprint, 3 m apart in depth: the 3D gate (2 m) keeps them apart."""
    rng = np.random.default_rng(4)
    tracker = PersonTracker()
    near = _person(np.array([0.0, 0.1, 2.0]), rng)
    tracker.update([near], 0)
    far = PersonPose(
        joints_cam_m=near.joints_cam_m + (0.0, 0.0, 3.0),
        confidence=near.confidence,
        joints_px=near.joints_px,
        box_px=near.box_px,
    )
    assert tracker.update([far], FRAME_NS)[0].person_id == 2


def test_inputs_are_validated() -> None:
    tracker = PersonTracker()
    assert tracker.update([], 5) == ()
    with pytest.raises(PrivposeInputError, match="integer nanoseconds"):
        tracker.update([], 1.5)  # type: ignore[arg-type]
    with pytest.raises(PrivposeInputError, match="integer nanoseconds"):
        tracker.update([], True)
    with pytest.raises(PrivposeInputError, match=r"call reset\(\)"):
        tracker.update([], 4)
    with pytest.raises(PrivposeInputError, match="PersonPose"):
        tracker.update([np.zeros((26, 3))], 6)  # type: ignore[list-item]
    tracker.update([], np.int64(7))  # numpy integers are fine
    tracker.reset()
    assert tracker.update([], 0) == ()  # after reset() time may restart
    with pytest.raises(PrivposeInputError, match="min_similarity"):
        TrackerConfig(min_similarity=1.5)
    with pytest.raises(PrivposeInputError, match="max_age_s"):
        TrackerConfig(max_age_s=0.0)


def test_trackers_sharing_an_id_source_never_reuse_an_id() -> None:
    """A node builds a new tracker per configure: with the node's IdSource, ids go on."""
    from privpose_ros.track.tracker import IdSource

    rng = np.random.default_rng(2)
    ids = IdSource()
    here = np.array([0.0, 0.1, 3.0])
    first = PersonTracker(ids=ids)
    out = first.update([_person(here, rng), _person(here + (1.5, 0, 0), rng)], 0)
    assert [p.person_id for p in out] == [1, 2]
    second = PersonTracker(TrackerConfig(), ids)  # cleanup + configure: a fresh tracker
    assert second.active_ids == ()
    out = second.update([_person(here, rng)], 0)
    assert [p.person_id for p in out] == [3]
    assert ids.next_id == 4
    assert PersonTracker().update([_person(here, rng)], 0)[0].person_id == 1  # own source
    with pytest.raises(PrivposeInputError, match="IdSource"):
        PersonTracker(ids=5)  # type: ignore[arg-type]
    with pytest.raises(PrivposeInputError, match="first id"):
        IdSource(0)


def _sized(person: PersonPose, scale: float) -> PersonPose:
    """``person`` with every bone ``scale`` times as long (about the pelvis), same pixels."""
    pelvis = person.joints_cam_m[CANONICAL.index("pelvis")]
    return PersonPose(
        pelvis + scale * (person.joints_cam_m - pelvis),
        person.confidence,
        joints_px=person.joints_px,
        box_px=person.box_px,
    )


def _shirts(*dressed: tuple[PersonPose, tuple[int, int, int]]) -> np.ndarray:
    """An image where each person's joint extent is filled with their shirt colour."""
    rgb = np.full((int(2 * CY_PX), int(2 * CX_PX), 3), 60, np.uint8)
    for person, colour in dressed:
        lo = np.clip(np.floor(person.joints_px.min(axis=0)).astype(int), 0, None)
        hi = np.ceil(person.joints_px.max(axis=0)).astype(int)
        rgb[lo[1] : hi[1] + 1, lo[0] : hi[0] + 1] = colour
    return rgb


def test_reid_gives_a_returning_person_their_old_id_and_a_stranger_a_new_one() -> None:
    rng = np.random.default_rng(5)
    tracker = PersonTracker()
    here, there = np.array([-0.8, 0.1, 3.0]), np.array([0.8, 0.1, 3.5])
    for i in range(30):  # 1 (red, template size) and 2 (green, 20 % larger) side by side
        a, b = _person(here, rng), _sized(_person(there, rng), 1.2)
        image = _shirts((a, (200, 40, 40)), (b, (40, 200, 40)))
        assert [p.person_id for p in tracker.update([a, b], i * FRAME_NS, image)] == [1, 2]
    tracker.update([], 100 * FRAME_NS)  # both leave for over max_age_s: remembered
    assert tracker.active_ids == () and len(tracker.gallery) == 2
    # 10 s later 2 comes back first, then 1 beside a stranger (template size, blue shirt)
    i0 = 400
    b = _sized(_person(here, rng), 1.2)
    assert tracker.update([b], i0 * FRAME_NS, _shirts((b, (40, 200, 40))))[0].person_id == 2
    a, c = _person(there, rng), _person(here + (0, 0, 1.5), rng)
    image = _shirts((a, (200, 40, 40)), (c, (40, 40, 200)))
    out = tracker.update([a, c], (i0 + 30) * FRAME_NS, image)
    assert out[0].person_id == 1 and out[1].person_id not in (1, 2)
    assert tracker.reidentified == 2 and len(tracker.gallery) == 0


def test_reid_forgets_after_its_window() -> None:
    rng = np.random.default_rng(6)
    tracker = PersonTracker(TrackerConfig(reid=ReidConfig(window_s=5.0)))
    for i in range(30):
        a = _person(np.array([0.0, 0.1, 3.0]), rng)
        assert tracker.update([a], i * FRAME_NS, _shirts((a, (200, 40, 40))))[0].person_id == 1
    back = _person(np.array([0.0, 0.1, 3.0]), rng)
    late_ns = 29 * FRAME_NS + 7 * 10**9  # gone for 7 s > 5 s
    assert tracker.update([back], late_ns, _shirts((back, (200, 40, 40))))[0].person_id == 2


def test_a_track_whose_keypoints_jump_continues_when_the_person_looks_the_same() -> None:
    """Half out of the image, a person's 2D jumps beyond the association; their live track
    continues if bones and shirt agree and the 3D stays within the gate, else a new id."""
    rng = np.random.default_rng(7)
    for colour, want in (((200, 40, 40), 1), ((40, 40, 200), 2)):
        tracker = PersonTracker()
        for i in range(10):
            a = _person(np.array([0.0, 0.1, 3.0]), rng)
            tracker.update([a], i * FRAME_NS, _shirts((a, (200, 40, 40))))
        jumped = _person(np.array([0.0, 0.1, 3.0]), rng)
        moved = PersonPose(
            jumped.joints_cam_m,
            jumped.confidence,
            joints_px=jumped.joints_px + (250.0, 0.0),  # no OKS, no IoU with the track
            box_px=jumped.box_px + (250.0, 0.0, 250.0, 0.0),
        )
        out = tracker.update([moved], 10 * FRAME_NS, _shirts((moved, colour)))
        assert out[0].person_id == want


def test_a_returning_person_first_seen_in_part_takes_their_old_id_once_recognised() -> None:
    rng = np.random.default_rng(8)
    tracker = PersonTracker()
    spot = np.array([0.0, 0.1, 3.0])
    for i in range(30):
        a = _person(spot, rng)
        assert tracker.update([a], i * FRAME_NS, _shirts((a, (200, 40, 40))))[0].person_id == 1
    t0 = 29 * FRAME_NS + 3 * 10**9  # back after 3 s, first only faintly (no usable joints)
    faint = _person(spot, rng)
    faint = PersonPose(faint.joints_cam_m, np.full(26, 0.3), joints_px=faint.joints_px)
    first = tracker.update([faint], t0, _shirts((faint, (200, 40, 40))))[0].person_id
    assert first == 2  # nothing to recognise yet: a new id
    later = _person(spot, rng)
    out = tracker.update([later], t0 + FRAME_NS, _shirts((later, (200, 40, 40))))
    assert out[0].person_id == 1 and tracker.reidentified == 1
    for k in range(2, 40):  # and keeps it
        p = _person(spot, rng)
        assert (
            tracker.update([p], t0 + k * FRAME_NS, _shirts((p, (200, 40, 40))))[0].person_id == 1
        )
