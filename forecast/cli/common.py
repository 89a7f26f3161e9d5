"""What every command shares: consoles, loading a command's data and choosing its output folder (its
options: `forecast.cli.options`; the tables it prints: `forecast.cli.printing`). Nothing heavy is
imported here, so `forecast --help` starts without torch, Lightning or pandas.
"""
from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from forecast.config import DataConfig, SourceConfig
from forecast.errors import ForecastError


class _Stdout:
    """Whatever `sys.stdout` is now, except that a reader who went away (`forecast fit | head`) stops
    the printing, not the work: the rest goes to the null device and the model is still saved."""

    gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return sys.stdout.write(text)
            except BrokenPipeError:
                self._away()
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                sys.stdout.flush()
            except BrokenPipeError:
                self._away()

    def _away(self) -> None:
        import os

        self.gone = True
        try:  # the interpreter flushes stdout at exit too: point it at the null device (Python's advice)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass

    def __getattr__(self, name):  # isatty, fileno, encoding: the real stdout's
        return getattr(sys.stdout, name)


console = Console(stderr=True, highlight=False)
out = Console(file=_Stdout(), highlight=False)  # type: ignore[arg-type]  # a file-like stdout


def say(text: str, style: str | None = None) -> None:
    """Print text as it is (escaped: brackets in file names and messages are not markup)."""
    out.print(f"[{style}]{escape(text)}[/]" if style else escape(text), soft_wrap=True)


def warn(text: str) -> None:
    console.print(f"[bold yellow]WARNING:[/] {escape(text)}", soft_wrap=True)


def check_new_file(path: Path | None, force: bool) -> None:
    """Refuse to overwrite, and fail before any work when the folder cannot be written."""
    if path is None:
        return
    if path.exists() and not force:
        raise ForecastError(f"{path} exists; choose another name or pass --force to overwrite it")
    check_writable(path.parent)


# Folders this command made: a command that fails removes those still empty (see `remove_unused`)
MADE: list[Path] = []


def _made(folder: Path) -> None:
    """Note `folder` and each parent about to be made (outermost first)."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    MADE.extend(reversed(missing))


def remove_unused() -> None:
    """Remove the folders this command made that are still empty, innermost first (a failed run
    leaves no empty run folder behind; one holding a checkpoint to resume from stays)."""
    for folder in reversed(MADE):
        try:
            folder.rmdir()
        except OSError:  # not empty, or gone
            pass
    MADE.clear()


def check_writable(folder: Path) -> None:
    """Make `folder` (and its parents) or fail with one line, before loading data or training."""
    import os
    import tempfile

    if folder.exists() and not folder.is_dir():
        raise ForecastError(f"cannot write to {folder}: it is a file, not a folder")
    try:
        _made(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".forecast-write-test-"):
            pass
    except OSError as e:
        raise ForecastError(f"cannot write to {folder}: {e.strerror or e}") from None
    if not os.access(folder, os.W_OK):
        raise ForecastError(f"cannot write to {folder}: permission denied")
    from forecast.files import remove_stale_temporaries

    removed, size = remove_stale_temporaries(folder)
    if removed:
        warn(f"removed {removed} temporary file(s) ({size / 1e6:.1f} MB) that an interrupted write left in {folder}")


def load(source: SourceConfig, columns=None, static=()):
    """Load and validate the source as a panel (a dict of frames by series); print its warnings."""
    from forecast.loading import load as load_any

    frames, report = load_any(source, columns, static)
    for warning in report.warnings:
        warn(warning)
    return frames, report


def load_inputs(source: SourceConfig, data: DataConfig, target_given: bool = False):
    """`load` of the columns `data` reads, and `data`. A file read without --target that lacks the
    default target (Close) forecasts its one numeric column besides the features, and says so. A wide
    file's target columns are its series, each forecasting its own values (`WIDE_VALUE`)."""
    from forecast.errors import MissingColumns

    if source.wide:
        from forecast.panel import WIDE_VALUE

        if data.features or data.known or data.static:
            raise ForecastError("source.wide makes each --target column a series; it takes no --features, "
                                "--known or --static (a long file with --series-col does)")
        # without --target every numeric column is a series, as `forecast data --set source.wide=true` reads it
        return (*load(source, list(data.targets) if target_given else None), data.override(targets=(WIDE_VALUE,)))

    try:
        return (*load(source, list(data.inputs), data.static), data)
    except MissingColumns as e:
        if target_given or source.path is None or data.targets != DataConfig().targets \
                or data.targets[0] not in e.missing:
            raise
        numeric = [c for c in e.numeric if c not in data.features + data.known]
        others = [c for c in e.available if c not in data.features + data.known]
        kind = "numeric column" if numeric else "column"
        if not numeric and len(others) == 1:  # one column, unreadable: say which value is not a number
            numeric = others
        if len(numeric) != 1:
            raise ForecastError(f"{source.path}: which column to forecast? Name it with --target (numeric "
                                f"columns: {', '.join(map(str, numeric)) or 'none'})") from None
    data = data.override(targets=(numeric[0],))
    say(f"target: {numeric[0]}, the file's only {kind}{' besides the features' if data.features else ''} "
        "(--target picks another)")
    return (*load(source, list(data.inputs), data.static), data)


def run_folder(out_dir: Path | None, label: str, kind: str) -> Path:
    """`--out`, or a new folder `runs/LABEL-KIND-TIMESTAMP[-N]` that no other run is using."""
    import time

    if out_dir is not None:
        return out_dir
    stem = Path("runs") / f"{label}-{kind}-{time.strftime('%Y%m%d-%H%M%S')}"
    folder, n = stem, 1
    while True:
        try:
            _made(folder)
            folder.mkdir(parents=True)  # atomic: two commands starting together get two folders
            return folder
        except FileExistsError:
            n += 1
            folder = stem.with_name(f"{stem.name}-{n}")
