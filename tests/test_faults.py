"""Fault injection and bad input, as an audit would try them: real processes interrupted and killed,
disks that fill up, folders in the way, and wrong input of every kind. Each must end in one clear
line (exit 1, or 130 for Ctrl-C), never a traceback, and leave what was there usable.

The figures for the closing note count the cases here: `pytest tests/test_faults.py -k bad_input`
(bad inputs) and `-k fault` (faults).
"""
import os
import errno
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest

from tests.test_cli import assert_one_line_error

ROOT = Path(__file__).parent.parent
SAMPLE = ROOT / "datasets" / "stocks_daily.csv"


def _files(tmp_path):
    ibm = pd.read_csv(SAMPLE)
    ibm = ibm[ibm.Ticker == "IBM"].drop(columns="Ticker").tail(400)
    ibm.to_csv(tmp_path / "ibm.csv", index=False)
    (tmp_path / "header.csv").write_text("Date,Close\n")
    (tmp_path / "text.csv").write_text("Date,Close\n2020-01-01,a\n2020-01-02,b\n")
    (tmp_path / "months.csv").write_text("date,y\n" + "".join(f"01/{m:02d}/2020,{m}\n" for m in range(1, 13)))
    (tmp_path / "notmodel.safetensors").write_text("hello")
    (tmp_path / "study_list.yaml").write_text("model: [1, 2]\n")
    (tmp_path / "study_trials.yaml").write_text("n_trials: lots\n")
    (tmp_path / "study_key.yaml").write_text("trials: 3\n")
    (tmp_path / "study_bad.yaml").write_text("search: {hidden_size: [64, 8]}\n")
    (tmp_path / "study_yaml.yaml").write_text("search: [unclosed\n")
    stores = "".join(f"2020-01-{d:02d},{s},{d % 5 + 3 * s},{k}\n" for s, k in ((1, "a"), (2, "b")) for d in range(1, 29))
    (tmp_path / "stores.csv").write_text("date,store,y,kind\n" + stores)
    (tmp_path / "stores_one_kind.csv").write_text("date,store,y,kind\n" + stores.replace(",b\n", ",a\n"))
    (tmp_path / "stores_changing.csv").write_text("date,store,y,kind\n" + stores.replace("2020-01-09,2,10,b", "2020-01-09,2,10,c"))


