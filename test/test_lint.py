"""House rule 9: ruff clean (config in ruff.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_clean() -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff not installed (make setup installs it)")
    paths = [p for p in ("privpose_ros", "test", "tools", "launch") if (ROOT / p).exists()]
    proc = subprocess.run(
        [ruff, "check", "--output-format", "concise", *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
