"""Walk-forward backtests: the model and the baselines any sceptic tries first, on the same origins.

An origin is the last observed step before a forecast; its targets are the next `horizon` steps. Each
fold trains on data before its first target only (scaler and transforms refitted on that fold's
training rows), then forecasts every origin of the fold. Baselines: naive (the random walk),
seasonal naive, drift and moving average, all in original units. The model's intervals are
calibrated on each fold's validation span (split conformal), or adapt to the misses observed as the
walk goes on (adaptive conformal inference); the naive interval comes from the fold's training rows.
A panel walks forward on the union of its series' dates: each fold trains one model on every series
before the same date, and each series is scored at the origins it has data for, then pooled.
With `hold_out`, some series never train: at each origin they are forecast as new ones from their
own history up to it (preprocessing fitted on that history, intervals from the trained series' median
margins, as `predict --new-series` does), which measures how well the model forecasts a series it
never saw, from its first `seq_len` rows on; the metrics are theirs, beside the trained series' skill.
"""
from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np
import pandas as pd

from forecast.comparison import direction_of_majority
from forecast.checks import placed
from forecast.config import BacktestConfig, DataConfig, ModelConfig, SourceConfig, TrainConfig, check_compatible
from forecast.dates import moment, stamp
from forecast.errors import ForecastError, UnusableSeries
from forecast.evaluation import Evaluation, forecast_windows, pool
from forecast.forecaster import torch_threads
from forecast.intervals import Intervals, adaptive_margins, bounds, conformal_quantile, conformity, pick_pairs
from forecast.loading import as_panel, frame_target
from forecast.metrics import baselines, naive_bounds, season_of, statistical
from forecast.preprocess import apply_static, static_encoding, static_table, static_values
from forecast.train import Trained, parts_of, train_network
from forecast.trained import new_preprocessor, refusal
from forecast.windows import prepare


def origin_starts(index: pd.DatetimeIndex, horizon: int, bt: BacktestConfig) -> np.ndarray:
    """Rows where each origin's targets start, ascending; the last one's targets end at the data's end."""
    last = len(index) - horizon
    if bt.origins_from is not None or bt.origins_to is not None:
        ok = np.ones(len(index), bool)
        if bt.origins_from is not None:
            ok &= index >= moment(bt.origins_from, index)
        if bt.origins_to is not None:
            ok &= index < moment(bt.origins_to, index)
        rows = np.flatnonzero(ok)
        rows = rows[rows <= last][::bt.stride]
        if len(rows) == 0:
            span = " and ".join(f"{k} {v}" for k, v in (("from", bt.origins_from), ("before", bt.origins_to)) if v)
            raise ForecastError(f"no origin {span} leaves room for the horizon: the data run from "
                                f"{stamp(index[0])} to {stamp(index[-1])}, and the latest --origins-from with room "
                                f"for {horizon} target(s) is {stamp(index[max(last, 0)])}")
        return rows
    return last - bt.stride * np.arange(bt.origins or 0)[::-1]  # set by `backtest` before the walk


DEFAULT_ORIGINS = 250  # a trading year of daily prices: enough origins for the significance tests


