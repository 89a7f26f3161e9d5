"""The statistical baselines (Naive2, ETS, Theta, ARIMA through statsmodels): from the past only, estimated on
the training rows, using the season, and left out of the verdict where statsmodels cannot fit them."""
import numpy as np
import pytest

from forecast.metrics import statistical
from forecast.comparison import summarise
from forecast.intervals import Intervals
from forecast.config import DataConfig
from forecast.errors import ForecastError

NAMES = ("ets", "theta", "arima")


def _hourly(n=220, seed=0):  # a cycle of 12 steps, short enough for a fast test
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return (50 + 8 * np.sin(2 * np.pi * t / 12) + np.cumsum(rng.normal(0, 0.2, n)))[:, None]


@pytest.mark.parametrize("names", [("naive2", "ets", "theta"), pytest.param(("arima",), marks=pytest.mark.slow)])
def test_a_forecast_reads_only_the_rows_before_its_window(names):
    raw = _hourly()
    starts = np.array([180, 195])
    before = statistical(raw, starts, 12, 12, names, fit_end=160)
    spoiled = raw.copy()
    spoiled[195:] = 1e6  # the future of the second window, and the targets of both
    after = statistical(spoiled, starts, 12, 12, names, fit_end=160)
    for name in names:
        np.testing.assert_array_equal(before[name], after[name])
        assert np.isfinite(before[name]).all()


def test_naive2_puts_the_training_season_back_on_the_last_adjusted_value_and_is_the_naive_without_one():
    from forecast.metrics import seasonal_figure

    raw = _hourly()
    figure = seasonal_figure(raw[:160, 0], 12)
    assert figure is not None and abs(figure.mean() - 1) < 1e-12
    forecast = statistical(raw, np.array([190]), 12, 12, ("naive2",), fit_end=160)["naive2"][0, :, 0]
    np.testing.assert_allclose(forecast, raw[189, 0] / figure[189 % 12] * figure[np.arange(190, 202) % 12])
    noise = 50 + np.random.default_rng(1).normal(0, 1, (220, 1))  # no season: the 90% test finds none
    flat = statistical(noise, np.array([190]), 12, 12, ("naive2",), fit_end=160)["naive2"][0, :, 0]
    np.testing.assert_array_equal(flat, np.full(12, noise[189, 0]))


def test_each_window_starts_from_its_newest_rows_with_the_training_parameters():
    raw = _hourly()
    base = statistical(raw, np.array([190]), 12, 12, ("ets", "theta"), fit_end=160)
    shifted = raw.copy()
    shifted[160:] += 20  # a level shift after training, before the window: the state must follow it
    moved = statistical(shifted, np.array([190]), 12, 12, ("ets", "theta"), fit_end=160)
    for name in base:  # (ARIMA may be stationary, d = 0, and rightly revert to its mean)
        assert np.abs(moved[name] - base[name] - 20).mean() < 5, name


def test_ets_and_theta_carry_the_season_the_naive_forecast_misses():
    raw = _hourly(seed=1)
    starts = np.arange(170, 200, 3)
    actual = np.stack([raw[s:s + 12] for s in starts])
    naive = np.repeat(raw[starts - 1][:, None, :], 12, axis=1)
    out = statistical(raw, starts, 12, 12, ("ets", "theta"), fit_end=160)
    naive_error = np.abs(naive - actual).mean()
    for name in ("ets", "theta"):
        assert np.abs(out[name] - actual).mean() < 0.5 * naive_error, name


def test_what_statsmodels_cannot_fit_is_nan_and_left_out_of_the_verdict():
    flat = np.ones((120, 1))
    out = statistical(flat, np.array([100, 101]), 3, 5, ("arima",), fit_end=80)
    assert np.isnan(out["arima"]).all()
    rng = np.random.default_rng(0)
    actual = rng.normal(0, 1, (40, 3, 1)) + 10
    anchor = actual[:, 0, :] + rng.normal(0, 1, (40, 1))
    forecasts = {"model": actual + rng.normal(0, 0.5, actual.shape), "naive": np.repeat(anchor[:, None], 3, 1),
                 "drift": actual + rng.normal(0, 0.8, actual.shape), "arima": np.full(actual.shape, np.nan)}
    k = np.stack([actual - 1, actual - 2])
    s = summarise(actual, forecasts, anchor, np.ones(1), Intervals((0.8, 0.9), k, k + 4, k - 1, k + 5),
                  np.ones(1), lag=3)
    assert s["best_baseline"] == "drift"
    assert "arima" not in s["tests"]["confidence_set"]["p_values"]


def test_the_baselines_setting_takes_names_and_refuses_others():
    assert DataConfig(baselines="ets, theta").baselines == ("ets", "theta")
    assert DataConfig(baselines=("arima", "arima")).baselines == ("arima",)
    with pytest.raises(ForecastError, match="unknown baseline 'prophet'; choose one of: naive2, ets, theta, arima"):
        DataConfig(baselines=("prophet",))
    with pytest.raises(ForecastError, match="unknown baseline"):
        statistical(np.ones((10, 1)), np.array([5]), 1, 1, ("naive",), 5)
