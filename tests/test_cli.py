"""The command line end to end, as a user runs it: output, files, exit codes, one-line errors.

Commands run in-process through the real entry point (`forecast.cli.main`, with its error boundary);
a subprocess is used only where the process itself is what is tested.
"""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import make_frame

SAMPLE = Path(__file__).parent.parent / "datasets" / "stocks_daily.csv"


def assert_one_line_error(result, message, code=1):
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr


@pytest.mark.slow
def test_help_does_not_import_torch():
    code = ("import sys; from forecast.cli import app; from typer.testing import CliRunner; "
            "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0; "
            "assert 'fit' in r.output and 'predict' in r.output; "
            "print([m for m in ('torch', 'lightning', 'pandas') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_loading_data_and_a_model_and_predicting_imports_no_lightning():
    stored = Path(__file__).parent / "data" / "cycle_before_0.3.safetensors"
    code = ("import sys; from forecast import SourceConfig; from forecast.loading import load; "
            "from forecast.trained import TrainedModel; import forecast.outputs, forecast.panel; "
            f"load(SourceConfig(sample='IBM')); TrainedModel.load({str(stored)!r}).predict(); "
            "print('lightning' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_fit_then_predict_on_the_bundled_sample(run, tmp_path):
    fit = run("fit", "--max-epochs", "2", "--seq-len", "20", "--quiet", "--out", tmp_path / "run")
    assert fit.returncode == 0, fit.stderr
    for text in ("bundled sample AAPL", "rows: 3270", "windows: train", "naive (last value)", "skill",
                 "compare MASE between the forecasts above, not with 1",
                 "model trained on first", "saved model: retrained on all 3270 rows"):
        assert text in fit.stdout, fit.stdout
    assert fit.stderr == ""  # no banners, tips or warnings
    for name in ("model.safetensors", "config.json", "test.png", "test_forecasts.csv"):
        assert (tmp_path / "run" / name).is_file()
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["data"]["seq_len"] == 20 and "naive" in config["metrics"]
    assert config["saved_model"] == "all 3270 rows"
    table = pd.read_csv(tmp_path / "run" / "test_forecasts.csv")
    assert {"origin", "target_date", "step", "actual", "model", "naive", "drift", "model_lower80",
            "naive_upper90"} <= set(table.columns)
    for text in ("Prediction intervals", "always up", "DM p=", "Pesaran-Timmermann", "pinball"):
        assert text in fit.stdout, fit.stdout
    assert set(config["metrics"]["intervals"]) == {"80%", "90%"} and config["calibration"]["AAPL"]["n"] > 0

    again = run("fit", "--max-epochs", "1", "--quiet", "--out", tmp_path / "run")
    assert_one_line_error(again, "already holds a model")  # nothing overwritten
    resumed = run("fit", "--max-epochs", "1", "--quiet", "--resume", "--out", tmp_path / "run")
    assert_one_line_error(resumed, "that fit finished, so there is nothing to resume")

    csv = tmp_path / "forecast.csv"
    pred = run("predict", "--model", tmp_path / "run" / "model.safetensors", "--output", csv)
    assert pred.returncode == 0, pred.stderr
    forecast = pd.read_csv(csv, parse_dates=["Date"])
    assert len(forecast) == 5 and forecast["Date"].dt.day_of_week.max() < 5
    assert str(forecast["Date"].iloc[0].date()) == "2013-03-04"  # the Monday after the last day
    assert_one_line_error(run("predict", "--model", tmp_path / "run" / "model.safetensors",
                              "--output", csv), "exists")
    parquet = tmp_path / "forecast.parquet"  # a Parquet file, not CSV text under that name
    assert run("predict", "--model", tmp_path / "run", "--output", parquet).returncode == 0
    pd.testing.assert_frame_equal(pd.read_parquet(parquet), forecast, check_dtype=False)
    shaped = run("predict", "--model", tmp_path / "run", "--format", "nixtla", "--output", tmp_path / "nixtla.csv")
    assert shaped.returncode == 0, shaped.stderr
    nixtla = pd.read_csv(tmp_path / "nixtla.csv", parse_dates=["ds"])
    assert list(nixtla.columns) == ["unique_id", "ds", "LSTM", "LSTM-lo-80", "LSTM-hi-80", "LSTM-lo-90", "LSTM-hi-90"]
    assert (nixtla["unique_id"] == "AAPL").all() and np.allclose(nixtla["LSTM"], forecast["Close"])
    assert_one_line_error(run("predict", "--model", tmp_path / "run", "--format", "darts"), "--format is forecast or nixtla")
    drawn = run("predict", "--model", tmp_path / "run", "--plot", tmp_path / "next.png")
    assert drawn.returncode == 0 and (tmp_path / "next.png").read_bytes()[:4] == b"\x89PNG"
    assert_one_line_error(run("predict", "--model", tmp_path / "run", "--plot", tmp_path / "next.png"),
                          "exists")  # a plot is not overwritten either


@pytest.mark.slow
def test_a_table_too_long_for_a_csv_is_written_as_parquet_with_the_same_rows(run, tmp_path, monkeypatch):
    import forecast.files
    args = ("fit", "--sample", "IBM", "--max-epochs", "1", "--seq-len", "20", "--no-refit", "--quiet")
    assert run(*args, "--out", tmp_path / "small").returncode == 0
    monkeypatch.setattr(forecast.files, "CSV_ROWS", 100)
    fit = run(*args, "--out", tmp_path / "large")
    assert fit.returncode == 0, fit.stderr
    assert not (tmp_path / "large" / "test_forecasts.csv").exists()
    small = pd.read_csv(tmp_path / "small" / "test_forecasts.csv", parse_dates=["origin", "target_date"])
    large = pd.read_parquet(tmp_path / "large" / "test_forecasts.parquet")
    assert len(large) > 100 and list(large.columns) == list(small.columns)
    pd.testing.assert_frame_equal(large[["origin", "step", "actual"]], small[["origin", "step", "actual"]],
                                  check_dtype=False)


@pytest.mark.slow
def test_fit_with_a_quantile_head_predicts_quantiles_and_intervals(run, tmp_path):
    fit = run("fit", "--sample", "MSFT", "--max-epochs", "1", "--seq-len", "20", "--quantiles", "0.1,0.9",
              "--coverage", "0.5", "--coverage", "0.95", "--out", tmp_path / "q")
    assert fit.returncode == 0, fit.stderr
    assert "50%" in fit.stdout and "95%" in fit.stdout
    pred = run("predict", "--model", tmp_path / "q" / "model.safetensors", "--output", tmp_path / "p.csv")
    assert pred.returncode == 0, pred.stderr
    columns = pd.read_csv(tmp_path / "p.csv").columns.tolist()
    assert columns == ["Date", "Close", "Close_q0.1", "Close_q0.5", "Close_q0.9", "Close_lower50",
                       "Close_upper50", "Close_lower95", "Close_upper95"]


@pytest.mark.slow
def test_fit_without_refit_saves_the_evaluated_model(run, tmp_path):
    result = run("fit", "--sample", "IBM", "--max-epochs", "1", "--seq-len", "10", "--no-refit",
                 "--out", tmp_path / "r")
    assert result.returncode == 0, result.stderr
    assert "saved model: the evaluated model" in result.stdout
    from forecast.trained import TrainedModel
    assert TrainedModel.load(tmp_path / "r" / "model.safetensors").info["evaluated"] is True


def test_a_warm_refit_says_what_it_saved_and_its_model_file_says_so_too(run, tmp_path):
    result = run("fit", "--sample", "IBM", "--max-epochs", "1", "--seq-len", "10", "--set", "train.refit_epochs=1",
                 "--out", tmp_path / "r")
    assert result.returncode == 0, result.stderr
    assert "saved model: retrained on all 3270 rows, 1 more epoch from the evaluated model (" in result.stdout
    from forecast.trained import TrainedModel
    info = TrainedModel.load(tmp_path / "r" / "model.safetensors").info
    assert info["trained_on"] == "all 3270 rows, 1 more epoch from the evaluated model" and not info["evaluated"]


def test_fit_on_a_csv_with_features_and_predict_from_fresher_data(run, tmp_path):
    frame = pd.read_csv(SAMPLE)
    ibm = frame[frame.Ticker == "IBM"].drop(columns="Ticker")
    ibm.iloc[-600:-100].to_csv(tmp_path / "ibm.csv", index=False)
    ibm.tail(100).to_csv(tmp_path / "fresh.csv", index=False)
    result = run("fit", "--csv", tmp_path / "ibm.csv", "--target", "Close", "--features", "Volume",
                 "--cell", "rnn", "--max-epochs", "1", "--seq-len", "10", "--quiet", "--out", tmp_path / "r")
    assert result.returncode == 0, result.stderr
    assert "columns: Close, Volume" in result.stdout
    pred = run("predict", "--model", tmp_path / "r" / "model.safetensors", "--csv", tmp_path / "fresh.csv")
    assert pred.returncode == 0, pred.stderr
    assert "2013-03-04" in pred.stdout  # after the fresh file's last day, not the training data's
    unpublished = ibm.tail(100).copy()
    unpublished.iloc[-2:, unpublished.columns.get_loc("Close")] = np.nan  # 2013-02-28 and 03-01
    unpublished.to_csv(tmp_path / "unpublished.csv", index=False)
    pred = run("predict", "--model", tmp_path / "r", "--csv", tmp_path / "unpublished.csv")
    assert pred.returncode == 0, pred.stderr
    assert "2 rows at the end lack a value and were left out" in pred.stderr
    assert "2013-02-28" in pred.stdout.splitlines()[2]  # forecast from the last real close, not a filled one
    ibm.tail(100).rename(columns={"Volume": "volume"}).to_csv(tmp_path / "renamed.csv", index=False)
    assert_one_line_error(run("predict", "--model", tmp_path / "r", "--csv", tmp_path / "renamed.csv"),
                          "lacks column(s) 'Volume' this model was trained on")


def test_several_targets_given_as_a_comma_list_or_repeated_are_the_same(run, tmp_path):
    frame = pd.read_csv(SAMPLE)
    frame[frame.Ticker == "IBM"].drop(columns="Ticker").tail(400).to_csv(tmp_path / "ibm.csv", index=False)
    summaries = [run("data", "--csv", tmp_path / "ibm.csv", *targets)
                 for targets in (["--target", "Close,Open"], ["--target", "Close", "--target", "Open"])]
    assert summaries[0].returncode == 0, summaries[0].stderr
    assert "Close, Open" in summaries[0].stdout
    assert summaries[0].stdout == summaries[1].stdout


@pytest.mark.slow
def test_a_file_without_close_forecasts_its_only_numeric_column_and_asks_when_there_are_several(run, tmp_path):
    frame = pd.read_csv(SAMPLE)
    ibm = frame[frame.Ticker == "IBM"].tail(300)
    ibm[["Date", "Close"]].rename(columns={"Date": "month", "Close": "sales"}).to_csv(tmp_path / "one.csv", index=False)
    fit = run("fit", "--csv", tmp_path / "one.csv", "--max-epochs", "1", "--seq-len", "10", "--quiet",
              "--out", tmp_path / "one")
    assert fit.returncode == 0, fit.stderr
    assert "target: sales, the file's only numeric column" in fit.stdout
    assert json.loads((tmp_path / "one" / "config.json").read_text())["data"]["targets"] == ["sales"]
    tune = run("tune", "--csv", tmp_path / "one.csv", "--n-trials", "1", "--max-epochs", "1", "--search", "seq_len=5,10",
               "--no-refit", "--storage", tmp_path / "t.db", "--out", tmp_path / "tune")
    assert tune.returncode == 0, tune.stderr
    assert "target: sales" in tune.stdout and "study one-" in tune.stdout
    ibm[["Date", "Open", "Volume"]].to_csv(tmp_path / "two.csv", index=False)
    assert_one_line_error(run("fit", "--csv", tmp_path / "two.csv", "--out", tmp_path / "two"),
                          "which column to forecast? Name it with --target (numeric columns: Open, Volume)")
    assert not (tmp_path / "two").exists()


def test_a_test_level_far_from_validations_is_shown_and_warned_of_only_without_normalisation(run, tmp_path):
    frame = make_frame(n=300, cols=("load",))
    frame.iloc[240:] -= 3.0  # the test span (the last 20%) sits far below the rest
    frame.to_csv(tmp_path / "load.csv")
    args = ("fit", "--csv", tmp_path / "load.csv", "--target", "load", "--seq-len", "10", "--max-epochs", "1",
            "--quiet", "--no-refit")
    normed = run(*args, "--out", tmp_path / "a")
    assert normed.returncode == 0, normed.stderr
    assert "levels (each span's mean less the training mean, in training standard deviations): validation" \
        in normed.stdout
    assert "may not carry to test" not in normed.stderr
    saved = json.loads((tmp_path / "a" / "config.json").read_text())["levels"]
    assert saved["test"]["load"] < -2 < saved["val"]["load"] < 2
    levels = run(*args, "--set", "model.normalize=none", "--out", tmp_path / "b")
    assert levels.returncode == 0, levels.stderr
    assert "(load): what validation chose may not carry to test" in levels.stderr


def test_a_file_whose_only_column_holds_text_names_the_value_that_is_not_a_number(run, tmp_path):
    (tmp_path / "typo.csv").write_text("date,value\n2020-01-01,1\n2020-01-02,x\n2020-01-03,3\n")
    assert_one_line_error(run("fit", "--csv", tmp_path / "typo.csv", "--out", tmp_path / "m"),
                          "typo.csv: column 'value' is not numeric (e.g. 'x')")
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
def test_time_features_are_saved_with_the_model_and_computed_again_when_it_predicts(run, tmp_path):
    fit = run("fit", "--set", "data.time_features=dayofweek,month", "--max-epochs", "1", "--seq-len", "10", "--quiet",
              "--out", tmp_path / "m")
    assert fit.returncode == 0, fit.stderr
    assert "time features: dayofweek, month" in fit.stdout
    assert json.loads((tmp_path / "m" / "config.json").read_text())["data"]["time_features"] == ["dayofweek", "month"]
    predicted = run("predict", "--model", tmp_path / "m", "--sample", "AAPL")
    assert predicted.returncode == 0, predicted.stderr
    assert "2013-03-04" in predicted.stdout  # the trading day after the sample's last


def test_a_cycle_is_fitted_saved_and_used_again_when_the_model_predicts_from_fresh_data(run, tmp_path):
    dates = pd.date_range("2023-01-02", periods=24 * 30, freq="h")
    load = 50 + 10 * np.sin(2 * np.pi * dates.hour / 24) + np.random.default_rng(0).normal(0, 1, len(dates))
    pd.DataFrame({"when": dates, "load": load}).to_csv(tmp_path / "load.csv", index=False)
    fit = run("fit", "--csv", tmp_path / "load.csv", "--cycle", "24", "--seq-len", "48", "--horizon", "12",
              "--max-epochs", "1", "--quiet", "--out", tmp_path / "m")
    assert fit.returncode == 0, fit.stderr
    assert "cycle: 24 steps, the training targets' mean at each phase" in fit.stdout
    assert json.loads((tmp_path / "m" / "config.json").read_text())["data"]["cycle"] == 24
    pd.DataFrame({"when": dates[:-7], "load": load[:-7]}).to_csv(tmp_path / "fresh.csv", index=False)
    predicted = run("predict", "--model", tmp_path / "m", "--csv", tmp_path / "fresh.csv", "--output",
                    tmp_path / "p.csv")
    assert predicted.returncode == 0, predicted.stderr
    forecast = pd.read_csv(tmp_path / "p.csv", index_col=0, parse_dates=True)["load"]
    truth = pd.Series(load, index=dates).reindex(forecast.index[:7])
    assert np.abs(forecast.iloc[:7].to_numpy() - truth.to_numpy()).mean() < 3  # the cycle, not a flat line (10)


def test_a_long_file_without_close_forecasts_its_value_column_and_a_wide_one_all_its_columns(run, tmp_path,
                                                                                              monkeypatch):
    dates = pd.date_range("2023-01-01", periods=200, freq="h")
    long = pd.concat([pd.DataFrame({"when": dates, "site": site, "load": range(k, 200 + k)}) for site, k in
                      ((1, 0), (2, 50))])  # a numeric series column is not a value column
    long.to_csv(tmp_path / "sites.csv", index=False)
    fit = run("fit", "--csv", tmp_path / "sites.csv", "--series-col", "site", "--seq-len", "10",
              "--max-epochs", "1", "--quiet", "--out", tmp_path / "sites")
    assert fit.returncode == 0, fit.stderr
    assert "target: load, the file's only numeric column" in fit.stdout
    long.pivot(index="when", columns="site", values="load").to_csv(tmp_path / "wide.csv")
    wide = run("fit", "--csv", tmp_path / "wide.csv", "--set", "source.wide=true", "--seq-len", "10", "--max-epochs", "1", "--quiet",
               "--out", tmp_path / "wide")  # every column a series, as `forecast data --wide` reads it
    assert wide.returncode == 0, wide.stderr
    assert "2 series (1, 2)" in wide.stdout
    # a panel's forecast written to a file is shown by its start, not row by row
    monkeypatch.setattr("forecast.cli.run.ROWS_SHOWN", 3)
    told = run("predict", "--model", tmp_path / "sites", "--output", tmp_path / "next.csv")
    assert len(pd.read_csv(tmp_path / "next.csv")) == 10  # 2 series, 5 steps
    assert f"wrote {tmp_path / 'next.csv'} (10 rows; the first 3 above)" in told.stdout
    assert len([line for line in told.stdout.splitlines() if line.startswith("20")]) == 3
    assert len([line for line in run("predict", "--model", tmp_path / "sites").stdout.splitlines()
                if line.startswith("20")]) == 10  # without --output, every row
    assert_one_line_error(run("fit", "--csv", tmp_path / "wide.csv", "--set", "source.wide=true", "--target", "3"),
                          "column(s) '3' not found for the wide panel; source.wide makes each --target column a series (columns: 1, 2)")


def test_data_summarises_and_writes_without_overwriting(run, tmp_path):
    out = tmp_path / "clean.parquet"
    first = run("data", "--sample", "MSFT", "--output", out)
    assert first.returncode == 0 and "rows: 3270" in first.stdout and out.is_file()
    assert "columns: Open, High, Low, Close, Volume" in first.stdout
    assert_one_line_error(run("data", "--output", out), "exists")
    back = run("data", "--parquet", out)  # reads back as it was written
    assert back.returncode == 0 and "rows: 3270" in back.stdout and "columns: Open, High, Low, Close, Volume" in back.stdout
    assert "MSFT   Open" in first.stdout and "2000-03-01  2013-03-01" in first.stdout  # its span, as a panel's
    assert "default split: validation from 2009-04-09, test from 2011-03-21" in first.stdout
    assert "series" not in pd.read_parquet(out).columns  # one series is written as its frame


def test_data_on_a_series_too_short_for_the_default_split_says_why_and_what_fits(run, tmp_path):
    pd.DataFrame({"date": pd.date_range("2024-01-01", periods=30), "y": np.arange(30.0)}).to_csv(
        tmp_path / "short.csv", index=False)
    shown = run("data", "--csv", tmp_path / "short.csv")
    assert shown.returncode == 0 and "short  y" in shown.stdout
    why = "series too short: 30 rows split into train 22 / validation 4 / test 4"  # the split fit makes
    assert why in shown.stderr and "a shorter seq_len or horizon" in shown.stderr
    assert "like the others" not in shown.stderr and "--drop-bad" not in shown.stderr
    fitted = run("fit", "--csv", tmp_path / "short.csv")
    assert fitted.returncode == 1 and why in fitted.stderr


def test_missing_hours_are_warned_of_and_a_model_fitted_with_them_inserted_inserts_them_in_fresh_data(run, tmp_path):
    hours = pd.date_range("2024-01-01", periods=420, freq="h")
    load = 50 + 10 * np.sin(np.arange(420) * 2 * np.pi / 24)
    pd.DataFrame({"date": hours, "load": load}).drop(index=[200, 201, 202]).iloc[:400].to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame({"date": hours, "load": load}).drop(index=[405]).to_csv(tmp_path / "fresh.csv", index=False)
    shown = run("data", "--csv", tmp_path / "a.csv")
    assert shown.returncode == 0 and "a.csv: 3 timestamps missing at the data's step" in shown.stderr
    fitted = run("fit", "--csv", tmp_path / "a.csv", "--seq-len", "24", "--horizon", "6", "--max-epochs", "1",
                 "--set", "source.fill_missing_dates=true", "--out", tmp_path / "m")
    assert fitted.returncode == 0 and "(of 3 rows inserted at missing timestamps)" in fitted.stdout
    assert "missing at the data's step" not in fitted.stderr
    fresh = run("predict", "--model", tmp_path / "m", "--csv", tmp_path / "fresh.csv", "--output", tmp_path / "p.csv")
    assert fresh.returncode == 0 and "missing at the data's step" not in fresh.stderr  # the model's setting
    forecast = pd.read_csv(tmp_path / "p.csv")
    assert forecast.iloc[0, 0] == "2024-01-18 12:00:00"  # the hour after the fresh data's last


def test_data_on_a_panel_summarises_each_series_and_writes_a_long_file_that_reads_back(run, tmp_path):
    out = tmp_path / "panel.csv"
    first = run("data", "--sample", "AAPL,MSFT", "--target", "Close", "--output", out)
    assert first.returncode == 0, first.stderr
    assert "AAPL   Close" in first.stdout and "MSFT   Close" in first.stdout
    written = pd.read_csv(out)
    assert list(written.columns) == ["Date", "series", "Close"] and set(written.series) == {"AAPL", "MSFT"}
    again = run("data", "--csv", out, "--series-col", "series")
    assert again.returncode == 0, again.stderr
    assert "step: trading days of XNYS" in first.stdout  # the bundled sample's calendar
    assert "step: business days (B)" in again.stdout  # a file of weekdays: its calendar is not known
    shown = [text.split("rows:")[1].split("\nstep:")[0] + text.split("\nstep:")[1].split("\n", 1)[1]
             for text in (first.stdout.replace(f"wrote {out}\n", ""), again.stdout)]
    assert shown[0] == shown[1]


def test_data_says_the_step_and_a_panel_of_series_at_different_steps_is_warned_of(run, tmp_path):
    daily = pd.DataFrame({"id": "shop", "date": pd.date_range("2020-01-01", periods=400), "y": np.arange(400.0)})
    weekly = pd.DataFrame({"id": "web", "date": pd.date_range("2015-01-04", periods=400, freq="W"), "y": np.arange(400.0)})
    daily.to_csv(tmp_path / "one.csv", index=False)
    pd.concat([daily, weekly]).to_csv(tmp_path / "two.csv", index=False)
    assert "step: daily (D)\n" in run("data", "--csv", tmp_path / "one.csv").stdout
    quarters = pd.DataFrame({"time": pd.date_range("2024-01-01", periods=200, freq="15min"), "kw": np.arange(200.0)})
    quarters.to_csv(tmp_path / "meter.csv", index=False)
    assert "step: every 15 minutes (15min)\n" in run("data", "--csv", tmp_path / "meter.csv").stdout
    shown = run("data", "--csv", tmp_path / "two.csv", "--series-col", "id")
    assert shown.returncode == 0 and "step: daily (D) (1 series); weekly (W-SUN) (1 series)" in shown.stdout
    assert "the series come at different steps (D: shop; W-SUN: web)" in shown.stderr
    from forecast import load  # every command's loading warns: the library's rule
    _, report = load({"shop": daily.set_index("date")[["y"]], "web": weekly.set_index("date")[["y"]]})
    assert report.warnings == ["the series come at different steps (D: shop; W-SUN: web); one model reads every "
                               "step alike: give each step's series a model of its own"]


@pytest.mark.slow
def test_a_panel_that_drop_bad_leaves_with_one_series_names_what_it_left_out_and_forecasts_under_its_name(run, tmp_path):
    days = pd.date_range("2020-01-01", periods=300)
    shop = pd.DataFrame({"id": "shop", "date": days, "y": 50 + np.sin(np.arange(300.0))})
    kiosk = pd.DataFrame({"id": "kiosk", "date": days[-20:], "y": np.arange(20.0)})  # too young for the split
    pd.concat([shop, kiosk]).to_csv(tmp_path / "p.csv", index=False)
    fitted = run("fit", "--csv", tmp_path / "p.csv", "--series-col", "id", "--drop-bad", "--seq-len", "10",
                 "--horizon", "3", "--max-epochs", "1", "--out", tmp_path / "m")
    assert fitted.returncode == 0 and "left out series kiosk:" in fitted.stderr  # it said nothing
    assert "windows: train" in fitted.stdout and "of series shop (test targets" in fitted.stdout
    shaped = run("predict", "--model", tmp_path / "m", "--format", "nixtla", "--output", tmp_path / "n.csv")
    assert shaped.returncode == 0 and set(pd.read_csv(tmp_path / "n.csv")["unique_id"]) == {"shop"}  # not "p"
    walked = run("backtest", "--csv", tmp_path / "p.csv", "--series-col", "id", "--drop-bad", "--seq-len", "10",
                 "--horizon", "3", "--max-epochs", "1", "--origins", "5", "--out", tmp_path / "b")
    assert walked.returncode == 0 and "left out series kiosk: no fold trained on it" in walked.stderr
    tuned = run("tune", "--csv", tmp_path / "p.csv", "--series-col", "id", "--drop-bad", "--horizon", "3",
                "--max-epochs", "1", "--n-trials", "1", "--search", "seq_len=10,12",
                "--storage", f"sqlite:///{tmp_path / 's.db'}", "--out", tmp_path / "t")
    assert tuned.returncode == 0 and "left out series kiosk: series too short" in tuned.stderr, tuned.stderr


def test_data_on_a_panel_gives_each_series_span_and_names_one_too_young_for_the_common_split(run, tmp_path):
    prices = pd.read_csv(SAMPLE)
    young = prices[prices.Ticker == "MSFT"].tail(100).assign(Ticker="NEW")
    pd.concat([prices, young]).to_csv(tmp_path / "p.csv", index=False)
    shown = run("data", "--csv", "p.csv", "--series-col", "Ticker", "--target", "Close")
    assert shown.returncode == 0, shown.stderr
    line = next(row for row in shown.stdout.splitlines() if row.startswith("NEW "))
    assert line.split()[-3:] == ["100", str(young.Date.iloc[0])[:10], str(young.Date.iloc[-1])[:10]]
    assert "1 of 5 series cannot be split like the others" in shown.stderr and "NEW: " in shown.stderr
    assert "predict --new-series and backtest --new-series" in shown.stderr


def test_an_unwritable_output_folder_fails_before_any_work(run, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_one_line_error(run("fit", "--out", blocker / "sub"), "cannot write to")


def test_corrupt_model_file_gives_one_line(run, tmp_path):
    (tmp_path / "m.safetensors").write_bytes(b"\x00" * 50)
    assert_one_line_error(run("predict", "--model", tmp_path / "m.safetensors"), "not a readable model file")


def test_accelerator_not_available_gives_one_line(run):
    import torch
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert_one_line_error(run("fit", "--set", "train.accelerator=gpu"), "no CUDA GPU")


def test_a_wrong_option_command_or_value_is_one_line_naming_the_help_with_exit_status_2(run):
    for args, message in [(("fit", "--bogus"), "No such option: --bogus"),
                          (("fit", "--max-epoch", "3"), "No such option: --max-epoch (Possible options: --max-epochs)"),
                          (("fitt",), "No such command 'fitt'. Did you mean 'fit'? (see 'forecast --help')"),
                          (("fit", "--max-epochs", "abc"), "Invalid value for '--max-epochs'"),
                          (("predict",), "Missing option '--model' (see 'forecast predict --help')")]:
        result = run(*args)
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith("error: ") and message in result.stderr
        assert f"(see 'forecast {'fit ' if args[0] == 'fit' else 'predict ' if args[0] == 'predict' else ''}--help')" \
            in result.stderr
    assert run("fit", "--help").returncode == 0 and run("--version").stdout.startswith("forecast ")


def test_help_shows_the_config_defaults(run):
    result = run("fit", "--help")
    text = " ".join(result.stdout.split())
    assert result.returncode == 0 and "(default 60)" in text and "(default lstm)" in text


@pytest.mark.slow
def test_tune_then_show(run, tmp_path):
    frame = pd.read_csv(SAMPLE)
    frame[frame.Ticker == "MSFT"].drop(columns="Ticker").tail(500).to_csv(tmp_path / "m.csv", index=False)
    db = f"sqlite:///{tmp_path}/t.db"
    tuned = run("tune", "--csv", tmp_path / "m.csv", "--target", "Close", "--n-trials", "2",
                "--max-epochs", "1", "--search", "seq_len=8,16", "--search", "hidden_size=4,8", "--storage", db,
                "--study-name", "t", "--out", tmp_path / "out")
    assert tuned.returncode == 0, tuned.stderr
    assert "2 trials" in tuned.stdout and "best trial" in tuned.stdout and "naive" in tuned.stdout
    for name in ("model.safetensors", "optimization_history.png", "study.json"):
        assert (tmp_path / "out" / name).is_file()
    shown = run("tune", "--show", "--storage", db, "--study-name", "t")
    assert shown.returncode == 0 and "2 trials (2 complete" in shown.stdout
    assert_one_line_error(run("tune", "--show", "--storage", db, "--study-name", "nope"), "no study 'nope'")
    missing = tmp_path / "none.db"
    assert_one_line_error(run("tune", "--show", "--storage", f"sqlite:///{missing}"), "no study storage")
    assert not missing.exists()  # --show creates nothing
    assert_one_line_error(run("tune", "--search", "hidden_size=64,8"), "low <= high")


@pytest.mark.slow  # two folds and the ETS and Theta baselines: about 4 s
def test_backtest_command_writes_table_csv_and_plots(run, tmp_path):
    result = run("backtest", "--sample", "GOOG", "--origins", "6", "--stride", "3", "--retrain-every", "3",
                 "--seq-len", "20", "--max-epochs", "1", "--set", "model.segment_len=4", "--set", "train.loss=mae",
                 "--baselines", "ets,theta", "--out", tmp_path / "bt")
    assert result.returncode == 0, result.stderr
    for text in ("Walk-forward backtest: 6 origins, 2 fold(s)", "seasonal naive", "By horizon step",
                 "skill vs naive", "MASE", "Prediction intervals", "cover 90%", "always ", "DM p="):
        assert text in result.stdout
    for name in ("backtest.csv", "backtest.json", "backtest_forecasts.png", "backtest_error_by_step.png",
                 "backtest_coverage_by_step.png"):
        assert (tmp_path / "bt" / name).is_file()
    summary = json.loads((tmp_path / "bt" / "backtest.json").read_text())
    assert summary["model"]["segment_len"] == 4 and summary["train"]["loss"] == "mae"
    assert len(summary["metrics_by_step"]["intervals"]["80%"]["model"]["coverage"]) == 5
    assert {"model_lower80", "naive_upper90", "ets", "theta"} <= set(pd.read_csv(tmp_path / "bt" / "backtest.csv").columns)
    assert summary["data"]["baselines"] == ["ets", "theta"] and summary["metrics"]["theta"]["mase"] > 0
    cross = pd.read_csv(tmp_path / "bt" / "cross_validation.csv")
    assert list(cross.columns[:6]) == ["unique_id", "ds", "cutoff", "y", "LSTM", "Naive"]
    assert {"ETS", "Theta", "LSTM-lo-80", "LSTM-hi-90"} <= set(cross.columns) and (cross["unique_id"] == "GOOG").all()
    assert "│ ets " in result.stdout and "│ theta " in result.stdout
    assert_one_line_error(run("backtest", "--baselines", "prophet"), "unknown baseline 'prophet'; choose one of: naive2, ets, theta, arima")
    assert_one_line_error(run("backtest", "--origins", "5000"), "reaches before the first row")
    assert_one_line_error(run("backtest", "--horizon", "0"), "horizon must be a positive whole number")


@pytest.mark.slow
def test_backtest_from_a_saved_model_applies_the_options_given(run, tmp_path):
    fit = run("fit", "--sample", "IBM", "--max-epochs", "1", "--seq-len", "12", "--hidden-size", "6",
              "--no-refit", "--out", tmp_path / "m")
    assert fit.returncode == 0, fit.stderr
    bt = run("backtest", "--model", tmp_path / "m" / "model.safetensors", "--hidden-size", "5",
             "--origins", "3", "--out", tmp_path / "bt")
    assert bt.returncode == 0, bt.stderr
    summary = json.loads((tmp_path / "bt" / "backtest.json").read_text())
    assert summary["model"]["hidden_size"] == 5 and summary["data"]["seq_len"] == 12
    assert "IBM" in summary["data_used"]


@pytest.mark.slow
def test_fit_on_a_long_file_and_on_a_wide_file_trains_one_model_for_every_series(run, tmp_path):
    frames = {"north": make_frame(n=160, seed=1), "south": make_frame(n=140, seed=2, start="2020-01-15") + 2}
    long = pd.concat([f.assign(site=name) for name, f in frames.items()]).rename_axis("Date").reset_index()
    long.to_csv(tmp_path / "long.csv", index=False)
    result = run("fit", "--csv", tmp_path / "long.csv", "--series-col", "site", "--target", "y",
                 "--seq-len", "8", "--horizon", "2", "--max-epochs", "1", "--out", tmp_path / "long")
    assert result.returncode == 0, result.stderr
    for text in ("2 series (north, south)", "Per series", "over 2 series", "of 2 series",
                 "in training standard deviations): north: validation"):
        assert text in result.stdout, result.stdout
    levels = json.loads((tmp_path / "long" / "config.json").read_text())["levels"]
    assert set(levels["val"]) == set(levels["test"]) == {"north", "south"}
    pred = run("predict", "--model", tmp_path / "long" / "model.safetensors", "--series", "south",
               "--output", tmp_path / "south.csv")
    assert pred.returncode == 0, pred.stderr
    assert set(pd.read_csv(tmp_path / "south.csv")["series"]) == {"south"}
    wide = pd.DataFrame({name: f["y"] for name, f in frames.items()}).rename_axis("Date").reset_index()
    wide.to_csv(tmp_path / "wide.csv", index=False)
    result = run("fit", "--csv", tmp_path / "wide.csv", "--set", "source.wide=true", "--target", "north", "--target", "south",
                 "--seq-len", "8", "--horizon", "2", "--max-epochs", "1", "--out", tmp_path / "wide")
    assert result.returncode == 0, result.stderr
    assert "2 series (north, south)" in result.stdout
    assert_one_line_error(run("fit", "--csv", tmp_path / "long.csv", "--series-col", "nope", "--target", "y"),
                          "series column 'nope' not found")
    assert_one_line_error(run("fit", "--csv", tmp_path / "wide.csv", "--set", "source.wide=true", "--target", "north",
                              "--features", "south"), "takes no --features")
    wide.dropna().to_csv(tmp_path / "same_dates.csv", index=False)  # backtest origins: dates both series have
    walked = run("backtest", "--csv", tmp_path / "same_dates.csv", "--set", "source.wide=true", "--target", "north,south", "--seq-len", "8",
                 "--horizon", "2", "--origins", "4", "--max-epochs", "1", "--out", tmp_path / "walk")
    assert walked.returncode == 0, walked.stderr  # the columns are the series here too
    assert "of 2 series" in walked.stdout and (tmp_path / "walk" / "series_metrics.csv").is_file()


def test_a_short_validation_span_names_the_unbounded_interval_and_an_exact_baseline_is_said_to_be_exact(run, tmp_path):
    dates = pd.date_range("2020-01-05", periods=60, freq="W-SUN")
    pd.DataFrame({"week": dates, "v": range(60)}).to_csv(tmp_path / "line.csv", index=False)
    fit = run("fit", "--csv", tmp_path / "line.csv", "--seq-len", "10", "--max-epochs", "1", "--quiet",
              "--out", tmp_path / "m")
    assert fit.returncode == 0, fit.stderr
    assert "The best baseline (drift) is exact on these forecasts (RMSE 0)" in fit.stdout
    unbounded = "the 90% interval is unbounded (-inf to inf): 5 held-out windows calibrate at most 83% and 90% needs 9"
    assert unbounded in fit.stderr and "RuntimeWarning" not in fit.stderr  # the test table's interval
    # the refit's interval is calibrated on every window after training (5 validation, 4 across, 5 test): bounded
    assert "saved model:" not in fit.stderr
    predicted = run("predict", "--model", tmp_path / "m")
    assert predicted.returncode == 0 and "unbounded" not in predicted.stderr and "inf" not in predicted.stdout
    short = run("fit", "--csv", tmp_path / "line.csv", "--seq-len", "10", "--max-epochs", "1", "--quiet",
                "--no-refit", "--out", tmp_path / "kept")
    assert unbounded in short.stderr  # without a refit the saved model keeps validation's calibration
    assert unbounded in run("predict", "--model", tmp_path / "kept").stderr


@pytest.mark.slow
def test_a_known_column_is_fitted_with_known_and_its_future_values_given_to_predict_with_future(run, tmp_path):
    n = 300
    dates = pd.date_range("2022-01-01", periods=n, freq="D")
    promo = (np.arange(n + 5) % 7 == 3).astype(int)
    frame = pd.DataFrame({"date": dates, "sales": 50 + 8 * promo[:n], "promo": promo[:n]})
    frame.to_csv(tmp_path / "sales.csv", index=False)
    nxt = pd.DataFrame({"date": pd.date_range(dates[-1] + pd.Timedelta(days=1), periods=5), "promo": promo[n:]})
    nxt.to_csv(tmp_path / "next.csv", index=False)
    fit = run("fit", "--csv", tmp_path / "sales.csv", "--target", "sales", "--known", "promo", "--seq-len", "14",
              "--horizon", "5", "--max-epochs", "1", "--quiet", "--out", tmp_path / "m")
    assert fit.returncode == 0, fit.stderr
    assert "columns: sales, promo" in fit.stdout
    assert_one_line_error(run("predict", "--model", tmp_path / "m"),
                          "reads the future values of promo: give them for the 5 dates forecast (2022-10-28 to")
    pred = run("predict", "--model", tmp_path / "m", "--future", tmp_path / "next.csv", "--output",
               tmp_path / "p.csv", "--plot", tmp_path / "p.png")
    assert pred.returncode == 0, pred.stderr
    assert len(pd.read_csv(tmp_path / "p.csv")) == 5 and (tmp_path / "p.png").is_file()
    pd.concat([frame, nxt]).to_csv(tmp_path / "with_next.csv", index=False)  # the week ahead, sales blank
    fresh = run("predict", "--model", tmp_path / "m", "--csv", tmp_path / "with_next.csv", "--output",
                tmp_path / "q.csv")
    assert fresh.returncode == 0, fresh.stderr
    assert "the last 5 rows have no sales yet; their promo values are the known future" in fresh.stdout
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "q.csv"), pd.read_csv(tmp_path / "p.csv"))
    nxt.iloc[:3].to_csv(tmp_path / "short.csv", index=False)
    assert_one_line_error(run("predict", "--model", tmp_path / "m", "--future", tmp_path / "short.csv"),
                          "no number for promo at 2022-10-31")
    plain = run("fit", "--csv", tmp_path / "sales.csv", "--target", "sales", "--seq-len", "14", "--max-epochs", "1",
                "--quiet", "--out", tmp_path / "plain")
    assert plain.returncode == 0, plain.stderr
    assert_one_line_error(run("predict", "--model", tmp_path / "plain", "--future", tmp_path / "next.csv"),
                          "future values are for a model fitted with known columns (--known)")


def test_when_the_seasonal_naive_wins_fit_says_how_to_hand_the_season_over_and_to_choose_on_validation(run, tmp_path):
    months = pd.date_range("2010-01-01", periods=120, freq="MS")
    sales = 100 + 10 * np.sin(np.arange(120) * 2 * np.pi / 12) + np.random.default_rng(0).normal(0, 0.5, 120)
    pd.DataFrame({"month": months, "sales": sales}).to_csv(tmp_path / "m.csv", index=False)
    fitted = run("fit", "--csv", "m.csv", "--seq-len", "12", "--horizon", "3", "--max-epochs", "1", "--quiet",
                 "--out", "plain")
    assert fitted.returncode == 0, fitted.stderr
    assert "validation loss" in fitted.stdout.split("trained 1 epoch in")[1].splitlines()[0]
    assert "hint: the seasonal naive repeats the last 12 steps and wins here; --cycle 12" in fitted.stdout
    assert "lower validation loss, not the better test table" in fitted.stdout
    assert "validation loss was still falling at the last epoch: a higher --max-epochs than 1" in fitted.stdout
    cycled = run("fit", "--csv", "m.csv", "--seq-len", "12", "--horizon", "3", "--max-epochs", "1", "--quiet",
                 "--cycle", "12", "--out", "cycled")
    assert cycled.returncode == 0 and "seasonal naive repeats" not in cycled.stdout


@pytest.mark.slow  # a fit, two forecasts and an exchange calendar
def test_predict_with_a_calendar_forecasts_its_days_instead_of_the_saved_step(run, tmp_path):
    frame = pd.read_csv(SAMPLE)
    ibm = frame[frame.Ticker == "IBM"].drop(columns="Ticker").tail(300)
    ibm.to_csv(tmp_path / "ibm.csv", index=False)  # a file: its step is read as business days
    assert run("fit", "--csv", tmp_path / "ibm.csv", "--target", "Close", "--max-epochs", "1", "--seq-len", "10",
               "--no-refit", "--quiet", "--out", tmp_path / "m").returncode == 0
    last = "2012-12-21"  # the Friday before Christmas: XNYS is closed on the 25th
    ibm[ibm.Date <= last].to_csv(tmp_path / "fresh.csv", index=False)
    plain = run("predict", "--model", tmp_path / "m", "--csv", tmp_path / "fresh.csv", "--output", tmp_path / "b.csv")
    nyse = run("predict", "--model", tmp_path / "m", "--csv", tmp_path / "fresh.csv", "--calendar", "XNYS",
               "--output", tmp_path / "x.csv")
    assert plain.returncode == 0 and nyse.returncode == 0, nyse.stderr
    days = lambda name: [d[:10] for d in pd.read_csv(tmp_path / name)["Date"]]  # noqa: E731
    assert "2012-12-25" in days("b.csv") and "2012-12-25" not in days("x.csv")
    assert_one_line_error(run("predict", "--model", tmp_path / "m", "--calendar", "NOPE"), "NOPE")


@pytest.mark.slow  # three fits on the bundled sample
def test_a_fit_whose_output_is_not_a_terminal_says_where_it_is_at_a_steady_pace(run, tmp_path, monkeypatch):
    import forecast.cli.run
    from forecast.cli.common import say
    from forecast.forecaster import ProgressLines
    monkeypatch.setattr(forecast.cli.run, "progress_lines", lambda: ProgressLines(say, every=0.0))  # each epoch
    result = run("fit", "--sample", "IBM", "--max-epochs", "3", "--seq-len", "10", "--hidden-size", "4",
                 "--set", "train.patience=0", "--no-refit", "--out", tmp_path / "r")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("training: epoch")]
    assert [line.split(",")[0] for line in lines] == [f"training: epoch {i} of at most 3" for i in (1, 2, 3)]
    assert "val loss" in lines[0] and "train loss" in lines[0] and "s left" in lines[-1]
    quiet = run("fit", "--sample", "IBM", "--max-epochs", "2", "--seq-len", "10", "--hidden-size", "4",
                "--no-refit", "--quiet", "--out", tmp_path / "q")
    assert "training: epoch" not in quiet.stdout


