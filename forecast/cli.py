"""The `forecast` command line: each command parses options, calls one library function and prints.

Nothing heavy is imported at module level, so `forecast --help` starts without torch or Lightning.
A `ForecastError` is printed as one line on stderr with exit status 1, never as a traceback.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from forecast.errors import ForecastError

app = typer.Typer(help="Forecast time series with RNN, LSTM and GRU networks.", add_completion=False,
                  no_args_is_help=True, pretty_exceptions_enable=False)
console = Console(stderr=True, highlight=False)
out = Console(highlight=False)

# Options shared by every command that reads data.
Ticker = Annotated[Optional[str], typer.Option(help="Yahoo Finance ticker, e.g. AAPL (cached on disk).")]
Sample = Annotated[Optional[str], typer.Option(help="Bundled sample ticker: AAPL, MSFT, IBM or GOOG.")]
Csv = Annotated[Optional[Path], typer.Option(help="CSV file with a date column.")]
Parquet = Annotated[Optional[Path], typer.Option(help="Parquet file with a date column.")]
DateCol = Annotated[Optional[str], typer.Option(help="Date column of the file (detected if omitted).")]
Target = Annotated[Optional[list[str]], typer.Option(help="Column to forecast; repeat for several. Default Close.")]
Features = Annotated[Optional[list[str]], typer.Option(help="Extra input column (covariate); repeatable.")]
Start = Annotated[Optional[str], typer.Option(help="First date to use, e.g. 2015-01-01.")]
End = Annotated[Optional[str], typer.Option(help="Use dates before this one.")]
Interval = Annotated[str, typer.Option(help="Yahoo interval: 1d, 1wk, 1mo or 1h.")]
CacheDir = Annotated[Optional[Path], typer.Option(help="Cache folder [env FORECAST_CACHE_DIR].")]
Offline = Annotated[bool, typer.Option(help="Read the cache only; never download.")]
MaxGap = Annotated[int, typer.Option(help="Forward-fill runs of up to this many missing values.")]


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


def _load(ticker, sample, csv, parquet, date_col, targets, features, start, end, interval,
          cache_dir, offline, max_gap):
    """Load and validate the chosen source; print what was used, loudly when it is a fallback."""
    from forecast.loading import load_source

    if csv is not None and parquet is not None:
        raise ForecastError("give --csv or --parquet, not both")
    columns = None
    if targets:
        columns = list(targets) + list(features or [])
    elif ticker or csv is None and parquet is None:
        columns = ["Close"] + list(features or [])
    frame, report = load_source(ticker=ticker, sample=sample, path=csv or parquet, columns=columns,
                                date_col=date_col, start=start, end=end, interval=interval,
                                cache_dir=cache_dir, offline=offline, max_gap=max_gap)
    for warning in report.warnings:
        console.print(f"[bold yellow]WARNING: {warning}[/]")
    return frame, report


def _check_new(path: Path | None, force: bool) -> None:
    if path is not None and path.exists() and not force:
        raise ForecastError(f"{path} exists; choose another name or pass --force to overwrite it")


@app.command()
def data(ticker: Ticker = None, sample: Sample = None, csv: Csv = None, parquet: Parquet = None,
         date_col: DateCol = None, target: Target = None, features: Features = None,
         start: Start = None, end: End = None, interval: Interval = "1d", cache_dir: CacheDir = None,
         offline: Offline = False, max_gap: MaxGap = 5,
         output: Annotated[Optional[Path], typer.Option(help="Write the cleaned frame (.csv or .parquet).")] = None,
         force: Annotated[bool, typer.Option(help="Overwrite --output if it exists.")] = False):
    """Load, validate and summarise a series; fetching a ticker also warms the cache for --offline."""
    if output is not None and output.suffix.lower() not in (".csv", ".parquet"):
        raise ForecastError(f"--output must end in .csv or .parquet, not {output.suffix or 'nothing'}")
    _check_new(output, force)
    if target is None and (csv or parquet):
        target_cols = None  # summarise every numeric column of a file
    else:
        target_cols = target
    frame, report = _load(ticker, sample, csv, parquet, date_col, target_cols, features, start, end,
                          interval, cache_dir, offline, max_gap)
    for line in report.lines():
        out.print(line)
    out.print(frame.describe().T[["mean", "std", "min", "max"]].to_string())
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        if output.suffix.lower() == ".csv":
            frame.to_csv(output, index_label="Date")
        else:
            frame.to_parquet(output)
        out.print(f"wrote {output}")


def main() -> None:
    try:
        app()
    except ForecastError as e:
        console.print(f"[bold red]error:[/] {e}", soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
