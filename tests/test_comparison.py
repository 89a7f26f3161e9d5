"""The model beside its baselines: the best baseline is the yardstick, and tests decide the verdict."""
import numpy as np
import pytest
import pandas as pd

from forecast.comparison import summarise, verdict_lines
from forecast.intervals import Intervals
from forecast.comparison import constant_direction, direction_of_majority


def _intervals(actual, width=1.0):
    k = np.stack([actual - width, actual - 2 * width])
    return Intervals((0.8, 0.9), k, k + 4 * width, k - 1, k + 5)


def test_the_verdict_is_against_the_best_baseline_and_significance_decides_it():
    rng = np.random.default_rng(0)
    b = 300
    actual = np.cumsum(rng.normal(0.5, 1, b))[:, None, None] + 100  # a strong upward drift
    anchor = actual[:, 0, :] - 0.5 - rng.normal(0, 1, (b, 1))
    model = actual + rng.normal(0, 0.9, actual.shape)  # better than naive, worse than drift
    drift = actual + rng.normal(0, 0.5, actual.shape)
    forecasts = {"model": model, "naive": anchor[:, None, :], "drift": drift}
    s = summarise(actual, forecasts, anchor, np.ones(1), _intervals(actual), np.ones(1), lag=1, prices=True)
    assert s["best_baseline"] == "drift" and s["skill"] > 0 > s["skill_vs_best"]
    assert s["tests"]["dm_best"]["p_value"] < 0.05 and s["tests"]["dm_best"]["mean_diff"] > 0
    assert s["verdict"][0].startswith("The model does NOT beat the best baseline (drift)")
    assert s["verdict"][0].endswith("For prices the random walk is hard to beat; do not trade on this model.")
    assert "better than naive at the 5% level" in s["verdict"][1]
    # the same figures for a series that is not prices (sales, GDP): no word of trading
    other = summarise(actual, forecasts, anchor, np.ones(1), _intervals(actual), np.ones(1), lag=1)
    assert other["verdict"][0].endswith("Forecast with drift instead, or find a model that beats it.")
    assert "trade" not in other["verdict"][0] and "prices" not in other["verdict"][0]


def test_only_dates_on_trading_days_are_taken_for_prices():
    from forecast.dates import weekdays_only

    assert weekdays_only(pd.bdate_range("2020-01-01", periods=30))  # daily closes
    assert weekdays_only(pd.bdate_range("2020-01-01", periods=30).to_numpy().reshape(10, 3))  # (B, H) dates
    assert not weekdays_only(pd.date_range("2020-01-01", periods=30))  # daily sales, weekends too
    assert not weekdays_only(pd.date_range("2020-01-06", periods=30, freq="W-MON"))  # weekly, on Mondays
    assert not weekdays_only(pd.date_range("2020-01-01", periods=30, freq="MS"))  # monthly


def test_a_tiny_edge_that_is_not_significant_is_called_no_real_edge():
    rng = np.random.default_rng(1)
    actual = rng.normal(size=(60, 1, 1))
    naive = actual + rng.normal(0, 1, actual.shape)
    # the naive errors shuffled and shrunk by 1%: RMSE 1% lower, and no test can tell that from luck
    model = actual + 0.99 * rng.permutation(naive - actual)
    s = summarise(actual, {"model": model, "naive": naive}, actual[:, 0] * 0, np.ones(1),
                  _intervals(actual), np.ones(1), lag=1)
    assert s["skill_vs_best"] > 0 and "no real edge" in s["verdict"][0]


def test_always_up_is_the_majority_direction_of_the_training_rows():
    train = np.array([[1.0, 5.0], [2.0, 4.0], [3.0, 3.0], [2.0, 4.0]])  # y: 2 up 1 down; x: 2 down 1 up
    call = direction_of_majority(train)
    assert call.tolist() == [1.0, -1.0]
    actual = np.array([[[2.0, 2.0]], [[0.0, 9.0]], [[1.0, 1.0]]])  # (B=3, H=1, T=2), anchor 1 and 5
    anchor = np.array([[1.0, 5.0]] * 3)
    # moves: y up, down, flat (not counted); x down, up, down: calls right on y 1 of 2, x 2 of 3
    assert constant_direction(actual, anchor, call) == 60.0


