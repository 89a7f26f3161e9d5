"""The command line's options: generated once, grouped in panels, within their budgets; every other
setting through --config FILE and --set, layered in a fixed order."""
import json

import pytest

from forecast.cli.options import assignments, settings, split_flags
from forecast.config import DataConfig, ModelConfig
from forecast.errors import ForecastError
from tests.test_cli import assert_one_line_error

BUDGET = {"data": 15, "predict": 15, "fit": 32, "backtest": 36, "tune": 30}


def _options(command):
    from forecast.cli import click_app
    return [p for p in click_app.commands[command].params if p.param_type_name == "option" and p.name != "help"]


@pytest.mark.parametrize("command", list(BUDGET))
def test_each_command_shows_at_most_its_budget_of_options_in_named_panels(command):
    options = _options(command)
    assert len(options) <= BUDGET[command]
    panels = {getattr(p, "rich_help_panel", None) for p in options} - {None}
    assert panels >= {"Data source"}


def test_no_flag_changes_type_or_meaning_between_commands():
    from forecast.cli import click_app
    seen = {}
    for command in BUDGET:
        for p in _options(command):
            for flag in p.opts:
                kind = (str(p.display_type), p.multiple, p.is_flag)
                assert seen.setdefault(flag, kind) == kind, f"{flag} in {command}: {kind} vs {seen[flag]}"
    for gone in ("--intervals", "--from", "--to", "--val-fraction", "--instance-norm", "--blend-linear"):
        assert gone not in seen
    assert "--hold-out" in {f for p in _options("backtest") for f in p.opts}
    assert click_app.commands["tune"].params  # tune searches through --search, not typed range flags
    assert "--seq-len" not in {f for p in _options("tune") for f in p.opts}


@pytest.mark.parametrize("text,expected", [
    ("0.2,0.1", {"val_fraction": 0.2, "test_fraction": 0.1}),
    ("168,96", {"val_steps": 168, "test_steps": 96}),
    ("2017-10-01,2018-01-01", {"val_start": "2017-10-01", "test_start": "2018-01-01"})])
def test_split_takes_shares_steps_or_dates(text, expected):
    assert split_flags(text) == expected
    assert DataConfig(**expected)  # the settings accept what it gives


@pytest.mark.parametrize("text,message", [("0.2", "takes VAL,TEST"), ("0.2,96", "two shares, two step counts"),
                                          ("1.5,0.2", "a share lies between 0 and 1"), ("0.2,", "takes VAL,TEST")])
def test_a_bad_split_is_one_clear_error(text, message):
    with pytest.raises(ForecastError, match=message):
        split_flags(text)


def test_set_reads_values_as_the_field_holds_them():
    sets = assignments(["model.dropout=0.1", "train.patience=3", "data.targets=A,B", "model.quantiles=0.1,0.9",
                        "data.val_start=2018-01-01", "train.devices=2", "source.offline=true", "seed=7",
                        "data.time_features=hour,dayofweek", "model.normalize=last+scale"],
                       ("source", "data", "model", "train"))
    assert sets == {"model": {"dropout": 0.1, "quantiles": [0.1, 0.9], "normalize": "last+scale"},
                    "train": {"patience": 3, "devices": "2", "seed": 7},
                    "data": {"targets": ["A", "B"], "val_start": "2018-01-01", "time_features": ["hour", "dayofweek"]},
                    "source": {"offline": True}}


@pytest.mark.parametrize("item,message", [
    ("dropout", "takes SECTION.FIELD=VALUE"), ("model.nope=1", "unknown model setting 'nope'; known"),
    ("model.hiden_size=8", r"unknown model setting 'hiden_size' \(did you mean 'hidden_size'\?\)"),
    ("nope=1", "nope is no setting of"), ("data.horizon=two", "horizon must be"),
    ("backtest.gamma=0.1", "this command's sections are source, data, model, train")])
