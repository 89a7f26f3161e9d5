"""The `forecast` command line: each command parses options, calls one library function and prints.

The commands live in `run.py` (data, fit, predict, update, export, serve) and `selection.py`
(backtest, tune); their options in `options.py`; what they share (loading, folders, printing) in
`common.py`. This module builds the app and holds the one error boundary: a `ForecastError` or an
operating-system error (disk full, no permission) is printed as one escaped line on stderr with exit
status 1, a usage error (an unknown option, a value of the wrong type) the same way with status 2;
Ctrl-C exits with 130. Nothing heavy is imported at module level, so `forecast --help`
starts without torch or Lightning.
"""
from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.markup import escape

from forecast.cli import run as _run
from forecast.cli import selection as _selection
from forecast.cli.common import MADE, console, out, remove_unused
from forecast.errors import ForecastError, TrainingInterrupted

app = typer.Typer(help="Forecast time series with RNN, LSTM and GRU networks.", add_completion=False,
                  no_args_is_help=True, pretty_exceptions_enable=False)


def _version(value: bool) -> None:
    if value:
        from forecast import __version__

        out.print(f"forecast {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.")] = False):
    """Forecast time series with RNN, LSTM and GRU networks.

    Start with `forecast fit` (bundled AAPL sample); `forecast COMMAND --help` for each command.
    """


for command in (_run.data, _run.fit, _run.predict, _run.update, _selection.backtest, _selection.tune, _run.export,
                _run.serve):
    app.command()(command)


def _quiet_libraries() -> None:
    """The CLI owns the screen: library banners, tips and experimental notes stay off it."""
    import logging
    import warnings

    for name in ("lightning.pytorch", "lightning.fabric", "lightning", "pytorch_lightning", "optuna",
                 "torch.multiprocessing"):  # "terminating process ..." when a worker died: fit says so
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning")
    warnings.filterwarnings("ignore", module="optuna")
    warnings.filterwarnings("ignore", message=".*(LeafSpec|log_every_n_steps|num_workers).*")


def fail(message: str, code: int = 1) -> None:
    """One line, whatever the message holds (a parser's error may span several); the empty
    folders the command made go."""
    remove_unused()
    console.print(f"[bold red]error:[/] {escape(' '.join(str(message).split()))}", soft_wrap=True)
    sys.exit(code)


# click's exception types, from typer's public BadParameter: recent typers carry their own copy of click
_CLICK: dict[str, Any] = {c.__name__: c for c in typer.BadParameter.__mro__ if issubclass(c, Exception)}
_HELP: Any = getattr(sys.modules[_CLICK["UsageError"].__module__], "NoArgsIsHelpError", ())


def main() -> None:
    _quiet_libraries()
    MADE.clear()
    try:
        code = app(prog_name="forecast", standalone_mode=False)  # click's errors come here, printed as ours are
        if code == 130:  # Ctrl-C, which click turns into an exit status
            fail("interrupted", 130)
        sys.exit(code if isinstance(code, int) else 0)  # an exit status; a command returns None
    except _HELP as e:  # `forecast` alone: the help, as click shows it
        e.show()
        sys.exit(e.exit_code)
    except _CLICK["UsageError"] as e:  # an unknown option, a value of the wrong type: one line, exit 2
        where = f" (see '{e.ctx.command_path} --help')" if e.ctx else ""
        fail(e.format_message().rstrip(".") + where, 2)
    except _CLICK["ClickException"] as e:
        fail(e.format_message(), e.exit_code)
    except typer.Abort:
        fail("aborted")
    except TrainingInterrupted as e:
        fail(str(e), 130)
    except ForecastError as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except OSError as e:  # disk full, read-only folder, permission denied
        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        fail(f"{e.strerror or e}{where}")


def __getattr__(name: str):
    """`forecast.cli.click_app`: the app as a plain click command, which the docs' reference reads
    (mkdocs-click); built on demand so that `--help` does not pay for it."""
    if name == "click_app":
        return typer.main.get_command(app)
    raise AttributeError(f"module 'forecast.cli' has no attribute {name!r}")