def test_when_a_seasonal_baseline_wins_then_the_verdict_says_nothing_of_prices_and_random_walks():
    rng = np.random.default_rng(2)
    actual = np.sin(np.arange(200) / 3.0)[:, None, None] + rng.normal(0, 0.05, (200, 1, 1))
    seasonal = actual + rng.normal(0, 0.05, actual.shape)
    model = actual + rng.normal(0, 0.5, actual.shape)
    naive = actual + rng.normal(0, 1.0, actual.shape)
    s = summarise(actual, {"model": model, "naive": naive, "seasonal_naive": seasonal}, actual[:, 0] * 0,
                  np.ones(1), _intervals(actual), np.ones(1), lag=1)
    assert s["best_baseline"] == "seasonal_naive"
    assert s["verdict"][0].startswith("The model does NOT beat the best baseline (seasonal naive)")
    assert "random walk" not in s["verdict"][0] and "trade" not in s["verdict"][0]


def test_informative_calls_right_less_often_than_always_up_are_not_left_looking_useful():
    dm = {"p_value": 0.5, "statistic": 0.1, "n": 100}
    s = {"best_baseline": "naive", "skill_vs_best": -0.01, "model": {"direction": 51.1},
         "always": {"call": "up", "direction": 52.2},
         "tests": {"dm_best": dm, "dm_naive": dm, "direction": {"p_value": 0.04}}}
    assert verdict_lines(s)[-1].endswith("the calls carry information, yet always up is right as often.")
    s["model"]["direction"] = 55.0
    assert verdict_lines(s)[-1].endswith("the calls carry information.")


def test_a_model_whose_one_step_calls_never_change_is_not_credited_with_its_hit_rate():
    rng = np.random.default_rng(3)
    b = 200
    actual = np.cumsum(rng.normal(0, 1, b))[:, None, None] + 100
    anchor = actual[:, 0, :] + rng.normal(0, 1, (b, 1))
    model = np.repeat(anchor[:, None, :] - 0.5, 1, axis=1)  # always calls down, one step
    s = summarise(actual, {"model": model, "naive": anchor[:, None, :]}, anchor, np.ones(1),
                  _intervals(actual), np.ones(1), lag=1)
    line = s["verdict"][-1]
    assert line.startswith("Direction, over every step: the model is right on")
    assert "calls all go down" in line and "carries no information, whatever its hit rate" in line


def test_intervals_that_fall_far_short_of_their_promise_are_named_in_the_verdict_with_what_to_do():
    rng = np.random.default_rng(4)
    actual = rng.normal(size=(120, 3, 1))
    anchor = actual[:, 0, :] * 0
    narrow = np.stack([actual + 0.1, actual + 0.1])  # the outcome is always just below: never covered
    wide = np.stack([actual - 1, actual - 2]), np.stack([actual + 1, actual + 2])
    forecasts = {"model": actual + 0.1, "naive": np.repeat(anchor[:, None, :], 3, axis=1)}
    s = summarise(actual, forecasts, anchor, np.ones(1), Intervals((0.8, 0.9), narrow, narrow + 0.5, *wide),
                  np.ones(1), lag=3)
    line = s["verdict"][-1]
    assert line.startswith("Intervals short of their promise: the 80% interval covered 0.0%")
    assert "the 90% interval covered 0.0%" in line and "--calibration adaptive" in line
    fine = summarise(actual, forecasts, anchor, np.ones(1), _intervals(actual[..., :]), np.ones(1), lag=3)
    assert not any(v.startswith("Intervals short") for v in fine["verdict"])