BAD_INPUTS = [
    (["fit", "--cell", "transformer"], "unknown cell 'transformer'; choose one of"),
    (["fit", "--cell", "lsmt"], "unknown cell 'lsmt' (did you mean 'lstm'?)"),
    (["fit", "--set", "data.time_features=hour,minute"], "unknown time feature 'minute'"),
    (["fit", "--coverage", "80,90"], "coverage must be between 0 and 1 (exclusive), got 80.0; write 0.8 for 80%"),
    (["fit", "--coverage", ","], "coverage needs at least one level"),
    (["backtest", "--calibration", "adaptive", "--set", "backtest.gamma=1e9"], "gamma 1e+09 is the step of adaptive intervals"),
    (["backtest", "--calibration", "adaptive", "--set", "backtest.gamma=0.5"], "above 0.2 one miss moves them to unbounded"),
    (["backtest", "--coverage", " , "], "coverage needs at least one level"),
    (["fit", "--set", "train.devices=999", "--set", "train.accelerator=cpu"], "train.devices 999: this machine has"),
    (["backtest", "--set", "train.devices=512", "--set", "train.accelerator=cpu"], "CPU cores, and more CPU processes than cores"),
    (["fit", "--set", "data.time_features=dayofweek,hour", "--max-epochs", "1"], "time feature 'hour' is the same at every training row"),
    (["fit", "--set", "data.time_features=hour", "--set", "model.channel_independent=true"], "drop the features, known, static columns and time features"),
    (["fit", "--cycle", "1"], "cycle must be 0 (none) or a whole number of steps from 2"),
    (["fit", "--static", "kind"], "--static describes each series of a panel: give a long file with --series-col"),
    (["fit", "--static", "Close", "--series-col", "Ticker"], "'Close' is listed as static and as an input"),
    (["fit", "--sample", "IBM,MSFT", "--static", "kind"], "static columns are read from a long file"),
    (["fit", "--csv", "stores.csv", "--series-col", "store", "--target", "y", "--static", "size"], "'size' not found"),
    (["fit", "--csv", "stores.csv", "--series-col", "store", "--target", "y", "--static", "store"],
     "'store' names the series, so it cannot be a static column"),
    (["fit", "--csv", "stores_one_kind.csv", "--series-col", "store", "--target", "y", "--static", "kind",
      "--seq-len", "3", "--horizon", "1"], "static column 'kind' is 'a' for every series: it tells the model nothing"),
    (["fit", "--csv", "stores_changing.csv", "--series-col", "store", "--target", "y", "--static", "kind",
      "--seq-len", "3", "--horizon", "1"], "series 2: static column 'kind' changes from 'b' to 'c' at 2020-01-09"),
    (["backtest", "--hold-out", "1"], "--hold-out holds series out of a panel's training; these data are one series"),
    (["backtest", "--hold-out", "2.5"], "a count of series is a whole number, 1 or more"),
    (["backtest", "--csv", "stores.csv", "--series-col", "store", "--target", "y", "--hold-out", "5"],
     "--hold-out 5 holds out every one of the 2 series"),
    (["backtest", "--csv", "stores.csv", "--series-col", "store", "--target", "y", "--static", "kind",
      "--hold-out", "2"], "--hold-out leaves 1 series to train on: static column 'kind' is 'a' for every series"),
    (["fit", "--cycle", "5", "--transform", "log_return"], "cycle works on levels"),
    (["fit", "--cycle", "9000", "--max-epochs", "1"], "the training rows never reach phase"),
    (["fit", "--hidden-size", "-3"], "hidden_size must be a positive whole number"),
    (["fit", "--csv", "missing.csv", "--target", "y"], "file not found: missing.csv"),
    (["fit", "--target", "Nope"], "'Nope' not found"),
    (["fit", "--seq-len", "5000"], "series too short"),
    (["fit", "--sample", "IBM", "--seq-len", "2400"], "use more data or a shorter seq_len (at most 2285) or horizon"),
    (["fit", "--horizon", "0"], "horizon must be a positive whole number"),
    (["fit", "--ticker", "../../etc"], "invalid ticker"),
    (["fit", "--set", "train.precision=foo"], "unknown precision 'foo'"),
    (["fit", "--set", "train.learning_rate=nan"], "learning_rate must be a positive number"),
    (["fit", "--start", "notadate"], "start 'notadate' is not a date"),
    (["fit", "--set", "train.devices=zero"], "devices must be auto or a positive count"),
    (["fit", "--set", "train.devices=3", "--set", "train.accelerator=gpu"], "no CUDA GPU is available"),
    (["fit", "--csv", "a[1].csv"], "file not found: a[1].csv"),
    (["fit", "--csv", "a.csv", "--parquet", "b.parquet"], "give one file (--file, --csv or --parquet), not 2"),
    (["fit", "--sample", "MSFT", "--ticker", "AAPL"], "one data source"),
    (["fit", "--resume"], "--resume needs the --out folder"),
    (["predict", "--model", "missing.safetensors"], "model file not found"),
    (["data", "--sample", "TSLA"], "bundled sample has"),
    (["data", "--sample", "APPL"], "not APPL (did you mean 'AAPL'?)"),
    (["data", "--output", "x.txt"], "must end in .csv or .parquet"),
    (["fit", "--start", "2020-13-45"], "is not a date"),
    (["fit", "--end", "yesterday-ish"], "is not a date"),
    (["fit", "--set", "train.learning_rate=-1"], "learning_rate must be a positive number"),
    (["fit", "--set", "train.learning_rate=inf"], "learning_rate must be a positive number"),
    (["fit", "--set", "model.dropout=1.5"], "dropout must be in [0, 1)"),
    (["fit", "--batch-size", "0"], "batch_size must be a positive whole number"),
    (["fit", "--max-epochs", "0"], "max_epochs must be a positive whole number"),
    (["fit", "--set", "train.patience=-1"], "patience must be 0 or more"),
    (["fit", "--set", "data.val_fraction=0"], "val_fraction must be between 0 and 1"),
    (["fit", "--set", "data.test_fraction=0.85"], "must leave at least 10% for training"),
    (["fit", "--set", "source.interval=5m"], "unknown interval '5m'"),
    (["fit", "--transform", "sqrt"], "unknown transform 'sqrt'"),
    (["fit", "--set", "data.scaler=minmax"], "unknown scaler 'minmax'"),
    (["fit", "--set", "train.loss=l3"], "unknown loss 'l3'"),
    (["fit", "--holidays", "ZZ"], "unknown holiday calendar 'ZZ'"),
    (["fit", "--set", "train.optimizer=sgd"], "unknown optimizer 'sgd'"),
    (["fit", "--set", "train.schedule=step"], "unknown schedule 'step'"),
    (["fit", "--set", "train.accelerator=tpu"], "unknown accelerator 'tpu'"),
    (["fit", "--set", "model.segment_len=7"], "must be a multiple of segment_len 7"),
    (["fit", "--set", "model.channel_independent=true", "--features", "Volume"], "channel_independent needs"),
    (["fit", "--set", "source.calendar=NOPE", "--max-epochs", "1"], "unknown calendar 'NOPE'"),
    (["fit", "--set", "train.threads=0"], "threads must be a positive whole number"),
    (["fit", "--set", "source.max_gap=-2"], "max_gap must be 0 or more"),
    (["fit", "--csv", "header.csv"], "no data rows"),
    (["fit", "--csv", "text.csv"], "column 'Close' is not numeric"),
    (["fit", "--csv", "months.csv", "--target", "y"], "--set source.dayfirst=true or false"),
    (["fit", "--csv", "ibm.csv", "--set", "source.date_col=when"], "date column 'when' not found"),
    (["fit", "--csv", "[red].csv"], "file not found: [red].csv"),
    (["fit", "--csv", "ibm.csv", "--transform", "log", "--target", "Volume", "--start", "2099-01-01"],
     "no rows between 2099-01-01"),
    (["fit", "--sample", "IBM", "--set", "data.val_start=2030-01-01"],
     "the data run from 2000-03-01 to 2013-03-01 (3270 dates) and val_start is 2030-01-01"),
    (["fit", "--sample", "AAPL,MSFT", "--set", "data.val_start=2030-01-01"],  # a panel: the same one rule
     "the data run from 2000-03-01 to 2013-03-01 (3270 dates) and val_start is 2030-01-01"),
    (["fit", "--set", "data.val_start=2012-01-01", "--set", "data.test_start=2011-01-01"], "val_start 2012-01-01 must come before"),
    (["predict", "--model", "notmodel.safetensors"], "not a readable model file"),
    (["predict", "--model", "."], "is a folder without a model.safetensors"),
    (["fit", "--csv", "."], "is a folder; give a CSV or Parquet file"),
    (["data", "--sample", "IBM", "--output", "ibm.csv"], "exists"),
    (["tune", "--config", "study_list.yaml"], "must be a mapping"),
    (["tune", "--config", "study_trials.yaml"], "n_trials must be a positive whole number"),
    (["tune", "--config", "study_key.yaml"], "unknown key(s) trials"),
    (["tune", "--config", "study_bad.yaml"], "low <= high"),
    (["tune", "--config", "study_yaml.yaml"], "not valid YAML"),
    (["tune", "--config", "missing.yaml"], "settings file not found"),
    (["tune", "--storage", "foo://nowhere", "--n-trials", "1"], "cannot open study storage"),
    (["tune", "--jobs", "0", "--storage", "sqlite:///j.db", "--n-trials", "1"], "--jobs must be positive"),
    (["tune", "--search", "seq_len=a,b"], "give low,high numbers"),
    (["tune", "--search", "cell=lstm,cnn"], "unknown cell 'cnn'"),
    (["tune", "--set", "train.devices=2", "--n-trials", "1"], "trains each trial on one device"),
    (["fit", "--set", "train.strategy=fsdp"], "unknown strategy 'fsdp'"),
    (["fit", "--set", "train.devices=0"], "devices must be auto or a positive count"),
    (["fit", "--quantiles", "0.1,1.5"], "quantiles must be between 0 and 1"),
    (["fit", "--quantiles", "0.1,x"], "--quantiles: 'x' is not a number"),
    (["fit", "--coverage", "90"], "coverage must be between 0 and 1"),
    (["fit", "--set", "model.normalize=revin"], "unknown normalize 'revin'; choose one of: none, last, last+scale"),
    (["fit", "--target", ","], "--target: no column name in ','"),
    (["data", "--features", " , "], "--features: no column name"),
    (["backtest", "--calibration", "bands"], "unknown calibration 'bands'"),
    (["backtest", "--calibration", "adaptive", "--set", "backtest.gamma=-1"], "gamma must be a positive number"),
    (["backtest", "--window", "rolling"], "unknown window 'rolling'"),
    (["backtest", "--origins", "0"], "origins must be a positive whole number"),
    (["backtest", "--origins-from", "2030-01-01"], "no origin from 2030-01-01 leaves room for the horizon: the data run from 2000-03-01"),
    (["backtest", "--window", "sliding", "--train-size", "20", "--origins", "2"], "rows to train on"),
    (["backtest", "--window", "sliding", "--origins", "2"], "give --window sliding with --train-size N"),
    (["backtest", "--train-size", "200", "--origins", "2"], "give --window sliding with --train-size N"),
    (["backtest", "--origins-from", "2013-02-20", "--origins-to", "2013-01-01"], "--origins-from 2013-02-20 must come before"),
    (["fit", "--out", "ibm.csv"], "cannot write to ibm.csv: it is a file, not a folder"),
]


