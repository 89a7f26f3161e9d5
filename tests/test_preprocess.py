"""The preprocessor: fitted on training rows only, exact inverse, zero output = naive for every transform."""
import numpy as np
import pandas as pd
import pytest
import torch

from forecast.config import DataConfig, ModelConfig
from forecast.windows import prepare
from forecast.errors import ForecastError
from forecast.model import build_net
from forecast.preprocess import Preprocessor, time_features_of
from forecast.windows import stage_dataset
from tests.conftest import make_frame

TRANSFORMS = ["none", "log", "log_return"]


def test_when_fitted_on_some_rows_then_later_rows_change_nothing():
    frame = make_frame(n=50, cols=("y", "x"))
    a = Preprocessor.fit(frame, ["y"], "none", "standard", train_rows=20)
    poisoned = frame.copy()
    poisoned.iloc[20:] = 1e6
    b = Preprocessor.fit(poisoned, ["y"], "none", "standard", train_rows=20)
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_allclose(a.mean, frame.iloc[:20].mean().to_numpy())


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_encode_then_decode_gives_back_the_original_values(transform):
    frame = make_frame(n=60, cols=("y", "x"))
    pre = Preprocessor.fit(frame, ["y"], transform, "standard", train_rows=40)
    index, values = pre.encode(frame)
    # Decode each row's encoded target as a one-step forecast from the row before it.
    raw = frame["y"].to_numpy()[len(frame) - len(index):]
    anchor = frame["y"].to_numpy()[len(frame) - len(index) - 1:-1] if transform == "log_return" \
        else raw
    decoded = pre.decode(values[:, None, :1], anchor[:, None])
    np.testing.assert_allclose(decoded[:, 0, 0], raw, rtol=1e-12)


def test_log_returns_are_scaled_without_centring_so_zero_stays_zero():
    frame = make_frame(n=80)
    pre = Preprocessor.fit(frame, ["y"], "log_return", "standard")
    assert pre.mean[0] == 0.0 and pre.std[0] > 0
    assert pre.decode(np.zeros((1, 3, 1)), np.array([[7.0]]))[0, :, 0].tolist() == [7.0] * 3


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_a_network_that_outputs_zero_gives_the_naive_forecast_for_every_transform(transform):
    frame = make_frame(n=200, cols=("y", "x"))
    data = DataConfig(targets=("y",), features=("x",), seq_len=10, horizon=5, transform=transform)
    net = build_net(data, ModelConfig(hidden_size=4, normalize="last"))
    with torch.no_grad():  # the head's output is zero whatever the input
        net.head.weight.zero_()
        net.head.bias.zero_()
    prepared = prepare(frame, data)
    ds = stage_dataset(prepared, "test")
    x, _ = ds[torch.arange(len(ds))]
    starts = ds.starts.numpy()
    forecast = prepared.to_original(net(x).detach().numpy(), starts)
    naive = np.repeat(prepared.anchors(starts)[:, None, :], 5, axis=1)
    np.testing.assert_allclose(forecast, naive, rtol=1e-5)


def test_saved_statistics_round_trip_and_bad_ones_are_refused():
    pre = Preprocessor.fit(make_frame(n=30, cols=("y", "x")), ["y"], "log", "standard")
    again = Preprocessor.from_dict(pre.to_dict())
    assert again.columns == ["y", "x"] and again.std.tolist() == pre.std.tolist()
    for broken in ({**pre.to_dict(), "mean": [1.0]}, {**pre.to_dict(), "std": [1.0, -1.0]},
                   {k: v for k, v in pre.to_dict().items() if k != "std"}):
        with pytest.raises(ForecastError, match="damaged"):
            Preprocessor.from_dict(broken)


def test_a_constant_column_gets_unit_spread():
    frame = pd.DataFrame({"y": np.arange(10.0), "x": 3.0},
                         index=pd.date_range("2020-01-01", periods=10))
    assert Preprocessor.fit(frame, ["y"]).std[1] == 1.0


