"""Test session setup: an isolated ROS 2 domain per pytest run (parallel runs must not talk),
and a private home: no test reads or writes the user's home directory.

The private home is set when this file is imported, before any test module imports rclpy or
anything that caches on first use, and child processes (the node, the demo, launch tests)
inherit it: ``HOME`` itself (``Path.home()``, ``~/.ros``), the XDG base directories
(``default_cache_dir()``, platformdirs: body-models, Hugging Face, torch hub, Mesa), and ROS 2's
own ``ROS_HOME`` / ``ROS_LOG_DIR`` (rcl writes a log file per process there, ``~/.ros/log`` by
default). The variables are overwritten, not defaulted: a user's own ``XDG_CACHE_HOME`` or
``ROS_LOG_DIR`` points into their home as well.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from pathlib import Path

import pytest

# Before anything imports rclpy: a private DDS domain, discovery on this machine only.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 100)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

# once per process (``from conftest import`` in a test module must not make a second one)
_OWNER = "PRIVPOSE_TEST_HOME" not in os.environ
if _OWNER:
    os.environ["PRIVPOSE_TEST_HOME"] = tempfile.mkdtemp(prefix="privpose-test-home-")
PRIVATE_HOME = Path(os.environ["PRIVPOSE_TEST_HOME"])
PRIVATE_DIRS = {
    "HOME": PRIVATE_HOME,
    "XDG_CACHE_HOME": PRIVATE_HOME / ".cache",
    "XDG_CONFIG_HOME": PRIVATE_HOME / ".config",
    "XDG_DATA_HOME": PRIVATE_HOME / ".local" / "share",
    "XDG_STATE_HOME": PRIVATE_HOME / ".local" / "state",
    "ROS_HOME": PRIVATE_HOME / ".ros",
    "ROS_LOG_DIR": PRIVATE_HOME / ".ros" / "log",
    "TORCH_HOME": PRIVATE_HOME / ".cache" / "torch",
    "MPLCONFIGDIR": PRIVATE_HOME / ".config" / "matplotlib",
}
for _name, _path in PRIVATE_DIRS.items():
    _path.mkdir(parents=True, exist_ok=True)
    os.environ[_name] = str(_path)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _OWNER:
        shutil.rmtree(PRIVATE_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def isolated_cache_home() -> Path:
    """``XDG_CACHE_HOME`` of the session (all that ``default_cache_dir()`` reads before
    ``HOME``): ``engine_cache_dir=None`` exports and engines land there."""
    assert os.environ["XDG_CACHE_HOME"] == str(PRIVATE_DIRS["XDG_CACHE_HOME"])
    return PRIVATE_DIRS["XDG_CACHE_HOME"]
