"""The dependency rule: imports run downwards only, with no exemption; the core never imports
ROS; only privpose_ros/ros/ and the apps floor above it (ROS graph harnesses) touch ROS."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "privpose_ros"

ROS_MODULES = {
    "rclpy",
    "message_filters",
    "cv_bridge",
    "tf2_ros",
    "tf2_msgs",
    "launch",
    "launch_ros",
    "ament_index_python",
    "rosidl_runtime_py",
    "image_geometry",
    "builtin_interfaces",
}
# which of our layers each layer may import (ARCHITECTURE.md: core <- model, refine, track,
# data <- train, runtime <- ros <- apps, cli)
LAYERS = ("core", "model", "refine", "track", "data", "train", "runtime", "ros", "apps")
ROS_LAYERS = {"ros", "apps"}
ALLOWED = {
    "core": {"core"},
    "model": {"core", "model"},
    "refine": {"core", "refine"},
    "data": {"core", "data", "model"},
    "train": {"core", "model", "refine", "track", "data", "train"},
    "track": {"core", "track"},
    "runtime": {"core", "model", "refine", "track", "runtime"},
    "ros": {"core", "model", "refine", "track", "data", "runtime", "ros"},
    "apps": set(LAYERS),
}
CORE_THIRD_PARTY = {"numpy"}


def _is_ros(top: str) -> bool:
    return top in ROS_MODULES or top.endswith(("_msgs", "_srvs"))


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _violations() -> list[str]:
    found = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        layer = rel.parts[0] if len(rel.parts) > 1 else None
        for name in _imports(path):
            parts = name.split(".")
            if _is_ros(parts[0]) and layer not in ROS_LAYERS:
                found.append(f"{rel}: imports ROS module {name}")
            if parts[0] == "privpose_ros" and len(parts) > 1 and layer in ALLOWED:
                target = parts[1]
                if target in ALLOWED and target not in ALLOWED[layer]:
                    found.append(f"{rel}: layer {layer} must not import {name}")
            if layer == "core" and parts[0] != "privpose_ros" and not _is_ros(parts[0]):
                std = parts[0] in sys.stdlib_module_names or parts[0] == "__future__"
                if not std and parts[0] not in CORE_THIRD_PARTY:
                    found.append(f"{rel}: core imports third-party {name} (numpy only)")
    return found


def test_layers_respect_the_dependency_rule() -> None:
    assert _violations() == []


def test_checker_catches_a_wrong_arrow(tmp_path, monkeypatch) -> None:
    fake = tmp_path / "privpose_ros"
    (fake / "core").mkdir(parents=True)
    (fake / "core" / "bad.py").write_text(
        "import rclpy\nimport torch\nfrom privpose_ros.ros import x\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "PKG", fake)
    found = _violations()
    assert len(found) == 3
    assert any("ROS module rclpy" in f for f in found)
    assert any("third-party torch" in f for f in found)
    assert any("must not import privpose_ros.ros" in f for f in found)
