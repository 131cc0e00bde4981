"""The `privpose` command: one sub-command per job, each implemented next to its layer.

A sub-command module defines ``add_arguments(parser)`` and ``run(args) -> int``; it is imported
only when chosen, so `privpose --help` stays fast and needs no torch. Errors a user can fix exit
non-zero with one readable line.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from privpose_ros import __version__
from privpose_ros.core.errors import MissingDependencyError

# name -> (module implementing it, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": (
        "privpose_ros.apps.synth_cmd",
        "generate synthetic RGB-D humans (dataset, preview, bench)",
    ),
    "train": (
        "privpose_ros.apps.train_cmd",
        "train the v2 model (depth teacher, RGB models) or refiners",
    ),
    "eval": ("privpose_ros.apps.eval_cmd", "evaluate weights on a dataset (MPJPE, mAP@10cm)"),
    "export": (
        "privpose_ros.apps.export_cmd",
        "export the deployable v2 model to ONNX",
    ),
    "bench": (
        "privpose_ros.apps.bench_cmd",
        "latency / memory of the v2 lifter or the pipeline",
    ),
    "infer": (
        "privpose_ros.apps.infer_cmd",
        "every person in one image (+ depth): 2D joints and metric 3D",
    ),
    "replay": ("privpose_ros.apps.replay_cmd", "publish synthetic, dataset or rosbag2 frames"),
    "demo": (
        "privpose_ros.apps.demo_cmd",
        "run replay + node + recorder end to end (the main job)",
    ),
}


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="privpose", description="Metric 3D human skeletons from RGB / RGB-D cameras."
    )
    parser.add_argument("--version", action="version", version=f"privpose {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _load(name: str):  # noqa: ANN202 - a module
    """The module of command ``name``; a module missing or failing to import raises."""
    return importlib.import_module(COMMANDS[name][0])


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _build_parser()
    args, rest = parser.parse_known_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s"
    )
    if args.command is None:
        parser.print_help()
        return 0
    module = _load(args.command)
    sub_parser = argparse.ArgumentParser(
        prog=f"privpose {args.command}", description=COMMANDS[args.command][1]
    )
    module.add_arguments(sub_parser)
    sub_args = sub_parser.parse_args(rest)
    try:
        return int(module.run(sub_args) or 0)
    except (ValueError, FileNotFoundError, MissingDependencyError, RuntimeError) as exc:
        print(f"privpose {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