def test_time_features_are_the_sine_and_cosine_of_each_calendar_phase():
    index = pd.DatetimeIndex(["2024-01-01 06:00", "2024-03-01 18:00"])  # a Monday; a Friday in a leap year
    values = time_features_of(index, ("hour", "dayofweek", "day", "dayofyear", "month"))
    angle = 2 * np.pi * np.array([[6 / 24, 0 / 7, 0 / 31, 0 / 366, 0 / 12],
                                  [18 / 24, 4 / 7, 0 / 31, 60 / 366, 2 / 12]])
    np.testing.assert_allclose(values[:, 0::2], np.sin(angle), atol=1e-12)
    np.testing.assert_allclose(values[:, 1::2], np.cos(angle), atol=1e-12)


def test_time_features_follow_the_scaled_columns_unscaled_and_survive_a_round_trip():
    frame = make_frame(n=30, cols=("y", "x"), freq="h")
    pre = Preprocessor.fit(frame, ["y"], "log_return", "standard", train_rows=20, time_features=("hour",))
    index, values = pre.encode(frame)
    assert values.shape == (29, 4)  # y, x, then sin and cos of the hour
    np.testing.assert_allclose(values[:, 2:], time_features_of(index, ("hour",)))
    again = Preprocessor.from_dict(pre.to_dict())
    np.testing.assert_array_equal(again.encode(frame)[1], values)
    old = {k: v for k, v in pre.to_dict().items() if k != "time_features"}  # a model file from before
    assert Preprocessor.from_dict(old).encode(frame)[1].shape == (29, 2)


def test_normalisation_shifts_and_scales_the_data_but_never_the_calendar_phases():
    data = DataConfig(targets=("y",), seq_len=8, horizon=2, time_features=("hour",))
    net = build_net(data, ModelConfig(hidden_size=4, normalize="last+scale"))
    x = torch.randn(3, 8, 3) * 5 + 10
    normalised, last, spread = net._normalise(x)
    assert torch.equal(normalised[..., 1:], x[..., 1:]) and not torch.allclose(normalised[..., 0], x[..., 0])
    assert net.rnn.input_size == 3 and data.n_inputs == 3


def test_known_columns_are_led_by_the_horizon_so_a_window_ends_with_their_values_at_its_target_dates():
    from forecast.preprocess import lead_known
    frame = make_frame(n=120, cols=("y", "x", "k"))
    led = lead_known(frame, n_known=1, lead=4)
    np.testing.assert_array_equal(led["k"].to_numpy()[:-4], frame["k"].to_numpy()[4:])
    assert (led["k"].iloc[-4:] == frame["k"].iloc[-1]).all()  # read by no window: the last value
    assert led[["y", "x"]].equals(frame[["y", "x"]])
    ahead = lead_known(frame, 1, 4, future=[[1.0], [2.0], [3.0], [4.0]])
    assert ahead["k"].iloc[-4:].tolist() == [1.0, 2.0, 3.0, 4.0]

    cfg = DataConfig(targets=("y",), features=("x",), known=("k",), seq_len=10, horizon=4)
    prepared = prepare(frame, cfg)
    pre = prepared.preprocessor
    for stage in ("train", "val", "test"):
        dataset = stage_dataset(prepared, stage)
        x, y, *_ = dataset[torch.arange(len(dataset))]
        starts = dataset.starts.numpy()
        for i, s in enumerate(starts):  # the last 4 input rows hold k at the 4 dates forecast, scaled
            expected = (frame["k"].to_numpy()[s:s + 4] - pre.mean[2]) / pre.std[2]
            np.testing.assert_allclose(x[i, -4:, 2].numpy(), expected, rtol=1e-5, atol=1e-6)
            past = (frame["y"].to_numpy()[s - 10:s] - pre.mean[0]) / pre.std[0]  # targets: the past only
            np.testing.assert_allclose(x[i, :, 0].numpy(), past, rtol=1e-5, atol=1e-6)
    assert Preprocessor.from_dict(pre.to_dict()).lead == 4


def test_a_known_column_cannot_also_be_a_target_or_feature_nor_join_channel_independence():
    from forecast.config import check_compatible
    with pytest.raises(ForecastError, match="listed as known and as a target or feature"):
        DataConfig(targets=("y",), features=("k",), known=("k",))
    with pytest.raises(ForecastError, match="seq_len 12 must be at least the horizon 24"):
        DataConfig(targets=("y",), known=("k",), seq_len=12, horizon=24)
    with pytest.raises(ForecastError, match="channel_independent needs every input column to be a target"):
        check_compatible(DataConfig(targets=("y",), known=("k",)), ModelConfig(channel_independent=True))
