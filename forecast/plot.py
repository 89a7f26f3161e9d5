"""PNG plots of a forecast against what happened. Uses matplotlib's non-interactive Agg backend."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _save(fig, ax, path: Path, dates_on_x: bool = False) -> Path:
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    if dates_on_x:
        fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_test(result, path: str | Path, target: int = 0) -> Path:
    """History before the test span, the actual test values, and the model's and naive forecasts
    one step and `horizon` steps ahead, each drawn at the date it forecasts."""
    ev, prepared = result.test, result.prepared
    name = result.data.targets[target]
    h = result.data.horizon
    context = max(3 * result.data.seq_len, 100)
    lo = max(0, prepared.val_end - context)
    fig, ax = plt.subplots(figsize=(11, 4.5))
    ax.plot(prepared.index[lo:prepared.val_end + 1], prepared.raw_targets[lo:prepared.val_end + 1, target],
            color="0.6", lw=1, label="history")
    ax.plot(ev.index, ev.actual[:, 0, target], color="black", lw=1, label="actual")
    ax.plot(ev.index, ev.forecast[:, 0, target], color="tab:blue", lw=1, label="model, 1 step ahead")
    if h > 1:
        dates = prepared.index[prepared.target_starts("test")[0] + h - 1:][:len(ev.index)]
        ax.plot(dates, ev.forecast[:, -1, target], color="tab:orange", lw=1, alpha=0.8,
                label=f"model, {h} steps ahead")
    ax.axvline(prepared.index[prepared.val_end], color="0.3", ls=":", lw=1)
    m = result.metrics
    ax.set_title(f"{name}: test RMSE model {m['model']['rmse']:.4g} vs naive {m['naive']['rmse']:.4g} "
                 f"(skill {100 * m['skill']:+.1f}%)")
    return _save(fig, ax, Path(path), dates_on_x=True)


def plot_backtest(result, folder: str | Path, target: int = 0) -> list[Path]:
    """Two PNGs: actual against every forecaster one step ahead, and MAE by horizon step."""
    folder = Path(folder)
    name = result.targets[target]
    fig, ax = plt.subplots(figsize=(11, 4.5))
    dates = result.target_dates[:, 0]
    ax.plot(dates, result.actual[:, 0, target], color="black", lw=1.2, label="actual")
    for label, fc in result.forecasts.items():
        ax.plot(dates, fc[:, 0, target], lw=1.5 if label == "model" else 0.8,
                alpha=1.0 if label == "model" else 0.7, label=label)
    ax.set_title(f"{name}: walk-forward forecasts one step ahead ({len(dates)} origins, "
                 f"{result.folds} fold(s))")
    forecasts_png = _save(fig, ax, folder / "backtest_forecasts.png", dates_on_x=True)

    per_step = result.metrics(axis=(0, 2))
    fig, ax = plt.subplots(figsize=(7, 4))
    steps = range(1, result.actual.shape[1] + 1)
    for label, m in per_step.items():
        ax.plot(steps, m["mae"], marker="o", lw=2 if label == "model" else 1, label=label)
    ax.set_xticks(list(steps))
    ax.set_xlabel("horizon step")
    ax.set_ylabel("MAE (original units)")
    ax.set_title("Error by horizon step")
    return [forecasts_png, _save(fig, ax, folder / "backtest_error_by_step.png")]
