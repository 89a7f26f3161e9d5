"""Diebold-Mariano (with the HLN correction) and Pesaran-Timmermann against hand-computed values."""
import math

import numpy as np
import pytest

from forecast.metrics import diebold_mariano, pesaran_timmermann, verdict


def test_diebold_mariano_matches_a_hand_computed_case():
    # d = [1, -1, 2, 0, 3]: mean 1, autocovariance at lag 0 = (0 + 4 + 1 + 1 + 4) / 5 = 2,
    # DM = 1 / sqrt(2 / 5); HLN multiplies by sqrt((5 + 1 - 2) / 5): sqrt(2) in all.
    result = diebold_mariano(np.array([1.0, -1, 2, 0, 3]), np.zeros(5), h=1)
    assert result["statistic"] == pytest.approx(math.sqrt(2))
    assert result["p_value"] == pytest.approx(0.2302, abs=1e-4)  # 2 * P(t_4 > 1.4142)
    assert result["mean_diff"] == 1 and result["n"] == 5


def test_diebold_mariano_includes_autocovariances_up_to_h_minus_one():
    # d = [1, 3, 1, 3, 1, 3]: mean 2, gamma0 = 1, gamma1 = -5/6; h = 2: V = 1 - 5/3 < 0, so the
    # Bartlett window: V = 1 + 2 * (1/2) * (-5/6) = 1/6; DM = 2 / sqrt(1/36) = 12,
    # HLN factor sqrt((6 + 1 - 4 + 2/6) / 6).
    d = np.array([1.0, 3, 1, 3, 1, 3])
    result = diebold_mariano(d, np.zeros(6), h=2)
    assert result["statistic"] == pytest.approx(12 * math.sqrt((3 + 1 / 3) / 6))


@pytest.mark.parametrize("h", [1, 3])
def test_diebold_mariano_agrees_with_the_reference_package(h):
    dm = pytest.importorskip("dieboldmariano")
    rng = np.random.default_rng(h)
    actual = rng.normal(size=120)
    a, b = actual + rng.normal(0, 1.0, 120), actual + rng.normal(0, 1.3, 120)
    ours = diebold_mariano((a - actual) ** 2, (b - actual) ** 2, h=h)
    stat, p = dm.dm_test(actual, a, b, h=h)
    assert ours["statistic"] == pytest.approx(stat, rel=1e-6)
    assert ours["p_value"] == pytest.approx(p, rel=1e-4)


def test_equal_losses_and_too_few_origins_give_no_false_verdict():
    same = diebold_mariano(np.ones(10), np.ones(10))
    assert same["p_value"] == 1.0 and "no significant difference" in verdict(same)
    short = diebold_mariano(np.ones(2), np.zeros(2))
    assert math.isnan(short["p_value"]) and "not enough" in verdict(short)


def test_verdict_names_the_direction_of_a_significant_difference():
    rng = np.random.default_rng(0)
    better = diebold_mariano(rng.normal(1, 0.1, 50), rng.normal(2, 0.1, 50))
    assert better["p_value"] < 1e-6 and verdict(better, "drift").startswith("better than drift at the 5% level")
    assert verdict(diebold_mariano(rng.normal(2, 0.1, 50), rng.normal(1, 0.1, 50))).startswith("worse")
    underflow = {"p_value": 0.0, "n": 800, "mean_diff": -1.0}  # what 800 origins of a clear win give
    assert verdict(underflow) == "better than naive at the 5% level (DM p<1e-300, 800 origins)"


def test_pesaran_timmermann_matches_a_hand_computed_case():
    # Four perfect calls, half of them up: P = 1, P* = 0.5, var(P) = 0.0625, var(P*) = 1/64:
    # PT = 0.5 / sqrt(0.046875) = 2.3094, one-sided p = 0.01046.
    result = pesaran_timmermann([True, True, False, False], [True, True, False, False])
    assert result["statistic"] == pytest.approx(2.3094, abs=1e-4)
    assert result["p_value"] == pytest.approx(0.01046, abs=1e-4)


def test_pesaran_timmermann_tells_information_from_chance_and_refuses_a_constant_call():
    rng = np.random.default_rng(1)
    up = rng.random(400) < 0.55
    informed = np.where(rng.random(400) < 0.8, up, ~up)
    assert pesaran_timmermann(up, informed)["p_value"] < 1e-6
    assert pesaran_timmermann(up, rng.random(400) < 0.5)["p_value"] > 0.01
    assert math.isnan(pesaran_timmermann(up, np.ones(400, bool))["p_value"])
    assert pesaran_timmermann(up, np.ones(400, bool))["why"] == "the model's one-step calls all go up (400 origins)"
    outcomes_down = pesaran_timmermann(np.zeros(5, bool), [True, False, True, True, False])
    assert math.isnan(outcomes_down["p_value"]) and outcomes_down["why"] == "the one-step outcomes all go down (5 origins)"


def test_a_coverage_far_below_its_promise_is_called_short_and_one_near_it_is_not():
    from forecast.metrics import coverage_shortfall
    rng = np.random.default_rng(0)
    short = rng.random((50, 5, 1)) < 0.476  # the audit's 47.6% for a promised 80%
    assert coverage_shortfall(short, 0.8, h=5)["p_value"] < 0.001
    near = rng.random((486, 5, 1)) < 0.79
    assert coverage_shortfall(near, 0.8, h=5)["p_value"] > 0.05
    over = rng.random((100, 5, 1)) < 0.95  # too wide is not a broken promise
    assert coverage_shortfall(over, 0.8, h=5)["p_value"] > 0.5


def test_overlapping_windows_make_a_shortfall_harder_to_call_significant():
    from forecast.metrics import coverage_shortfall
    rng = np.random.default_rng(1)
    # a miss lasts 10 origins (a volatile spell seen by overlapping windows): 72% for a promised 80%
    spells = np.repeat(rng.random(30) < 0.72, 10)[:, None, None]
    independent = coverage_shortfall(spells, 0.8, h=1)["p_value"]
    overlapping = coverage_shortfall(spells, 0.8, h=10)["p_value"]
    assert overlapping > 1000 * independent  # ten times fewer independent outcomes than rows


def test_every_outcome_missed_is_certain_but_not_infinitely_so():
    from forecast.metrics import coverage_shortfall
    t = coverage_shortfall(np.zeros((20, 3, 1), bool), 0.8, h=3)
    assert t["coverage"] == 0 and 0 <= t["p_value"] < 1e-6
