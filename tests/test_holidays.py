"""The holiday flag: from a country's or a market's calendar, read over the horizon ahead like a known
covariate, computed from the dates (so a forecast needs no future file), kept in the model file."""
import numpy as np
import pandas as pd
import pytest

from forecast import DataConfig, ModelConfig, TrainConfig, fit
from forecast.dates import holiday_flags
from forecast.errors import ForecastError
from forecast.preprocess import Preprocessor
from forecast.trained import TrainedModel


def test_a_holiday_is_flagged_on_its_date_and_on_the_session_after_a_market_closure():
    days = pd.date_range("2024-07-01", "2024-07-08", freq="D")
    assert list(days[holiday_flags(days, "US") == 1].strftime("%m-%d")) == ["07-04"]
    hours = pd.date_range("2024-07-03 22:00", periods=30, freq="h")
    assert holiday_flags(hours, "US").sum() == 24  # every hour of the 4th
    sessions = pd.bdate_range("2024-03-25", "2024-04-05").drop(pd.Timestamp("2024-03-29"))  # Good Friday: closed
    flagged = sessions[holiday_flags(sessions, "XNYS") == 1]
    assert list(flagged.strftime("%m-%d")) == ["04-01"]  # the Monday after the closure
    assert holiday_flags(days, "de-by").sum() == 0 and holiday_flags(["2024-01-06"], "DE-BY")[0] == 1  # Bavaria's Epiphany
    assert holiday_flags(["2024-01-06"], "DE")[0] == 0  # not a national holiday


def test_an_unknown_calendar_is_one_clear_error_before_anything_loads():
    with pytest.raises(ForecastError, match="unknown holiday calendar 'ZZ'"):
        DataConfig(holidays="ZZ")
    assert DataConfig(holidays=" ").holidays is None
    assert DataConfig(holidays="US").n_inputs == DataConfig().n_inputs + 1


def test_the_flag_is_read_over_the_horizon_ahead_and_its_last_rows_from_the_dates_forecast():
    index = pd.date_range("2024-06-10", "2024-07-03", freq="D", name="Date")
    frame = pd.DataFrame({"y": np.arange(len(index), dtype=float)}, index=index)
    pre = Preprocessor.fit(frame, ["y"], lead=3, holidays="US")
    _, values = pre.encode(frame)
    flag = values[:, -1]
    assert flag[index.get_loc("2024-06-16")] == 1  # three days before Juneteenth (the 19th)
    assert flag.sum() == 1
    assert flag[-3:].tolist() == [0.0, 0.0, 0.0]  # beyond the data, without the dates ahead: no window reads them
    ahead = pd.date_range("2024-07-04", periods=3, freq="D")
    _, values = pre.encode(frame, ahead=ahead)
    assert values[-3:, -1].tolist() == [1.0, 0.0, 0.0]  # row t holds the flag of t + 3: July 4th, 5th, 6th
    assert Preprocessor.from_dict(pre.to_dict()).holidays == "US"


def test_a_model_with_holidays_forecasts_without_a_future_file_and_keeps_the_calendar(tmp_path):
    index = pd.date_range("2022-01-01", periods=900, freq="D", name="Date")
    rng = np.random.default_rng(0)
    y = 20 + np.sin(np.arange(900) * 2 * np.pi / 7) - 6 * holiday_flags(index, "US") + 0.1 * rng.normal(size=900)
    frame = pd.DataFrame({"y": y}, index=index)
    data = DataConfig(targets=("y",), seq_len=14, horizon=7, holidays="US")
    result = fit(frame.iloc[:-5], data, ModelConfig(cell="gru", hidden_size=8), TrainConfig(max_epochs=1), quiet=True,
                 refit=False)
    path = result.model.save(tmp_path / "m.safetensors")
    loaded = TrainedModel.load(path)
    assert loaded.data.holidays == "US" and loaded._only().preprocessor.holidays == "US"
    forecast = loaded.predict(frame)  # the history ends 2024-06-18: the week ahead holds Juneteenth
    assert len(forecast) == 7 and np.isfinite(forecast["y"]).all()
    np.testing.assert_allclose(loaded.predict(frame)["y"], result.model.predict(frame)["y"], rtol=1e-6)
