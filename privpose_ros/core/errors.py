"""Errors raised at privpose's public boundaries. Each message says what to fix."""

from __future__ import annotations


class PrivposeInputError(ValueError):
    """Input (an image, intrinsics, a skeleton) is malformed; the message says how to fix it."""


class MissingDependencyError(ImportError):
    """An optional heavy dependency (onnxruntime, tensorrt, rclpy) is not installed."""

    def __init__(self, module: str, hint: str) -> None:
        super().__init__(f"'{module}' is not importable: {hint}")
        self.module = module
        self.hint = hint


def optional_import(module: str, hint: str):  # noqa: ANN201 - returns a module
    """Import ``module`` lazily; raise MissingDependencyError with an install hint if absent."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(module, hint) from exc
