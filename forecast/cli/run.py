"""A model's life: `forecast data`, `fit`, `predict`, `update`, `export` and `serve`: parse, one library
call, print."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from forecast.cli.common import (check_new_file, check_writable, load, load_inputs, print_metrics, print_paths,
                                 print_report, print_windows, progress_lines, run_folder, say, warn)
from forecast.cli.options import CONFIG, DATA, MODEL, SET, SOURCE, TRAIN, settings, with_options
from forecast.config import DataConfig
from forecast.errors import ForecastError, MissingColumns

Force = Annotated[bool, typer.Option(help="Overwrite what is there.")]
Model = Annotated[Path, typer.Option(help="Model file written by `forecast fit`, or the folder it is in.")]
SHOWN = 20  # series summarised by `forecast data`; the file written holds them all
ROWS_SHOWN = 50  # forecast rows `predict --output` prints; the file holds them all


@with_options(SOURCE, DATA, SET, skip=("horizon", "seq_len", "split", "transform", "cycle", "baselines", "holidays"))
def data(output: Annotated[Optional[Path], typer.Option(help="Write the cleaned frame (.csv or .parquet).")] = None,
         force: Force = False, **options):
    """Load, validate and summarise a series (each series of a panel); fetching a ticker also warms the cache for --set source.offline=true."""
    if output is not None and output.suffix.lower() not in (".csv", ".parquet"):
        raise ForecastError(f"--output must end in .csv or .parquet, not {output.suffix or 'nothing'}")
    check_new_file(output, force)
    given = settings(options, ("source", "data"))
    source, data_cfg = given["source"], given["data"]
    columns = [*(data_cfg.inputs if data_cfg.targets != DataConfig().targets or options.get("target")
                 else data_cfg.features + data_cfg.known)] or None
    static = data_cfg.static
    frames, report = load(source, columns, static)
    print_report(report)
    print_steps(frames, report.calendar)
    if static:
        from forecast.preprocess import static_table

        table = static_table(frames, static)
        say("static: " + "; ".join(f"{c}: {table[c].nunique()} value(s) over {len(table)} series"
                                   for c in static))
    import pandas as pd

    from forecast.dates import stamp

    def summary(f):  # one row per column: its spread, and the series' rows and dates
        return f.drop(columns=list(static)).describe().T[["mean", "std", "min", "max"]].assign(
            rows=len(f), first=stamp(f.index[0]), last=stamp(f.index[-1]))

    shown = dict(list(frames.items())[:SHOWN])
    say(pd.concat({name: summary(f) for name, f in shown.items()}, names=["series"])
        .to_string(float_format=lambda v: f"{v:,.4f}"))
    if len(frames) > SHOWN:
        say(f"... and {len(frames) - SHOWN} more series")
    print_unusable(frames)
    if output is not None:
        from forecast.files import write_frame
        from forecast.panel import to_long

        # written in the shape it was read: a panel long (--series-col series), one series as its frame
        frame = to_long(frames) if source.is_panel else next(iter(frames.values()))
        write_frame(frame, output)
        say(f"wrote {output}")


def print_steps(frames: dict, calendar: str | None) -> None:
    """The step forecasts take: trading days of an exchange, business days, a pandas frequency or
    integer steps (each with its number of series when a panel's differ)."""
    import pandas as pd

    from forecast.dates import STEPS
    from forecast.panel import steps_of

    def words(step: str) -> str:
        if step in (STEPS, "B"):
            return {STEPS: "integer steps", "B": "business days (B)"}[step]
        try:
            offset = pd.tseries.frequencies.to_offset(step)
        except ValueError:  # an exchange calendar
            return f"trading days of {step}"
        kinds = {"Hour": "hourly", "Day": "daily", "Week": "weekly", "Month": "monthly", "Quarter": "quarterly",
                 "Year": "yearly", "Minute": "every minute", "Second": "every second"}
        unit = next((k for k in kinds if type(offset).__name__.startswith(k)), None)
        if unit is None:
            return step
        return f"{kinds[unit]} ({step})" if offset.n == 1 else f"every {offset.n} {unit.lower()}s ({step})"

    found = steps_of(frames, calendar)  # several: the report warned
    say("step: " + "; ".join(words(s) + (f" ({len(n)} series)" if len(found) > 1 else "") for s, n in found.items()))


def print_unusable(frames: dict) -> None:
    """Which series of a panel the default split cannot use, and what a user can do about them."""
    from forecast.config import DataConfig
    from forecast.panel import split_rule, unusable

    try:
        cut, why = unusable(frames, DataConfig())
    except ForecastError:  # too few dates to split at all: fit says so
        return
    if len(frames) == 1:  # one series: where its split falls, or why it cannot be split
        say(f"default split: validation from {cut.val_start}, test from {cut.test_start}")
        for reason in why.values():  # with the default --seq-len and --horizon
            warn(reason)
        return
    say(f"default split: {split_rule(frames, DataConfig())} (validation from {cut.val_start}, test from "
        f"{cut.test_start}); {len(frames) - len(why)} of {len(frames)} series can be split on it")
    if why:
        listed = "; ".join(f"{n}: {w}" for n, w in list(why.items())[:3]) + (" ..." if len(why) > 3 else "")
        warn(f"{len(why)} of {len(frames)} series cannot be split like the others (validation from "
             f"{cut.val_start}, test from {cut.test_start}, with the default --seq-len and --horizon): {listed}. "
             "fit --drop-bad leaves them out; predict --new-series and backtest --new-series forecast them "
             "from their own history")


@with_options(SOURCE, DATA, MODEL, TRAIN, CONFIG, SET, skip=("loss",))  # the loss: --set train.loss=mae
def fit(out_dir: Annotated[Optional[Path], typer.Option("--out", help="Output folder (default: runs/NAME-CELL-TIME).")] = None,
        force: Annotated[bool, typer.Option(help="Overwrite a model already in --out.")] = False,
        resume: Annotated[bool, typer.Option(help="Continue an interrupted fit in --out.")] = False,
        refit: Annotated[bool, typer.Option(help="After the test evaluation, retrain on every row and save that model.")] = True,
        quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
        **options):
    """Train a recurrent forecaster, report it beside the naive forecast, save model, config and plot."""
    given = settings(options, ("source", "data", "model", "train"))
    source, data_cfg, model_cfg, train_cfg = given["source"], given["data"], given["model"], given["train"]
    if resume and out_dir is None:
        raise ForecastError("--resume needs the --out folder of the interrupted fit")
    if out_dir is not None and (out_dir / "model.safetensors").exists() and not force:
        raise ForecastError(f"{out_dir} already holds a model; " + ("that fit finished, so there is nothing to "
                            "resume (--force fits afresh into it)" if resume else "choose another --out or pass --force"))
    folder = run_folder(out_dir, source.label, model_cfg.cell)
    check_writable(folder)
    frame, report, data_cfg = load_inputs(source, data_cfg, data_cfg.targets != DataConfig().targets)
    from forecast.train import fit as run_fit

    def announce(prepared):
        print_report(report)
        if data_cfg.time_features:
            say(f"time features: {', '.join(data_cfg.time_features)} (a sine and a cosine of each, from the dates)")
        if data_cfg.cycle:
            say(f"cycle: {data_cfg.cycle} steps, the training targets' mean at each phase, taken out "
                "before the network and added back to its forecast")
        print_windows(prepared)
        if model_cfg.normalize == "none" and data_cfg.transform != "log_return":
            from forecast.windows import span_levels, widest_level

            name, (val, test) = widest_level(span_levels(prepared))
            if abs(test - val) >= 1:
                warn(f"with model.normalize none the network forecasts levels, and the test span's level "
                     f"lies {abs(test - val):.2f} training standard deviations from validation's ({name}): "
                     "what validation chose may not carry to test")

    # no terminal (a log file, a pipe, a job scheduler): lines at a steady pace instead of a progress bar
    progress = [] if quiet or sys.stdout.isatty() else [progress_lines()]
    result = run_fit(frame, data_cfg, model_cfg, train_cfg, source=source, refit=refit, out_dir=folder,
                     report=report, quiet=quiet or not sys.stderr.isatty(), resume=resume,
                     announce=announce, callbacks=progress)
    chosen = (f"; validation loss {result.best_val:.4g} at the best epoch, {result.best_epoch + 1} (what to compare "
              "fits of other settings by)" if result.best_val == result.best_val else "")
    say(f"trained {result.epochs} epoch{'s' * (result.epochs != 1)} in {result.seconds:.1f} s{chosen}")
    if chosen and result.best_epoch + 1 == result.epochs == train_cfg.max_epochs:
        say(f"hint: validation loss was still falling at the last epoch: a higher --max-epochs than "
            f"{train_cfg.max_epochs} may help")
    print_metrics(result.metrics, "Test metrics (original units), model trained on "
                  f"{result.evaluated.info['trained_on']}")
    seasonal_hint(result, data_cfg)
    tested = result.evaluated.unbounded_intervals()  # the test table's; a refit calibrates on more windows
    for line in tested + [f"saved model: {line}" for line in result.model.unbounded_intervals() if line not in tested]:
        warn(line)
    if result.refit:
        afresh = "" if train_cfg.refit_epochs else f" for {result.best_epoch + 1} epoch(s)"  # else said in trained_on
        say(f"saved model: retrained on {result.model.info['trained_on']}{afresh} "
            "(the test metrics above are those of the evaluated model)")
    else:
        say("saved model: the evaluated model (--no-refit)")
    print_paths(result.write(folder))


def seasonal_hint(result, data) -> None:
    """When the seasonal naive beats the model, the series has a season the model missed: say how to
    hand it over, and to choose on validation, not on the test table just read."""
    m = result.metrics
    if m["best_baseline"] != "seasonal_naive" or not m["skill_vs_best"] < 0 or data.cycle \
            or data.transform == "log_return":
        return
    from forecast.metrics import season_of

    season = season_of(next(iter(result.parts.values())).index, data.cycle)
    say(f"hint: the seasonal naive repeats the last {season} steps and wins here; --cycle {season} takes that "
        "season out before the network. Keep whichever has the lower validation loss, "
        "not the better test table")


PREDICT_SOURCE = {k: v for k, v in SOURCE.items() if k not in ("start", "drop_bad")}  # the tail of the history is read


@with_options(PREDICT_SOURCE, SET)
def predict(model: Model,
            output: Annotated[Optional[Path], typer.Option(help=f"Write the forecast: CSV, or Parquet for .parquet (the screen then shows its first {ROWS_SHOWN} rows).")] = None,
            format: Annotated[str, typer.Option("--format", help="The written table's shape: forecast (a date index, a column per target and bound) or nixtla (unique_id, ds, MODEL, MODEL-lo-80, ...: what utilsforecast and Nixtla's plots read).")] = "forecast",
            series: Annotated[Optional[str], typer.Option(help="A panel model's series to forecast, e.g. IBM,GOOG (default all).")] = None,
            plot: Annotated[Optional[Path], typer.Option(help="Draw the recent history and the forecast with its intervals (the first target; a panel's first series forecast) into this PNG.")] = None,
            future: Annotated[Optional[Path], typer.Option(help="CSV or Parquet file of the known columns' values at the dates forecast (a model fitted with --known), its dates read as --csv's; a panel's with its series column.")] = None,
            new_series: Annotated[bool, typer.Option("--new-series", help="Also forecast the fresh data's series that a panel's model did not train on, each from its own history (and its --static columns).")] = False,
            calendar: Annotated[Optional[str], typer.Option(help="Dates forecast: an exchange (XNYS), B (business days) or a pandas frequency (default: the model's).", rich_help_panel="Data source")] = None,
            force: Force = False, **options):
    """Forecast the next steps from a saved model, with its saved history or fresher data."""
    check_new_file(output, force)
    check_new_file(plot, force)
    if format not in ("forecast", "nixtla"):
        raise ForecastError(f"--format is forecast or nixtla, not {format!r}")
    from forecast.serving import predict_fresh
    from forecast.trained import TrainedModel

    trained = TrainedModel.load(model)
    source = settings(options, ("source",), {"source": trained.source}, {"source": {"calendar": calendar}})["source"]
    fresh = any(options.get(k) is not None for k in ("ticker", "sample", "file"))
    if not fresh and not new_series and any(options.get(k) for k in ("series_col", "end")):  # they read fresh data
        given = [f"--{k.replace('_', '-')}" for k in ("series_col", "end") if options.get(k)]
        raise ForecastError(f"{', '.join(given)} read fresh data: give it with --ticker, --sample or --file, "
                            "or drop them to forecast from the history saved with the model")
    names = [n.strip() for n in series.split(",") if n.strip()] if series else None
    made = predict_fresh(trained, source if fresh else None, names, future, new_series, calendar, read_as=source)
    for line in made.notes:
        say(line)
    for line in made.warnings:
        warn(line)
    table = made.table
    from forecast.files import write_frame
    from forecast.outputs import nixtla

    one = made.model.series[0] if len(made.model.series) == 1 else source.label  # its name, not the file's
    shaped = nixtla(table, trained.model.cell.upper(), one).set_index("unique_id") \
        if format == "nixtla" else table  # printed and written in the shape asked for
    # with --output, a long table (a panel's) goes to the file; the screen shows its start
    say((shaped if output is None or len(shaped) <= ROWS_SHOWN else shaped.head(ROWS_SHOWN)).to_string())
    if output is not None:
        write_frame(shaped, output, "unique_id" if format == "nixtla" else None)
        say(f"wrote {output}" + (f" ({len(shaped):,} rows; the first {ROWS_SHOWN} above)" if len(shaped) > ROWS_SHOWN else ""))
    if plot is not None:
        from forecast.outputs import save_figure

        name = str(table["series"].iloc[0]) if "series" in table.columns else None
        drawn = made.history.get(name) if isinstance(made.history, dict) else made.history
        save_figure(made.model.plot(drawn, series=name, future=made.future), plot)
        say(f"plot: {plot}" + (f" (series {name}; --series picks another)" if name else ""))


UPDATE_SOURCE = {k: v for k, v in SOURCE.items() if k in ("ticker", "sample", "file", "series_col", "start", "end")}


@with_options(UPDATE_SOURCE)
def update(model: Model,
           out: Annotated[Path, typer.Option(help="Where the updated model file goes (the old one stays as it is).")],
           max_epochs: Annotated[int, typer.Option(help="Epochs over the newer rows' windows.")] = 5,
           learning_rate: Annotated[Optional[float], typer.Option(help="Step size (default: the model's).", show_default=False)] = None,
           force: Force = False, quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False, **options):
    """Keep training a saved model on newer rows (a panel's: a long file with --series-col, or several tickers): same settings and preprocessing, a new model file."""
    from forecast.trainer import update as run_update
    from forecast.trained import TrainedModel, lacking

    if not any(options.get(k) for k in ("ticker", "sample", "file")):
        raise ForecastError("give the newer rows with --ticker, --sample or --file")
    out_file = out / "model.safetensors" if out.suffix != ".safetensors" else out
    check_new_file(out_file, force)
    trained = TrainedModel.load(model)
    fresh = type(trained.source).from_dict({**trained.source.to_dict(), "start": None, "end": None})  # newer rows
    source = settings(options, ("source",), {"source": fresh})["source"]
    try:
        history, report = load(source, list(trained.data.inputs))
    except MissingColumns as e:
        raise lacking(e, str(source.path or source.label)) from None
    if not source.is_panel and len(trained.members) == 1:  # one series' newer rows: the model's one series
        history = next(iter(history.values()))
    updated, changed = run_update(trained, history, max_epochs, learning_rate, quiet or not sys.stderr.isatty())
    for name in changed["left_out"]:
        warn(f"left out series {name}: not in this model, which was fitted with --drop-bad")
    series = f" of {changed['series']} series" if len(trained.members) > 1 else ""
    say(f"trained {changed['epochs']} epoch(s) on {changed['trained_rows']} rows{series} ({changed['trained_from']} to "
        f"{changed['trained_to']}), {changed['new_rows']} of them after what the model had seen; training loss "
        f"{changed['loss_first_epoch']:.4g} -> {changed['loss_last_epoch']:.4g}")
    if changed["first_forecast_after"] is not None:  # (a model of known columns forecasts with their future)
        say(f"next {trained.data.targets[0]} forecast from these rows: {changed['first_forecast_before']:.6g} before, "
            f"{changed['first_forecast_after']:.6g} after; the intervals keep their calibration")
    say(f"saved {updated.save(out_file)}")


def export(model: Model,
           out_dir: Annotated[Path, typer.Option("--out", help="Folder for the graph (model.pt or model.onnx) and preprocessing.json.")],
           format: Annotated[str, typer.Option(help="torchscript (model.pt, for torch.jit.load) or onnx (model.onnx, for ONNX Runtime; pip install 'forecast[onnx]').")] = "torchscript",
           force: Annotated[bool, typer.Option(help="Overwrite an export already in --out.")] = False):
    """Export the network for serving, checked to forecast what the model file does, with its preprocessing as JSON."""
    import logging

    from forecast.serving import export as run_export
    from forecast.trained import TrainedModel

    # the ONNX exporter's notes on operators of packages not installed (torchvision): set after torch's
    # import, which configures its loggers
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)

    trained = TrainedModel.load(model)
    check_writable(out_dir)
    written = run_export(trained, out_dir, format, force)
    say(f"exported {format}: {written['model']} and {written['preprocessing']}; the graph's largest difference "
        f"from the model file on the check windows: {written['largest_gap']:.2g}")


def serve(model: Model,
          host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="Port to listen on (0: any free one).")] = 8000):
    """Answer forecasts over HTTP: GET /health, POST /predict with a JSON history (Ctrl-C stops)."""
    from forecast.serving import make_server
    from forecast.trained import TrainedModel

    trained = TrainedModel.load(model)
    try:
        server = make_server(trained, host, port)
    except OSError as e:
        raise ForecastError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    bound_host, bound_port = str(server.server_address[0]), server.server_address[1]
    say(f"serving {model} ({len(trained.members)} series, horizon {trained.data.horizon}) on "
        f"http://{bound_host}:{bound_port}: GET /health, POST /predict")
    import signal

    def stop(signum, frame):  # Ctrl-C or a service manager's SIGTERM, even where the shell ignored SIGINT
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    finally:
        server.server_close()
