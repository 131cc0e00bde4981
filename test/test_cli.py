from __future__ import annotations

import subprocess
import sys

import pytest

from privpose_ros import __version__, cli


def test_version_and_help(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"privpose {__version__}"
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out


def test_every_command_is_implemented_or_an_honest_stub(capsys) -> None:
    for name, (module, _) in cli.COMMANDS.items():
        loaded = cli._load(name)
        if loaded is None:
            assert cli.main([name]) == cli.NOT_IMPLEMENTED_EXIT
            assert "not implemented yet" in capsys.readouterr().err
        else:
            assert callable(loaded.add_arguments) and callable(loaded.run), module


def test_console_script_runs_as_a_module() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "privpose_ros.cli", "--version"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and __version__ in proc.stdout
