"""The `privpose` command table: every sub-command loads and parses, a missing one fails loudly."""

from __future__ import annotations

import subprocess
import sys

import pytest

from privpose_ros import __version__, cli

# The shipped sub-commands and the module of each (README): a command dropped from
# the table, pointed at another module, or whose module is gone fails here.
EXPECTED = {
    "synth": "privpose_ros.apps.synth_cmd",
    "train": "privpose_ros.apps.train_cmd",
    "eval": "privpose_ros.apps.eval_cmd",
    "export": "privpose_ros.apps.export_cmd",
    "bench": "privpose_ros.apps.bench_cmd",
    "infer": "privpose_ros.apps.infer_cmd",
    "replay": "privpose_ros.apps.replay_cmd",
    "demo": "privpose_ros.apps.demo_cmd",
}


def test_version_and_help(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"privpose {__version__}"
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    for name, (_, help_text) in cli.COMMANDS.items():
        assert name in out and help_text in out


def test_the_command_table_is_the_shipped_one() -> None:
    assert {name: module for name, (module, _) in cli.COMMANDS.items()} == EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_command_module_imports_and_parses_its_help(name: str, capsys) -> None:
    module = cli._load(name)
    assert module.__name__ == EXPECTED[name]
    assert callable(module.add_arguments) and callable(module.run)
    with pytest.raises(SystemExit) as exc:  # builds the sub-command's parser
        cli.main([name, "--help"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: privpose {name} ")


def test_a_missing_or_broken_command_module_is_a_real_import_error(tmp_path, monkeypatch):
    broken = tmp_path / "privpose_broken_cmd.py"
    broken.write_text("import privpose_no_such_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli.COMMANDS, "gone", ("privpose_no_such_cmd", "a module not written"))
    monkeypatch.setitem(cli.COMMANDS, "broken", ("privpose_broken_cmd", "imports what is absent"))
    with pytest.raises(ModuleNotFoundError) as gone:  # never an exit code of a "stub"
        cli.main(["gone"])
    assert gone.value.name == "privpose_no_such_cmd"
    with pytest.raises(ModuleNotFoundError) as broken_import:
        cli.main(["broken"])
    assert broken_import.value.name == "privpose_no_such_dependency"
    assert not hasattr(cli, "NOT_IMPLEMENTED_EXIT")


def test_console_script_runs_as_a_module_and_its_help_needs_no_torch() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "privpose_ros.cli", "--version"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and __version__ in proc.stdout
    probe = "import sys; from privpose_ros import cli; cli.main([]); print('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "False"
