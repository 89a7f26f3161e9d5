"""M4 Hourly as the M4 organisers scored it: sMAPE, MASE and OWA against Naive2, beside the seasonal
naive, Naive2 and Theta, and the project's global model through the public API.

    python benchmarks/m4.py --baselines-only          # the scorer and the baselines (seconds)
    python benchmarks/m4.py --seeds 1 2 3              # one global model per seed, then the table
    python benchmarks/m4.py --ensemble A.npz B.npz     # the mean of stored runs' forecasts, scored
    python benchmarks/m4.py --validate ...             # score on the training part's last 48 hours

The scorer follows the organisers' R code (`Benchmarks and Evaluation.R` in `Mcompetitions/M4-methods`):
sMAPE and MASE per step and series, averaged over all of them; MASE scaled by each series' mean
absolute 24-step difference over its training part; Naive2 is the naive forecast of the series
deseasonalised by classical multiplicative decomposition when a 90% autocorrelation test at lag 24
finds a season. A test (tests/test_m4.py) checks that it reproduces the published Naive2 and seasonal
naive figures to the third decimal. The data (414 series, 700-960 hours each, 48 to forecast) are in
`../shared/data/m4/`; see `../shared/data/README.md` for their source.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

SEASON, HORIZON = 24, 48
DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "m4"
RESULTS = Path(__file__).resolve().parent / "results" / "m4"
PUBLISHED = {  # sMAPE, MASE, OWA on M4 Hourly ("Evaluation and Ranks", M4-methods)
    "Naive2": (18.383, 2.395, 1.0), "seasonal naive": (13.912, 1.193, 0.627), "Theta": (18.138, 2.455, 1.006),
    "ES-RNN (winner)": (9.328, 0.893, 0.440), "best entry on Hourly": (float("nan"), float("nan"), 0.410),
}
LEVEL = 0.95  # the level of M4's prediction intervals
PUBLISHED_INTERVALS = {  # MSIS, |coverage - 95%| on M4 Hourly ("Evaluation and Ranks", M4-methods)
    "Naive": (71.245, 0.011), "ETS": (17.487, 0.001), "ARIMA": (7.538, 0.001),
    "ES-RNN (winner)": (7.928, 0.040), "best entry on Hourly (Doornik et al.)": (6.139, 0.002),
}


def load(folder: Path = DATA) -> tuple[dict[str, pd.DataFrame], dict[str, np.ndarray]]:
    """The training frames by series (through the public loader) and the 48 test values of each."""
    from forecast import SourceConfig
    from forecast.loading import load_panel

    train, _ = load_panel(SourceConfig(path=str(folder / "hourly_train.csv"), series_col="series", max_gap=0),
                          ["value"])
    test = pd.read_csv(folder / "hourly_test.csv", dtype={"series": str})
    actual = {name: rows["value"].to_numpy(np.float64) for name, rows in test.groupby("series", sort=False)}
    return train, actual


def validation_cut(train: dict[str, pd.DataFrame]) -> tuple[dict[str, pd.DataFrame], dict[str, np.ndarray]]:
    """Each training part less its last 48 hours, and those hours as the values to forecast: a
    validation span for choices that only the refit shows, M4's test hours unread."""
    actual = {name: frame["value"].to_numpy(np.float64)[-HORIZON:] for name, frame in train.items()}
    return {name: frame.iloc[:-HORIZON] for name, frame in train.items()}, actual


# --- the organisers' scores ---------------------------------------------------------------------

def smape(actual: np.ndarray, forecast: np.ndarray) -> np.ndarray:
    """Per step: 200 |y - f| / (|y| + |f|)."""
    return 200 * np.abs(actual - forecast) / (np.abs(actual) + np.abs(forecast))


def mase(history: np.ndarray, actual: np.ndarray, forecast: np.ndarray, season: int = SEASON) -> np.ndarray:
    """Per step: |y - f| over the mean absolute `season`-step difference of the training part."""
    return np.abs(actual - forecast) / np.mean(np.abs(history[season:] - history[:-season]))


