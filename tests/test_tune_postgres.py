"""Tuning on a real PostgreSQL server: several `forecast tune` processes share one study, a killed
worker's trial is failed after the heartbeat grace period, and running again resumes the study.
The server comes from the `postgres_url` fixture (tests/conftest.py)."""
import signal
import subprocess
import sys
import time

import optuna
import pandas as pd
import pytest

from tests.test_cli import SAMPLE

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
            optuna.trial.TrialState.FAIL)


def tune_args(tmp_path, url, name, n_trials, epochs=2):
    ibm = pd.read_csv(SAMPLE)
    ibm[ibm.Ticker == "IBM"].drop(columns="Ticker").tail(400).to_csv(tmp_path / "ibm.csv", index=False)
    return [sys.executable, "-m", "forecast", "tune", "--csv", str(tmp_path / "ibm.csv"), "--target",
            "Close", "--n-trials", str(n_trials), "--max-epochs", str(epochs), "--set", "train.patience=0",
            "--search", "seq_len=8,16", "--search", "hidden_size=4,8", "--storage", url, "--study-name", name,
            "--no-refit", "--set", "heartbeat_grace=3"]


def load(url, name):
    from forecast.storage import open_storage
    return optuna.load_study(study_name=name, storage=open_storage(url))


def test_three_tune_commands_share_one_postgres_study_exactly(postgres_url, tmp_path):
    args = tune_args(tmp_path, postgres_url, "three", 6, epochs=1)
    procs = [subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    study = load(postgres_url, "three")
    numbers = [t.number for t in study.trials]
    assert sorted(numbers) == list(range(6))  # no duplicate, no lost trial, none beyond the total
    assert len(study.get_trials(states=FINISHED)) == 6
    assert sum("study three" in out for out, _ in outputs) == 3  # every command reported the study


# `forecast tune` whose trials wait for a file named `gate` before training, so that a test can kill a
# worker while it is inside a trial, whatever the machine's speed.
GATED = ("import os, sys, time\n"
         "import forecast.tuning as t\n"
         "train = t.train_network\n"
         "def gated(*args, **kwargs):\n"
         "    while not os.path.exists('gate'):\n"
         "        time.sleep(0.1)\n"
         "    return train(*args, **kwargs)\n"
         "t.train_network = gated\n"
         "from forecast.cli import main\n"
         "main()\n")


def test_a_killed_postgres_worker_is_failed_after_the_grace_period_and_a_rerun_resumes(postgres_url,
                                                                                         tmp_path):
    args = tune_args(tmp_path, postgres_url, "killed", 6)
    gated = [sys.executable, "-c", GATED, *args[3:]]
    procs = [subprocess.Popen(gated, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(3)]
    deadline, running = time.time() + 120, 0
    while time.time() < deadline and running < 3:  # every worker is inside a trial, held at the gate
        time.sleep(0.3)
        try:
            running = len(load(postgres_url, "killed").get_trials(states=(optuna.trial.TrialState.RUNNING,)))
        except KeyError:
            pass
    assert running == 3
    procs[0].send_signal(signal.SIGKILL)
    procs[0].wait()
    (tmp_path / "gate").touch()
    for p in procs[1:]:
        assert p.wait(timeout=300) == 0
    time.sleep(3.5)  # past the grace period
    rerun = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    study = load(postgres_url, "killed")
    states = [t.state for t in study.trials]
    assert optuna.trial.TrialState.RUNNING not in states
    assert states.count(optuna.trial.TrialState.FAIL) == 1  # the killed worker's trial
    assert len(study.get_trials(states=FINISHED)) == 6 and len(study.trials) == 6


def test_the_postgres_url_picks_the_installed_driver(postgres_url):
    from forecast.storage import _with_driver
    assert _with_driver(postgres_url).startswith(("postgresql+psycopg://", "postgresql+psycopg2://"))
    pytest.importorskip("psycopg")
    assert _with_driver("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"


def test_the_docs_recipe_for_several_machines_runs_against_a_real_server(postgres_url, tmp_path):
    import re
    import shlex
    import shutil
    from pathlib import Path
    guide = (Path(__file__).parent.parent / "docs" / "guides" / "tuning.md").read_text()
    line = next(line for block in re.findall(r"```bash\n(.*?)```", guide, re.S)
                for line in block.splitlines() if "postgresql://" in line)
    args = shlex.split(re.sub(r"postgresql://\S+", postgres_url, line))
    (tmp_path / "studies").mkdir()
    shutil.copy(Path(__file__).parent.parent / "studies" / "aapl_sample.yaml", tmp_path / "studies")
    args += ["--n-trials", "2", "--max-epochs", "1", "--no-refit"]  # short: the recipe, not the study
    result = subprocess.run([sys.executable, "-m", *args], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert len(load(postgres_url, "aapl-shared").trials) == 2


def test_a_server_that_stops_mid_study_ends_tune_with_one_line_and_a_rerun_resumes(postgres_server, tmp_path):
    """The server goes away while a trial trains (a gated trial waits for it): `tune` says so in one
    line naming the storage, with what to do, and exit 1; the study held, and the same command
    continues it once the server is back."""
    args = tune_args(tmp_path, postgres_server.url, "stops", 3, epochs=1)
    gated = [sys.executable, "-c", GATED, *args[3:]]
    proc = subprocess.Popen(gated, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:  # the first trial has started: it exists in the study
        time.sleep(0.5)
        try:
            if load(postgres_server.url, "stops").trials:
                break
        except Exception:  # noqa: BLE001 - the study is not there yet
            pass
    assert postgres_server.stop().returncode == 0
    (tmp_path / "gate").touch()  # the trial trains, then reports to a storage that is gone
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err and len(lines) == 1, err
    assert "the study storage postgresql://postgres@127.0.0.1" in lines[0] and "stopped answering" in lines[0]
    assert "run the same command to continue" in lines[0]
    assert postgres_server.start().returncode == 0
    again = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert len(load(postgres_server.url, "stops").get_trials(states=FINISHED)) >= 3
