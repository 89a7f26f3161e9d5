"""Every command in the README's bash blocks, and its Python example, run as written.

`make run` and `make test` are what CI runs. Yahoo Finance is a fake at the `yfinance` boundary
(this machine has no network) and every training is capped at one short epoch: the commands, their
options, data loading, evaluation and outputs are real; only the training is short.
"""
import re
import shlex
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yfinance

import forecast.train
from forecast.cli import main
from tests.test_yahoo import yahoo_frame

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()

pytestmark = pytest.mark.slow  # every command trains, evaluates and writes


def readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", README, re.S)
    lines = [line.split("  #")[0].strip() for block in blocks
             for line in block.replace("\\\n", " ").splitlines()]
    # `make` is what CI runs; a database URL is run against a real server by test_tune_postgres.py
    return [line for line in lines if line and not line.startswith("make ") and "postgresql://" not in line]


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A project-like folder: studies/, ../shared, a CSV of load data, fake Yahoo, short training."""
    work = tmp_path / "work"
    (work / "studies").mkdir(parents=True)
    for study in (ROOT / "studies").glob("*.yaml"):
        shutil.copy(study, work / "studies")
    (tmp_path / "shared").symlink_to((ROOT.parent / "shared").resolve())
    n = 600
    stamps = pd.date_range("2023-01-01", periods=n, freq="h")
    load = pd.DataFrame({"timestamp": stamps, "load": 50 + 10 * np.sin(np.arange(n) / 24 * 2 * np.pi),
                         "temperature": 15 + np.cos(np.arange(n) / 24 * 2 * np.pi)})
    load.to_csv(work / "my.csv", index=False)
    ahead = pd.date_range(stamps[-1] + pd.Timedelta(hours=1), periods=24, freq="h")
    pd.DataFrame({"timestamp": ahead, "temperature": 15.5}).to_csv(work / "temperature_next.csv", index=False)
    sites = pd.concat([load.assign(site=name, load=load["load"] + shift, region=region)
                       for name, shift, region in (("north", 0.0, "coast"), ("south", 5.0, "inland"))])
    sites.to_csv(work / "sites.csv", index=False)
    east = load.assign(site="east", load=load["load"] + 2.0, region="coast")  # a site opened later
    pd.concat([sites, east]).to_csv(work / "sites_new.csv", index=False)
    prices = pd.read_csv(ROOT / "datasets" / "stocks_daily.csv").pivot(index="Date", columns="Ticker",
                                                                       values="Close")
    prices.to_csv(work / "prices.csv")
    msft = pd.read_csv(ROOT / "datasets" / "stocks_daily.csv")
    msft[msft.Ticker == "MSFT"].drop(columns="Ticker").tail(80).to_csv(work / "recent.csv", index=False)
    dates = pd.bdate_range("2014-01-02", "2024-06-28")
    monkeypatch.setattr(yfinance, "download",
                        lambda ticker, start=None, end=None, **kw: yahoo_frame(ticker, dates).loc[
                            (dates >= pd.Timestamp(start or dates[0])) & (dates < pd.Timestamp(end or "2100"))])
    real = forecast.train._trainer

    def one_short_epoch(train, *args, **kwargs):
        trainer = real(train.override(max_epochs=1), *args, **kwargs)
        trainer.limit_train_batches = 3
        return trainer
    monkeypatch.setattr(forecast.train, "_trainer", one_short_epoch)
    monkeypatch.chdir(work)
    return work


def test_the_readme_has_the_commands_a_user_needs():
    commands = readme_commands()
    for verb in ("fit", "predict", "data", "tune", "backtest"):
        assert any(c.startswith(f"forecast {verb}") for c in commands), verb


def test_every_readme_command_runs(sandbox, monkeypatch, capsys):
    import time
    for command in readme_commands():
        started = time.perf_counter()
        args = shlex.split(command)
        assert args[0] == "forecast", command
        monkeypatch.setattr(sys, "argv", args)
        try:
            main()
            code = 0
        except SystemExit as e:
            code = e.code or 0
        captured = capsys.readouterr()
        assert code == 0, f"{command}\n{captured.out[-1500:]}\n{captured.err[-1500:]}"
        assert "Traceback" not in captured.err, command
        print(f"{time.perf_counter() - started:6.1f} s  {command}", file=sys.__stderr__)
    assert len(pd.read_csv(sandbox / "load_next.csv")) == 24
    assert pd.read_csv(sandbox / "sites_next.csv").series.unique().tolist() == ["north", "south", "east"]
    assert (sandbox / "next.png").is_file() and (sandbox / "next.csv").is_file() and (sandbox / "runs" / "msft" / "model.safetensors").is_file()


def test_readme_python_example_runs(sandbox, capsys):
    code = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    assert (sandbox / "load.safetensors").is_file()
    printed = capsys.readouterr().out
    assert len([line for line in printed.splitlines() if line[:4] == "2022"]) == 24
