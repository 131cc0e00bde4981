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


def stub_launch_api(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Install the stand-ins; returns the list that each Node's keyword arguments join."""
    nodes: list[dict] = []

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
        "ament_index_python.packages": {"get_package_share_directory": lambda name: str(ROOT)},
    }
    for name, attrs in modules.items():
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        monkeypatch.setitem(sys.modules, name, module)
    return nodes
