"""launch / launch_ros / ament_index stand-ins (not on PyPI) that record what pose.launch.py
builds, so its functions run without a ROS install."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


class Recorded:
    """Any launch action or substitution: keeps its constructor arguments."""

    def __init__(self, *args, **kwargs) -> None:
        self.args, self.kwargs = args, kwargs


class LaunchConfiguration(Recorded):
    def perform(self, context: dict[str, str]) -> str:
        """The stand-in launch context is the dict of performed argument values."""
        return context[self.args[0]]


class PackageNotFoundError(KeyError):
    """ament_index_python.packages.PackageNotFoundError."""


def stub_launch_api(
    monkeypatch: pytest.MonkeyPatch, prefixes: dict[str, str] | None = None
) -> list[dict]:
    """Install the stand-ins; returns the list that each Node's keyword arguments join (in the
    order they are made). ``prefixes``: the ament index's install prefix of each package (none
    by default: get_package_prefix raises PackageNotFoundError, as for a missing rviz2)."""
    nodes: list[dict] = []
    prefixes = dict(prefixes or {})

    def get_package_prefix(name: str) -> str:
        if name not in prefixes:
            raise PackageNotFoundError(f"package '{name}' not found")
        return prefixes[name]

    class Node(Recorded):
        def __init__(self, **kwargs) -> None:
            super().__init__(**kwargs)
            nodes.append(kwargs)

    modules = {
        "launch": {"LaunchDescription": Recorded},
        "launch.actions": {"DeclareLaunchArgument": Recorded, "OpaqueFunction": Recorded},
        "launch.conditions": {"IfCondition": Recorded},
        "launch.substitutions": {"LaunchConfiguration": LaunchConfiguration},
        "launch_ros": {},
        "launch_ros.actions": {"Node": Node},
        "ament_index_python": {},
        "ament_index_python.packages": {
            "get_package_share_directory": lambda name: str(ROOT),
            "get_package_prefix": get_package_prefix,
            "PackageNotFoundError": PackageNotFoundError,
        },
    }
    for name, attrs in modules.items():
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        monkeypatch.setitem(sys.modules, name, module)
    return nodes
