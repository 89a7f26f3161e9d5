"""What every command shares: consoles, loading a command's data, choosing its output folder, and
what it prints (data summaries, metric tables beside the baselines, intervals and verdicts). Its
options live in `forecast.cli.options`. Nothing heavy is imported here, so `forecast --help` starts
without torch, Lightning or pandas.
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


def show(table) -> None:
    """Print a rich table whose cells are never cut to "0.88…" on a narrow terminal: a column of
    numbers keeps the width of its widest cell, one of text (and every header) of its longest word."""
    from rich.cells import cell_len

    for column in table.columns:
        cells = [str(cell) for cell in column.cells]
        words = (cells if column.justify == "right" else [w for cell in cells for w in cell.split()]) + \
            str(column.header).split()
        column.min_width = max([cell_len(word) for word in words] + [column.min_width or 0])
    needed = out.measure(table, options=out.options.update(max_width=10_000)).minimum  # wider than the terminal:
    out.print(table, width=max(needed, out.width), crop=False)  # rich may still draw it wider: nothing is cut


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
    """`forecast.loading.load`, its warnings and notes printed."""
    from forecast.loading import load as load_any

    frames, report = load_any(source, columns, static)
    print_told(report)
    return frames, report


def load_inputs(source: SourceConfig, data: DataConfig, target_given: bool = False):
    """`forecast.loading.load_inputs`, its warnings and notes printed."""
    from forecast.loading import load_inputs as load_for

    frames, report, data = load_for(source, data, target_given)
    print_told(report)
    return frames, report, data


def print_told(report) -> None:
    for warning in report.warnings:
        warn(warning)
    for note in report.notes:
        say(note)


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


def print_report(report) -> None:
    for line in report.lines():
        say(line)


def print_windows(prepared) -> None:
    sizes = prepared.split_sizes()
    counts = f"windows: train {sizes['train']} / validation {sizes['val']} / test {sizes['test']}"
    if len(prepared.parts) > 1:  # a panel: one calendar cut for every series
        import numpy as np

        say(f"{counts} over {len(prepared.parts)} series (validation from {prepared.cfg.val_start}, "
            f"test from {prepared.cfg.test_start}, the same dates for every series)")
        each = [part.split_sizes() for part in prepared.parts]
        held = " / ".join(str(sum(s[stage] > 0 for s in each)) for stage in ("train", "val", "test"))
        train = np.array([s["train"] for s in each])
        say(f"series with train / validation / test windows: {held}; training windows per series: min "
            f"{train.min()}, median {int(np.median(train))}, max {train.max()}")
    else:
        from forecast.dates import stamp

        (one,) = prepared.parts
        say(f"{counts}{f' of series {prepared.names[0]}' if prepared.dropped else ''} (test targets "
            f"{stamp(one.index[one.val_end])} to {stamp(one.index[-1])})")
    for name, why in prepared.dropped.items():  # a panel --drop-bad left with one series says so too
        warn(f"left out series {name}: {why}")
    if prepared.dropped and not prepared.cfg.cycle:
        say("series left out of training can still be forecast from their own history: predict "
            "--new-series (not with model.series_embedding)")
    say(level_line(prepared))


def level_line(prepared) -> str:
    """Where the validation and test levels lie against training's (`forecast.windows.span_levels`):
    every target's (or series') when there are few, else the one whose two levels differ most."""
    from forecast.windows import span_levels, widest_level

    levels = span_levels(prepared)
    shown = levels if len(levels) <= 3 else dict([widest_level(levels)])
    plain = len(levels) == 1 and len(prepared.parts) == 1
    parts = [f"{'' if plain else name + ': '}validation {val:+.2f}, test {test:+.2f}"
             for name, (val, test) in shown.items()]
    what = "series" if len(prepared.parts) > 1 else "targets"
    widest = f" ({len(levels)} {what}; the one whose spans differ most)" if len(levels) > 3 else ""
    return ("levels (each span's mean less the training mean, in training standard deviations): "
            f"{'; '.join(parts)}{widest}")


def fmt(value) -> str:
    return "n/a" if value is None or value != value else f"{value:.4g}"  # NaN != NaN


def print_metrics(summary: dict, title: str = "Test metrics (original units)") -> None:
    """The model beside every baseline (MAE, RMSE, MAPE, sMAPE, MASE, direction and its calls),
    the intervals beside the naive forecast's, and the verdict (see `forecast.comparison`)."""
    from rich.table import Table

    from forecast.metrics import BASELINES, STATISTICAL

    table = Table(title=title)
    table.add_column("forecast")
    for col in ("MAE", "RMSE", "MAPE %", "sMAPE %", "MASE", "dir. %", "calls"):
        table.add_column(col, justify="right")
    for name in ("model", *BASELINES, *STATISTICAL):
        m = summary.get(name)
        if m is None:
            continue
        label = "naive (last value)" if name == "naive" else name.replace("_", " ")
        calls = m.get("direction_calls")
        table.add_row(escape(label), *(fmt(m[k]) for k in ("mae", "rmse", "mape", "smape", "mase",
                                                             "direction")),
                      "0" if not calls else str(int(calls)))
    always = summary["always"]
    table.add_row("majority direction" if always["call"] == "majority" else f"always {always['call']}",
                  *(["-"] * 5), fmt(always["direction"]), "all")
    show(table)
    if summary.get("zero_actuals"):
        say(f"MAPE leaves out the {100 * summary['zero_actuals']:.3g}% of actual values that are 0 (it is undefined "
            "there): compare the forecasts by sMAPE or MASE.")
    naive_mase = summary["naive"]["mase"]
    if naive_mase == naive_mase and naive_mase > 2:
        say(f"MASE is each error in units of the training span's mean one-step change; an h-step forecast of a "
            f"trending or wandering series (prices) is far above 1 even for the naive forecast ({naive_mase:.3g} "
            "here): compare MASE between the forecasts above, not with 1.")
    if "series" in summary:
        print_series(summary["series"])
    print_intervals(summary)
    say(f"skill vs naive (1 - RMSE_model / RMSE_naive): {100 * summary['skill']:+.1f}%")
    for line in summary["verdict"]:
        say(line)


