"""Figures of forecasts against what happened, as `matplotlib.figure.Figure` objects.

No pyplot and no backend switch: a Figure draws in a notebook (it has `_repr_png_`) and saves to PNG
without touching the user's matplotlib state. The model's line is drawn last and on top, so no
baseline hides it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from forecast.dates import is_steps, plain, to_steps
from forecast.panel import WIDE_VALUE

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
    from forecast.files import write_atomically

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
        _draw_test(ax, ev, result.parts[series], result.model.data, ev.metrics(), target,
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
