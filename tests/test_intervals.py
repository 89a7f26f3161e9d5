"""Conformal intervals: finite-sample quantiles, coverage on exchangeable data, CQR, adaptation,
local scales, the naive interval, and the metrics that score intervals."""
import warnings

import numpy as np
import pytest

from forecast.metrics import naive_bounds
from forecast.intervals import (Calibration, Intervals, adaptive_margins, calibrate, conformal_quantile,
                                local_scale, pick_pairs)
from forecast.metrics import interval_metrics, pinball


def test_conformal_quantile_is_the_ceil_n_plus_one_order_statistic():
    scores = np.arange(9.0, 0, -1)[:, None]  # 9 scores, unsorted
    assert conformal_quantile(scores, 0.8)[0] == 8  # ceil(10 * 0.8) = 8th smallest
    assert conformal_quantile(scores, 0.5)[0] == 5
    assert conformal_quantile(scores, 0.95)[0] == np.inf  # ceil(9.5) = 10 > 9 scores: unbounded


def test_split_conformal_intervals_cover_as_promised_on_exchangeable_errors():
    rng = np.random.default_rng(0)
    n_cal, n_test, h, t = 300, 20000, 3, 2
    scale = rng.uniform(0.5, 2.0, size=(n_cal + n_test, t))  # heteroscedastic, but known per window
    errors = rng.standard_t(4, size=(n_cal + n_test, h, t)) * scale[:, None, :]
    point = rng.normal(size=errors.shape)
    actual = point + errors
    cal = calibrate(actual[:n_cal], point[:n_cal], None, (), (0.8, 0.9), scale[:n_cal])
    lower, upper = cal.bounds(point[n_cal:], None, scale[n_cal:])
    for k, c in enumerate((0.8, 0.9)):
        covered = 100 * np.mean((actual[n_cal:] >= lower[k]) & (actual[n_cal:] <= upper[k]))
        assert 100 * c - 1 <= covered <= 100 * c + 4  # >= c in expectation, <= c + 1/(n+1)


def test_cqr_widens_quantiles_that_are_too_narrow_and_never_crosses_them():
    rng = np.random.default_rng(1)
    n = 4000
    actual = rng.normal(size=(n, 2, 1))
    point = np.zeros_like(actual)
    narrow = np.stack([point - 0.3, point, point + 0.3], axis=-1)  # far narrower than N(0, 1)
    levels = (0.1, 0.5, 0.9)
    scale = np.ones((n, 1))
    cal = calibrate(actual[:2000], point[:2000], narrow[:2000], levels, (0.8,), scale[:2000])
    assert cal.pairs == ((0, 2),) and (cal.margin > 0).all()
    lower, upper = cal.bounds(point[2000:], narrow[2000:], scale[2000:])
    covered = np.mean((actual[2000:] >= lower[0]) & (actual[2000:] <= upper[0]))
    assert 0.77 <= covered <= 0.84
    wide = np.stack([point - 5, point, point + 5], axis=-1)  # far too wide: the margin is negative
    cal = calibrate(actual[:2000], point[:2000], wide[:2000], levels, (0.8,), scale[:2000])
    lower, upper = cal.bounds(point[2000:], wide[2000:], scale[2000:])
    assert (cal.margin < 0).all() and (lower <= upper).all()


def test_pairs_are_the_trained_quantiles_closest_to_each_central_interval():
    assert pick_pairs((0.05, 0.1, 0.5, 0.9, 0.95), (0.8, 0.9)) == ((1, 3), (0, 4))
    assert pick_pairs((0.5,), (0.8,)) == (None,)


def test_adaptive_margins_restore_coverage_when_the_volatility_grows():
    rng = np.random.default_rng(2)
    b = 3000
    cal = np.abs(rng.normal(size=(1, 500, 1, 1)))  # calibrated in calm times
    scores = np.abs(rng.normal(0, 1.5, size=(1, b, 1, 1)))  # then half as volatile again
    known_at = np.arange(1, b + 1)[:, None]  # each outcome is seen by the next origin
    fixed = conformal_quantile(cal[0], 0.9)
    split_coverage = np.mean(scores <= fixed)
    margins = adaptive_margins([cal], np.zeros(b, int), scores, known_at, (0.9,), gamma=0.01)
    adaptive_coverage = np.mean(scores[:, 500:] <= margins[:, 500:])
    assert split_coverage < 0.78
    assert abs(adaptive_coverage - 0.9) < 0.03


