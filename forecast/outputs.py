"""Files and figures a run leaves behind, written by library functions (the CLI only prints where
they went). Every file is written atomically: a temporary file in the same folder, then a rename.

Figures are `matplotlib.figure.Figure` objects: no pyplot and no backend switch, so a Figure draws in a
notebook (it has `_repr_png_`) and saves to PNG without touching the user's matplotlib state. The
model's line is drawn last and on top, so no baseline hides it.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.dates import is_steps, plain, to_steps
from forecast.files import write_atomically, write_csv, write_json, write_table
from forecast.sources import WIDE_VALUE
from forecast.windows import span_levels

NIXTLA_NAMES = {"naive": "Naive", "seasonal_naive": "SeasonalNaive", "drift": "RandomWalkWithDrift",
                "moving_average": "WindowAverage", "ets": "ETS", "theta": "Theta", "arima": "ARIMA"}


def nixtla(table: pd.DataFrame, model: str, label: str = "series") -> pd.DataFrame:
    """A forecast table in Nixtla's long shape, which `utilsforecast.evaluate` and Nixtla's plotting
    read unchanged: `unique_id, ds[, cutoff, y]`, the model's column named `model` (e.g. LSTM) with
    `model-lo-80` / `model-hi-80` for each interval, and each baseline under statsforecast's name
    (Naive, SeasonalNaive, RandomWalkWithDrift, WindowAverage; ETS, Theta, ARIMA).

    `table`: what `TrainedModel.predict` gives (indexed by date; one column per target and its
    `_lowerPCT` / `_upperPCT` bounds, and `series` for a panel) or an evaluation's `table()` (one row
    per forecast, target and step). `unique_id` is the series (`label` for one series), joined
    with the target as SERIES/TARGET when there are several targets."""
    if "target_date" in table.columns:  # an evaluation: already long
        ids = table["series"].astype(str) if "series" in table.columns else pd.Series(label, index=table.index)
        if table["target"].nunique() > 1:
            ids = ids + "/" + table["target"].astype(str)
        out = pd.DataFrame({"unique_id": ids.to_numpy(), "ds": table["target_date"].to_numpy(),
                            "cutoff": table["cutoff"].to_numpy(), "y": table["actual"].to_numpy()})
        for column in table.columns:
            name, _, bound = column.partition("_lower") if "_lower" in column else column.partition("_upper")
            side = "lo" if "_lower" in column else "hi"
            if column in NIXTLA_NAMES or column == "model":
                out[NIXTLA_NAMES.get(column, model)] = table[column].to_numpy()
            elif bound and name in ("model", "naive"):
                out[f"{NIXTLA_NAMES.get(name, model)}-{side}-{bound}"] = table[column].to_numpy()
        return out
    frames = table.groupby("series", sort=False) if "series" in table.columns else [(label, table)]
    derived = re.compile(r".+_(lower|upper)[0-9.]+|.+_q[0-9.e-]+")  # a target's bounds and quantiles
    targets = [c for c in table.columns if c != "series" and not derived.fullmatch(str(c))]
    parts = []
    for series, rows in frames:
        for target in targets:
            part = pd.DataFrame({"unique_id": str(series) if len(targets) == 1 else f"{series}/{target}",
                                 "ds": rows.index.to_numpy(), model: rows[target].to_numpy()})
            for column in rows.columns:
                for side, word in (("lo", "_lower"), ("hi", "_upper")):
                    if column.startswith(target + word):
                        part[f"{model}-{side}-{column[len(target + word):]}"] = rows[column].to_numpy()
            parts.append(part)
    return pd.concat(parts, ignore_index=True)


def levels(prepared) -> dict:
    """Each target's (or series') validation and test level against training's
    (`forecast.windows.span_levels`)."""
    pairs = span_levels(prepared)
    return {stage: {name: round(pair[i], 4) if pair[i] == pair[i] else None for name, pair in pairs.items()}
            for i, stage in enumerate(("val", "test"))}


def fit_summary(result) -> dict:
    """The resolved configuration, the data used, how it was trained and the test metrics."""
    m, report = result.model, result.report
    return {"source": m.source.to_dict(), "data": m.data.to_dict(), "model": m.model.to_dict(),
            "train": m.train.to_dict(), "data_used": {"source": report.source, "rows": report.rows,
                                                      "start": report.start, "end": report.end},
            "split_windows": result.prepared.split_sizes(), "levels": levels(result.prepared),
            "frequency": m.frequency,
            "epochs_run": result.epochs, "best_epoch": result.best_epoch + 1,
            "best_val_loss": result.best_val, "seconds": round(result.seconds, 2),
            "evaluated_model": result.evaluated.info.get("trained_on"),
            "saved_model": result.model.info.get("trained_on"), "metrics": result.metrics,
            "metrics_by_step": result.test.by_step(),
            "calibration": {name: m.calibration.to_dict() if m.calibration else None
                            for name, m in result.model.members.items()}}


def write_fit(result, folder: str | Path) -> dict[str, Path]:
    """Model file, config.json, test_forecasts.csv (or .parquet) and test.png in `folder` (and, for a panel,
    series_metrics.csv: one row per series)."""
    folder = Path(folder)
    paths = {"model": result.save(folder / "model.safetensors"),
             "config": write_json(fit_summary(result), folder / "config.json"),
             "test forecasts": write_table(result.test.table(), folder, "test_forecasts"),
             "plot": save_figure(result.plot(), folder / "test.png")}
    if result.is_panel:
        table = pd.DataFrame.from_dict(result.metrics["series"], orient="index")
        paths["series metrics"] = write_csv(table, folder / "series_metrics.csv", index_label="series")
    tracking = result.evaluated.info.get("tracking")
    if tracking:
        log_artifacts(tracking, result.metrics, paths)
    return paths


def log_artifacts(tracking: dict, metrics: dict, paths: dict[str, Path]) -> None:
    """Beside the per-epoch losses the logger recorded while training: the test metrics of the model
    and the naive forecast, the verdict and the files written (settings, test table, plots), in the
    TensorBoard log or the MLflow run `tracking` names."""
    scores = {f"test_{who}_{k}": float(metrics[who][k]) for who in ("model", "naive")
              for k in ("mae", "rmse", "mase") if np.isfinite(metrics[who][k])}
    verdict = "\n".join(metrics.get("verdict", []))
    if tracking["logger"] == "mlflow":
        from mlflow import MlflowClient

        client, run = MlflowClient(tracking["tracking_uri"]), tracking["run_id"]
        for name, value in scores.items():
            client.log_metric(run, name, value)
        client.log_text(run, verdict, "verdict.txt")
        for path in paths.values():
            client.log_artifact(run, str(path))
        return
    import matplotlib.image
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(tracking["log_dir"]) as writer:
        for name, value in scores.items():
            writer.add_scalar(name, value)
        writer.add_text("verdict", verdict)
        writer.add_text("settings", "    " + paths["config"].read_text().replace("\n", "\n    "))
        for name, path in paths.items():
            if path.suffix == ".png":
                writer.add_image(name, matplotlib.image.imread(str(path))[..., :3], dataformats="HWC")


def write_backtest(result, folder: str | Path, settings: dict | None = None) -> dict[str, Path]:
    """backtest.csv or .parquet (every forecast and interval), cross_validation.csv (the same in
    Nixtla's shape, see `nixtla`), backtest.json (settings, metrics, tests and coverage per step) and
    three PNGs."""
    folder = Path(folder)
    metrics = result.metrics
    summary = {**(settings or {}), "folds": result.folds, "seconds": round(result.seconds, 2),
               "skill": metrics["skill"], "metrics": metrics, "metrics_by_step": result.by_step()}
    table = result.table()
    model = str(summary.get("model", {}).get("cell", "model")).upper()
    label = str(result.series[0]) if result.series is not None and len(result.series) else "series"
    paths = {"forecasts": write_table(table, folder, "backtest"),
             "nixtla": write_table(nixtla(table, model, label), folder, "cross_validation"),
            "summary": write_json(summary, folder / "backtest.json"),
            "plot": save_figure(result.plot(), folder / "backtest_forecasts.png"),
            "error plot": save_figure(plot_error_by_step(result), folder / "backtest_error_by_step.png"),
            "coverage plot": save_figure(plot_coverage_by_step(result),
                                         folder / "backtest_coverage_by_step.png")}
    if "series" in metrics:  # a panel's (or its held-out series', when more than one)
        per_series = pd.DataFrame.from_dict(metrics["series"], orient="index")
        paths["series metrics"] = write_csv(per_series, folder / "series_metrics.csv", index_label="series")
    return paths

MODEL_STYLE = {"color": "tab:blue", "lw": 1.6, "zorder": 5}


def _x(dates):
    """Dates as the x axis draws them: integer steps on an integer time axis."""
    return to_steps(dates) if is_steps(dates) else dates


def _figure(size=(11, 4.5)):
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    return fig, fig.subplots()


def _finish(fig, ax, ylabel: str, dates_on_x: bool = False):
    ax.set_ylabel(ylabel)
    if ax.get_legend_handles_labels()[0]:  # an empty study draws nothing to name
        ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    converter = ax.xaxis.get_converter() if hasattr(ax.xaxis, "get_converter") else ax.xaxis.converter
    if dates_on_x and converter is None:  # steps, not dates: whole numbers on the axis
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if dates_on_x:
        fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def save_figure(fig, path: str | Path) -> Path:
    """Write a Figure as PNG, atomically."""
    return write_atomically(Path(path), lambda tmp: fig.savefig(tmp, dpi=110, format="png"))


def _fan(ax, dates, intervals, step: int, target: int, name: str = "model"):
    """Shade the model's intervals `step` steps ahead, widest (lightest) first."""
    order = np.argsort(intervals.coverage)[::-1]
    for rank, k in enumerate(order):
        ax.fill_between(_x(dates), intervals.lower[k][:, step, target], intervals.upper[k][:, step, target],
                        color="tab:blue", alpha=0.12 + 0.1 * rank, lw=0, zorder=1,
                        label=f"{name} {100 * intervals.coverage[k]:g}% interval")


def plot_test(result, target: int = 0):
    """History before the test span, the actual test values, and the model's forecasts one step and
    `horizon` steps ahead, each drawn at the date it forecasts; for a panel, the series with the
    best, the median and the worst skill, one above the other."""
    if result.is_panel:
        return _plot_panel(result, target)
    fig, ax = _figure()
    (prepared,) = result.parts.values()  # one series
    _draw_test(ax, result.test, prepared, result.model.data, result.metrics, target)
    name = result.model.data.targets[target]
    return _finish(fig, ax, f"{name} (original units)", dates_on_x=True)


def _plot_panel(result, target: int):
    from matplotlib.figure import Figure

    ranked = sorted(result.by_series, key=lambda n: result.metrics["series"][n]["skill"])
    chosen = list(dict.fromkeys([ranked[-1], ranked[len(ranked) // 2], ranked[0]]))  # best, median, worst
    fig = Figure(figsize=(11, 3.4 * len(chosen)))
    axes = fig.subplots(len(chosen), 1, squeeze=False)[:, 0]
    name = result.model.data.targets[target]
    for ax, series, rank in zip(axes, chosen, ("best", "median", "worst")):
        ev = result.by_series[series]
        _draw_test(ax, ev, result.parts[series], result.model.data, ev.metrics, target,
                   f"{series} ({rank} skill of {len(ranked)})")
        ax.set_ylabel(f"{name} (original units)")
        ax.legend(loc="upper left", fontsize=7)
        ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def _draw_test(ax, ev, prepared, data, m, target: int, title: str | None = None):
    name, h = data.targets[target], data.horizon
    context = max(3 * data.seq_len, 100)
    lo = max(0, prepared.val_end - context)
    ax.plot(_x(prepared.index[lo:prepared.val_end + 1]), prepared.raw_targets[lo:prepared.val_end + 1, target],
            color="0.6", lw=1, label="history")
    _fan(ax, ev.index, ev.intervals, 0, target)
    ax.plot(_x(ev.index), ev.actual[:, 0, target], color="black", lw=1, label="actual")
    if h > 1:
        dates = prepared.index[prepared.target_starts("test")[0] + h - 1:][:len(ev.index)]
        ax.plot(_x(dates), ev.forecast[:len(dates), -1, target], color="tab:orange", lw=1, alpha=0.8,
                zorder=4, label=f"model, {h} steps ahead")
    ax.plot(_x(ev.index), ev.forecast[:, 0, target], label="model, 1 step ahead", **MODEL_STYLE)
    ax.axvline(_x(prepared.index[prepared.val_end:prepared.val_end + 1])[0], color="0.3", ls=":", lw=1)
    ax.set_title(f"{title or name}: test RMSE model {m['model']['rmse']:.4g} vs naive "
                 f"{m['naive']['rmse']:.4g} (skill {100 * m['skill']:+.1f}%)")


def plot_forecast(history, forecast, name: str, series: str | None = None):
    """The recent history of `name` (its last four horizons, at least 60 rows) and the forecast that
    follows it (of a panel's `series`, named in the title)."""
    fig, ax = _figure((9, 4))
    history = plain(history.iloc[-max(4 * len(forecast), 60):])  # forecast: from predict, plain too
    ax.plot(history.index, history[name], color="black", lw=1, label="history")
    joined = np.r_[history[name].iloc[-1], forecast[name].to_numpy()]
    ax.plot(history.index[-1:].append(forecast.index), joined, marker="o", ms=3, label="forecast",
            **MODEL_STYLE)
    bands = sorted((c for c in forecast.columns if c.startswith(f"{name}_lower")),
                   key=lambda c: -float(c.removeprefix(f"{name}_lower")))
    for rank, lower in enumerate(bands):
        pct = lower.removeprefix(f"{name}_lower")
        ax.fill_between(forecast.index, forecast[lower], forecast[f"{name}_upper{pct}"], color="tab:blue",
                        alpha=0.12 + 0.1 * rank, lw=0, zorder=1, label=f"{pct}% interval")
    shown = _label(name, series)
    ax.set_title(f"{shown}: next {len(forecast)} steps")
    return _finish(fig, ax, f"{series if name == WIDE_VALUE and series else name} (original units)",
                   dates_on_x=True)


def _label(name: str, series: str | None) -> str:
    """A target as a title names it: with its series, or, for a wide file's series (whose values
    all sit in one column, `WIDE_VALUE`), the series alone."""
    return name if series is None else series if name == WIDE_VALUE else f"{series} {name}"


def plot_backtest(result, target: int = 0, series: str | None = None):
    """Actual against every forecaster one step ahead; the model on top (of one series)."""
    name = _label(result.targets[target], series)
    fig, ax = _figure()
    dates = _x(result.target_dates[:, 0])
    _fan(ax, dates, result.intervals, 0, target)
    ax.plot(dates, result.actual[:, 0, target], color="black", lw=1.2, label="actual", zorder=4)
    for label, fc in result.forecasts.items():
        if label != "model":
            ax.plot(dates, fc[:, 0, target], lw=0.8, alpha=0.6, ls="--", label=label, zorder=2)
    ax.plot(dates, result.forecasts["model"][:, 0, target], label="model", **MODEL_STYLE)
    ax.set_title(f"{name}: walk-forward forecasts one step ahead ({len(dates)} origins, "
                 f"{result.folds} fold(s))")
    return _finish(fig, ax, f"{name} (original units)", dates_on_x=True)


def plot_error_by_step(result):
    """MAE of every forecaster by horizon step."""
    per_step = result.by_step()
    fig, ax = _figure((7, 4))
    steps = range(1, result.actual.shape[1] + 1)
    for label in result.forecasts:
        m = per_step[label]
        style = MODEL_STYLE if label == "model" else {"lw": 1, "alpha": 0.7, "zorder": 2}
        ax.plot(steps, m["mae"], marker="o", label=label, **style)
    ax.set_xticks(list(steps))
    ax.set_xlabel("horizon step")
    ax.set_title("Error by horizon step")
    return _finish(fig, ax, f"MAE of {', '.join(result.targets)} (original units)")


def plot_coverage_by_step(result):
    """Share of actual values inside each interval by horizon step: model, naive and the promise."""
    per_step = result.by_step()["intervals"]
    fig, ax = _figure((7, 4))
    steps = np.arange(1, result.actual.shape[1] + 1)
    for k, (name, m) in enumerate(per_step.items()):
        color = f"C{k}"
        ax.axhline(100 * result.intervals.coverage[k], color=color, ls=":", lw=1,
                   label=f"promised {name}")
        ax.plot(steps, m["naive"]["coverage"], color=color, ls="--", marker="s", ms=3, alpha=0.6,
                label=f"naive {name}", zorder=2)
        ax.plot(steps, m["model"]["coverage"], color=color, marker="o", lw=1.6, zorder=5,
                label=f"model {name}")
    ax.set_xticks(list(steps))
    ax.set_xlabel("horizon step")
    ax.set_title("Interval coverage by horizon step")
    return _finish(fig, ax, "actual values inside the interval (%)")


def plot_study(trials):
    """Each finished trial's validation loss and the best so far, by trial number."""
    fig, ax = _figure((9, 4.5))
    done = [(t.number, t.value) for t in trials if t.value is not None]
    if done:
        numbers, values = map(np.asarray, zip(*done))
        ax.scatter(numbers, values, s=14, color="tab:blue", label="trial", zorder=3)
        ax.step(numbers, np.minimum.accumulate(values), where="post", color="tab:red", label="best so far")
    ax.set_xlabel("trial")
    ax.set_title("Optimisation history")
    return _finish(fig, ax, "validation loss (encoded units)")
