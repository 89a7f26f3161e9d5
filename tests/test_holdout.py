"""Backtests that hold series out of training and forecast them as new: they never train the model,
their preprocessing sees no row after each fold's first target, and the metrics are theirs."""
import numpy as np
import pandas as pd
import pytest

from forecast.config import BacktestConfig, DataConfig, ModelConfig, TrainConfig
from forecast.errors import ForecastError
from forecast.walkforward import held_out
from forecast.walkforward import backtest
from tests.conftest import make_frame

FAST = TrainConfig(max_epochs=2, batch_size=32, accelerator="cpu", patience=0, threads=1)
DATA = DataConfig(targets=("y",), seq_len=8, horizon=3)
NET = ModelConfig(hidden_size=4)


def panel(n: int = 4) -> dict:
    return {f"s{i}": make_frame(n=200, seed=i) * (1 + i) + 10 * i for i in range(n)}


def run(frames, bt=BacktestConfig(origins=8, stride=2, hold_out="s1"), data=DATA):
    return backtest(frames, data, NET, FAST, bt)


def test_a_held_out_series_never_trains_and_its_forecasts_see_no_later_row():
    frames = panel()
    base = run(frames)
    assert base.new == ("s1",) and set(base.series) == {"s0", "s1", "s2", "s3"}
    with pytest.raises(ForecastError, match="no series 'zz' here; it has: s0, s1, s2, s3"):
        base.plot(series="zz")  # not an empty figure
    first_target = base.target_dates[np.isin(base.series, ["s1"])].min()
    table = base.table()

    shuffled = frames["s1"].copy()  # every row of s1, before the origins too (not only rescaled)
    shuffled["y"] = np.random.default_rng(0).permutation(shuffled["y"].to_numpy())
    changed = dict(frames, s1=shuffled)
    other = run(changed).table()
    trained = table.series != "s1"
    np.testing.assert_array_equal(other[trained]["model"], table[trained]["model"])  # s1 trained nothing
    assert not np.allclose(other[~trained]["model"], table[~trained]["model"])  # but is read when forecast

    late = frames["s1"].copy()  # rows after the first origins' inputs: preprocessing must not see them
    cut = pd.Timestamp(first_target) + pd.Timedelta(days=4)
    late.loc[late.index >= cut, "y"] += 1000.0
    after = run(dict(frames, s1=late)).table()
    unseen = (table.series == "s1") & (table.origin < cut)
    assert unseen.any()
    np.testing.assert_allclose(after[unseen]["model"], table[unseen]["model"], rtol=1e-6)


def test_a_held_out_copy_of_a_trained_series_is_forecast_like_it_with_the_median_width(tmp_path):
    frames = panel(5)
    frames["copy"] = frames["s2"].copy()
    data = DataConfig(targets=("y",), seq_len=8, horizon=3, scaler="none")  # the same rows encode the same
    result = run(frames, BacktestConfig(origins=8, stride=2, hold_out="copy"), data)
    table = result.table()
    ours, theirs = table[table.series == "copy"], table[table.series == "s2"]
    np.testing.assert_allclose(ours["model"].to_numpy(), theirs["model"].to_numpy(), rtol=1e-5)
    # its margin at each step is the median of the trained series' margins (in units of each
    # window's local scale), not s2's own
    margins = {name: margin_by_step(table[table.series == name], frame["y"])
               for name, frame in frames.items()}
    trained = np.stack([m for name, m in margins.items() if name != "copy"])
    np.testing.assert_allclose(margins["copy"], np.median(trained, axis=0), rtol=1e-6)
    assert not np.allclose(margins["copy"], margins["s2"])
    metrics = result.metrics
    assert metrics["verdict"][0].startswith("Held out of training: 1 series (copy)")
    assert metrics["trained"]["series"] == 5 and "series" not in metrics  # one held out: no per-series table
    assert table.new.sum() == len(ours)
    paths = result.write(tmp_path)
    assert "series metrics" not in paths and pd.read_csv(paths["forecasts"]).new.sum() == len(ours)