@pytest.mark.parametrize("args,message", BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_gives_one_line(run, tmp_path, args, message):
    _files(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    assert_one_line_error(run(*args), message)
    assert sorted(tmp_path.rglob("*")) == before  # no empty run folder left behind


def test_bad_input_postgres_url_without_a_driver_names_the_driver(run, monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("psycopg", "psycopg2") else real(name, *a))
    assert_one_line_error(run("tune", "--storage", "postgresql://u@127.0.0.1:1/db", "--n-trials", "1"),
                          "pip install 'forecast[postgres]'")


# --- faults -----------------------------------------------------------------------------------

def _start(args, cwd):
    return subprocess.Popen([sys.executable, "-m", "forecast", *map(str, args)], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(condition, timeout=60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


FIT = ["fit", "--sample", "IBM", "--seq-len", "10", "--hidden-size", "8", "--set", "train.patience=0",
       "--no-refit", "--quiet"]


@pytest.mark.slow
def test_fault_ctrl_c_during_fit_exits_130_and_resume_continues(run, tmp_path):
    out = tmp_path / "run"
    proc = _start([*FIT, "--max-epochs", "300", "--out", out], tmp_path)
    assert _wait_for(lambda: (out / "checkpoints" / "last.ckpt").is_file())
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "--resume" in lines[0] and "Traceback" not in err
    import torch
    done = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] + 1
    assert_one_line_error(run(*FIT, "--max-epochs", done, "--resume", "--out", out),
                          f"already finished {done} epochs")
    resumed = run(*FIT, "--max-epochs", done + 2, "--resume", "--out", out)
    assert resumed.returncode == 0, resumed.stderr
    assert f"trained {done + 2} epochs" in resumed.stdout and (out / "model.safetensors").is_file()


@pytest.mark.slow
def test_fault_sigkill_during_fit_leaves_a_checkpoint_that_resumes(run, tmp_path):
    out = tmp_path / "run"
    proc = _start([*FIT, "--max-epochs", "300", "--out", out], tmp_path)
    assert _wait_for(lambda: (out / "checkpoints" / "last.ckpt").is_file())
    time.sleep(1.0)  # several more epochs, each saved by an atomic rename
    proc.kill()
    proc.wait()
    import torch
    epoch = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["epoch"]
    resumed = run(*FIT, "--max-epochs", epoch + 2, "--resume", "--out", out)
    assert resumed.returncode == 0, resumed.stderr
    assert f"trained {epoch + 2} epochs" in resumed.stdout


@pytest.mark.slow
def test_fault_ctrl_c_during_tune_exits_130_and_leaves_a_consistent_study(tmp_path):
    db = tmp_path / "t.db"
    args = ["tune", "--sample", "IBM", "--n-trials", "40", "--max-epochs", "40", "--search", "seq_len=8,16",
            "--search", "hidden_size=4,8", "--storage", f"sqlite:///{db}", "--study-name", "t", "--no-refit"]
    proc = _start(args, tmp_path)

    def one_done():
        try:
            study = optuna.load_study(study_name="t", storage=f"sqlite:///{db}")
            return any(t.state.is_finished() for t in study.trials)
        except Exception:  # noqa: BLE001 - not created yet
            return False
    assert _wait_for(one_done, 120)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "interrupted" in lines[0] and "Traceback" not in err
    study = optuna.load_study(study_name="t", storage=f"sqlite:///{db}")
    assert not [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]
    assert len(study.trials) < 40  # it stopped, it did not run on to the end
    from forecast.tuning import finished_trials
    cut = [t for t in study.trials if t.user_attrs.get("failure") == "interrupted"]
    assert finished_trials(study) == len([t for t in study.trials if t.state.is_finished()]) - len(cut)


def test_fault_disk_full_while_writing_outputs_gives_one_line_and_no_half_files(run, tmp_path,
                                                                                 monkeypatch):
    import forecast.files
    import forecast.outputs  # imported before patching, so its own name is the one patched
    real = forecast.files.write_atomically

    def full(path, write):
        if Path(path).suffix == ".csv":
            return real(path, lambda tmp: (_ for _ in ()).throw(OSError(errno.ENOSPC,
                                                                        "No space left on device")))
        return real(path, write)
    monkeypatch.setattr(forecast.files, "write_atomically", full)
    monkeypatch.setattr("forecast.outputs.write_atomically", full)
    result = run(*FIT, "--max-epochs", "1", "--out", tmp_path / "r")
    assert_one_line_error(result, "No space left on device")
    assert not [p for p in (tmp_path / "r").iterdir() if p.name.endswith(".tmp")]


def test_fault_output_folder_in_the_way_fails_before_loading_or_training(run, tmp_path):
    (tmp_path / "blocked").write_text("a file, not a folder")
    started = time.perf_counter()
    assert_one_line_error(run(*FIT, "--out", tmp_path / "blocked" / "r"), "cannot write to")
    assert time.perf_counter() - started < 5
    assert_one_line_error(run("predict", "--model", "m.safetensors", "--output",
                              tmp_path / "blocked" / "x.csv"), "cannot write to")


def test_fault_two_fits_started_in_the_same_second_get_two_folders(tmp_path, monkeypatch):
    from forecast.cli.common import run_folder
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(time, "strftime", lambda fmt: "20260101-000000")
    assert run_folder(None, "AAPL", "lstm") != run_folder(None, "AAPL", "lstm")


def test_fault_a_corrupt_yahoo_cache_is_downloaded_again(tmp_path, monkeypatch):
    import yfinance

    from forecast.loading import cache_path, load_yahoo
    from tests.test_yahoo import FakeYahoo
    monkeypatch.setattr(yfinance, "download", FakeYahoo())
    path = cache_path("MSFT", "1d", tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PAR1 broken")
    frame, _ = load_yahoo("MSFT", cache=tmp_path)
    assert len(frame) > 0 and len(pd.read_parquet(path)) == len(frame)


def test_fault_strict_json_never_holds_nan(run, tmp_path):
    result = run(*FIT, "--max-epochs", "1", "--out", tmp_path / "r")
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "r" / "config.json").read_text()
    assert "NaN" not in text and json.loads(text)["metrics"]["naive"]["direction"] is None


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device", "/tmp/.m.x.tmp"),
                                   RuntimeError("Error while serializing: I/O error: No space left on device "
                                                "(os error 28)")])  # what safetensors raises
def test_a_full_disk_names_the_file_being_written_and_leaves_no_temporary_file(error, tmp_path):
    from forecast.files import write_atomically

    def fill(tmp):
        tmp.write_bytes(b"half")
        raise error
    with pytest.raises(OSError) as raised:
        write_atomically(tmp_path / "model.safetensors", fill)
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(tmp_path / "model.safetensors")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError):  # anything else passes through as it is
        write_atomically(tmp_path / "x", lambda tmp: (_ for _ in ()).throw(ValueError("other")))


def test_files_written_atomically_get_the_usual_permissions_and_a_replaced_file_keeps_its_own(tmp_path):
    from forecast.files import write_atomically
    mask = os.umask(0o022)
    try:
        new = write_atomically(tmp_path / "model.safetensors", lambda tmp: tmp.write_bytes(b"x"))
        assert new.stat().st_mode & 0o777 == 0o644  # mkstemp alone gives 0600: nobody else could read it
        new.chmod(0o640)
        write_atomically(new, lambda tmp: tmp.write_bytes(b"y"))
        assert new.stat().st_mode & 0o777 == 0o640 and new.read_bytes() == b"y"
    finally:
        os.umask(mask)


@pytest.mark.slow
def test_fault_a_reader_that_closes_the_pipe_stops_the_printing_not_the_fit(tmp_path):
    """`forecast fit ... | head -1`: the model is saved and the command ends as it would have."""
    proc = _start([*FIT, "--max-epochs", "1", "--out", tmp_path / "run"], tmp_path)
    proc.stdout.readline()
    proc.stdout.close()  # head has what it wanted
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and (tmp_path / "run" / "model.safetensors").is_file()
