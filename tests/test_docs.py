"""Every command in the README and the documentation site, and every Python example, run as written.

Each page runs in its own project-like folder, its blocks in the order they appear. `make` lines are
what CI runs; a PostgreSQL URL is run against a real server by test_tune_postgres.py. Yahoo Finance is
a fake at the `yfinance` boundary (this machine has no network) and every training is capped at one
short epoch: the commands, their options, data loading, evaluation and outputs are real; only the
training is short. A `python benchmarks/...` line is checked, not run (a benchmark takes minutes to
hours): the script exists and takes every option the line gives it. A command that reads
`../shared/data` is skipped, with the reason, on a clone without it.
"""
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yfinance

import forecast.train
from forecast.cli import main
from tests.test_yahoo import yahoo_frame

pytestmark = pytest.mark.slow  # every command trains, evaluates and writes
ROOT = Path(__file__).parent.parent
SHARED = ROOT.parent / "shared"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks(page: Path) -> list[tuple[str, str]]:
    """(language, text) of every bash and python block, in the page's order."""
    return re.findall(r"```(bash|python)\n(.*?)```", page.read_text(), re.S)


def commands(text: str) -> list[str]:
    lines = [line.split("  #")[0].strip() for line in text.replace("\\\n", " ").splitlines()]
    return [line for line in lines if line and not line.startswith("make ") and "postgresql://" not in line]


def runnable(page: Path) -> bool:
    return any(lang == "python" or commands(text) for lang, text in blocks(page))


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A project-like folder: studies/, ../shared when the project has it, the CSVs the pages use,
    fake Yahoo, short training."""
    work = tmp_path / "work"
    (work / "studies").mkdir(parents=True)
    for study in (ROOT / "studies").glob("*.yaml"):
        shutil.copy(study, work / "studies")
    if SHARED.is_dir():
        (tmp_path / "shared").symlink_to(SHARED.resolve())
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
    sample = pd.read_csv(ROOT / "datasets" / "stocks_daily.csv")
    sample.pivot(index="Date", columns="Ticker", values="Close").to_csv(work / "prices.csv")
    sample[sample.Ticker == "MSFT"].drop(columns="Ticker").tail(80).to_csv(work / "recent.csv", index=False)
    msft = sample[sample.Ticker == "MSFT"].iloc[::-1]  # Nasdaq.com's download: newest first, dollars
    pd.DataFrame({"Date": pd.to_datetime(msft["Date"]).dt.strftime("%m/%d/%Y"), "Close/Last": msft["Close"].map("${:.2f}".format),
                  "Volume": msft["Volume"].astype(int)}).to_csv(work / "HistoricalData.csv", index=False)
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


def run_forecast(command: str, monkeypatch, capsys) -> None:
    args = shlex.split(command)
    monkeypatch.setattr(sys, "argv", args)
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code or 0
    captured = capsys.readouterr()
    assert code == 0, f"{command}\n{captured.out[-1500:]}\n{captured.err[-1500:]}"
    assert "Traceback" not in captured.err, command


def check_benchmark(command: str) -> None:
    """The script exists and its parser knows every option the line gives."""
    args = shlex.split(command)
    script = ROOT / args[1]
    assert script.is_file(), f"{command}: no {args[1]}"
    shown = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True,
                           cwd=ROOT, timeout=120)
    assert shown.returncode == 0, f"{command}: {shown.stderr[-500:]}"
    for option in (a.split("=")[0] for a in args[2:] if a.startswith("--")):
        assert option in shown.stdout, f"{command}: {args[1]} has no option {option}"


@pytest.mark.parametrize("page", [p for p in PAGES if runnable(p)], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_command_and_example_of_the_page_runs(page, sandbox, monkeypatch, capsys):
    skipped = []  # once a command is skipped, the page's later ones may need what it would have made
    for lang, text in blocks(page):
        if lang == "python":
            if skipped or ("../shared" in text and not SHARED.is_dir()):
                skipped.append("a Python example")
                continue
            exec(compile(text, str(page), "exec"), {"__name__": "docs"})
            continue
        for command in commands(text):
            if skipped or ("../shared" in command and not SHARED.is_dir()):
                skipped.append(command)
                continue
            started = time.perf_counter()
            if command.startswith("python benchmarks/"):
                check_benchmark(command)
            else:
                assert command.startswith("forecast "), f"{page.name}: a command the test cannot run: {command}"
                run_forecast(command, monkeypatch, capsys)
            print(f"{time.perf_counter() - started:6.1f} s  {command}", file=sys.__stderr__)
    if skipped:
        pytest.skip(f"{len(skipped)} command(s) need ../shared/data, which this clone lacks "
                    f"(see docs/benchmarks/index.md): {skipped[0]}")


def test_the_readme_tours_the_five_commands_and_stays_a_front_door():
    readme = (ROOT / "README.md").read_text()
    lines = [c for lang, text in blocks(ROOT / "README.md") if lang == "bash" for c in commands(text)]
    for verb in ("data", "fit", "predict", "backtest", "tune"):
        assert any(c.startswith(f"forecast {verb}") for c in lines), verb
    assert len(readme.splitlines()) <= 200 and len(readme.split()) <= 2000
    first = re.search(r"```bash\n(.*?)```", readme, re.S).group(1).splitlines()
    assert first[0].startswith("make run") and first[1].startswith("make test"), first


def test_the_readme_picture_is_a_small_png_in_the_repository():
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", (ROOT / "README.md").read_text())
    assert pictures
    for picture in pictures:
        path = ROOT / picture
        assert path.suffix == ".png" and path.is_file() and path.stat().st_size < 200_000, picture