def test_a_pooled_panel_is_judged_scale_free_not_by_its_largest_series():
    """The M4 case: pooled RMSE said the model won because it won on the largest series, while on
    every smaller one the baseline was better."""
    rng = np.random.default_rng(5)
    n = 200
    actual, model, naive, scales = [], [], [], []
    for scale, model_sd, naive_sd in ((100.0, 90.0, 100.0), (1.0, 2.0, 1.0), (1.0, 2.0, 1.0), (1.0, 2.0, 1.0)):
        a = rng.normal(0, scale, (n, 1, 1))
        actual.append(a)
        model.append(a + rng.normal(0, model_sd, a.shape))
        naive.append(a + rng.normal(0, naive_sd, a.shape))
        scales.append(np.full((n, 1, 1), scale))
    actual, model, naive, scales = map(np.concatenate, (actual, model, naive, scales))
    k = np.stack([actual - 1e9, actual - 1e9])
    s = summarise(actual, {"model": model, "naive": naive}, naive[:, 0, :], scales,
                  Intervals((0.8, 0.9), k, k + 2e9, k, k + 2e9), np.ones((len(actual), 1, 1)), lag=1)
    assert s["model"]["rmse"] < s["naive"]["rmse"]  # what the old verdict went by
    assert s["yardstick"] == "mase" and s["model"]["mase"] > s["naive"]["mase"]
    assert s["verdict"][0].startswith("The model does NOT beat the best baseline (naive): MASE")


def test_holm_matches_the_reference_adjustment_and_leaves_untested_series_alone():
    from statsmodels.stats.multitest import multipletests

    from forecast.comparison import holm
    p = np.array([0.01, 0.04, 0.03, 0.2, 0.001, 0.5])
    assert np.allclose(holm(p), multipletests(p, method="holm")[1])
    with_nan = holm([0.01, np.nan, 0.04])
    assert np.isnan(with_nan[1]) and np.allclose(with_nan[[0, 2]], [0.02, 0.04])


def test_a_panel_verdict_counts_series_against_their_own_best_baseline_after_holm():
    from forecast.comparison import with_series
    rows = {f"s{i}": {"better": True, "skill": 0.01, "dm_p_naive": p, "dm_p_best": p, "beats_best": True}
            for i, p in enumerate([0.001, 0.02, 0.03, 0.04, 0.5])}  # four p < 0.05 before adjustment
    out = with_series({"verdict": ["pooled"], "tests": {"dm_best": {"over": "forecasts, the series taken as independent"}}},
                      rows)
    assert out["series_beating_naive_significantly"] == 1 and out["series_beating_own_best_significantly"] == 1
    assert "significantly, DM p < 0.05 after Holm's adjustment for 5 tests, on 1" in out["verdict"][0]
    assert out["verdict"][1].startswith("Against each series' own best baseline it is better on 5 of 5")
    assert out["verdict"][1].endswith("scale-free (tested with the series taken as independent: fewer than 20 dates):")


def test_benjamini_hochberg_matches_statsmodels_and_leaves_untested_series_out():
    from statsmodels.stats.multitest import multipletests

    from forecast.comparison import benjamini_hochberg
    p = np.random.default_rng(3).uniform(0, 0.2, 40)
    np.testing.assert_allclose(benjamini_hochberg(p), multipletests(p, method="fdr_bh")[1])
    with_gap = benjamini_hochberg([0.01, np.nan, 0.04])
    assert np.isnan(with_gap[1]) and with_gap[0] == pytest.approx(0.02) and with_gap[2] == pytest.approx(0.04)


