"""Per-joint temporal smoothing: a vectorised One Euro filter driven by message stamps.

The One Euro filter (Casiez, Roussel, Vogel, CHI 2012) is a first-order low-pass filter whose
cutoff rises with the (low-passed) speed of the signal:

    fc = min_cutoff_hz + beta * |dx/dt|,    alpha = 1 / (1 + 1 / (2 pi fc dt))

At rest it filters hard (jitter goes), when moving it opens up (lag goes). Closed forms the tests
use (exact for the discrete filter): a ramp at speed v lags by ``v / (2 pi (min_cutoff_hz +
beta v))`` in steady state, and after a step the remaining error shrinks at least by
``1 - alpha(min_cutoff_hz)`` per sample. As in the authors' reference implementation, the speed is
the difference of raw samples (not of the filtered output), so a ramp's speed is unbiased.

Time always comes from the stamps (``stamp_ns``, integer nanoseconds), never from the wall clock.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.pose import PersonPose

LOG = logging.getLogger(__name__)


def check_stamp_ns(stamp_ns: object) -> int:
    """``stamp_ns`` as a Python int; raise PrivposeInputError unless it is integer nanoseconds."""
    if isinstance(stamp_ns, bool) or not isinstance(stamp_ns, int | np.integer):
        raise PrivposeInputError(
            f"stamp_ns must be integer nanoseconds (e.g. the image header stamp as "
            f"sec * 1_000_000_000 + nanosec), got {type(stamp_ns).__name__} {stamp_ns!r}"
        )
    return int(stamp_ns)


@dataclass(frozen=True)
class SmoothingConfig:
    """One Euro parameters for joints in metres and in pixels.

    ``min_cutoff_hz`` (Hz): cutoff at rest. 0.4 Hz at 30 Hz input gives alpha = 0.077, which
    alone would divide white jitter by 5.0 (sqrt((2 - alpha) / alpha)); with the beta term
    below, 2 cm noise on a person standing still comes out ~3.5x smaller. The brief's 1.0 Hz
    reaches only 3.2x even with beta = 0 (measured 3.17x with beta = 0.3).
    ``beta`` (1/m, for ``joints_cam_m``; Hz of extra cutoff per m/s of joint speed): 2.5 gives
    fc = 2.9 Hz at 1 m/s (walking), so the steady lag is 1 m/s / (2 pi 2.9 Hz) = 5.5 cm,
    where beta = 0.3 with 1 Hz would leave 12.2 cm; at rest the speed estimate of 2 cm noise
    (~0.1 m/s) raises the cutoff by only ~0.25 Hz.
    ``beta_px`` (1/px): the same adaptation in image space. A person 3 m away under a 600 px
    focal length moves 200 px per metre, so beta / 200 px/m ~ 0.0125 / px.
    ``d_cutoff_hz`` (Hz): cutoff of the speed estimate; 1 Hz as recommended by the authors.
    ``forget_after_s`` (s): a person id not seen for longer loses its filter state (bounded
    memory); matches the tracker's default ``max_age_s``.
    ``max_persons``: hard bound on remembered ids; the least recently seen is dropped first.
    """

    min_cutoff_hz: float = 0.4
    beta: float = 2.5
    beta_px: float = 0.0125
    d_cutoff_hz: float = 1.0
    forget_after_s: float = 1.0
    max_persons: int = 64

    def __post_init__(self) -> None:
        for name in ("min_cutoff_hz", "d_cutoff_hz", "forget_after_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise PrivposeInputError(f"SmoothingConfig.{name} must be > 0, got {value}")
        for name in ("beta", "beta_px"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise PrivposeInputError(f"SmoothingConfig.{name} must be >= 0, got {value}")
        if self.max_persons < 1:
            raise PrivposeInputError(
                f"SmoothingConfig.max_persons must be >= 1, got {self.max_persons}"
            )


def _alpha(dt_s: np.ndarray, cutoff_hz: np.ndarray | float) -> np.ndarray:
    """Smoothing factor of a first-order low-pass with ``cutoff_hz`` over steps of ``dt_s``."""
    tau_s = 1.0 / (2.0 * np.pi * cutoff_hz)
    return 1.0 / (1.0 + tau_s / dt_s)


class OneEuroFilter:
    """One Euro filter over an array of any (fixed) shape, element by element.

    ``min_cutoff_hz`` (Hz) is the cutoff at rest, ``beta`` (1 / value unit, e.g. 1/m for
    metres) raises the cutoff by ``beta * |speed|`` Hz where speed is in value units per second,
    ``d_cutoff_hz`` (Hz) low-passes that speed. A NaN entry comes back NaN and resets that
    entry's state, so it restarts from its next finite value. Entries whose step ``dt <= 0``
    (a repeated or older stamp) come back raw and leave the state unchanged. The defaults are
    ``SmoothingConfig``'s for metres.
    """

    def __init__(
        self, min_cutoff_hz: float = 0.4, beta: float = 2.5, d_cutoff_hz: float = 1.0
    ) -> None:
        for name, v in (("min_cutoff_hz", min_cutoff_hz), ("d_cutoff_hz", d_cutoff_hz)):
            if not (math.isfinite(v) and v > 0):
                raise PrivposeInputError(f"OneEuroFilter {name} must be > 0 Hz, got {v}")
        if not (math.isfinite(beta) and beta >= 0):
            raise PrivposeInputError(f"OneEuroFilter beta must be >= 0, got {beta}")
        self.min_cutoff_hz = float(min_cutoff_hz)
        self.beta = float(beta)
        self.d_cutoff_hz = float(d_cutoff_hz)
        self._x: np.ndarray | None = None  # last raw value (NaN = no state)
        self._x_hat: np.ndarray | None = None  # last output
        self._dx_hat: np.ndarray | None = None  # low-passed speed, value units / s
        self._t_ns: np.ndarray | None = None  # stamp of each entry's last sample

    def reset(self) -> None:
        """Forget all state; the next call returns its input unchanged."""
        self._x = self._x_hat = self._dx_hat = self._t_ns = None

    def __call__(self, value: np.ndarray, stamp_ns: int) -> np.ndarray:
        """Filter ``value`` (any shape, same every call) sampled at ``stamp_ns`` (int ns)."""
        stamp = check_stamp_ns(stamp_ns)
        x = np.array(value, dtype=np.float64)
        if self._x is None:
            self._x = np.full(x.shape, np.nan)
            self._x_hat = np.full(x.shape, np.nan)
            self._dx_hat = np.zeros(x.shape)
            self._t_ns = np.zeros(x.shape, dtype=np.int64)
        elif x.shape != self._x.shape:
            raise PrivposeInputError(
                f"OneEuroFilter was fed shape {self._x.shape}, now {x.shape}; call reset() "
                f"or use one filter per signal"
            )
        finite = np.isfinite(x)
        fresh = finite & np.isnan(self._x)
        dt_s = (stamp - self._t_ns) * 1e-9
        step = finite & ~fresh & (dt_s > 0)
        if (finite & ~fresh & ~step).any():
            LOG.debug("OneEuroFilter: stamp %d not after the last one; returning raw", stamp)
        out = x.copy()
        if step.any():
            dt = dt_s[step]
            speed = (x[step] - self._x[step]) / dt
            a_d = _alpha(dt, self.d_cutoff_hz)
            dx_hat = a_d * speed + (1.0 - a_d) * self._dx_hat[step]
            a = _alpha(dt, self.min_cutoff_hz + self.beta * np.abs(dx_hat))
            out[step] = a * x[step] + (1.0 - a) * self._x_hat[step]
            self._dx_hat[step] = dx_hat
        self._dx_hat[fresh] = 0.0
        update = step | fresh
        self._x[update] = x[update]
        self._x_hat[update] = out[update]
        self._t_ns[update] = stamp
        self._x[~finite] = np.nan  # NaN resets the entry
        self._x_hat[~finite] = np.nan
        self._dx_hat[~finite] = 0.0
        return out


@dataclass
class _PersonFilters:
    cam_m: OneEuroFilter
    px: OneEuroFilter
    last_seen_ns: int


class PoseSmoother:
    """Smooths ``joints_cam_m`` (metres, camera optical frame) and ``joints_px`` per person id.

    Give it tracked persons (``PersonTracker.update`` output): state is keyed by
    ``person_id``, a new id starts fresh and is never blended with another, and ids not seen for
    ``forget_after_s`` are forgotten. Confidence, score and box pass through unchanged.
    """

    def __init__(self, config: SmoothingConfig = SmoothingConfig()) -> None:
        if not isinstance(config, SmoothingConfig):
            raise PrivposeInputError(
                f"config must be a SmoothingConfig, got {type(config).__name__}"
            )
        self.config = config
        self._persons: dict[int, _PersonFilters] = {}

    @property
    def known_ids(self) -> tuple[int, ...]:
        """Person ids that currently hold filter state."""
        return tuple(sorted(self._persons))

    def reset(self) -> None:
        """Forget every person's state (e.g. on a clock jump)."""
        self._persons.clear()

    def update(self, persons: Sequence[PersonPose], stamp_ns: int) -> tuple[PersonPose, ...]:
        """Smoothed copies of ``persons`` (same order) observed at ``stamp_ns`` (int ns)."""
        stamp = check_stamp_ns(stamp_ns)
        persons = tuple(persons)
        ids = []
        for p in persons:
            if not isinstance(p, PersonPose):
                raise PrivposeInputError(
                    f"persons must be PersonPose objects, got {type(p).__name__}"
                )
            ids.append(p.person_id)
        if len(set(ids)) != len(ids):
            raise PrivposeInputError(
                f"persons share a person_id ({ids}); give each a distinct id, e.g. run "
                f"PersonTracker.update first"
            )
        self._forget(stamp, keep=set(ids))
        out = []
        for p in persons:
            state = self._persons.get(p.person_id)
            if state is None:
                state = self._new_state(stamp)
                self._persons[p.person_id] = state
            cam = state.cam_m(p.joints_cam_m, stamp)
            px = None if p.joints_px is None else state.px(p.joints_px, stamp)
            state.last_seen_ns = max(state.last_seen_ns, stamp)
            out.append(replace(p, joints_cam_m=cam, joints_px=px))
        return tuple(out)

    def _new_state(self, stamp: int) -> _PersonFilters:
        c = self.config
        return _PersonFilters(
            cam_m=OneEuroFilter(c.min_cutoff_hz, c.beta, c.d_cutoff_hz),
            px=OneEuroFilter(c.min_cutoff_hz, c.beta_px, c.d_cutoff_hz),
            last_seen_ns=stamp,
        )

    def _forget(self, stamp: int, keep: set[int]) -> None:
        """Drop ids unseen for ``forget_after_s``, then the stalest ones beyond ``max_persons``."""
        limit_ns = self.config.forget_after_s * 1e9
        for pid in [k for k, s in self._persons.items() if stamp - s.last_seen_ns > limit_ns]:
            del self._persons[pid]
        incoming = len(keep - self._persons.keys())
        stale = sorted((s.last_seen_ns, k) for k, s in self._persons.items() if k not in keep)
        while stale and len(self._persons) + incoming > self.config.max_persons:
            del self._persons[stale.pop(0)[1]]