def test_adaptive_margins_only_use_outcomes_already_observed():
    rng = np.random.default_rng(3)
    cal = np.abs(rng.normal(size=(1, 50, 2, 1)))
    scores = np.abs(rng.normal(size=(1, 30, 2, 1)))
    known_at = np.arange(30)[:, None] + np.array([1, 2])  # step 2 is seen one origin later
    first = adaptive_margins([cal], np.zeros(30, int), scores, known_at, (0.8,), 0.05)
    poisoned = scores.copy()
    poisoned[:, 20:] = 100.0  # outcomes from origin 20 on: earlier margins cannot depend on them
    second = adaptive_margins([cal], np.zeros(30, int), poisoned, known_at, (0.8,), 0.05)
    np.testing.assert_array_equal(first[:, :21], second[:, :21])
    assert not np.array_equal(first[:, 22:], second[:, 22:])


def test_local_scale_is_the_mean_absolute_change_over_the_input_rows():
    rng = np.random.default_rng(4)
    raw = rng.normal(size=(50, 2)).cumsum(axis=0)
    starts = np.array([10, 25, 50])
    expected = np.stack([np.abs(np.diff(raw[s - 8:s], axis=0)).mean(axis=0) for s in starts])
    np.testing.assert_allclose(local_scale(raw, starts, 8), expected)


def test_calibration_round_trips_through_json_including_unbounded_margins():
    import json

    from forecast.files import jsonable

    cal = Calibration((0.8, 0.99), (None, None), np.array([[[1.5]], [[np.inf]]]), 12)
    back = Calibration.from_dict(json.loads(json.dumps(jsonable(cal.to_dict()), allow_nan=False)))
    assert back.coverage == cal.coverage and back.n == 12
    np.testing.assert_array_equal(back.margin, cal.margin)


def test_naive_interval_is_the_spread_of_past_h_step_changes():
    train = np.array([[1.0], [2.0], [1.0], [2.0], [1.0]])  # changes +-1 at one step, 0 at two
    lower, upper = naive_bounds(-train, np.array([[10.0]]), 2, (0.5,))  # not positive: linear
    assert lower[0, 0, :, 0].tolist() == [9.0, 10.0] and upper[0, 0, :, 0].tolist() == [11.0, 10.0]
    lower, upper = naive_bounds(np.exp(train), np.array([[10.0]]), 1, (0.5,))  # positive: relative
    assert upper[0, 0, 0, 0] == pytest.approx(10 * np.e)


def test_interval_score_and_pinball_match_hand_computed_values():
    actual = np.array([[[0.0]], [[3.0]]])  # (B=2, H=1, T=1)
    lower, upper = np.full_like(actual, -1.0), np.full_like(actual, 1.0)
    m = interval_metrics(actual, lower, upper, 0.8)
    # width 2 each; the second misses by 2: 2 + (2 / 0.2) * 2 = 22
    assert m["coverage"] == 50 and m["width"] == 2 and m["winkler"] == pytest.approx((2 + 22) / 2)
    quantiles = np.stack([lower, upper], axis=-1)
    # levels 0.1 and 0.9: first row 0.1 * 1 + 0.1 * 1, second 0.1 * 4 + 0.9 * 2 = 2.2; mean over Q
    assert pinball(actual, quantiles, (0.1, 0.9)) == pytest.approx(((0.1 + 0.1) / 2 + 2.2 / 2) / 2)


def test_too_few_calibration_windows_leave_an_interval_unbounded_and_it_is_named():
    scores = np.abs(np.random.default_rng(0).normal(size=(5, 2, 1)))  # 5 windows: 80% needs 4, 90% needs 9
    margin = np.stack([conformal_quantile(scores, c) for c in (0.8, 0.9)])
    cal = Calibration((0.8, 0.9), (None, None), margin, 5)
    assert np.isfinite(margin[0]).all() and np.isinf(margin[1]).all()
    assert cal.unbounded() == [0.9]
    assert Calibration((0.8, 0.9), (None, None), margin[:1].repeat(2, 0), 9).unbounded() == []


