"""Where the package's own files are: ``WEIGHTS_DIR``, the weights installed with the package
(``privpose_ros/weights``; setup.py lists which files are installed)."""

from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
