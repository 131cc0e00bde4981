"""Backends that only have a name, and factories that record calls and fail on demand: for the
backend-selection tests (imported by them; not a test module)."""

from __future__ import annotations

import numpy as np

from privpose_ros.runtime.backend import BACKEND_ORDER, Backend, ModelOutputs


class FakeBackend(Backend):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__((32, 48), "cpu", "fp32")

    def _infer(self, rgb_nchw: np.ndarray, k: np.ndarray) -> ModelOutputs:
        raise AssertionError("not run in these tests")


def backend_factories(calls: list[str], failures: dict[str, BaseException]) -> dict:
    """{name: factory} for every backend; each call is appended to ``calls``; a name in
    ``failures`` raises that exception."""

    def make(name: str):
        def factory() -> Backend:
            calls.append(name)
            if name in failures:
                raise failures[name]
            return FakeBackend(name)

        return factory

    return {name: make(name) for name in BACKEND_ORDER}
