"""Walk-forward backtests: hand-checked metrics, exact baselines, no fold leak, clear errors."""
import numpy as np
import pandas as pd
import pytest
import torch

from forecast.metrics import baselines
from forecast.config import BacktestConfig, DataConfig, ModelConfig, TrainConfig
from forecast.errors import ForecastError
from forecast.walkforward import backtest, origin_starts, train_fold
from tests.conftest import make_frame

FAST = TrainConfig(max_epochs=2, accelerator="cpu", patience=0)


def test_baselines_are_exact_on_a_small_series():
    raw = np.arange(1.0, 31.0)[:, None]  # 1, 2, ..., 30
    b = baselines(raw, np.array([20]), horizon=4, season_length=3, ma_window=4)  # last observed: row 19, value 20
    assert b["naive"][0, :, 0].tolist() == [20, 20, 20, 20]
    # seasonal naive with m = 3: steps 1-3 repeat rows 17-19 (18, 19, 20); step 4 repeats row 17 (18)
    assert b["seasonal_naive"][0, :, 0].tolist() == [18, 19, 20, 18]
    # drift over all history: slope (20 - 1) / 19 = 1 per step
    np.testing.assert_allclose(b["drift"][0, :, 0], [21, 22, 23, 24])
    assert b["moving_average"][0, :, 0].tolist() == [18.5] * 4  # mean of 17, 18, 19, 20


def test_origins_end_at_the_last_complete_horizon_and_respect_stride():
    index = pd.date_range("2020-01-01", periods=100, freq="D")
    starts = origin_starts(index, 5, BacktestConfig(origins=3, stride=4))
    assert starts.tolist() == [87, 91, 95]
    dated = origin_starts(index, 5, BacktestConfig(origins_from="2020-03-01", origins_to="2020-03-06", stride=2))
    assert index[dated].strftime("%m-%d").tolist() == ["03-01", "03-03", "03-05"]


def test_fold_leak_poisoning_after_the_fold_start_changes_nothing_it_learned():
    frame = make_frame(n=300) + 5
    data = DataConfig(targets=("y",), seq_len=16, horizon=3, transform="log_return")
    bt = BacktestConfig()
    first, stop = 250, 280
    clean = train_fold({"y": frame}, first, stop, data, ModelConfig(hidden_size=8), FAST, bt, 0.15, frame.index)
    poisoned = frame.copy()
    poisoned.iloc[first:] = 1e4
    dirty = train_fold({"y": poisoned}, first, stop, data, ModelConfig(hidden_size=8), FAST, bt, 0.15, frame.index)
    np.testing.assert_array_equal(clean.prepared.parts[0].preprocessor.std, dirty.prepared.parts[0].preprocessor.std)
    for (name, a), (_, b) in zip(clean.net.state_dict().items(), dirty.net.state_dict().items()):
        assert torch.equal(a, b), name
    assert clean.best_val == dirty.best_val


def test_sliding_window_trains_on_the_last_rows_only():
    frame = make_frame(n=300)
    data = DataConfig(targets=("y",), seq_len=16, horizon=3)
    fold = train_fold({"y": frame}, 250, 260, data, ModelConfig(hidden_size=4), FAST,
                      BacktestConfig(window="sliding", train_size=100), 0.15, frame.index)
    assert fold.prepared.parts[0].index[0] == frame.index[150]


def test_a_series_without_the_default_target_is_backtested_on_its_own_values():
    sales = make_frame(n=200)["y"].rename("sales")
    result = backtest(sales, DataConfig(seq_len=16, horizon=2), ModelConfig(hidden_size=4), FAST,
                      BacktestConfig(origins=2))
    assert set(result.table()["target"]) == {"sales"} and len(result.table()) == 2 * 2


def test_backtest_settings_in_another_ones_place_are_named():
    with pytest.raises(ForecastError, match=r"^bt takes a BacktestConfig, got a TrainConfig: give it by name, train="):
        backtest(make_frame(n=200), DataConfig(seq_len=16, horizon=2), ModelConfig(), FAST, FAST)


def test_backtest_on_the_bundled_sample_end_to_end():
    from forecast.sources import load_sample
    frame = load_sample("IBM")[["Close"]].iloc[-700:]
    result = backtest(frame, DataConfig(seq_len=20, horizon=3), ModelConfig(hidden_size=8), FAST,
                      BacktestConfig(origins=12, stride=2, retrain_every=6))
    assert result.folds == 2 and result.actual.shape == (12, 3, 1)
    assert repr(result) == (f"Evaluation(12 forecasts of 3 steps from origins {result.origins[0]:%Y-%m-%d} to "
                            f"{result.origins[-1]:%Y-%m-%d}, 1 series, targets Close; beside naive, seasonal naive, "
                            "drift, moving average)")
    assert set(result.forecasts) == {"model", "naive", "seasonal_naive", "drift", "moving_average"}
    table = result.table()
    assert len(table) == 36 and (table["target_date"] > table["origin"]).all()
    first = table[table.step == 1]
    np.testing.assert_array_equal(first["actual"], frame["Close"].loc[first["target_date"]].to_numpy())
    np.testing.assert_array_equal(first["naive"], frame["Close"].loc[first["origin"]].to_numpy())
    assert table["target_date"].iloc[-1] == frame.index[-1]
    per_step = result.by_step()
    assert per_step["model"]["mae"].shape == (3,)
    assert per_step["intervals"]["90%"]["model"]["coverage"].shape == (3,)
    # read as a fit's result is: .metrics a dict, .skill its skill
    assert result.metrics["model"]["mae"] == pytest.approx(np.abs(table["model"] - table["actual"]).mean())
    assert result.skill == result.metrics["skill"]
    # MASE is scaled by each fold's own training rows: the second fold saw 12 more rows. The first
    # fold's targets start at row 700 - 3 - 11 * 2 = 675; its last 15% (101 rows) validate.
    assert not np.array_equal(result.mase_scale[0], result.mase_scale[-1])
    expected = np.mean(np.abs(np.diff(frame["Close"].to_numpy()[:675 - 101])))
    assert result.mase_scale[0, 0, 0] == pytest.approx(expected, rel=1e-9)


