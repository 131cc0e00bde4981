"""Stamps as integer nanoseconds <-> (sec, nanosec), the split ROS message stamps use.

Plain integers here, so the ROS-free layers (the bag reader in ``data/``) and the message
builders in ``ros/`` share one conversion.
"""

from __future__ import annotations

NS_PER_S = 1_000_000_000


def stamp_ns_from_sec_nanosec(sec: int, nanosec: int) -> int:
    """Integer nanoseconds of a stamp given as whole seconds plus nanoseconds."""
    return int(sec) * NS_PER_S + int(nanosec)


def sec_nanosec_from_stamp_ns(stamp_ns: int) -> tuple[int, int]:
    """(whole seconds, nanoseconds in [0, 1e9)) of integer nanoseconds."""
    sec, nanosec = divmod(int(stamp_ns), NS_PER_S)
    return sec, nanosec
