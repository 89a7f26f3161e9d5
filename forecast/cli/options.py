"""The command line's options, declared once from the settings dataclasses, and the settings built
from them.

A command shows the few options most runs change, grouped in help panels; every other field of the
settings is reached through `--config FILE` (YAML or JSON with the sections `source`, `data`, `model`,
`train` and `backtest`: a study file, or the `config.json` a run wrote, replays it) and
`--set section.field=value` (repeatable). Layers, each over the one before: the defaults (or the
saved model's settings), the file, the options given, then `--set`. An option means the same and
takes the same type in every command that has it. Options default to None, "not given": the
dataclasses hold every default, shown in `--help`.
"""
from __future__ import annotations

import functools
import inspect
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Optional

import typer

from forecast.config import BacktestConfig, DataConfig, ModelConfig, SourceConfig, TrainConfig
from forecast.errors import ForecastError, meant

SECTIONS = {"source": SourceConfig, "data": DataConfig, "model": ModelConfig, "train": TrainConfig,
            "backtest": BacktestConfig}


def _default(cls, name: str) -> str:
    value = {f.name: f.default for f in fields(cls)}[name]
    if isinstance(value, tuple):
        return ", ".join(map(str, value)) or "none"
    return str(value)


def option(cls, name: str, kind, help: str, panel: str, *flags: str):
    """An option whose default lives in the dataclass `cls` (shown in the help, not restated)."""
    text = help if cls is None else f"{help.rstrip('.')} (default {_default(cls, name)})."
    return Annotated[Optional[kind], typer.Option(*flags, help=text, show_default=False, rich_help_panel=panel)]


S, D, M, T = SourceConfig, DataConfig, ModelConfig, TrainConfig
SOURCE = {
    "ticker": option(None, "ticker", str, "Yahoo Finance ticker, e.g. AAPL (cached on disk); several with commas, or @FILE of tickers: one model for all.", "Data source"),
    "sample": option(None, "sample", str, "Bundled sample ticker: AAPL, MSFT, IBM or GOOG (the default source); several with commas, or all.", "Data source"),
    "file": option(None, "path", list[Path], "CSV or Parquet file with a date column (by its suffix; --csv and --parquet say the same).", "Data source",
                   "--file", "--csv", "--parquet"),
    "series_col": option(None, "series_col", str, "Column naming each row's series in a long file (several with commas: store,item): one model for all series.", "Data source"),
    "start": option(None, "start", str, "First date to use, e.g. 2015-01-01.", "Data source"),
    "end": option(None, "end", str, "Use dates before this one.", "Data source"),
    "drop_bad": option(S, "drop_bad", bool, "Leave out series that cannot be used (too short, bad values), with a warning.", "Data source",
                       "--drop-bad/--no-drop-bad"),
}
DATA = {
    "target": option(D, "targets", list[str], "Column to forecast; several as A,B or repeated; a file without Close: its only numeric column.", "Data"),
    "features": option(None, "features", list[str], "Extra input column (covariate); several as A,B or repeated.", "Data"),
    "known": option(None, "known", list[str], "Covariate whose future values are known (a holiday, a weather forecast), read over the horizon ahead; predict then needs --future.", "Data"),
    "static": option(None, "static", list[str], "Column of a long file (--series-col) describing each series, one value per series (a store's region or size): text one-hot, numbers standardised.", "Data"),
    "transform": option(D, "transform", str, "Target transform: none, log, log_return.", "Data"),
    "cycle": option(D, "cycle", int, "Take a cycle of this many steps (24: the day of hourly data) out of the targets and forecast what it leaves (0: none).", "Data"),
    "horizon": option(D, "horizon", int, "Steps to forecast at once.", "Data"),
    "seq_len": option(D, "seq_len", int, "Input window length in steps.", "Data"),
    "baselines": option(None, "baselines", list[str], "Statistical baselines to score beside the naive family: naive2, ets, theta, arima (statsmodels; fitted per series, slower), e.g. naive2,theta.", "Data"),
    "holidays": option(None, "holidays", str, "Add a known holiday flag from the dates: a country (US, DE, GB-ENG, DE-BY) or a market (XNYS, XLON), through the holidays package; forecasts need no future file for it.", "Data"),
    "split": option(None, "split", str, "Validation and test spans as VAL,TEST: shares of the rows (0.15,0.15, the default for one series), steps from the end (168,168, the default for a panel ending together: what its shortest series can give) or the dates they start (2017-10-01,2018-01-01).", "Data"),
}
MODEL = {
    "cell": option(M, "cell", str, "Recurrent cell: rnn, lstm or gru.", "Model"),
    "hidden_size": option(M, "hidden_size", int, "Hidden units per layer.", "Model"),
    "quantiles": option(M, "quantiles", list[str], "Train a quantile head at these levels, e.g. 0.1,0.5,0.9 (the median is added; pinball loss).", "Model"),
    "coverage": option(M, "coverage", list[str], "Prediction intervals to calibrate on validation (conformal), e.g. 0.8,0.9.", "Model"),
}
TRAIN = {
    "loss": option(T, "loss", str, "Loss: mse, mae or huber.", "Training"),
    "batch_size": option(T, "batch_size", int, "Windows per batch.", "Training"),
    "max_epochs": option(T, "max_epochs", int, "Most epochs; early stopping may end sooner.", "Training"),
    "seed": option(T, "seed", int, "Random seed: same seed, same run.", "Training"),
}
CONFIG = {"config": Annotated[Optional[Path], typer.Option(
    help="Settings file (YAML or JSON): the sections source, data, model, train, backtest with any field "
         "of the settings (see the docs' settings reference); a study file or a run's config.json replays it.",
    rich_help_panel="Settings")]}