def margin_by_step(rows: pd.DataFrame, values: pd.Series) -> np.ndarray:
    """(H,) half the 80% interval's width over the local scale of each window (one fold: the same at
    every origin)."""
    from forecast.intervals import local_scale
    starts = values.index.get_indexer(rows["origin"]) + 1
    scale = local_scale(values.to_numpy()[:, None], starts, DATA.seq_len)[:, 0]
    half = (rows["model_upper80"] - rows["model_lower80"]).to_numpy() / 2 / scale
    by_step = pd.Series(half).groupby(rows["step"].to_numpy())
    assert (by_step.std().fillna(0) < 1e-6 * by_step.mean().abs().max()).all()
    return by_step.mean().to_numpy()


def test_shares_counts_and_names_pick_the_held_out_series():
    names = [f"s{i}" for i in range(10)]
    assert len(held_out(names, "20%", 1)) == 2 and len(held_out(names, "3", 1)) == 3
    assert held_out(names, "20%", 1) == held_out(names, "20%", 1) != held_out(names, "20%", 2)
    assert held_out(names, "s7, s2", 0) == ["s2", "s7"]
    assert len(held_out(names, "1%", 0)) == 1  # at least one


@pytest.mark.parametrize("spec,message", [
    ("s9", "no series 's9'"), ("10", "every one of the 4 series"), ("s0,s1,s2,s3", "every one"),
])
def test_held_out_series_that_cannot_be_give_one_line(spec, message):
    with pytest.raises(ForecastError, match=message):
        run(panel(), BacktestConfig(origins=8, stride=2, hold_out=spec))


@pytest.mark.parametrize("spec", ["0", "150%", "0%", "2.5", "%", " , "])
def test_a_bad_share_or_count_is_refused_by_the_settings(spec):
    with pytest.raises(ForecastError, match="hold_out"):
        BacktestConfig(hold_out=spec)


def test_models_that_need_a_trained_series_refuse_and_one_series_has_none_to_hold_out():
    with pytest.raises(ForecastError, match="series_embedding"):
        backtest(panel(), DATA, ModelConfig(hidden_size=4, series_embedding=2), FAST,
                 BacktestConfig(origins=8, hold_out="s1"))
    with pytest.raises(ForecastError, match="one series"):
        backtest(make_frame(n=200), DATA, NET, FAST, BacktestConfig(origins=8, hold_out="s1"))


def test_a_held_out_category_the_trained_series_lack_is_named():
    frames = panel()
    for i, (name, frame) in enumerate(frames.items()):
        frame["kind"] = "odd" if name == "s1" else ("a" if i % 2 else "b")
    data = DataConfig(targets=("y",), seq_len=8, horizon=3, static=("kind",))
    with pytest.raises(ForecastError, match="held-out series s1.*'odd'.*among the trained series'"):
        run(frames, data=data)
    frames["s1"]["kind"] = "a"
    assert run(frames, data=data).new == ("s1",)


def test_a_series_that_starts_within_the_fold_is_forecast_from_its_first_full_window_on():
    frames = panel()
    end = frames["s0"].index[-1]
    frames["late"] = make_frame(n=20, seed=9, start=str((end - pd.Timedelta(days=19)).date())) + 50
    with pytest.raises(ForecastError, match="late: series too short: .* rows from .*with --hold-out late$"):
        run(frames, BacktestConfig(origins=16))  # too young to train: the error says how to score it
    result = run(frames, BacktestConfig(origins=16, hold_out="late"))
    late = result.table()
    late = late[(late.series == "late") & (late.step == 1)]
    history = frames["late"].index
    # origins before the series' 8th row cannot be forecast; every later one is
    expected = [d for d in history[DATA.seq_len - 1:-DATA.horizon] if d >= result.origins.min()]
    assert list(late.origin) == expected and len(expected) == 20 - DATA.seq_len - DATA.horizon + 1
