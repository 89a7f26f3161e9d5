"""`--cycle`: each date's phase, each series' cycle fitted on its training targets only, taken out and added back."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from forecast.metrics import season_of
from forecast.config import DataConfig, ModelConfig, TrainConfig
from forecast.dates import phase_of, step_unit
from forecast.errors import ForecastError
from forecast.model import build_net, predict_scaled
from forecast.preprocess import Preprocessor
from forecast.train import fit
from forecast.trainer import WindowDataModule
from tests.conftest import make_frame

DATA = Path(__file__).parent / "data"

FAST = TrainConfig(max_epochs=2, batch_size=32, accelerator="cpu", patience=0)


@pytest.mark.parametrize("freq, unit, season", [("h", "3600s", 24), ("15min", "900s", 96), ("D", "D", 7),
                                                ("B", "B", 5), ("W", "W", 52), ("MS", "M", 12), ("QS", "Q", 4)])
def test_the_step_unit_of_each_kind_of_data_and_its_usual_season(freq, unit, season):
    index = pd.date_range("2021-03-01", periods=40, freq=freq)
    assert step_unit(index) == unit and season_of(index) == season


def test_phases_are_the_hour_the_weekday_and_the_month_whatever_the_gaps():
    hours = pd.date_range("2021-03-01", periods=500, freq="h").delete([5, 6, 7, 100])  # missing hours
    assert (phase_of(hours, 24, "3600s") == hours.hour).all()
    assert (phase_of(hours, 168, "3600s") == hours.day_of_week * 24 + hours.hour).all()  # from Monday 00:00
    trading = pd.bdate_range("2021-03-01", periods=60).delete([10, 11])  # two holidays
    assert (phase_of(trading, 5, "B") == trading.day_of_week).all()
    days = pd.date_range("2021-03-01", periods=60, freq="D")
    assert (phase_of(days, 7, "D") == days.day_of_week).all()
    months = pd.date_range("2019-01-01", periods=30, freq="MS")
    assert (phase_of(months, 12, "M") == months.month - 1).all()


def test_the_cycle_is_taken_from_the_encoded_targets_put_back_by_decode_and_survives_a_round_trip():
    frame = make_frame(n=60, cols=("y", "x"), freq="h")
    pre = Preprocessor.fit(frame, ["y"], train_rows=48, time_features=("dayofweek",), cycle=24)
    index, values = pre.encode(frame)
    assert values.shape == (60, 4) and pre.profile.shape == (24, 1)  # y, x, sin and cos of the weekday
    scaled = (frame["y"].to_numpy() - pre.mean[0]) / pre.std[0]
    np.testing.assert_allclose(values[:, 0], scaled - pre.profile[index.hour, 0])
    np.testing.assert_allclose(pre.profile[:, 0], scaled[:48].reshape(2, 24).mean(axis=0))  # training rows only
    rows = np.arange(36, 42)  # a forecast of six steps: decode puts each step's phase back
    decoded = pre.decode(values[rows, :1][None], frame["y"].to_numpy()[rows[:1] - 1, None], np.asarray(index.hour)[rows][None])
    np.testing.assert_allclose(decoded[0, :, 0], frame["y"].to_numpy()[rows])
    again = Preprocessor.from_dict(pre.to_dict())
    np.testing.assert_array_equal(again.encode(frame)[1], values)


def test_a_cycle_whose_phases_the_training_rows_do_not_all_reach_is_refused():
    frame = make_frame(n=300, freq="h")
    with pytest.raises(ForecastError, match="the training rows never reach phase 20 of it"):
        Preprocessor.fit(frame, ["y"], train_rows=20, cycle=24)


@pytest.mark.parametrize("changes, message", [
    ({"cycle": 1}, "cycle must be 0 \\(none\\) or a whole number of steps from 2"),
    ({"cycle": -24}, "got -24"), ({"cycle": True}, "got True"), ({"cycle": 2.5}, "got 2.5"),
    ({"cycle": 24, "transform": "log_return"}, "cycle works on levels")])
def test_bad_cycles_are_refused(changes, message):
    with pytest.raises(ForecastError, match=message):
        DataConfig(**changes)


def periodic(n=24 * 40, period=24, level=0.0):
    index = pd.date_range("2021-03-01", periods=n, freq="h")
    shape = np.sin(2 * np.pi * index.hour / period) + 0.5 * (index.hour == 7)
    return pd.DataFrame({"y": 10 + shape + level, "z": 3 - 2 * shape}, index=index)


def silent(net):
    """The network with its head zeroed: it says nothing, so what it forecasts is the cycle (plus
    the last residual when windows are shifted, zero for a pure cycle)."""
    with torch.no_grad():
        net.head.weight.zero_()
        net.head.bias.zero_()
    return net


def prepared(frame, data):
    dm = WindowDataModule(frame, data, batch_size=64)
    dm.setup()
    return dm


def forecasts(net, part, stage="test"):
    """A series' `stage` forecasts in original units beside its actual values."""
    starts = part.stage_starts(stage).numpy()
    windows = torch.stack([part.values[s - part.cfg.seq_len: s] for s in starts])
    return part.to_original(predict_scaled(net, windows), starts), part.actuals(starts)