def default_origins(n_rows: int, data: DataConfig, bt: BacktestConfig, season: int) -> int:
    """Origins when none are asked for: 250, or on shorter data the last quarter of the rows (the
    first fold trains on the rest), or fewer if the first fold could not train on the rest."""
    share = max(1, n_rows // (4 * bt.stride))
    fits = fitting_origins(n_rows, data, bt, season)
    return min(DEFAULT_ORIGINS, share, fits) if fits else DEFAULT_ORIGINS  # none fit: its error says why


def fitting_origins(n_rows: int, data: DataConfig, bt: BacktestConfig, season: int) -> int:
    """How many origins `bt.stride` apart the data allow: the first fold must hold what training
    (inputs, targets and validation rows, see `train_fold`) and the baselines need before it."""
    lost = data.lost_rows  # a log return needs the row before
    for first in range(1, n_rows):
        rows = (first if bt.train_size is None else min(first, bt.train_size)) - lost  # sliding: a size
        val_rows = max(data.horizon, int(round(rows * data.fractions[0])))
        if rows >= data.seq_len + 2 * data.horizon + val_rows and first > max(season, bt.ma_window):
            return max(0, (n_rows - data.horizon - first) // bt.stride + 1)
    return 0


def fold_start(first: int, bt: BacktestConfig) -> int:
    """The first row a fold trains on, for a fold whose first target is row `first`."""
    return 0 if bt.train_size is None else max(0, first - bt.train_size)  # a sliding window has a size


def train_fold(frame: dict[str, pd.DataFrame], first: int, stop: int, data: DataConfig, model: ModelConfig,
               train: TrainConfig, bt: BacktestConfig, val_fraction: float, index: pd.DatetimeIndex,
               drop_bad: bool = False) -> Trained:
    """Train on rows before `first` (the fold's first target row of `index`, the series' union of
    dates); rows `[first, stop)` are the fold's test span, which no part of training sees. `frame`:
    the series by name (one series is a panel of one), cut on the same dates."""
    lo = fold_start(first, bt)
    rows_before = first - lo
    val_rows = max(data.horizon, int(round(rows_before * val_fraction)))
    need = data.seq_len + 2 * data.horizon + val_rows
    if rows_before < need:
        raise ForecastError(
            f"the fold starting {stamp(index[first])} has {rows_before} rows to train on, but "
            f"seq_len {data.seq_len} + horizon {data.horizon} and {val_rows} validation rows need "
            f"{need}; use fewer --origins, a larger --stride or --train-size, or a shorter --seq-len")
    last = index[stop - 1]
    fold = {name: f[(f.index >= index[lo]) & (f.index <= last)] for name, f in frame.items()}
    fold_data = replace(data, val_start=stamp(index[first - val_rows]), test_start=stamp(index[first]))
    try:
        return train_network(fold, fold_data, model, train, drop_bad=drop_bad)
    except UnusableSeries as e:  # series too young for the fold: a backtest can score them as new
        names = ",".join(e.names[:5])
        raise ForecastError(f"{e}; or score them as series the model never trained on with --hold-out "
                            f"{names}") from None


BacktestResult = Evaluation  # the name of 0.2: a backtest's result is an `Evaluation`, as fit's test span is


def backtest(frame: pd.DataFrame | pd.Series | dict, data: DataConfig = DataConfig(),
             model: ModelConfig = ModelConfig(), train: TrainConfig = TrainConfig(),
             bt: BacktestConfig = BacktestConfig(), *, source: SourceConfig = SourceConfig(),
             progress=None) -> Evaluation:
    """Walk forward over the origins of `bt`, retraining as it says; see the module docstring.

    `frame` is one series, or a panel (a dict of series): then the origins are dates of the union of
    their dates, each fold trains one model on every series before the same date, and every series
    is forecast at each origin it has data for. `progress(done, total)` is called after each fold.
    The validation share of each fold's training rows (for early stopping and interval calibration)
    is `data.val_fraction`. Nothing is written to disk.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from forecast import BacktestConfig, DataConfig, ModelConfig, TrainConfig, backtest
    >>> index = pd.date_range("2024-01-01", periods=300, freq="D")
    >>> sales = pd.Series(20 + 5 * np.sin(np.arange(300) * 2 * np.pi / 7), index=index, name="sales")
    >>> result = backtest(sales, DataConfig(targets=["sales"], seq_len=14, horizon=7),
    ...                   ModelConfig(hidden_size=8), TrainConfig(max_epochs=1),
    ...                   BacktestConfig(origins=10, stride=2))
    >>> len(result.table()) == 10 * 7  # every origin, every step
    True
    """
    started = time.perf_counter()
    placed(data=data, model=model, train=train, bt=bt, source=source)
    data = frame_target(frame, data)[0]
    check_compatible(data, model)
    new = []
    series, _ = as_panel(frame, data.inputs, source, data.static)
    index = pd.DatetimeIndex(np.unique(np.concatenate([f.index.to_numpy() for f in series.values()])))
    if bt.hold_out is not None:
        if len(series) == 1:
            raise ForecastError("--hold-out holds series out of a panel's training; these data are one series")
        new = held_out(list(series), bt.hold_out, train.seed)
        if refusal(data, model):
            raise ForecastError(f"--hold-out: this model {refusal(data, model)}, which a new series "
                                "cannot have; drop that option to measure new series")
        if data.static:
            check_static({n: f for n, f in series.items() if n not in new}, {n: series[n] for n in new}, data)
    season = bt.season_length or season_of(index, data.cycle)
    if bt.origins is None:
        bt = replace(bt, origins=default_origins(len(index), data, bt, season))
    starts = origin_starts(index, data.horizon, bt)
    if starts[0] < 1:
        raise ForecastError(f"--origins {bt.origins} with stride {bt.stride} reaches before the first row "
                            f"of {len(index)}; use fewer origins")
    chunk = bt.retrain_every or len(starts)
    folds = [starts[i:i + chunk] for i in range(0, len(starts), chunk)]
    need = max(season, bt.ma_window) + 1
    if starts[0] < need:
        raise ForecastError(f"the baselines need {need} rows before the first origin, there are "
                            f"{starts[0]}; use fewer origins or a shorter backtest.ma_window or backtest.season_length (--set)")
    walks = {name: _Walk() for name in series}
    trains = {name: f for name, f in series.items() if name not in new}
    for i, fold in enumerate(folds):
        first, stop = int(fold[0]), int(fold[-1]) + data.horizon
        trained = train_fold(trains, first, stop, data, model, train, bt, data.fractions[0], index,
                             source.drop_bad)
        parts = parts_of(trained.prepared)
        with torch_threads(train.threads):
            scores = [walks[name].add(trained.net, part, index[fold], data, model, season, bt.ma_window)
                      for name, part in parts.items()]
            calibration = pooled_scores([s for s in scores if s is not None], model)
            for name in new if calibration is not None else ():  # each origin as new: its own scaling
                for date, part in new_parts(series[name], index[fold_start(first, bt)], index[fold],
                                            index[stop - 1], trained.prepared, name):
                    walks[name].add(trained.net, part, pd.DatetimeIndex([date]), data, model, season,
                                    bt.ma_window, calibration)
        if progress is not None:
            progress(i + 1, len(folds))
    done = {name: walk.result(name, data, model, bt) for name, walk in walks.items() if walk.points}
    if not done:
        raise ForecastError("no series has data at any origin")
    if new and not any(name in done for name in new):
        raise ForecastError(f"no held-out series ({', '.join(new)}) has the {data.seq_len} rows of history an "
                            "origin needs; hold out others, or use fewer --origins")
    results = list(done.values())
    pooled = results[0] if len(results) == 1 else pool(results)
    return replace(pooled, folds=len(folds), seconds=time.perf_counter() - started,
                   new=tuple(n for n in new if n in done), left_out=tuple(n for n in series if n not in done))


class _Walk:
    """One series' forecasts, fold by fold, and its intervals once the walk is over."""

    def __init__(self):
        self.points, self.quantiles, self.actual, self.anchor, self.origins, self.dates = [], [], [], [], [], []
        self.scales, self.local, self.calibration, self.naive_lo, self.naive_hi = [], [], [], [], []
        self.majority, self.baselines, self.fold_of, self.margins = [], [], [], []

    def add(self, net, part, target_dates, data: DataConfig, model: ModelConfig, season: int,
            ma_window: int, calibration: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray | None:
        """Forecast the fold's origins of this series; return its validation windows' conformity scores
        (K, n, H, T), None when it has no origin in the fold. A new series is given its `calibration`
        (scores and margins: see `pooled_scores`)."""
        rows = part.index.get_indexer(target_dates)  # positions after any transform; -1: no data
        rows = rows[(rows >= data.seq_len) & (rows + data.horizon <= len(part.index))]
        if not len(rows):
            return None
        coverage, pairs = model.coverage, pick_pairs(model.quantiles, model.coverage)
        point, q = forecast_windows(net, part, rows)
        if calibration is None:
            val = part.stage_starts("val").numpy()
            val_point, val_q = forecast_windows(net, part, val)
            scores, margins = conformity(part.actuals(val), val_point, val_q, pairs, part.scales(val)), None
        else:
            scores, margins = calibration
        self.calibration.append(scores)
        self.margins.append(margins)
        fold_train = part.raw_targets[: part.fit_end]
        lo, hi = naive_bounds(fold_train, part.anchors(rows), data.horizon, coverage)
        n = len(rows)
        self.points.append(point)
        self.quantiles.append(q)
        self.actual.append(part.actuals(rows))
        self.anchor.append(part.anchors(rows))
        self.origins.append(part.index[rows - 1])
        self.dates.append(np.asarray(part.index)[rows[:, None] + np.arange(data.horizon)])
        self.local.append(part.scales(rows))
        self.naive_lo.append(lo)
        self.naive_hi.append(hi)
        self.scales.append(np.repeat(part.mase_scale()[None, None, :], n, axis=0))
        self.majority.append(np.repeat(direction_of_majority(fold_train)[None, None, :], n, axis=0))
        self.baselines.append({**baselines(part.raw_targets, rows, data.horizon, season, ma_window),
                               **statistical(part.raw_targets, rows, data.horizon, season, data.baselines, part.fit_end)})
        self.fold_of.append(np.full(n, len(self.calibration) - 1))
        return self.calibration[-1]

    def result(self, name: str, data: DataConfig, model: ModelConfig, bt: BacktestConfig) -> Evaluation:
        coverage, pairs = model.coverage, pick_pairs(model.quantiles, model.coverage)
        point, actual, local = (np.concatenate(v) for v in (self.points, self.actual, self.local))
        quantiles = np.concatenate(self.quantiles) if model.quantiles else None
        fold_of = np.concatenate(self.fold_of)
        origins = self.origins[0].append(self.origins[1:]) if len(self.origins) > 1 else self.origins[0]
        dates = np.concatenate(self.dates)
        if bt.calibration == "adaptive":
            known_at = np.searchsorted(np.asarray(origins), dates)  # first origin that has seen each target
            margin = adaptive_margins(self.calibration, fold_of,
                                      conformity(actual, point, quantiles, pairs, local), known_at,
                                      coverage, bt.gamma)
        else:
            margin = np.stack([np.stack([conformal_quantile(scores[k], c) for k, c in enumerate(coverage)])
                               if fixed is None else fixed
                               for scores, fixed in zip(self.calibration, self.margins)])[fold_of].swapaxes(0, 1)
        lower, upper = bounds(point, quantiles, pairs, margin, local)
        intervals = Intervals(coverage, lower, upper, np.concatenate(self.naive_lo, axis=1),
                              np.concatenate(self.naive_hi, axis=1), quantiles, model.quantiles,
                              Intervals.weights(fold_of, [scores.shape[1] for scores in self.calibration], data.horizon))
        forecasts = {"model": point, **{b: np.concatenate([f[b] for f in self.baselines])
                                        for b in self.baselines[0]}}
        return Evaluation(
            targets=tuple(data.targets), origins=pd.DatetimeIndex(origins), target_dates=dates,
            actual=actual, forecasts=forecasts, anchor=np.concatenate(self.anchor),
            mase_scale=np.concatenate(self.scales), intervals=intervals,
            majority=np.concatenate(self.majority), lag=math.ceil(data.horizon / bt.stride), folds=0,
            seconds=0.0, series=np.full(len(point), name, dtype=object))


# Series held out of training (`BacktestConfig.hold_out`): what each fold needs

def held_out(names: list[str], spec: str, seed: int) -> list[str]:
    """The series a backtest holds out of training (see `BacktestConfig.hold_out`): `spec` names
    them ("a,b"), or gives a share ("20%") or a count ("5") drawn at random with `seed`; in the
    panel's order."""
    if len(names) < 2:
        raise ForecastError("--hold-out holds series out of a panel's training; these data are one series")
    wanted = [w.strip() for w in spec.split(",") if w.strip()]
    if not all(w in names for w in wanted):
        number = spec.strip().removesuffix("%")
        if len(wanted) > 1 or not number.replace(".", "", 1).isdigit():
            missing = [w for w in wanted if w not in names]
            raise ForecastError(f"--hold-out: no series {', '.join(map(repr, missing))} in these data; "
                                f"give names among {_some(names)}, a share (20%) or a count (5)")
        share = spec.strip().endswith("%")
        count = max(1, round(len(names) * float(number) / 100)) if share else int(float(number))
        rng = np.random.default_rng(seed)
        wanted = rng.choice(np.array(names, dtype=object), min(count, len(names)), replace=False).tolist()
    if len(set(wanted)) >= len(names):
        raise ForecastError(f"--hold-out {spec} holds out every one of the {len(names)} series; "
                            "at least one must train the model")
    return [n for n in names if n in set(wanted)]


def _some(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(map(repr, names[:limit]))
    return shown + (f" (and {len(names) - limit} more)" if len(names) > limit else "")


def check_static(trains: dict, held: dict, data: DataConfig) -> None:
    """Before any training: the series left to train can encode the static columns, and every
    held-out series' values are among theirs."""
    try:
        encoding = static_encoding(static_table(trains, data.static))
    except ForecastError as e:
        raise ForecastError(f"--hold-out leaves {len(trains)} series to train on: {e}") from None
    for name, frame in held.items():
        static_of(frame, encoding, data, name)


def static_of(frame: pd.DataFrame, encoding: dict, data: DataConfig, name: str):
    """A held-out series' encoded static values (see `forecast.preprocess.apply_static`)."""
    try:
        return apply_static(encoding, static_values(frame, data.static, f"series {name}"), f"held-out series {name}")
    except ForecastError as e:
        raise ForecastError(f"{e}; a held-out series' static values must be among the trained series': "
                            "hold out others with --hold-out NAMES") from None


def pooled_scores(scores: list[np.ndarray], model: ModelConfig) -> tuple[np.ndarray, np.ndarray] | None:
    """What a new series is calibrated with at a fold: the trained series' (K, n, H, T) validation
    scores pooled (where adaptive intervals start) and the median of their margins (split intervals,
    as `pooled_calibration`)."""
    if not scores:
        return None
    margins = [np.stack([conformal_quantile(s[k], c) for k, c in enumerate(model.coverage)]) for s in scores]
    return np.concatenate(scores, axis=1), np.median(np.stack(margins), axis=0)


def new_parts(frame: pd.DataFrame, lo, dates, last, prepared, name: str):
    """A held-out series at each origin of a fold, as `predict --new-series` would forecast it there:
    yields (the origin's first target date, the series' rows from `lo` to that forecast's last target,
    preprocessing fitted on the rows before that date), for each of `dates` with enough rows before it
    (`seq_len`). `last` is the fold's last target date."""
    cfg = prepared.cfg
    cut = frame.loc[(frame.index >= lo) & (frame.index <= last), list(cfg.inputs)]
    lost = cfg.lost_rows
    static = static_of(frame, prepared.static_encoding, cfg, name) if cfg.static else None
    for date, row in zip(dates, cut.index.get_indexer(dates)):  # -1: no row on that date
        if row < cfg.context_rows or row + cfg.horizon > len(cut):
            continue
        try:
            fitted = new_preprocessor(cfg, cut.iloc[:row], static)
            part = prepare(cut.iloc[:row + cfg.horizon], cfg, "all", fitted)
        except ForecastError as e:
            raise ForecastError(f"held-out series {name}: {e}") from None
        yield date, replace(part, train_end=row - lost, val_end=row - lost, fit_end=row - lost)