def test_a_backtest_writes_its_files_and_draws_the_model_on_top(tmp_path):
    frame = make_frame(n=260)
    result = backtest(frame, DataConfig(targets=("y",), seq_len=12, horizon=2), ModelConfig(hidden_size=4),
                      FAST, BacktestConfig(origins=4))
    paths = result.write(tmp_path, {"note": "x"})
    assert sorted(p.name for p in paths.values()) == ["backtest.csv", "backtest.json",
                                                     "backtest_coverage_by_step.png",
                                                     "backtest_error_by_step.png", "backtest_forecasts.png",
                                                     "cross_validation.csv"]
    import json
    summary = json.loads((tmp_path / "backtest.json").read_text())  # strict JSON: no bare NaN
    assert summary["note"] == "x" and summary["metrics"]["naive"]["direction"] is None
    lines = result.plot().axes[0].lines
    model = next(line for line in lines if line.get_label() == "model")
    assert model.get_zorder() == max(line.get_zorder() for line in lines)


def test_same_seed_same_backtest():
    frame = make_frame(n=260)
    run = lambda: backtest(frame, DataConfig(targets=("y",), seq_len=12, horizon=2),  # noqa: E731
                           ModelConfig(hidden_size=4), FAST, BacktestConfig(origins=4)).forecasts["model"]
    np.testing.assert_array_equal(run(), run())


@pytest.mark.parametrize("bt,message", [
    (BacktestConfig(origins=250), "use fewer --origins"),
    (BacktestConfig(origins=400), "reaches before the first row"),
])
def test_bad_options_give_clear_errors(bt, message):
    with pytest.raises(ForecastError, match=message):
        backtest(make_frame(n=300), DataConfig(targets=("y",), seq_len=48, horizon=2),
                 ModelConfig(hidden_size=4), FAST, bt)


def test_without_origins_a_short_series_walks_its_last_quarter_and_a_long_one_250():
    from forecast.walkforward import default_origins
    data = DataConfig(targets=("y",), seq_len=24, horizon=6)
    assert default_origins(150, data, BacktestConfig(), 12) == 37  # the first fold keeps 113 rows
    assert default_origins(3000, data, BacktestConfig(), 5) == 250
    assert default_origins(60, data, BacktestConfig(), 12) == 13  # 60 // 4 = 15 would leave too few to train on
    short = backtest(make_frame(n=160), DataConfig(targets=("y",), seq_len=12, horizon=2),
                     ModelConfig(hidden_size=4), FAST, BacktestConfig())
    assert len(short.origins) == 40


@pytest.mark.parametrize("bad", [dict(origins=0), dict(stride=0), dict(window="rolling"),
                                 dict(retrain_every=-1)])
def test_invalid_backtest_config(bad):
    with pytest.raises(ForecastError):
        BacktestConfig(**bad)


@pytest.mark.parametrize("dates,season", [
    (pd.bdate_range("2020-01-01", periods=50), 5), (pd.date_range("2020-01-01", periods=50, freq="D"), 7),
    (pd.date_range("2020-01-01", periods=50, freq="h"), 24), (pd.date_range("2020-01-01", periods=50, freq="15min"), 96),
    (pd.date_range("2020-01-01", periods=50, freq="W"), 52), (pd.date_range("2020-01-01", periods=50, freq="MS"), 12),
])
def test_the_seasonal_naive_season_follows_the_data_step(dates, season):
    from forecast.metrics import season_of
    assert season_of(dates) == season


def test_a_panel_backtest_counts_its_origins_back_from_the_common_end_and_writes_the_cutoff():
    """Nixtla's cross_validation(n_windows=origins, step_size=stride): every series that ends on the
    common last date is forecast at the same last `origins` cutoffs, each the last date it saw."""
    end = pd.Timestamp("2024-06-30")
    frames = {f"s{n}": make_frame(n=n, seed=n, start=str((end - pd.Timedelta(days=n - 1)).date()))
              for n in (90, 300)}
    result = backtest(frames, DataConfig(targets=("y",), seq_len=10, horizon=3), ModelConfig(hidden_size=4),
                      TrainConfig(max_epochs=1, accelerator="cpu", patience=0), BacktestConfig(origins=6, stride=4))
    table = result.table()
    assert (table["cutoff"] == table["origin"]).all()
    for _, rows in table.groupby("series"):
        cutoffs = sorted(rows["cutoff"].unique())
        assert len(cutoffs) == 6 and cutoffs[-1] == end - pd.Timedelta(days=3)  # the last full horizon
        assert all(b - a == pd.Timedelta(days=4) for a, b in zip(cutoffs, cutoffs[1:]))
        first = rows[rows["step"] == 1]
        assert (pd.to_datetime(first["target_date"]) - pd.to_datetime(first["cutoff"]) == pd.Timedelta(days=1)).all()
