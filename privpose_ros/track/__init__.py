"""privpose track layer: multi-person ids and per-joint temporal smoothing (numpy, scipy, core).

Typical use, once per image, in stamp order::

    tracked = tracker.update(result.persons, result.stamp_ns)   # stable person_id
    smoothed = smoother.update(tracked, result.stamp_ns)        # One Euro per joint

On a clock jump (a stamp going backwards) call ``reset()`` on both.
"""

from privpose_ros.track.smoothing import OneEuroFilter, PoseSmoother, SmoothingConfig
from privpose_ros.track.tracker import PersonTracker, TrackerConfig

__all__ = [
    "OneEuroFilter",
    "PersonTracker",
    "PoseSmoother",
    "SmoothingConfig",
    "TrackerConfig",
]
