"""The `forecast` commands that benchmark scripts run in a subprocess take every option they pass: a
benchmark that shells out to the CLI fails there, minutes in, when an option is renamed or removed."""
import ast
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


def shelled_out(path: Path) -> list[tuple[str, str, str]]:
    """(function, verb, option) for every `--option` a function of the script passes to a
    `[..., "-m", "forecast", VERB, ...]` command: in that list, or in a list of the same function that
    names no command (what `cmd += [...]` adds)."""
    found = []
    for fn in (n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.FunctionDef)):
        lists = [[e.value for e in n.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
                 for n in ast.walk(fn) if isinstance(n, ast.List)]
        commands = {i: items[items.index("forecast") + 1] for i, items in enumerate(lists)
                    if "forecast" in items and 0 < items.index("forecast") < len(items) - 1
                    and items[items.index("forecast") - 1] == "-m"}
        added = [item for i, items in enumerate(lists) if i not in commands for item in items]
        for i, verb in commands.items():
            found += [(fn.name, verb, item) for item in lists[i] + (added if len(commands) == 1 else [])
                      if item.startswith("--") and item != "--help"]
    return found


@cache
def help_text(verb: str) -> str:
    shown = subprocess.run([sys.executable, "-m", "forecast", verb, "--help"], capture_output=True, text=True,
                           timeout=120, env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"})
    assert shown.returncode == 0, shown.stderr[-500:]
    return shown.stdout


CALLS = [(path.name, *call) for path in sorted((ROOT / "benchmarks").glob("*.py")) for call in shelled_out(path)]


def test_the_scan_finds_the_benchmarks_that_shell_out():
    assert {name for name, *_ in CALLS} >= {"contention.py", "tune_scale.py"}
    assert ("contention.py", "forecast_fit", "fit", "--set") in CALLS  # the thread count, beside the command


@pytest.mark.parametrize("script,function,verb,option", CALLS)
def test_each_option_a_benchmark_passes_is_one_of_its_command(script, function, verb, option):
    assert option in help_text(verb), f"{script}:{function} passes {option} to forecast {verb}, which lacks it"
