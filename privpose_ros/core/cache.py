"""Where privpose keeps what it derives on a machine (engines, exported graphs, body pools)."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/privpose`` (``~/.cache/privpose`` when the variable is unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "privpose"
