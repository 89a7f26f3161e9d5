"""An integer time axis (`ds` as step numbers, as M4 and many industrial series have): read from files,
frames and Nixtla's long frame, split and forecast in steps, written back as steps, never mixed with
dates, and refused where a calendar would be needed."""
import numpy as np
import pandas as pd
import pytest

from forecast.dates import from_steps, is_steps, moment, stamp, to_steps
from forecast.errors import ForecastError

SMALL = {"hidden_size": 4}
QUICK = {"max_epochs": 1, "seed": 3}


def long_frame(n=160, ids=("a", "b"), first=1, season=12, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(first, first + n)
    return pd.concat([pd.DataFrame({"unique_id": uid, "ds": t, "y": 10 + i + 3 * np.sin(2 * np.pi * t / season)
                                    + rng.normal(0, 0.2, n)}) for i, uid in enumerate(ids)], ignore_index=True)


def test_steps_are_held_as_marked_timestamps_and_come_back_as_the_same_integers():
    steps = np.array([-5, 0, 1, 959, 2_000_000_000])
    index = from_steps(steps)
    assert is_steps(index) and (to_steps(index) == steps).all()
    assert [stamp(ts) for ts in index[:3]] == ["-5", "0", "1"]
    assert moment("959", index) == index[3] and moment(959, index) == index[3]
    assert not is_steps(pd.date_range("1750-01-01", periods=3, freq="D"))  # an old dated series stays dated
    with pytest.raises(ForecastError, match="not a step"):
        moment("2024-01-01", index)
    with pytest.raises(ForecastError, match="runs from"):
        from_steps([10 ** 12])


def test_an_empty_frame_gets_one_line_not_an_index_error():
    from forecast.sources import validate_frame

    with pytest.raises(ForecastError, match="no rows"):
        validate_frame(pd.DataFrame({"y": []}))


def test_an_integer_date_column_is_a_step_axis_but_dates_written_as_numbers_stay_dates(tmp_path):
    from forecast.files import load_file

    pd.DataFrame({"ds": [3, 4, 5], "y": [1.0, 2, 3]}).to_csv(tmp_path / "steps.csv", index=False)
    pd.DataFrame({"date": [20240130, 20240131, 20240201], "y": [1.0, 2, 3]}).to_csv(tmp_path / "d.csv", index=False)
    assert to_steps(load_file(tmp_path / "steps.csv").index).tolist() == [3, 4, 5]
    from forecast.files import write_frame

    write_frame(load_file(tmp_path / "steps.csv"), tmp_path / "again.csv")  # written as `step`, read back
    assert to_steps(load_file(tmp_path / "again.csv").index).tolist() == [3, 4, 5]
    assert load_file(tmp_path / "d.csv").index[-1] == pd.Timestamp("2024-02-01")


def test_a_nixtla_frame_with_integer_ds_fits_splits_forecasts_and_writes_in_steps():
    from forecast import DataConfig, ModelConfig, TrainConfig, fit, load
    from forecast.outputs import nixtla

    frame = long_frame()
    frames, report = load(frame, ["y"])
    assert report.steps and "steps 1 to 160, an integer time axis" in report.lines()[1]
    data = DataConfig(targets=("y",), horizon=4, seq_len=12, val_start="110", test_start="136", cycle=12)
    result = fit(frame, data, ModelConfig(**SMALL), TrainConfig(**QUICK))
    table = result.test.table()
    assert table["cutoff"].min() == 135 and table["target_date"].max() == 160  # the test span in steps
    assert (table["target_date"] == table["cutoff"] + table["step"]).all()
    forecast = result.model.predict()
    assert forecast.index.name == "step" and forecast.index.tolist() == [161, 162, 163, 164] * 2
    shaped = nixtla(forecast, "LSTM")
    assert shaped["ds"].dtype.kind == "i" and shaped["unique_id"].tolist()[:4] == ["a"] * 4
    history = frame[frame.unique_id == "a"].set_index("ds")[["y"]].iloc[:150]
    assert result.model.predict(history, series=["a"]).index.tolist() == [151, 152, 153, 154]


def test_the_seasonal_naive_repeats_the_given_cycle_on_a_step_axis_and_is_the_naive_without_one():
    from forecast.metrics import season_of

    index = from_steps(np.arange(100))
    assert season_of(index) == 1 and season_of(index, 24) == 24
    assert season_of(pd.date_range("2024-01-01", periods=100, freq="h")) == 24  # dates keep their calendar


def test_the_model_file_keeps_the_step_axis(tmp_path):
    from forecast import DataConfig, ModelConfig, TrainConfig, fit
    from forecast.trained import TrainedModel

    one = long_frame(ids=("a",)).drop(columns="unique_id").set_index("ds")
    model = fit(one, DataConfig(targets=("y",), horizon=3, seq_len=12), ModelConfig(**SMALL), TrainConfig(**QUICK)).model
    path = model.save(tmp_path / "model.safetensors")
    loaded = TrainedModel.load(path)
    assert loaded.frequency == "steps"
    pd.testing.assert_frame_equal(loaded.predict(), model.predict())
    assert loaded.predict().index.tolist() == [161, 162, 163]
    dated = one.set_axis(pd.date_range("2020-01-01", periods=len(one), freq="h"))
    with pytest.raises(ForecastError, match="time axis is integer steps, but the history's is dates"):
        loaded.predict(dated)
    from forecast.serving import predict_fresh

    with pytest.raises(ForecastError, match="--calendar B: this model counts integer steps, not dates"):
        predict_fresh(loaded, calendar="B")  # it forecast steps 173099, 259499, ... (nanoseconds as days)


def test_calendar_features_and_mixed_axes_are_refused():
    from forecast import DataConfig, ModelConfig, TrainConfig, fit, load

    one = long_frame(ids=("a",)).drop(columns="unique_id").set_index("ds")
    for data in (DataConfig(targets=("y",), horizon=3, seq_len=12, holidays="US"),
                 DataConfig(targets=("y",), horizon=3, seq_len=12, time_features=("hour",))):
        with pytest.raises(ForecastError, match="integer steps, which have no calendar"):
            fit(one, data, ModelConfig(**SMALL), TrainConfig(**QUICK))
    dated = one.set_axis(pd.date_range("2020-01-01", periods=len(one), freq="h"))
    with pytest.raises(ForecastError, match="same time axis"):
        load({"a": one, "b": dated}, ["y"])
    with pytest.raises(ForecastError, match="not a step"):
        fit(one, DataConfig(targets=("y",), horizon=3, seq_len=12, val_start="2020-01-01", test_start="2020-02-01"),
            ModelConfig(**SMALL), TrainConfig(**QUICK))


def test_the_cli_fits_predicts_and_backtests_a_nixtla_file_with_integer_ds_as_it_is(run, tmp_path):
    long_frame(n=120).to_csv(tmp_path / "m.csv", index=False)
    common = ["--csv", "m.csv", "--target", "y", "--horizon", "4", "--seq-len", "12",  # unique_id, ds: a long file
              "--max-epochs", "1", "--set", "model.hidden_size=4"]
    fitted = run("fit", *common, "--out", "run")
    assert fitted.returncode == 0, fitted.stderr
    assert "steps 1 to 120, an integer time axis" in fitted.stdout and "test from 103," in fitted.stdout
    assert run("predict", "--model", "run", "--format", "nixtla", "--output", "p.csv").returncode == 0
    written = pd.read_csv(tmp_path / "p.csv")
    assert written["ds"].tolist()[:4] == [121, 122, 123, 124]
    walked = run("backtest", *common, "--origins", "3", "--out", "bt")
    assert walked.returncode == 0, walked.stderr
    cv = pd.read_csv(tmp_path / "bt" / "cross_validation.csv")
    assert cv["cutoff"].max() == 116 and cv["ds"].max() == 120 and cv["ds"].dtype.kind == "i"


def test_the_endpoint_takes_and_gives_steps_for_a_step_model():
    from forecast import DataConfig, ModelConfig, TrainConfig, fit
    from forecast.serving import answer

    one = long_frame(ids=("a",)).drop(columns="unique_id").set_index("ds")
    model = fit(one, DataConfig(targets=("y",), horizon=3, seq_len=12), ModelConfig(**SMALL), TrainConfig(**QUICK)).model
    recent = one.iloc[:100]
    body = {"history": {"dates": recent.index.tolist(), "y": recent["y"].tolist()}}
    assert [row["date"] for row in answer(model, body)["forecast"]] == [101, 102, 103]
    with pytest.raises(ForecastError, match="steps as whole numbers"):
        answer(model, {"history": {"dates": ["2024-01-01"] * 2, "y": [1.0, 2.0]}})