def test_interval_score_of_an_unbounded_interval_is_infinite_without_a_numpy_warning():
    actual = np.zeros((2, 1, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = interval_metrics(actual, np.full_like(actual, -np.inf), np.full_like(actual, np.inf), 0.9)
    assert m["coverage"] == 100 and np.isinf(m["width"]) and np.isinf(m["winkler"])


def test_the_coverage_test_keeps_its_level_when_the_calibrations_own_error_is_counted():
    """Split conformal on exchangeable errors keeps its promise on average over calibrations, but one
    calibration of 100 windows covers a little more or less than 80%: a test span of 2,000 origins
    that took the margins as exact calls a third of such honest intervals short
    (benchmarks/coverage_test.py)."""
    from forecast.metrics import coverage_shortfall

    rng = np.random.default_rng(0)
    exact, counted, runs = 0, 0, 300
    for _ in range(runs):
        margin = conformal_quantile(np.abs(rng.normal(size=100)), 0.8)
        hits = (np.abs(rng.normal(size=2000)) <= margin)[:, None, None]
        exact += coverage_shortfall(hits, 0.8)["p_value"] < 0.05
        counted += coverage_shortfall(hits, 0.8, calibrated=0.8 * 0.2 / (100 + 2))["p_value"] < 0.05
    assert exact / runs > 0.15 and counted / runs <= 0.07


def test_the_calibration_variance_adds_up_each_calibrations_share_and_survives_take_and_concatenate():
    def intervals(b, n, h):  # b windows calibrated on n windows overlapping by h steps
        k = np.zeros((1, b, 5, 1))
        return Intervals((0.8,), k, k, k, k, calibrated=np.full(b, b / (n / h + 2)))

    one = intervals(30, 200, 5)
    assert one.calibration_variance(0.8) == pytest.approx(0.16 / (200 / 5 + 2))
    both = Intervals.concatenate([one, intervals(10, 48, 1)])  # two series, their own calibrations
    expected = 0.16 * ((30 / 40) ** 2 / 42 + (10 / 40) ** 2 / 50)
    assert both.calibration_variance(0.8) == pytest.approx(expected)
    assert both.take(np.arange(30)).calibration_variance(0.8) == pytest.approx(one.calibration_variance(0.8))
    assert Intervals((0.8,), *[np.zeros((1, 3, 1, 1))] * 4).calibration_variance(0.8) == 0.0  # not known: exact


def test_a_fit_and_a_backtest_count_each_calibrations_windows_in_their_coverage_tests():
    from forecast import BacktestConfig, DataConfig, ModelConfig, TrainConfig, backtest, fit
    from tests.conftest import make_frame

    frame, data = make_frame(n=160), DataConfig(targets=("y",), seq_len=8, horizon=3)
    fast = TrainConfig(max_epochs=1, accelerator="cpu", patience=0)
    result = fit(frame, data, ModelConfig(hidden_size=4), fast, quiet=True, refit=False)
    (part,) = result.parts.values()
    n_val = len(part.stage_starts("val"))  # the windows fit calibrates on
    assert result.test.intervals.calibration_variance(0.8) == pytest.approx(0.16 / (n_val / 3 + 2))
    assert result.metrics["tests"]["coverage"]["80%"]["p_value"] == pytest.approx(
        coverage_shortfall_of(result.test, 0.8, 0.16 / (n_val / 3 + 2)))
    walked = backtest(frame, data, ModelConfig(hidden_size=4), fast, BacktestConfig(origins=4, retrain_every=2))
    calibrated = walked.intervals.calibrated
    assert calibrated is not None and len(np.unique(calibrated)) <= 2 and walked.folds == 2


def coverage_shortfall_of(evaluation, c, calibrated):
    from forecast.metrics import coverage_shortfall

    k = evaluation.intervals.coverage.index(c)
    hits = (evaluation.intervals.lower[k] <= evaluation.actual) & (evaluation.actual <= evaluation.intervals.upper[k])
    return coverage_shortfall(hits, c, evaluation.lag, calibrated=calibrated)["p_value"]
