"""The one metric set: hand-checked values, direction counted only where a call was made."""
import numpy as np
import pytest

from forecast.metrics import metrics, skill


def test_metrics_match_hand_computed_values():
    actual = np.array([[[10.0], [12.0]]])  # (B=1, H=2, T=1)
    forecast = np.array([[[11.0], [9.0]]])
    anchor = np.array([[10.5]])
    m = metrics(actual, forecast, anchor, mase_scale=2.0)
    assert m["mae"] == pytest.approx(2.0)  # (1 + 3) / 2
    assert m["rmse"] == pytest.approx(np.sqrt(5.0))  # sqrt((1 + 9) / 2)
    assert m["mape"] == pytest.approx(100 * (0.1 + 0.25) / 2)
    assert m["smape"] == pytest.approx(100 * (2 / 21 + 6 / 21) / 2)
    assert m["mase"] == pytest.approx(1.0)
    # moves: 10 < 10.5 (down), 12 > 10.5 (up); calls: 11 (up), 9 (down): both wrong
    assert m["direction"] == pytest.approx(0.0) and m["direction_calls"] == 2


def test_direction_is_na_for_a_forecast_that_never_moves():
    actual = np.array([[[1.0], [2.0]]])
    m = metrics(actual, np.full_like(actual, 1.5), np.array([[1.5]]), 1.0)
    assert np.isnan(m["direction"]) and m["direction_calls"] == 0


def test_a_flat_call_is_not_a_miss_and_is_not_counted():
    actual = np.array([[[11.0], [12.0], [9.0]]])
    forecast = np.array([[[10.0], [13.0], [8.0]]])  # flat, up (right), down (right)
    m = metrics(actual, forecast, np.array([[10.0]]), 1.0)
    assert m["direction"] == pytest.approx(100.0) and m["direction_calls"] == 2


def test_per_step_metrics_keep_the_step_axis():
    rng = np.random.default_rng(0)
    actual, forecast = rng.normal(size=(5, 3, 2)), rng.normal(size=(5, 3, 2))
    m = metrics(actual, forecast, rng.normal(size=(5, 2)), np.ones(2), axis=(0, 2))
    assert m["mae"].shape == (3,) and m["direction_calls"].shape == (3,)
    np.testing.assert_allclose(m["mae"], np.abs(forecast - actual).mean(axis=(0, 2)))


def test_skill_is_positive_only_when_the_model_beats_naive():
    assert skill(1.0, 2.0) == pytest.approx(0.5) and skill(2.0, 1.0) < 0 and np.isnan(skill(1.0, 0.0))


def test_a_baseline_exact_up_to_rounding_has_no_skill_ratio_not_a_ratio_of_noise():
    assert np.isnan(skill(1.0, 5.9e-14))  # a sine that repeats exactly: seasonal naive's rounding error
    assert skill(1.0, 1e-6) == pytest.approx(1 - 1e6)  # small, but real
