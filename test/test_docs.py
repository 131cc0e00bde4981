"""The manual (README.md, docs/*.md) stays inside the repository and names real commands.

- No reference to files outside the repository: no ``../shared`` (a sibling folder of the
  checkout) and no absolute machine paths (``/work/``, ``/tmp/``, ``/home/``, ``/root/``).
- Every ``privpose <command>`` in the README's command list is a command of the CLI's table
  (``privpose_ros.cli.COMMANDS``), and every command of the table is in that list.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from privpose_ros.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
OUTSIDE = (
    re.compile(r"\.\./shared"),
    re.compile(r"(?<![\w.$~-])/(?:work|tmp|home|root|Users|mnt)/"),
)
# the README's command list: an indented block whose lines start with `privpose <command>`
COMMAND_LINE = re.compile(r"^ {4}privpose ([a-z][a-z0-9_-]*)\s{2,}#")


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_reference_outside_the_repository(path: Path) -> None:
    bad = [
        f"{path.name}:{number}: {line.strip()}"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if any(pattern.search(line) for pattern in OUTSIDE)
    ]
    assert not bad, "references outside the repository:\n" + "\n".join(bad)


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [m.group(1) for line in text.splitlines() if (m := COMMAND_LINE.match(line))]


def test_readme_command_list_is_the_cli_table() -> None:
    listed = readme_commands()
    assert listed, "README.md has no command list (lines '    privpose <command>   # ...')"
    unknown = sorted(set(listed) - set(COMMANDS))
    assert not unknown, f"README lists commands the CLI does not have: {unknown}"
    missing = sorted(set(COMMANDS) - set(listed))
    assert not missing, f"CLI commands missing from the README's list: {missing}"
    assert len(listed) == len(set(listed)), f"a command is listed twice: {listed}"


def test_outside_patterns_catch_what_they_should() -> None:
    def flagged(line: str) -> bool:
        return any(p.search(line) for p in OUTSIDE)

    assert flagged("privpose eval --real ../shared/data")
    assert flagged("python3 tools/import_pretrained.py --work /tmp/x")
    assert flagged("see /work/main/README.md")
    assert not flagged("privpose eval --real DIR --json")
    assert not flagged("export FASTDDS_DEFAULT_PROFILES_FILE=$PREFIX/share/privpose/config/x.xml")
    assert not flagged("/camera/camera/color/image_raw and /proc/<pid>/maps")
