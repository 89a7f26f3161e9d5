"""A run folder: model file, resolved config, test forecasts and plot, written side by side."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from forecast.modelfile import _jsonable
from forecast.plot import plot_test
from forecast.train import FitResult, fit


def test_table(result: FitResult) -> pd.DataFrame:
    """Every test forecast: origin date, step, target date, actual, model and naive values."""
    ev, prepared = result.test, result.prepared
    starts = prepared.index.get_indexer(ev.index)
    rows = []
    for t, name in enumerate(result.data.targets):
        for step in range(result.data.horizon):
            rows.append(pd.DataFrame({
                "origin": prepared.index[starts - 1], "target_date": prepared.index[starts + step],
                "step": step + 1, "target": name, "actual": ev.actual[:, step, t],
                "model": ev.forecast[:, step, t], "naive": ev.naive[:, step, t]}))
    return pd.concat(rows).sort_values(["origin", "target", "step"], ignore_index=True)


def write_run(result: FitResult, folder: str | Path) -> dict[str, Path]:
    """Write model, config, forecasts and plot into `folder`; return what was written where."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"model": folder / "model.safetensors", "config": folder / "config.json",
             "test forecasts": folder / "test_forecasts.csv", "plot": folder / "test.png"}
    result.save(paths["model"])
    config = {"data": result.data.to_dict(), "model": result.model.to_dict(),
              "train": result.train.to_dict(), "source": result.report.source,
              "rows": result.report.rows, "start": result.report.start, "end": result.report.end,
              "split_windows": result.prepared.split_sizes(), "frequency": result.frequency,
              "epochs": result.epochs, "seconds": round(result.seconds, 2),
              "metrics": _jsonable(result.metrics)}
    paths["config"].write_text(json.dumps(config, indent=2))
    test_table(result).to_csv(paths["test forecasts"], index=False)
    plot_test(result, paths["plot"])
    return paths


def fit_and_save(frame, data, model, train, folder, **fit_options) -> tuple[FitResult, dict]:
    """`fit` with checkpoints under `folder`, then `write_run` there."""
    result = fit(frame, data, model, train, out_dir=folder, **fit_options)
    return result, write_run(result, folder)
