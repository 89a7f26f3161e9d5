"""Files a run leaves behind, written by library functions (the CLI only prints where they went).

Every file is written atomically: a temporary file in the same folder, then a rename.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.dates import plain
from forecast.files import write_atomically, write_json
from forecast.plot import plot_coverage_by_step, plot_error_by_step, save_figure


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    """A text cell a spreadsheet will not run: one that starts like a formula (`=`, `+`, `-`, `@`, a
    tab or a carriage return) gets a leading `'`, as OWASP's CSV-injection rule says; numbers
    written as text (`-1.5`) are left alone."""
    if not isinstance(text, str) or not text.startswith(FORMULA_START):
        return text
    try:
        float(text)
        return text
    except ValueError:
        return "'" + text


def write_csv(frame: pd.DataFrame, path: str | Path, index_label: str | None = None) -> Path:
    """CSV through Arrow's writer (ten times faster than pandas' for millions of rows), timestamps to
    the second, atomically; `index_label` writes the index as the first column under that name.
    Text cells and column names that a spreadsheet would read as formulas are neutralised
    (`safe_cell`): series ids and column names come from the user's files."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    frame = plain(frame)  # an integer time axis is written as its steps
    if index_label is not None:
        frame = frame.rename_axis(index_label).reset_index()

    def column(c):
        values = frame[c]
        if pd.api.types.is_datetime64_any_dtype(values):
            return values.astype("datetime64[s]")
        if values.dtype == object or isinstance(values.dtype, pd.StringDtype) \
                or isinstance(values.dtype, pd.CategoricalDtype):
            return values.astype(object).map(safe_cell)
        return values
    columns = {safe_cell(str(c)): column(c) for c in frame.columns}
    table = pa.Table.from_pandas(pd.DataFrame(columns), preserve_index=False)
    options = pacsv.WriteOptions(quoting_style="needed")
    return write_atomically(Path(path), lambda tmp: pacsv.write_csv(table, str(tmp), options))


def write_frame(frame: pd.DataFrame, path: str | Path, index_label: str | None = None) -> Path:
    """Parquet when `path` ends in .parquet or .pq, else CSV (`write_csv`); the index is a column
    named `index_label` (default `Date`, or `step` on an integer time axis) either way, atomically."""
    path = Path(path)
    frame = plain(frame)
    index_label = index_label or ("step" if pd.api.types.is_integer_dtype(frame.index) else "Date")
    if path.suffix.lower() not in (".parquet", ".pq"):
        return write_csv(frame, path, index_label=index_label)
    return write_atomically(path, lambda tmp: frame.rename_axis(index_label).reset_index().to_parquet(tmp))


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


CSV_ROWS = 1_000_000  # above this a table is written as Parquet: a CSV of ETTh1 at horizon 720 is 3.4 GB


def write_table(frame: pd.DataFrame, folder: Path, stem: str) -> Path:
    """`stem.csv`, or `stem.parquet` (zstd) for a table of more than `CSV_ROWS` rows, which a CSV
    would make gigabytes and minutes long."""
    if len(frame) <= CSV_ROWS:
        return write_csv(frame, folder / f"{stem}.csv")
    return write_atomically(folder / f"{stem}.parquet",
                            lambda tmp: frame.to_parquet(tmp, index=False, compression="zstd"))


def levels(prepared) -> dict:
    """Each target's (or series') validation and test level against training's
    (`forecast.data.span_levels`)."""
    from forecast.data import span_levels

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
    metrics = result.metrics()
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
