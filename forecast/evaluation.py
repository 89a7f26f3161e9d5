"""Score a trained network on one split: forecasts and intervals in original units beside the baselines."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch

from forecast.checks import target_index
from forecast.comparison import by_step, direction_of_majority, series_rows, summarise, with_series
from forecast.config import ModelConfig
from forecast.dates import plain, stamp, weekdays_only
from forecast.errors import ForecastError, listed
from forecast.intervals import Calibration, Intervals, calibrate
from forecast.metrics import baselines, naive_bounds, season_of, statistical
from forecast.model import predict_scaled
from forecast.outputs import plot_backtest, write_backtest
from forecast.windows import PreparedSeries, WindowDataset, stage_dataset


@dataclass
class Evaluation:
    """Scored forecasts in original units beside the baselines': what `fit` reports on its test span
    and what a walk-forward backtest gives, one type for both.

    origins : (B,) the last date observed before each forecast (Nixtla's `cutoff`).
    target_dates : (B, H) the dates forecast.
    forecasts : "model" (the median for a quantile model) and every baseline, (B, H, T) each.
    mase_scale, majority : (B, 1, T) each forecast's in-sample one-step naive MAE and majority
        direction (of its training rows: the fit's, or the fold's).
    intervals : the model's calibrated intervals and the naive forecast's, (K, B, H, T).
    lag : how many origins apart forecasts stop overlapping (the horizon over the origins' stride).
    series : (B,) each forecast's series (a panel's), or None; new : series held out of training;
    left_out : series given but never forecast (a backtest's, too young for every fold, with drop_bad).
    """

    targets: tuple[str, ...]
    origins: pd.DatetimeIndex
    target_dates: np.ndarray
    actual: np.ndarray  # (B, H, T)
    forecasts: dict
    anchor: np.ndarray  # (B, T) the last observed value
    mase_scale: np.ndarray
    intervals: Intervals
    majority: np.ndarray
    lag: int
    folds: int = 1
    seconds: float = 0.0
    series: np.ndarray | None = None
    new: tuple[str, ...] = ()
    left_out: tuple[str, ...] = ()
    _summaries: dict = field(default_factory=dict, init=False, repr=False, compare=False)  # summary(), once

    def __repr__(self) -> str:  # a glance in a notebook; `summary()` and `table()` hold the scores
        span = f"{stamp(self.origins.min())} to {stamp(self.origins.max())}" if len(self.origins) else "none"
        series = len(np.unique(self.series)) if self.series is not None else 1
        return (f"Evaluation({len(self.origins)} forecasts of {self.actual.shape[1]} steps from origins {span}, "
                f"{series} series, targets {', '.join(self.targets)}; beside "
                f"{', '.join(k.replace('_', ' ') for k in self.forecasts if k != 'model')})")

    @property
    def forecast(self) -> np.ndarray:
        return self.forecasts["model"]

    @property
    def naive(self) -> np.ndarray:
        return self.forecasts["naive"]

    @property
    def index(self) -> pd.DatetimeIndex:
        """(B,) the date of each forecast's first target."""
        return pd.DatetimeIndex(self.target_dates[:, 0])

    @property
    def is_panel(self) -> bool:
        return self.series is not None and len(set(self.series)) > 1

    @property
    def _ids(self) -> np.ndarray:
        """(B,) each forecast's series (empty names for one series)."""
        return self.series if self.series is not None else np.full(len(self.origins), "", dtype=object)

    def _held_out(self, held: bool) -> Evaluation:
        """The forecasts of the held-out series (or of the trained ones), as a result of their own."""
        return replace(self.subset(np.isin(self._ids, self.new) == held), new=())

    def subset(self, keep: np.ndarray) -> Evaluation:
        """The forecasts at `keep` (a boolean mask or indices over B), e.g. one series'."""
        return replace(self, origins=self.origins[keep], target_dates=self.target_dates[keep],
                       actual=self.actual[keep], forecasts={n: f[keep] for n, f in self.forecasts.items()},
                       anchor=self.anchor[keep], mase_scale=self.mase_scale[keep], majority=self.majority[keep],
                       series=None if self.series is None else self.series[keep],
                       intervals=self.intervals.take(keep))

    @property
    def metrics(self) -> dict:
        """Every forecaster's metrics, interval scores, tests and the verdict, as `FitResult.metrics`
        (see `_summarise`)."""
        return self.summary()

    def summary(self, confidence: bool = True) -> dict:
        """See `_summarise`; computed once per evaluation (printing and writing a backtest both ask)."""
        if confidence not in self._summaries:
            self._summaries[confidence] = self._summarise(confidence)
        return self._summaries[confidence]

    def _summarise(self, confidence: bool) -> dict:
        """Every forecaster's metrics, interval scores, tests and the verdict (see
        `forecast.comparison.summarise`); for a panel pooled over every series, with a table per
        series and a verdict that counts them. With held-out series (`new`), theirs, with the trained
        series' skill beside them under "trained". `confidence`: with the model confidence set of
        every forecaster (a panel's per-series rows go without)."""
        if self.new:
            return _beside_trained(self._held_out(True).metrics, self._held_out(False).metrics, self.new)
        pooled = summarise(self.actual, self.forecasts, self.anchor, self.mase_scale, self.intervals,
                           self.majority, self.lag, prices=weekdays_only(self.target_dates), confidence=confidence,
                           dates=self.origins.to_numpy() if self.is_panel else None)
        if not self.is_panel:
            return pooled
        return with_series(pooled, series_rows({n: self.subset(rows).summary(False) for n, rows in self._rows().items()}))

    def _rows(self) -> dict[str, np.ndarray]:
        """Each series' forecasts (their positions, in order), series in order of appearance: one
        grouping (a mask per series grows with the square of the series; benchmarks/panel_scoring.py)."""
        codes, names = pd.factorize(self._ids)
        order = np.argsort(codes, kind="stable")
        ends = np.searchsorted(codes[order], np.arange(len(names) + 1))
        return {name: order[ends[i]:ends[i + 1]] for i, name in enumerate(names)}

    def by_step(self) -> dict:
        """Point metrics of every forecaster and interval metrics, per horizon step (of the held-out
        series when some are)."""
        if self.new:
            return self._held_out(True).by_step()
        return by_step(self.actual, self.forecasts, self.anchor, self.mase_scale, self.intervals)

    @property
    def skill(self) -> float:
        """1 - RMSE_model / RMSE_naive (as `FitResult.metrics["skill"]`)."""
        return self.metrics["skill"]

    def plot(self, target: int = 0, series: str | None = None):
        """A matplotlib Figure: actual against every forecaster one step ahead, with the intervals
        (of `series`, for a panel: by default its first)."""
        target = target_index(target, self.targets)
        if self.is_panel:
            name = series or (self.new or tuple(self._ids))[0]
            if name not in set(self._ids):
                raise ForecastError(f"no series {name!r} here; it has: {', '.join(map(str, dict.fromkeys(self._ids)))}")
            label = f"{name} (new)" if name in self.new else name
            return plot_backtest(self.subset(self._ids == name), target, label)
        return plot_backtest(self, target)

    def write(self, folder, settings: dict | None = None) -> dict:
        """backtest.csv, backtest.json (with `settings`) and three PNGs in `folder`."""
        return write_backtest(self, folder, settings)

    def table(self) -> pd.DataFrame:
        """One row per forecast, target and step, sorted so (targets by name): (series, new,) origin,
        cutoff (the same date, Nixtla's name), target date, step, target, actual, every forecast,
        the quantiles of a quantile model, the model's and the naive forecast's intervals. Every
        (B, H, T) array is written once into one (columns, rows) block that becomes the frame's float
        columns without a copy (a frame per target and step took 20 s for ETTh1's 7 targets at
        horizon 720, 11 million rows)."""
        b, h, _ = self.actual.shape
        targets = np.asarray(self.targets, dtype=object)
        order = np.argsort(targets.astype(str), kind="stable")
        t = len(order)
        iv = self.intervals
        arrays = {"actual": self.actual, **self.forecasts}
        if iv.quantiles is not None:
            for q, level in enumerate(iv.levels):
                arrays[f"model_q{level:g}"] = iv.quantiles[..., q]
        for k, c in enumerate(iv.coverage):
            pct = f"{100 * c:g}"
            arrays.update({f"model_lower{pct}": iv.lower[k], f"model_upper{pct}": iv.upper[k],
                           f"naive_lower{pct}": iv.naive_lower[k], f"naive_upper{pct}": iv.naive_upper[k]})
        block = np.empty((len(arrays), b, t, h))  # (columns, B, T, H): rows by forecast, target, step
        for i, values in enumerate(arrays.values()):
            np.take(np.asarray(values, dtype=np.float64).transpose(0, 2, 1), order, axis=1, out=block[i])
        table = pd.DataFrame(block.reshape(len(arrays), -1).T, columns=list(arrays), copy=False)
        origins = np.repeat(self.origins.to_numpy(), t * h)
        front = {"series": np.repeat(self._ids, t * h)} if self.is_panel else {}
        if self.new:
            front["new"] = np.repeat(np.isin(self._ids, self.new), t * h)
        front.update({"origin": origins, "cutoff": origins,
                      "target_date": np.broadcast_to(np.asarray(self.target_dates)[:, None, :], (b, t, h)).ravel(),
                      "step": np.tile(np.arange(1, h + 1), b * t), "target": np.tile(targets[order].repeat(h), b)})
        for i, (name, values) in enumerate(front.items()):
            table.insert(i, name, values)
        return plain(table)  # on an integer time axis, the dates are steps


def pool(evaluations: dict[str, Evaluation] | list[Evaluation]) -> Evaluation:
    """Several evaluations as one, forecasts stacked one after another: every series' test windows
    (a dict by series name names them), or every series' walk."""
    if isinstance(evaluations, dict):
        evs = list(evaluations.values())
        series = np.concatenate([np.full(len(ev.origins), name, dtype=object) for name, ev in evaluations.items()])
    else:
        evs = list(evaluations)
        series = np.concatenate([ev._ids for ev in evs])
    first = evs[0]
    cat = lambda get: np.concatenate([get(ev) for ev in evs])  # noqa: E731
    return replace(first, origins=pd.DatetimeIndex(cat(lambda ev: ev.origins.to_numpy())),
                   target_dates=cat(lambda ev: ev.target_dates), actual=cat(lambda ev: ev.actual),
                   forecasts={n: cat(lambda ev: ev.forecasts[n]) for n in first.forecasts},
                   anchor=cat(lambda ev: ev.anchor), mase_scale=cat(lambda ev: ev.mase_scale),
                   majority=cat(lambda ev: ev.majority), intervals=Intervals.concatenate([ev.intervals for ev in evs]),
                   series=series)


def _beside_trained(held: dict, trained: dict, names: tuple[str, ...]) -> dict:
    """The held-out series' summary (of `names`), with the trained series' skill beside it (what being
    new costs)."""
    rows = trained.get("series")
    count = len(rows) if rows else 1
    beside = {"series": count, "skill": trained["skill"], "mase": trained["model"]["mase"],
              "naive_mase": trained["naive"]["mase"]}
    line = (f"Held out of training: {len(names)} series ({listed(names, 5)}), each forecast as new from its own history "
            f"at every origin (below). On the {count} series it trained on: skill {100 * trained['skill']:+.1f}%, "
            f"MASE {trained['model']['mase']:.3f} (here {held['model']['mase']:.3f}).")
    return {**held, "trained": beside, "new_series": list(names), "verdict": [line, *held["verdict"]]}


def forecast_windows(net: torch.nn.Module, prepared: PreparedSeries, starts: np.ndarray, dataset=None):
    """Original-unit forecasts (B, H, T) and quantiles (B, H, T, Q) or None for windows whose targets
    start at `starts` (a dataset of those windows may be given to skip gathering them again)."""
    if dataset is None:
        dataset = WindowDataset(prepared.values, prepared.n_targets, prepared.cfg.seq_len,
                                prepared.cfg.horizon, torch.as_tensor(starts), prepared.row_series())
    decoded = prepared.to_original(predict_scaled(net, dataset), starts)
    if decoded.ndim == 3:
        return decoded, None
    return decoded[..., settings_of(net).quantiles.index(0.5)], decoded


def settings_of(net: torch.nn.Module) -> ModelConfig:
    """The model settings a network was built with (`RecurrentNet.cfg`; a custom net keeps them too)."""
    cfg = getattr(net, "cfg", None)
    if not isinstance(cfg, ModelConfig):
        raise ForecastError(f"network {type(net).__name__} keeps no ModelConfig as .cfg (RecurrentNet does)")
    return cfg


def calibrate_held_out(net: torch.nn.Module, prepared: PreparedSeries, through_test: bool = False) -> Calibration:
    """Conformal margins from windows training never fits on: validation's, or (`through_test`, once
    the test is scored) every window after the training span, validation's and test's."""
    if through_test:
        starts = np.arange(prepared.train_end, max(prepared.train_end, len(prepared.index) - prepared.cfg.horizon + 1))
        dataset = None
    else:
        dataset = stage_dataset(prepared, "val")
        starts = dataset.starts.numpy()
    point, quantiles = forecast_windows(net, prepared, starts, dataset)
    cfg = settings_of(net)
    return calibrate(prepared.actuals(starts), point, quantiles, cfg.quantiles, cfg.coverage,
                     prepared.scales(starts))


def evaluate(net: torch.nn.Module, prepared: PreparedSeries, stage: str = "test",
             calibration: Calibration | None = None) -> Evaluation:
    """Forecast every `stage` window, with intervals calibrated on the validation span (or by the
    `calibration` given), beside the baselines."""
    calibration = calibration or calibrate_held_out(net, prepared)
    dataset = stage_dataset(prepared, stage)
    starts = dataset.starts.numpy()
    point, quantiles = forecast_windows(net, prepared, starts, dataset)
    horizon, anchor, season = prepared.cfg.horizon, prepared.anchors(starts), season_of(prepared.index, prepared.cfg.cycle)
    train_rows = prepared.raw_targets[: prepared.fit_end]
    lower, upper = calibration.bounds(point, quantiles, prepared.scales(starts))
    naive_lower, naive_upper = naive_bounds(train_rows, anchor, horizon, calibration.coverage)
    intervals = Intervals(calibration.coverage, lower, upper, naive_lower, naive_upper, quantiles,
                          settings_of(net).quantiles, Intervals.weights(np.zeros(len(starts), int), [calibration.n], horizon))
    dates = prepared.index.to_numpy()
    per_forecast = lambda a: np.broadcast_to(np.reshape(a, (1, 1, -1)), (len(starts), 1, len(a))).copy()  # noqa: E731
    return Evaluation(tuple(prepared.cfg.targets), pd.DatetimeIndex(dates[starts - 1]),
                      dates[starts[:, None] + np.arange(horizon)], prepared.actuals(starts),
                      {"model": point, **baselines(prepared.raw_targets, starts, horizon, season),
                       **statistical(prepared.raw_targets, starts, horizon, season, prepared.cfg.baselines,
                                     prepared.fit_end)}, anchor,
                      per_forecast(prepared.mase_scale()), intervals, per_forecast(direction_of_majority(train_rows)),
                      lag=horizon)