@pytest.mark.parametrize("normalize", ["last", "none"])
def test_a_network_that_says_nothing_forecasts_a_pure_cycle_exactly(normalize):
    frame = periodic()
    data = DataConfig(targets=("y", "z"), seq_len=24, horizon=30, cycle=24, val_fraction=0.2, test_fraction=0.2)
    part = prepared(frame, data).prepared.parts[0]
    net = silent(build_net(data, ModelConfig(hidden_size=4, segment_len=1, normalize=normalize)))
    forecast, actual = forecasts(net, part)  # the head is silent: the cycle alone
    np.testing.assert_allclose(forecast, actual, atol=1e-5)


def test_the_cycle_is_the_mean_of_the_training_targets_windows_forecast_only():
    frame = periodic() + np.random.default_rng(0).normal(0, 0.3, (24 * 40, 2))  # the first day is not the mean
    data = DataConfig(targets=("y", "z"), seq_len=24, horizon=6, cycle=24, val_fraction=0.2, test_fraction=0.2)
    shifted = frame.copy()
    later = shifted.index >= shifted.index[int(len(frame) * 0.6)]
    shifted.loc[later] += 50.0  # validation and test move far away; training does not
    profiles = [prepared(f, data).prepared.parts[0].preprocessor.profile for f in (frame, shifted)]
    np.testing.assert_array_equal(profiles[0], profiles[1])
    train = frame.iloc[: int(len(frame) * 0.6)]
    scaled = ((train - train.mean()) / train.std(ddof=0)).iloc[24:]  # the rows training windows forecast
    np.testing.assert_allclose(profiles[0], scaled.groupby(scaled.index.hour).mean().to_numpy(), atol=1e-12)


def test_each_series_of_a_panel_has_its_own_cycle():
    late = periodic()
    late.index = late.index + pd.Timedelta(hours=6)  # the same day, peaking 6 hours later
    panel = {"early": periodic()[["y"]], "late": late[["y"]] * 3}
    data = DataConfig(targets=("y",), seq_len=24, horizon=30, cycle=24, val_fraction=0.2, test_fraction=0.2)
    parts = prepared(panel, data).prepared.parts
    early, late_profile = (part.preprocessor.profile for part in parts)
    assert not np.allclose(early, late_profile, atol=0.1)
    np.testing.assert_allclose(late_profile, np.roll(early, 6, axis=0), atol=0.02)  # own scaling
    net = silent(build_net(data, ModelConfig(hidden_size=4, segment_len=1), n_series=2))
    for part in parts:  # each series forecast by its own cycle
        forecast, actual = forecasts(net, part)
        np.testing.assert_allclose(forecast, actual, atol=1e-4)


def test_a_new_series_gets_its_own_cycle_from_its_own_history():
    panel = {"a": periodic()[["y"]], "b": periodic(level=5.0)[["y"]]}
    result = fit(panel, DataConfig(targets=("y",), seq_len=24, horizon=12, cycle=24), ModelConfig(hidden_size=4),
                 FAST, quiet=True)
    late = periodic(n=24 * 10)[["y"]] * 2
    late.index = late.index + pd.Timedelta(hours=9)  # a store whose day peaks 9 hours later
    forecast = result.model.predict({"c": late}, series=["c"], new=True)
    expected = (periodic(n=24 * 11)[["y"]] * 2).shift(9, freq="h")["y"].reindex(forecast.index)
    assert expected.notna().all() and np.corrcoef(forecast["y"], expected)[0, 1] > 0.95
    assert forecast["y"].idxmax().hour == 16  # the 7 o'clock spike, 9 hours on


def test_a_model_file_from_before_0_3_keeps_its_cycle_and_its_forecast():
    """Made at 5fc84cf, when the network held the cycle: a panel of two series, `--cycle 24`."""
    from forecast.trained import TrainedModel

    model = TrainedModel.load(DATA / "cycle_before_0.3.safetensors")
    assert [m.preprocessor.profile.shape for m in model.members.values()] == [(24, 1), (24, 1)]
    expected = pd.read_csv(DATA / "cycle_before_0.3.csv", index_col=0, parse_dates=True)
    np.testing.assert_allclose(model.predict()[expected.columns[1:]], expected[expected.columns[1:]], atol=1e-5)


def test_fit_with_a_cycle_saves_it_and_forecasts_its_shape_at_a_new_level(tmp_path):
    frame = periodic(n=24 * 60)
    frame["y"] += np.random.default_rng(0).normal(0, 0.05, len(frame))
    result = fit(frame[["y"]], DataConfig(targets=("y",), seq_len=48, horizon=24, cycle=24),
                 ModelConfig(hidden_size=8, segment_len=24), FAST, quiet=True)
    from forecast.trained import TrainedModel

    model = TrainedModel.load(result.save(tmp_path / "m.safetensors"))
    assert model.data.cycle == 24
    history = frame[["y"]].iloc[:-5] + 100.0  # instance norm: the level is the window's own
    forecast = model.predict(history)["y"]
    expected = periodic(n=24 * 60, level=100.0)["y"].iloc[-5:]
    np.testing.assert_allclose(forecast.iloc[:5].to_numpy(), expected.to_numpy(), atol=0.4)
    assert np.corrcoef(forecast, periodic(n=24 * 61)["y"].iloc[24 * 60 - 5: 24 * 60 + 19])[0, 1] > 0.95