def test_the_model_confidence_set_keeps_what_cannot_be_told_from_the_best():
    from forecast.comparison import confidence_line, confidence_set
    rng = np.random.default_rng(0)
    noise = lambda scale: (rng.normal(0, 1, 600) * scale) ** 2  # noqa: E731
    clear = confidence_set({"model": noise(1.0), "naive": noise(1.6), "drift": noise(1.7)}, lag=5)
    assert clear["included"] == ["model"] and set(clear["excluded"]) == {"naive", "drift"}
    assert clear["p_values"]["model"] == 1.0 and max(clear["p_values"][n] for n in ("naive", "drift")) < 0.1
    assert "at once): model alone is in it, the best; naive, drift can be told apart from it." in confidence_line(clear)
    same = rng.normal(0, 1, 600) ** 2
    tied = confidence_set({"model": same + 1e-3 * noise(1.0), "naive": same + 1e-3 * noise(1.0),
                           "drift": same + 1e-3 * noise(1.0)}, lag=5)
    assert set(tied["included"]) == {"model", "naive", "drift"}
    assert "none can be told apart" in confidence_line(tied)
    assert confidence_set({"model": same[:5], "naive": same[:5]}, lag=1)["note"] == "too few origins to tell"


def test_the_share_of_zero_actuals_that_mape_leaves_out_is_counted_and_printed(monkeypatch):
    import io

    from rich.console import Console

    from forecast.cli import common
    rng = np.random.default_rng(1)
    actual = rng.poisson(0.8, (200, 3, 1)).astype(float)  # intermittent demand: many zeros
    anchor = actual[:, 0, :]
    forecasts = {"model": actual + rng.normal(0, 0.3, actual.shape), "naive": np.repeat(anchor[:, None, :], 3, 1)}
    s = summarise(actual, forecasts, anchor, np.ones(1), _intervals(actual), np.ones(1), lag=3)
    assert s["zero_actuals"] == pytest.approx(np.mean(actual == 0)) and 0.3 < s["zero_actuals"] < 0.6
    nonzero = actual != 0
    expected = 100 * np.mean(np.abs(forecasts["model"] - actual)[nonzero] / actual[nonzero])
    assert s["model"]["mape"] == pytest.approx(expected)  # over the other points only
    buffer = io.StringIO()
    monkeypatch.setattr(common, "out", Console(file=buffer, width=200))
    common.print_metrics(s)
    assert f"MAPE leaves out the {100 * s['zero_actuals']:.3g}% of actual values that are 0" in buffer.getvalue()
    s["zero_actuals"] = 0.0
    buffer.truncate(0)
    common.print_metrics(s)
    assert "MAPE leaves out" not in buffer.getvalue()


