"""Stamps: integer nanoseconds <-> (sec, nanosec), exact for every split."""

from __future__ import annotations

from privpose_ros.core.time import (
    NS_PER_S,
    sec_nanosec_from_stamp_ns,
    stamp_ns_from_sec_nanosec,
)


def test_stamp_splits_into_whole_seconds_and_nanoseconds() -> None:
    assert NS_PER_S == 10**9
    assert sec_nanosec_from_stamp_ns(5_000_000_123) == (5, 123)
    assert sec_nanosec_from_stamp_ns(999_999_999) == (0, 999_999_999)
    assert stamp_ns_from_sec_nanosec(1_700_000_000, 250_000_000) == 1_700_000_000_250_000_000


def test_round_trip_is_exact_past_float_precision() -> None:
    for stamp_ns in (0, 1, 1_556_880_098_123_456_789, 2**62 + 7):
        assert stamp_ns_from_sec_nanosec(*sec_nanosec_from_stamp_ns(stamp_ns)) == stamp_ns
