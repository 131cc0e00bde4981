"""config/privpose.yaml, generated from the parameter declaration (privpose_ros/ros/params.py).

python -m privpose_ros.ros.params_yaml            # (re)write config/privpose.yaml
python -m privpose_ros.ros.params_yaml --check    # exit 1 when it differs from the declaration
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from privpose_ros.ros.params import PARAMS, ParamSpec

PARAMS_YAML = Path(__file__).resolve().parents[2] / "config" / "privpose.yaml"
HEADER = """\
# pose_node parameters, generated from their declaration in privpose_ros/ros/params.py by
# `python -m privpose_ros.ros.params_yaml` (edit the declaration, not this file; a test compares).
# `ros2 launch privpose pose.launch.py` loads it; override any of them with
# `--ros-args -p name:=value` or the launch arguments.
/**:
  ros__parameters:
"""


def yaml_value(value: bool | int | float | str | tuple[str, ...]) -> str:
    """``value`` as ROS parameter YAML of the same type (a bool is not an int, 1.0 not 1)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = repr(value)  # 1e-05 would read as a string: 1.0e-05
        return text if "." in text else text.replace("e", ".0e")
    if isinstance(value, tuple):
        return json.dumps(list(value))
    return json.dumps(value)  # int, or a str in double quotes (JSON escapes are YAML's)


def _entry(spec: ParamSpec) -> str:
    comment = spec.help_text
    if spec.min_value is not None and spec.max_value is not None:
        comment += f" (range {spec.min_value} to {spec.max_value})"
    line = f"{spec.name}: {yaml_value(spec.default)}"
    if spec.default == ():  # an empty list has no type in ROS parameter YAML: left unset
        line = f"# {spec.name}: []  (unset = empty; set it as a list of names)"
    return f"    # {comment}\n    {line}\n"


def render_params_yaml() -> str:
    """The text of config/privpose.yaml: every declared parameter at its default, described."""
    return HEADER + "".join(_entry(spec) for spec in PARAMS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=PARAMS_YAML, help="the YAML to write")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 on a change")
    args = parser.parse_args(argv)
    text = render_params_yaml()
    if args.check:
        current = args.output.read_text() if args.output.is_file() else ""
        if current != text:
            print(
                f"{args.output} differs from the parameter declaration; "
                "run python -m privpose_ros.ros.params_yaml",
                file=sys.stderr,
            )
            return 1
        return 0
    args.output.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
