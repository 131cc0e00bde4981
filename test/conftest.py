"""Test session setup: an isolated ROS 2 domain per pytest run (parallel runs must not talk),
and a private cache directory (tests never write to the user's ~/.cache/privpose)."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

# Before anything imports rclpy: a private DDS domain, discovery on this machine only.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 100)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


@pytest.fixture(scope="session", autouse=True)
def isolated_cache_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``XDG_CACHE_HOME`` (all that ``default_cache_dir()`` reads before ``HOME``) points at a
    session temporary directory, so ``engine_cache_dir=None`` exports and engines land there;
    child processes (ROS launch tests) inherit it."""
    cache_home = tmp_path_factory.mktemp("xdg_cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(cache_home))
        yield cache_home