def test_a_bad_set_names_what_is_wrong(item, message):
    sections = ("source", "data", "model", "train") if item.startswith("backtest") else \
        ("source", "data", "model", "train", "backtest")
    with pytest.raises(ForecastError, match=message):
        settings({"set": [item]}, sections)


def test_layers_apply_defaults_then_the_file_then_the_options_then_set(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("data: {seq_len: 20, horizon: 3}\nmodel: {hidden_size: 16, dropout: 0.2}\n"
                    "train: {max_epochs: 4}\nsearch: {hidden_size: [4, 8]}\n")  # a study's keys are read, unused
    got = settings({"config": path, "hidden_size": 24, "set": ["model.dropout=0.3", "train.max_epochs=6"]},
                   ("source", "data", "model", "train"))
    assert (got["data"].seq_len, got["data"].horizon) == (20, 3)
    assert (got["model"].hidden_size, got["model"].dropout) == (24, 0.3)
    assert got["train"].max_epochs == 6 and got["model"].cell == ModelConfig().cell
    path.write_text("model: {hiden_size: 8}\n")
    with pytest.raises(ForecastError, match=r"unknown ModelConfig setting\(s\): hiden_size \(did you mean 'hidden_size'"):
        settings({"config": path}, ("model",))
    path.write_text("modell: {}\n")
    with pytest.raises(ForecastError, match="unknown key"):
        settings({"config": path}, ("model",))


def test_a_runs_config_json_replays_it(run, tmp_path):
    args = ("fit", "--sample", "IBM", "--seq-len", "12", "--horizon", "3", "--max-epochs", "1", "--quiet",
            "--no-refit", "--split", "0.2,0.1", "--set", "model.dropout=0.1", "--set", "train.patience=0")
    first = run(*args, "--out", tmp_path / "a")
    assert first.returncode == 0, first.stderr
    again = run("fit", "--config", tmp_path / "a" / "config.json", "--quiet", "--out", tmp_path / "b")
    assert again.returncode == 0, again.stderr
    a, b = (json.loads((tmp_path / d / "config.json").read_text()) for d in ("a", "b"))
    for section in ("source", "data", "model", "train"):
        assert a[section] == b[section], section
    assert a["data"]["val_fraction"] == 0.2 and a["model"]["dropout"] == 0.1
    assert a["metrics"]["model"] == b["metrics"]["model"]  # same settings, same seed: the same run


def test_bad_options_are_one_line_each(run, tmp_path):
    assert_one_line_error(run("fit", "--split", "0.2"), "--split takes VAL,TEST")
    for split in ("2012-01-01,2012-07-01", "100,100"):  # a backtest's test spans are its origins
        assert_one_line_error(run("backtest", "--split", split), "backtest --split takes shares")
    assert_one_line_error(run("fit", "--set", "model.dropout"), "--set takes SECTION.FIELD=VALUE")
    assert_one_line_error(run("fit", "--set", "model.dropout=2"), "dropout must be in [0, 1)")
    assert_one_line_error(run("fit", "--config", tmp_path / "none.yaml"), "settings file not found")
    assert_one_line_error(run("tune", "--search", "seq_len"), "--search takes NAME=VALUES")
    assert_one_line_error(run("tune", "--set", "sampler=grid", "--n-trials", "1"), "unknown sampler 'grid'")


def test_an_option_a_command_would_not_use_is_refused(run, tmp_path):
    fit = run("fit", "--sample", "IBM", "--seq-len", "12", "--horizon", "2", "--max-epochs", "1", "--quiet",
              "--no-refit", "--out", tmp_path / "m")
    assert fit.returncode == 0, fit.stderr
    assert_one_line_error(run("predict", "--model", tmp_path / "m", "--end", "2012-01-01"),
                          "--end read fresh data: give it with --ticker, --sample or --file")
    assert_one_line_error(run("predict", "--model", tmp_path / "m", "--series-col", "s"),
                          "--series-col read fresh data")
    assert_one_line_error(run("tune", "--show", "--n-trials", "5", "--storage", tmp_path / "s.db"),
                          "--show summarises the study and runs nothing; drop --n-trials")
