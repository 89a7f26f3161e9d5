"""The command line end to end, as a user runs it: output, files, exit codes, one-line errors."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

FORECAST = [sys.executable, "-m", "forecast"]


def run(*args, cwd=None):
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([*FORECAST, *args], capture_output=True, text=True, cwd=cwd, env=env)


def assert_one_line_error(result, message):
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_help_does_not_import_torch():
    code = ("import sys; from forecast.cli import app; from typer.testing import CliRunner; "
            "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0; "
            "assert 'fit' in r.output and 'predict' in r.output; "
            "print([m for m in ('torch', 'lightning', 'pandas') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_fit_then_predict_on_the_bundled_sample(tmp_path):
    fit = run("fit", "--max-epochs", "2", "--seq-len", "20", "--quiet", "--out", str(tmp_path / "run"))
    assert fit.returncode == 0, fit.stderr
    for text in ("bundled sample AAPL", "rows: 3270", "windows: train", "naive (last value)", "skill"):
        assert text in fit.stdout
    for name in ("model.safetensors", "config.json", "test.png", "test_forecasts.csv"):
        assert (tmp_path / "run" / name).is_file()
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["data"]["seq_len"] == 20 and "naive" in config["metrics"]
    table = pd.read_csv(tmp_path / "run" / "test_forecasts.csv")
    assert {"origin", "target_date", "step", "actual", "model", "naive"} <= set(table.columns)

    again = run("fit", "--max-epochs", "1", "--quiet", "--out", str(tmp_path / "run"))
    assert_one_line_error(again, "already holds a model")  # nothing overwritten

    csv = tmp_path / "forecast.csv"
    pred = run("predict", "--model", str(tmp_path / "run" / "model.safetensors"), "--output", str(csv))
    assert pred.returncode == 0, pred.stderr
    forecast = pd.read_csv(csv, parse_dates=["Date"])
    assert len(forecast) == 5 and forecast["Date"].dt.dayofweek.max() < 5
    assert str(forecast["Date"].iloc[0].date()) == "2013-03-04"  # the Monday after the last day

    resumed = run("fit", "--max-epochs", "3", "--seq-len", "20", "--quiet", "--resume", "--out",
                  str(tmp_path / "run"))
    assert resumed.returncode == 0, resumed.stderr


def test_fit_on_a_csv_with_features(tmp_path):
    frame = pd.read_csv(Path(__file__).parent.parent / "datasets" / "stocks_daily.csv")
    frame[frame.Ticker == "IBM"].drop(columns="Ticker").tail(600).to_csv(tmp_path / "ibm.csv", index=False)
    result = run("fit", "--csv", str(tmp_path / "ibm.csv"), "--target", "Close", "--features", "Volume",
                 "--cell", "rnn", "--max-epochs", "1", "--seq-len", "10", "--quiet",
                 "--out", str(tmp_path / "r"))
    assert result.returncode == 0, result.stderr
    assert "columns: Close, Volume" in result.stdout


def test_data_summarises_and_writes_without_overwriting(tmp_path):
    out = tmp_path / "clean.parquet"
    first = run("data", "--sample", "MSFT", "--output", str(out))
    assert first.returncode == 0 and "rows: 3270" in first.stdout and out.is_file()
    assert "columns: Open, High, Low, Close, Volume" in first.stdout
    assert_one_line_error(run("data", "--output", str(out)), "exists")


@pytest.mark.parametrize("args,message", [
    (["fit", "--cell", "transformer"], "unknown cell 'transformer'"),
    (["fit", "--hidden-size", "-3"], "hidden_size must be positive"),
    (["fit", "--csv", "missing.csv", "--target", "y"], "file not found: missing.csv"),
    (["fit", "--target", "Nope"], "'Nope' not found"),
    (["fit", "--seq-len", "5000"], "series too short"),
    (["fit", "--horizon", "0"], "horizon must be positive"),
    (["fit", "--ticker", "../../etc"], "invalid ticker"),
    (["predict", "--model", "missing.safetensors"], "model file not found"),
    (["data", "--sample", "TSLA"], "bundled sample has"),
])
def test_bad_input_gives_one_line_and_exit_1(args, message, tmp_path):
    assert_one_line_error(run(*args, cwd=tmp_path), message)


def test_corrupt_model_file_gives_one_line(tmp_path):
    (tmp_path / "m.safetensors").write_bytes(b"\x00" * 50)
    assert_one_line_error(run("predict", "--model", str(tmp_path / "m.safetensors")),
                          "not a readable model file")


def test_accelerator_not_available_gives_one_line():
    import torch
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert_one_line_error(run("fit", "--accelerator", "gpu"), "no CUDA GPU")


def test_wrong_option_is_a_usage_error_not_a_traceback():
    result = run("fit", "--bogus")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_tune_then_show(tmp_path):
    frame = pd.read_csv(Path(__file__).parent.parent / "datasets" / "stocks_daily.csv")
    frame[frame.Ticker == "MSFT"].drop(columns="Ticker").tail(500).to_csv(tmp_path / "m.csv", index=False)
    db = f"sqlite:///{tmp_path}/t.db"
    tuned = run("tune", "--csv", str(tmp_path / "m.csv"), "--target", "Close", "--n-trials", "2",
                "--max-epochs", "1", "--seq-len", "8,16", "--hidden-size", "4,8", "--storage", db,
                "--study-name", "t", "--out", str(tmp_path / "out"))
    assert tuned.returncode == 0, tuned.stderr
    assert "2 trials" in tuned.stdout and "best trial" in tuned.stdout and "naive" in tuned.stdout
    assert (tmp_path / "out" / "model.safetensors").is_file()
    assert (tmp_path / "out" / "optimization_history.png").is_file()
    shown = run("tune", "--show", "--storage", db, "--study-name", "t")
    assert shown.returncode == 0 and "2 trials (2 complete" in shown.stdout
    assert_one_line_error(run("tune", "--show", "--storage", db, "--study-name", "nope"),
                          "no study 'nope'")
    assert_one_line_error(run("tune", "--hidden-size", "64,8"), "low <= high")


def test_backtest_command_writes_table_csv_and_plots(tmp_path):
    result = run("backtest", "--sample", "GOOG", "--origins", "6", "--stride", "3", "--retrain-every", "3",
                 "--seq-len", "20", "--max-epochs", "1", "--out", str(tmp_path / "bt"))
    assert result.returncode == 0, result.stderr
    for text in ("Walk-forward backtest: 6 origins, 2 fold(s)", "seasonal_naive", "MAE by horizon step",
                 "skill vs naive"):
        assert text in result.stdout
    for name in ("backtest.csv", "backtest.json", "backtest_forecasts.png", "backtest_error_by_step.png"):
        assert (tmp_path / "bt" / name).is_file()
    assert_one_line_error(run("backtest", "--origins", "5000"), "reaches before the first row")
    assert_one_line_error(run("backtest", "--horizon", "0"), "horizon must be positive")