@pytest.mark.parametrize("width", [80, 50])
def test_a_table_of_numbers_cuts_no_number_or_column_on_a_narrow_terminal(monkeypatch, width):
    import io

    from rich.console import Console
    from rich.table import Table

    from forecast.cli import common
    buffer = io.StringIO()
    monkeypatch.setattr(common, "out", Console(file=buffer, width=width))
    table = Table(title="Test metrics")
    table.add_column("forecast")
    for name in ("MAE", "RMSE", "MAPE %", "sMAPE %", "MASE", "dir. %", "calls"):
        table.add_column(name, justify="right")
    for label in ("model", "naive (last value)", "moving average"):
        table.add_row(label, "0.8812", "0.8094", "64.67", "144.9", "0.7844", "62.09", "182")
    common.show(table)
    text = buffer.getvalue()
    assert "…" not in text and text.count("0.8812") == 3 and text.count("182") == 3 and "calls" in text


def test_a_table_rich_draws_wider_than_asked_is_printed_whole_not_cut_at_the_terminals_edge(monkeypatch):
    import io

    from rich.console import Console
    from rich.table import Table

    from forecast.cli import common
    buffer = io.StringIO()
    monkeypatch.setattr(common, "out", Console(file=buffer, width=80))
    table = Table(title="Per series")  # narrow enough at its least (78), yet rich lays it out at 86
    for col in ("series", "RMSE", "naive RMSE", "MASE", "skill %", "DM p", "best baseline", "cover 80%"):
        table.add_column(col, justify="left" if col in ("series", "best baseline") else "right")
    table.add_row("s19", "5.176", "10.81", "0.731", "+52.1", "0.000559", "seasonal_naive", "83.12")
    common.show(table)
    rows = buffer.getvalue().splitlines()
    assert rows[-1].endswith("┘") and rows[-2].endswith("83.12 │") and rows[2].endswith("cover ┃")