def score(histories: dict, actual: dict, forecasts: dict) -> tuple[float, float]:
    """(sMAPE, MASE): means over every step of every series."""
    s = np.concatenate([smape(actual[n], forecasts[n]) for n in actual])
    m = np.concatenate([mase(histories[n], actual[n], forecasts[n]) for n in actual])
    return float(s.mean()), float(m.mean())


def msis(history: np.ndarray, actual: np.ndarray, lower: np.ndarray, upper: np.ndarray,
         level: float = LEVEL, season: int = SEASON) -> float:
    """The M4 interval score of one series: the width plus 2/alpha times each miss, averaged over the
    steps, scaled as MASE is."""
    alpha = 1 - level
    penalty = (upper - lower) + 2 / alpha * ((lower - actual) * (actual < lower) + (actual - upper) * (actual > upper))
    return float(np.mean(penalty) / np.mean(np.abs(history[season:] - history[:-season])))


def interval_score(histories: dict, actual: dict, intervals: dict) -> tuple[float, float]:
    """(MSIS averaged over the series, the share of test values inside their interval)."""
    scores = [msis(histories[n], actual[n], *intervals[n]) for n in actual]
    inside = np.concatenate([(actual[n] >= intervals[n][0]) & (actual[n] <= intervals[n][1]) for n in actual])
    return float(np.mean(scores)), float(inside.mean())