SET = {"set": Annotated[Optional[list[str]], typer.Option(
    "--set", help="Any other setting as SECTION.FIELD=VALUE, e.g. model.dropout=0.1 or train.patience=3; repeatable.",
    show_default=False, rich_help_panel="Settings")]}


def with_options(*groups: dict, skip: tuple[str, ...] = ()):
    """Add the options of `groups` (keyword-only, default None) to a command taking `**options`."""
    def decorate(func):
        own = [p for p in inspect.signature(func, eval_str=True).parameters.values() if p.kind != p.VAR_KEYWORD]
        extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=kind)
                 for group in groups for name, kind in group.items() if name not in skip]

        @functools.wraps(func)
        def command(**options):
            try:
                return func(**options)
            except KeyboardInterrupt:  # the CLI's error boundary prints it and exits 130
                from forecast.errors import TrainingInterrupted

                raise TrainingInterrupted("interrupted") from None

        params = own + extra
        command.__signature__ = inspect.Signature(params)
        command.__annotations__ = {p.name: p.annotation for p in params}
        del command.__wrapped__  # typer must read the signature above, not the function's own
        return command
    return decorate


def names(option: str, values: list[str] | None) -> tuple[str, ...] | None:
    """`--target A,B` (or the option repeated) -> ("A", "B"); None when not given."""
    if not values:
        return None
    split = tuple(n.strip() for v in values for n in v.split(",") if n.strip())
    if not split:
        raise ForecastError(f"--{option}: no column name in {','.join(values)!r}")
    return split


def levels(name: str, values: list[str] | None) -> tuple[float, ...] | None:
    """`--quantiles 0.1,0.5,0.9` (or the option repeated) -> (0.1, 0.5, 0.9); None when not given."""
    if not values:
        return None
    parsed = []
    for word in (w for v in values for w in v.replace(",", " ").split()):
        try:
            parsed.append(float(word))
        except ValueError:
            raise ForecastError(f"--{name}: {word!r} is not a number; write levels like 0.1,0.5,0.9") from None
    return tuple(parsed)


def split_flags(text: str | None) -> dict:
    """`--split VAL,TEST` -> the DataConfig fields it sets: shares, steps or dates, both of one kind."""
    if text is None:
        return {}
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2 or not all(parts):
        raise ForecastError(f"--split takes VAL,TEST (e.g. 0.15,0.15 or 168,168 or 2017-10-01,2018-01-01), got {text!r}")

    def kind(word: str):
        try:
            return "steps", int(word)
        except ValueError:
            pass
        try:
            value = float(word)
        except ValueError:
            return "dates", word
        if not 0 < value < 1:
            raise ForecastError(f"--split {text}: a share lies between 0 and 1, a count of steps is whole")
        return "fractions", value

    (a, val), (b, test) = kind(parts[0]), kind(parts[1])
    if a != b:
        raise ForecastError(f"--split {text}: give two shares, two step counts or two dates")
    return {"fractions": {"val_fraction": val, "test_fraction": test}, "steps": {"val_steps": val, "test_steps": test},
            "dates": {"val_start": val, "test_start": test}}[a]