def _pooled(series: list[str], seed: int = 0):
    """A scored panel of one target whose forecasts belong to `series` (B,), in that order."""
    from forecast.evaluation import Evaluation

    rng = np.random.default_rng(seed)
    b, h = len(series), 3
    actual = rng.normal(10, 1, (b, h, 1))
    anchor = actual[:, 0, :] + rng.normal(0, 1, (b, 1))
    origins = pd.DatetimeIndex(pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(b) // 3, "D"))
    dates = origins.to_numpy()[:, None] + np.arange(1, h + 1) * np.timedelta64(1, "D")
    return Evaluation(("y",), origins, dates, actual,
                      {"model": actual + rng.normal(0, 0.5, actual.shape), "naive": anchor[:, None, :].repeat(h, 1)},
                      anchor, np.ones((b, 1, 1)), _intervals(actual), np.ones((b, 1, 1)), lag=h,
                      series=np.array(series, dtype=object))


def test_each_series_row_of_an_interleaved_panel_holds_that_series_forecasts_alone():
    names = ["b", "a", "c"] * 30 + ["a"] * 5  # interleaved, as a backtest's pooled origins may be
    pooled = _pooled(names)
    rows = pooled.metrics["series"]
    assert list(rows) == ["b", "a", "c"]  # in order of appearance
    for name in rows:
        alone = pooled.subset(np.array(names) == name).summary(False)
        assert rows[name]["rmse"] == alone["model"]["rmse"] and rows[name]["dm_p_naive"] == alone["tests"]["dm_naive"]["p_value"]


def _shared_shocks(n_series: int, n_dates: int, edge: float, seed: int = 0):
    """A panel whose model and naive losses differ by a shock all series share on each date, plus
    `edge` in the model's favour (one step, one target: loss difference = shock - edge)."""
    from forecast.evaluation import Evaluation

    rng = np.random.default_rng(seed)
    shock = rng.normal(0, 1, n_dates)
    diff = np.tile(shock, n_series) - edge + rng.normal(0, 0.01, n_series * n_dates)
    actual = np.zeros((len(diff), 1, 1))
    naive = np.full_like(actual, 3.0)
    model = np.sqrt(9 + diff)[:, None, None]
    origins = pd.DatetimeIndex(np.tile(pd.date_range("2024-01-01", periods=n_dates, freq="D"), n_series))
    dates = origins.to_numpy()[:, None] + np.timedelta64(1, "D")
    series = np.repeat([f"s{i}" for i in range(n_series)], n_dates).astype(object)
    return Evaluation(("y",), origins, dates, actual, {"model": model, "naive": naive}, np.zeros((len(diff), 1)),
                      np.ones((len(diff), 1, 1)), _intervals(actual), np.ones((len(diff), 1, 1)), lag=1, series=series)


def test_a_shock_the_series_share_counts_once_per_date_not_once_per_series():
    """20 series of 40 dates: the model's edge (0.15) is small beside what moves every series at once
    (a market day); taking each series' loss as its own origin would call it significant."""
    panel = _shared_shocks(20, 40, edge=0.15)
    test = panel.metrics["tests"]["dm_naive"]
    assert test["n"] == 40 and test["over"] == "dates, each the series' mean" and test["p_value"] > 0.05
    as_independent = summarise(panel.actual, panel.forecasts, panel.anchor, panel.mase_scale, panel.intervals,
                               panel.majority, 1)["tests"]["dm_naive"]
    assert as_independent["n"] == 800 and as_independent["p_value"] < 0.001  # what the verdict said before
    assert "no real edge" in panel.metrics["verdict"][2] and "40 dates, each the series' mean)" in panel.metrics["verdict"][2]
    assert "tested on each date's mean loss over the series" in panel.metrics["verdict"][1]


def test_a_panel_of_few_dates_is_tested_with_its_series_taken_as_independent_and_says_so():
    panel = _shared_shocks(30, 5, edge=0.5)  # a competition's few windows per series
    test = panel.metrics["tests"]["dm_naive"]
    assert test["n"] == 150 and test["over"] == "forecasts, the series taken as independent"
    assert "the series taken as independent: fewer than 20 dates" in panel.metrics["verdict"][1]


def test_one_series_is_tested_over_its_origins_as_before():
    one = _shared_shocks(1, 40, edge=0.15)
    test = one.metrics["tests"]["dm_naive"]
    assert test["n"] == 40 and "over" not in test and "40 origins)" in " ".join(one.metrics["verdict"])


def test_intervals_that_all_series_miss_on_the_same_dates_are_judged_by_date():
    """20 series of 40 dates, each date covered by every series or by none (a crash day misses for
    all stocks): 30 of 40 dates covered is no proof of a shortfall from 80%; 600 of 800 outcomes,
    counted as independent, would be."""
    from dataclasses import replace

    panel = _shared_shocks(20, 40, edge=0.0)
    day_covered = np.arange(40) % 4 != 0  # 30 of the 40 dates
    covered = np.tile(day_covered, 20)[:, None, None]
    lower = np.where(covered, panel.actual - 1, panel.actual + 1)
    panel = replace(panel, intervals=Intervals((0.8,), lower[None], (panel.actual + 2)[None], lower[None],
                                               (panel.actual + 2)[None]))
    test = panel.metrics["tests"]["coverage"]["80%"]
    assert test["n"] == 40 and test["coverage"] == 0.75 and test["p_value"] > 0.1
    pooled = summarise(panel.actual, panel.forecasts, panel.anchor, panel.mase_scale, panel.intervals,
                       panel.majority, 1)["tests"]["coverage"]["80%"]
    assert pooled["n"] == 800 and pooled["p_value"] < 0.01  # what the verdict said before