def naive_interval(x: np.ndarray, horizon: int = HORIZON, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """The organisers' Naive interval: the last value plus or minus the normal quantile times the
    root mean square one-step change times the square root of the step (a random walk's)."""
    from scipy.stats import norm

    spread = norm.ppf(0.5 + level / 2) * np.sqrt(np.mean(np.diff(x) ** 2)) * np.sqrt(np.arange(1, horizon + 1))
    return x[-1] - spread, x[-1] + spread


def owa(smape_value: float, mase_value: float, naive2: tuple[float, float]) -> float:
    return 0.5 * (smape_value / naive2[0] + mase_value / naive2[1])


# --- the organisers' statistical benchmarks -----------------------------------------------------

def _acf(x: np.ndarray, lags: int) -> np.ndarray:
    """Autocorrelations at lags 1..`lags`, as R's `acf` computes them (one mean, one denominator)."""
    centred = x - x.mean()
    denominator = centred @ centred
    return np.array([centred[k:] @ centred[:-k] / denominator for k in range(1, lags + 1)])


def seasonal(x: np.ndarray, season: int = SEASON) -> bool:
    """The 90% test of the M4 benchmarks: is the autocorrelation at lag `season` outside its band?"""
    if len(x) < 3 * season:
        return False
    r = _acf(x, season)
    limit = 1.645 / np.sqrt(len(x)) * np.sqrt(1 + 2 * np.sum(r[:-1] ** 2))
    return bool(abs(r[-1]) > limit)


def seasonal_indices(x: np.ndarray, season: int = SEASON) -> np.ndarray:
    """Classical multiplicative decomposition (R's `decompose`): the mean ratio of the series to its
    centred moving average at each position of the cycle, normalised to mean 1; (season,)."""
    weights = np.r_[0.5, np.ones(season - 1), 0.5] / season if season % 2 == 0 else np.ones(season) / season
    half = len(weights) // 2
    trend = np.full(len(x), np.nan)
    trend[half:len(x) - half] = np.convolve(x, weights, mode="valid")
    ratio = x / trend
    figure = np.array([np.nanmean(ratio[i::season]) for i in range(season)])
    return figure / figure.mean()


def naive2(x: np.ndarray, horizon: int = HORIZON, season: int = SEASON) -> np.ndarray:
    if not seasonal(x, season):
        return np.full(horizon, x[-1])
    figure = seasonal_indices(x, season)
    position = np.arange(len(x), len(x) + horizon) % season
    return x[-1] / figure[(len(x) - 1) % season] * figure[position]


def seasonal_naive(x: np.ndarray, horizon: int = HORIZON, season: int = SEASON) -> np.ndarray:
    return np.resize(x[-season:], horizon)


def theta(x: np.ndarray, horizon: int = HORIZON, season: int = SEASON) -> np.ndarray:
    """The classic Theta method (statsmodels' ThetaModel) on the series deseasonalised as for Naive2,
    the season put back; negative forecasts become 0, as in the organisers' code."""
    from statsmodels.tsa.forecasting.theta import ThetaModel

    if seasonal(x, season):
        figure = seasonal_indices(x, season)
        index = figure[np.arange(len(x)) % season]
        ahead = figure[np.arange(len(x), len(x) + horizon) % season]
    else:
        index, ahead = np.ones(len(x)), np.ones(horizon)
    fitted = ThetaModel(x / index, period=1, deseasonalize=False).fit()
    return np.maximum(np.asarray(fitted.forecast(horizon)) * ahead, 0)


def baselines(histories: dict, include_theta: bool = True, product: tuple[str, ...] = ()) -> dict[str, dict]:
    """The organisers' benchmarks, and the product's statistical baselines `product` (ets, theta,
    arima: `forecast.metrics.statistical`, what `--baselines` adds to a fit's report), each fitted
    on a series' whole training part."""
    from forecast.metrics import statistical

    methods = {"Naive2": naive2, "seasonal naive": seasonal_naive, **({"Theta": theta} if include_theta else {})}
    out = {name: {n: method(x) for n, x in histories.items()} for name, method in methods.items()}
    for name in product:
        out[f"{name} (forecast --baselines)"] = {
            n: statistical(x[:, None], np.array([len(x)]), HORIZON, SEASON, (name,), len(x))[name][0, :, 0]
            for n, x in histories.items()}
    return out


# --- the project's model ------------------------------------------------------------------------

def model_forecasts(train: dict, seed: int, args) -> tuple[dict, dict, dict, dict]:
    """One global model on every series' training part (validation cut from its end, never the test
    hours), forecasting the 48 hours after it: the forecasts and their 95% intervals (conformal), of
    the model refitted on every row, of the model before the refit, and of the refitted model with
    its interval calibrated on validation alone (by series, each `(forecast, lower, upper)`), and its
    stages' seconds."""
    import lightning.pytorch as pl

    from forecast import DataConfig, ModelConfig, TrainConfig, fit

    class Clock(pl.Callback):  # when each epoch of the first training starts, and when it ends
        def __init__(self):
            self.marks: list[float] = []

        def on_train_epoch_start(self, trainer, module):
            self.marks.append(time.perf_counter())

        def on_fit_end(self, trainer, module):
            self.marks.append(time.perf_counter())

    clock, prepared = Clock(), []
    if args.recent:  # the lab's recency weighting: each window drawn with odds halving every `recent` hours back
        import torch

        from forecast.trainer import WindowDataModule

        def window_weights(self):
            counts = [part.split_sizes()["train"] for part in self.prepared.parts]
            return torch.cat([0.5 ** (torch.arange(n, 0, -1, dtype=torch.float64) / args.recent) for n in counts if n])

        WindowDataModule.window_weights = window_weights
    started = time.perf_counter()
    data = DataConfig(targets=["value"], seq_len=args.seq_len, horizon=HORIZON, cycle=args.cycle,
                      transform=args.transform, scaler=args.scaler)  # the panel's default split
    quantiles = tuple(float(q) for q in args.quantiles.split(",")) if args.quantiles else ()
    result = fit(train, data, ModelConfig(cell=args.cell, hidden_size=args.hidden_size, coverage=(LEVEL,),
                                          segment_len=args.segment_len, num_layers=args.num_layers,
                                          quantiles=quantiles, normalize=args.normalize or None,
                                          series_embedding=args.series_embedding, dropout=args.dropout),
                 TrainConfig(max_epochs=args.max_epochs, batch_size=args.batch_size, seed=seed, loss=args.loss,
                             accelerator=args.accelerator, sampling=args.sampling, learning_rate=args.learning_rate,
                             schedule=args.schedule, refit_epochs=args.refit_epochs, ensemble=args.members), quiet=True, callbacks=[clock],
                 announce=lambda _: prepared.append(time.perf_counter()), net=args.net or None,
                 net_options=args.net_options)
    fitted = time.perf_counter()
    bounds = [f"value_{side}{100 * LEVEL:g}" for side in ("lower", "upper")]

    def forecasts(model) -> dict:
        predicted = model.predict()
        return {name: np.stack([rows[c].to_numpy(np.float64)[:HORIZON] for c in ("value", *bounds)])
                for name, rows in predicted.groupby("series")}

    out = forecasts(result.model)
    predict = time.perf_counter() - fitted
    before_refit = forecasts(result.evaluated)
    held = result.metrics  # the fit's own test span: the training part's last hours, never M4's test hours
    stages = result.stages
    times = {"fit": fitted - started, "predict": predict,
             "prepare": prepared[0] - started, "epochs": list(np.diff(clock.marks)),
             "evaluate and refit": fitted - clock.marks[-1], "evaluate": stages["evaluate"],
             "refit": stages["refit"], "fit without refit": stages["train"] + stages["evaluate"],
             "validation loss": result.evaluated.info.get("best_val_loss"),
             "validation sMAPE": held["model"]["smape"], "validation MASE": held["model"]["mase"],
             "validation sMAPE, seasonal naive": held["seasonal_naive"]["smape"],
             "validation coverage": held["intervals"][f"{100 * LEVEL:g}%"]["model"]["coverage"] / 100}
    # the saved model's interval as calibrated on validation alone (before 0.3), scored beside
    return out, before_refit, forecasts(validation_calibrated(result.model, result.evaluated)), times


def validation_calibrated(model, evaluated):
    """`model` with each series' interval as `evaluated` calibrated it, on validation alone: what the
    saved model had before a refit took the fit's test windows into its calibration too."""
    from dataclasses import replace

    return replace(model, members={n: replace(m, calibration=evaluated.members[n].calibration)
                                   for n, m in model.members.items()})


def table(rows: dict[str, tuple[float, ...]], columns: tuple[str, ...] = ("sMAPE", "MASE", "OWA")) -> str:
    lines = [f"{'method':<38}" + "".join(f" {c:>9}" for c in columns)]
    lines += [f"{name:<38}" + "".join(f" {v:9.3f}" for v in values) for name, values in rows.items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="folder of hourly_train.csv and hourly_test.csv")
    parser.add_argument("--baselines-only", action="store_true", help="score the baselines, train nothing")
    parser.add_argument("--no-theta", action="store_true", help="leave out Theta (a minute of statsmodels fits)")
    parser.add_argument("--baselines", default="", help="the product's statistical baselines to score too, e.g. ets,arima")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--seq-len", type=int, default=168)
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--cell", default="gru")
    parser.add_argument("--segment-len", type=int, default=1,
                        help="read the input in segments of this many hours, each one step of the cell (SegRNN)")
    parser.add_argument("--num-layers", type=int, default=1)
    parser.add_argument("--series-embedding", type=int, default=0,
                        help="a learned vector of this size per series, read by the head (ModelConfig.series_embedding)")
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--recent", type=float, default=0,
                        help="draw training windows with odds halving every this many hours back from each "
                             "series' last (a lab screen; 0: every window once an epoch)")
    parser.add_argument("--members", type=int, default=1,
                        help="an ensemble of this many networks, averaged (TrainConfig.ensemble)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--accelerator", default="cpu", help="where to train: cpu (the benchmark's machine), gpu or auto")
    parser.add_argument("--max-epochs", type=int, default=8)
    parser.add_argument("--sampling", default="windows", help="windows (each once per epoch) or series")
    parser.add_argument("--cycle", type=int, default=0, help="take each series' cycle of this many steps out first (24: the day)")
    parser.add_argument("--loss", default="mse", help="the training loss: mse, mae or huber")
    parser.add_argument("--transform", default="none", help="none, or log (the cycle then multiplies the level)")
    parser.add_argument("--scaler", default="standard",
                        help="standard (each series' targets less their mean, over their spread) or none")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--schedule", default="none", help="the learning rate's schedule: none, cosine or plateau")
    parser.add_argument("--refit-epochs", type=int, default=0,
                        help="0: the refit trains afresh for the chosen epochs; N: it continues the evaluated model N epochs")
    parser.add_argument("--validate", action="store_true",
                        help="hold out each training part's last 48 hours and score on them, never reading M4's test "
                             "hours: a validation run, for choices only the refit shows (the refit itself)")
    parser.add_argument("--quantiles", default="", help="a quantile head instead of a point forecast, e.g. "
                        "0.025,0.975 (the median is added and is the forecast); the 95%% interval then comes "
                        "from the calibrated quantiles (conformalised quantile regression)")
    parser.add_argument("--normalize", default="", help="none, last or last+scale (default: the product's)")
    parser.add_argument("--net", default="", help="a lab network instead of the product's, e.g. m4_nets:SmoothedLevelNet")
    parser.add_argument("--net-options", type=json.loads, default=None,
                        help='JSON options for --net, e.g. \'{"members": 5}\' for heads:EnsembleNet')
    parser.add_argument("--series", type=int, default=0, help="the first N series only (a quick screen, not the benchmark)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON of the run goes")
    parser.add_argument("--ensemble", type=Path, nargs="+", default=[],
                        help="score the mean of these stored runs' forecasts (their _forecasts_sSEED.npz), train nothing")
    args = parser.parse_args()
    if not (args.data / "hourly_train.csv").is_file():
        sys.exit(f"M4 Hourly not found in {args.data} (hourly_train.csv, hourly_test.csv); "
                 "see ../shared/data/README.md for where it comes from")
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    train, actual = load(args.data)
    if args.validate:  # the last 48 training hours are the test: M4's own test hours stay unread
        train, actual = validation_cut(train)
    if args.series:
        train = dict(list(train.items())[:args.series])
        actual = {name: actual[name] for name in train}
    histories = {n: f["value"].to_numpy(np.float64) for n, f in train.items()}
    rows, seconds = {}, {"load": time.perf_counter() - started}
    scored = {name: score(histories, actual, fc) for name, fc in baselines(histories, not args.no_theta,
                                                                        tuple(filter(None, args.baselines.split(",")))).items()}
    reference = scored["Naive2"]
    for name, (s, m) in scored.items():
        rows[name] = (s, m, owa(s, m, reference))
    width, inside = interval_score(histories, actual, {n: naive_interval(x) for n, x in histories.items()})
    interval_rows = {"Naive": (width, abs(inside - LEVEL))}
    runs, kept = [], {}
    if args.ensemble:
        stored = [np.load(path) for path in args.ensemble]
        forecasts = {n: np.mean([z[n][0] for z in stored], axis=0) for n in actual}
        s, m = score(histories, actual, forecasts)
        rows[f"ensemble of {len(stored)} stored runs (mean)"] = (s, m, owa(s, m, reference))
        for path, z in zip(args.ensemble, stored):
            s, m = score(histories, actual, {n: z[n][0] for n in actual})
            rows[f"  {path.parent.name}/{path.stem}"] = (s, m, owa(s, m, reference))
    elif not args.baselines_only:
        for seed in args.seeds:
            refitted, before_refit, plain, times = model_forecasts(train, seed, args)
            width1, inside1 = interval_score(histories, actual, {n: f[1:] for n, f in plain.items()})
            times["interval calibrated on validation alone"] = {"msis": width1, "coverage": inside1}
            print(f"seed {seed}: the interval calibrated on validation alone: MSIS {width1:.3f}, coverage "
                  f"{inside1:.3f}", flush=True)
            kept[seed] = (refitted, before_refit)
            s, m = score(histories, actual, {n: f[0] for n, f in refitted.items()})
            width, inside = interval_score(histories, actual, {n: f[1:] for n, f in refitted.items()})
            s0, m0 = score(histories, actual, {n: f[0] for n, f in before_refit.items()})
            width0, inside0 = interval_score(histories, actual, {n: f[1:] for n, f in before_refit.items()})
            runs.append({"seed": seed, "smape": s, "mase": m, "owa": owa(s, m, reference), "msis": width,
                         "coverage": inside, **times,
                         "before refit": {"smape": s0, "mase": m0, "owa": owa(s0, m0, reference), "msis": width0,
                                          "coverage": inside0}})
            print(f"seed {seed}: sMAPE {s:.3f} MASE {m:.3f} OWA {owa(s, m, reference):.3f}; 95% interval MSIS "
                  f"{width:.3f}, coverage {inside:.3f} ({times['fit']:.0f} s fit, {times['predict']:.1f} s predict); "
                  f"before the refit ({times['fit without refit']:.0f} s): sMAPE {s0:.3f} MASE {m0:.3f} "
                  f"OWA {owa(s0, m0, reference):.3f}, MSIS {width0:.3f}, coverage {inside0:.3f}", flush=True)
        mean = [float(np.mean([r[k] for r in runs])) for k in ("smape", "mase", "owa")]
        rows[f"forecast ({len(runs)} seed(s), mean)"] = tuple(mean)
        width, inside = (float(np.mean([r[k] for r in runs])) for k in ("msis", "coverage"))
        interval_rows[f"forecast ({len(runs)} seed(s), mean)"] = (width, abs(inside - LEVEL))
        before = [r["before refit"] for r in runs]  # the model before the refit: what skipping it gives
        rows["  before the refit"] = tuple(float(np.mean([r[k] for r in before])) for k in ("smape", "mase", "owa"))
        width, inside = (float(np.mean([r[k] for r in before])) for k in ("msis", "coverage"))
        interval_rows["  before the refit"] = (width, abs(inside - LEVEL))
    seconds["total"] = time.perf_counter() - started
    print(table(rows))
    print("published:\n" + table(PUBLISHED))
    print(table(interval_rows, ("MSIS", "|cov-95%|")))
    print("published:\n" + table(PUBLISHED_INTERVALS, ("MSIS", "|cov-95%|")))
    print(f"load before the run {load_before:.2f}, after {os.getloadavg()[0]:.2f}; {seconds['total']:.0f} s")
    record = {"rows": rows, "intervals": interval_rows, "runs": runs, "seconds": seconds, "load": [load_before, os.getloadavg()[0]],
              "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
    if runs:
        args.out.mkdir(parents=True, exist_ok=True)
        name = (f"{args.cell}_h{args.hidden_size}_in{args.seq_len}_e{args.max_epochs}_{args.sampling}"
                + (f"_cycle{args.cycle}" if args.cycle else "") + (f"_{args.loss}" if args.loss != "mse" else "")
                + (f"_{args.transform}" if args.transform != "none" else "")
                + (f"_scaler{args.scaler}" if args.scaler != "standard" else "")
                + (f"_seg{args.segment_len}" if args.segment_len > 1 else "")
                + (f"_layers{args.num_layers}" if args.num_layers > 1 else "")
                + (f"_embed{args.series_embedding}" if args.series_embedding else "")
                + (f"_dropout{args.dropout:g}" if args.dropout else "")
                + (f"_recent{args.recent:g}" if args.recent else "")
                + (f"_ensemble{args.members}" if args.members > 1 else "")
                + (f"_batch{args.batch_size}" if args.batch_size != 256 else "")
                + (f"_{args.accelerator}" if args.accelerator != "cpu" else "")
                + (f"_{args.net.rpartition(':')[2]}" if args.net else "")
                + "".join(f"_{k}{'-'.join(map(str, v)) if isinstance(v, list) else v}"
                          for k, v in (args.net_options or {}).items())
                + (f"_q{args.quantiles.replace(',', '-')}" if args.quantiles else "")
                + (f"_{args.normalize.replace('+', '')}" if args.normalize else "")
                + (f"_lr{args.learning_rate:g}" if args.learning_rate != 1e-3 else "")
                + (f"_{args.schedule}" if args.schedule != "none" else "")
                + (f"_warm{args.refit_epochs}" if args.refit_epochs else "") + ("_validate" if args.validate else "")
                + (f"_first{args.series}" if args.series else "") + f"_s{'-'.join(map(str, args.seeds))}")
        (args.out / f"{name}.json").write_text(json.dumps(record, indent=1))
        for seed, (refitted, before_refit) in kept.items():  # each series' forecast and 95% bounds, for ensembles
            np.savez_compressed(args.out / f"{name.rsplit('_s', 1)[0]}_forecasts_s{seed}.npz", **refitted)
            np.savez_compressed(args.out / f"{name.rsplit('_s', 1)[0]}_before_refit_forecasts_s{seed}.npz",
                                **before_refit)
    print(json.dumps(record))


if __name__ == "__main__":
    from forecast.errors import ForecastError

    try:
        main()
    except ForecastError as e:  # a setting the library refuses: its one line, not a traceback
        sys.exit(f"error: {e}")