def flags(options: dict) -> dict[str, dict]:
    """The settings the options given name, by section (None: not given)."""
    files = options.get("file") or []
    if len(files) > 1:
        raise ForecastError(f"give one file (--file, --csv or --parquet), not {len(files)}: "
                            f"{', '.join(map(str, files))}")
    path = files[0] if files else None
    source = {k: options.get(k) for k in SOURCE if k != "file"}
    data = {"targets": names("target", options.get("target")), "features": names("features", options.get("features")),
            "known": names("known", options.get("known")), "static": names("static", options.get("static")),
            "baselines": names("baselines", options.get("baselines")),
            **{k: options.get(k) for k in ("transform", "cycle", "horizon", "seq_len", "holidays")}, **split_flags(options.get("split"))}
    model = {k: options.get(k) for k in ("cell", "hidden_size")}
    model.update(quantiles=levels("quantiles", options.get("quantiles")), coverage=levels("coverage", options.get("coverage")))
    return {"source": {**source, "path": str(path) if path is not None else None}, "data": data, "model": model,
            "train": {k: options.get(k) for k in TRAIN}}


def _value(cls, field: str, text: str):
    """`--set`'s text as the field's value: YAML scalars (numbers, true/false, null), text kept as
    written where the field holds text or dates, and A,B as a list where it holds several."""
    import datetime

    import yaml

    from forecast.study import _loader

    kinds = {f.name: str(f.type) for f in fields(cls)}
    text = text.strip()
    value = yaml.load(text, Loader=_loader()) if text else None
    if isinstance(value, (datetime.date, datetime.datetime)) or (kinds[field].startswith("str") and value is not None
                                                                and not isinstance(value, str)):
        value = text
    if kinds[field].startswith("tuple") and isinstance(value, str):
        value = [p.strip() if not p.strip() or kinds[field] == "tuple[str, ...]" else _value(cls, field, p)
                 for p in value.split(",")] if "," in value else [value]
    return value


def assignments(items: list[str] | None, sections: tuple[str, ...], extra: dict | None = None) -> dict[str, dict]:
    """`--set section.field=value` items -> {section: {field: value}}; a field without its section
    is found in the one section that has it; `extra` (name -> kind) are settings outside the
    sections (a study's `sampler`), returned under ""."""
    out: dict[str, dict] = {}
    for item in items or ():
        key, equals, text = item.partition("=")
        section, dot, field = key.strip().rpartition(".")
        if not equals or not field:
            raise ForecastError(f"--set takes SECTION.FIELD=VALUE, e.g. model.dropout=0.1; got {item!r}")
        if not dot and extra and field in extra:
            out.setdefault("", {})[field] = extra[field](text.strip())
            continue
        if not dot:
            owners = [s for s in sections if field in {f.name for f in fields(SECTIONS[s])}]
            if len(owners) != 1:
                where = f"is in {' and '.join(owners)}: name one" if owners else \
                    f"is no setting of {', '.join(sections)}"
                raise ForecastError(f"--set {item}: {field} {where}")
            section = owners[0]
        if section not in sections:
            raise ForecastError(f"--set {item}: this command's sections are {', '.join(sections)}")
        cls = SECTIONS[section]
        if field not in {f.name for f in fields(cls)}:
            names = [f.name for f in fields(cls)]
            raise ForecastError(f"--set {item}: unknown {section} setting {field!r}{meant([field], names)}; known: "
                                f"{', '.join(names)}")
        out.setdefault(section, {})[field] = _value(cls, field, text)
    return out


def settings(options: dict, sections: tuple[str, ...], saved: dict | None = None,
             given: dict | None = None) -> dict:
    """Each section's settings: the defaults (or `saved`'s), then `--config`, the options given
    (`given` adds a command's own, by section), then `--set`."""
    from forecast.config import check_compatible
    from forecast.study import read_config

    file = read_config(options["config"]) if options.get("config") else {}
    named = flags(options)
    given = {name: {**named.get(name, {}), **(given or {}).get(name, {})} for name in sections}
    sets = assignments(options.get("set"), sections)
    out = {}
    for name in sections:
        cls = SECTIONS[name]
        cfg = (saved or {}).get(name) or cls()
        options_given = {k: v for k, v in given.get(name, {}).items() if v is not None}
        # a file and --set may clear a field (null); an option not given is None
        for layer in (file.get(name) or {}, options_given, sets.get(name) or {}):
            if not layer:
                continue
            if name == "source":  # a ticker, sample or file replaces whichever of them was set
                cfg = cfg.with_flags(**layer)
            else:
                cfg = cfg.from_dict({**cfg.to_dict(), **layer})
        out[name] = cfg
    if "source" in out:  # a file in Nixtla's long shape is a long file by unique_id, as it is
        from forecast.loading import nixtla_file

        out["source"] = nixtla_file(out["source"])
    if "data" in out and "model" in out:
        check_compatible(out["data"], out["model"])
    return out