def print_series(rows: dict, limit: int = 30) -> None:
    """A panel's series, worst skill first (the first `limit`): the model beside naive on each."""
    from rich.table import Table

    table = Table(title=f"Per series ({len(rows)}; worst skill first" +
                  (f", first {limit}" if len(rows) > limit else "") + ")")
    for col in ("series", "RMSE", "naive RMSE", "MASE", "skill %", "DM p", "best baseline", "cover 80%"):
        table.add_column(col, justify="left" if col in ("series", "best baseline") else "right")
    for name, r in sorted(rows.items(), key=lambda item: item[1]["skill"])[:limit]:
        table.add_row(escape(name), fmt(r["rmse"]), fmt(r["naive_rmse"]), fmt(r["mase"]),
                      f"{100 * r['skill']:+.1f}", fmt(r["dm_p_naive"]), r["best_baseline"],
                      fmt(r.get("coverage80")))
    show(table)


def print_intervals(summary: dict) -> None:
    """Coverage, width and interval score of the model's intervals beside the naive forecast's."""
    from rich.table import Table

    table = Table(title="Prediction intervals (coverage %, mean width, interval score: lower is better)")
    table.add_column("interval")
    for col in ("model cover", "naive cover", "model width", "naive width", "model score", "naive score"):
        table.add_column(col, justify="right")
    for name, m in summary["intervals"].items():
        table.add_row(name, *(fmt(m[who][k]) for k in ("coverage", "width", "winkler")
                              for who in ("model", "naive")))
    show(table)
    p = summary["pinball"]
    say(f"pinball loss over quantiles {', '.join(f'{q:g}' for q in sorted(p['levels']))}: model "
        f"{fmt(p['model'])} vs naive {fmt(p['naive'])} (scaled: {fmt(p['model_scaled'])} vs "
        f"{fmt(p['naive_scaled'])})")


def print_paths(paths: dict) -> None:
    for what, path in paths.items():
        say(f"{what}: {path}")



def progress_lines():
    """Lines at a steady pace for a run whose output is not a terminal (see `forecast.forecaster.ProgressLines`)."""
    from forecast.forecaster import ProgressLines

    return ProgressLines(say)
