"""Many series, one model: panels of tickers, stores or sensors, cut on one calendar, windowed per series.

A panel is an ordered dict of validated frames, one per series, holding the same columns. The
validation and test spans are the same dates for every series (one calendar cut, from the union of
their dates), so no series' future reaches the shared model's training through another series. Each
series gets its own preprocessor, fitted on its own training rows only. Windows are views over one
concatenated tensor: a window is named by the global row its targets start at, and each series'
windows start and end inside that series.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch

from forecast.config import DataConfig
from forecast.dates import infer_frequency, is_steps, moment, stamp
from forecast.errors import ForecastError, UnusableSeries, listed, meant
from forecast.preprocess import encode_static, static_table, static_values
from forecast.sources import NIXTLA, WIDE_VALUE, DataReport, as_pandas, validate_frame
from forecast.windows import PreparedSeries, by_steps, dated_ends, prepare, span_ends, split_rows, split_steps


def id_columns(series_col) -> list[str]:
    """The columns a long file's series are named by: one, or several given as "store,item"."""
    return [c.strip() for c in series_col.split(",")] if isinstance(series_col, str) else list(series_col or ())


def from_long(frame: pd.DataFrame, series_col) -> dict[str, pd.DataFrame]:
    """A long frame (timestamps, series-id columns, value columns) -> one frame per series, in the
    order the ids first appear; `series_col` names the id column, or several ("store,item": the
    series `1/2` is store 1's item 2); a row without a series id is refused (with how many there are).

    Examples
    --------
    >>> import pandas as pd
    >>> from forecast.panel import from_long
    >>> long = pd.DataFrame({"store": ["a", "a", "b"], "sales": [1.0, 2.0, 5.0]},
    ...                     index=pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-01"]))
    >>> {name: len(frame) for name, frame in from_long(long, "store").items()}
    {'a': 2, 'b': 1}
    """
    named = id_columns(series_col)
    series_col = ",".join(named)  # as the user wrote it
    lost = [c for c in named if c not in frame.columns]
    if not named or lost:
        raise ForecastError(f"series column {series_col!r} not found{meant(lost, frame.columns)}; columns are: "
                            f"{listed(frame.columns)}")
    parts = [frame[c] for c in named]
    blank = np.logical_or.reduce([p.isna() | p.astype(str).str.strip().eq("") for p in parts])
    if blank.any():
        where = frame.index[np.asarray(blank)]
        raise ForecastError(f"{int(blank.sum())} row(s) have no series id in {series_col!r} (the first dated "
                            f"{where[0]}); give each row its series, or remove those rows")
    ids = parts[0].astype(str)
    for part in parts[1:]:
        ids = ids + "/" + part.astype(str)
    # one pass over the rows (a mask per series would read the whole file once per series)
    return {str(name): rows.drop(columns=named) for name, rows in frame.groupby(ids, sort=False)}


def to_long(frames: dict[str, pd.DataFrame], series_col: str = "series") -> pd.DataFrame:
    """One frame per series -> a long frame (the inverse of `from_long`): their rows in turn, the
    series' name in `series_col` beside the value columns, indexed by timestamp."""
    index_name = next(iter(frames.values())).index.name or "Date"
    return pd.concat(frames, names=[series_col, index_name]).reset_index(level=series_col)


def split_long(frame):
    """A long frame -> one frame per series: Nixtla's (`unique_id`, `ds`, values), or one indexed by
    (series, time) levels as `groupby` and `set_index` make them (or (time, series)); anything else
    is returned as it is. A polars frame or an Arrow table is read as pandas first."""
    frame = as_pandas(frame)
    if isinstance(frame, pd.DataFrame) and set(NIXTLA) <= set(frame.columns):
        return from_long(frame.set_index("ds"), "unique_id")
    if isinstance(frame, (pd.DataFrame, pd.Series)) and frame.index.nlevels == 2:
        ids = int(isinstance(frame.index.levels[0], pd.DatetimeIndex))  # the level that is not the time
        return from_long(pd.DataFrame(frame).reset_index(ids), str(frame.index.names[ids] or f"level_{ids}"))
    return frame


def from_wide(frame: pd.DataFrame, columns, name: str = WIDE_VALUE) -> dict[str, pd.DataFrame]:
    """A wide frame (one column per series, e.g. a price table with a column per ticker) -> one
    frame per chosen column, its values under `name`, from its first to its last value (series of
    a wide table start and end on different dates; the blanks around them are not gaps)."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ForecastError(f"column(s) {', '.join(map(repr, missing))} not found for the wide panel; source.wide "
                            f"makes each --target column a series (columns: {', '.join(map(str, frame.columns[:10]))})")
    out = {}
    for c in columns:
        values = frame[c]
        first, last = values.first_valid_index(), values.last_valid_index()
        out[str(c)] = frame.loc[first:last, [c]].rename(columns={c: name}) if first is not None \
            else frame[[c]].rename(columns={c: name})
    return out


def calendar_cut(frames: dict[str, pd.DataFrame], cfg: DataConfig) -> DataConfig:
    """`cfg` with validation and test start dates shared by every series: the given ones, or, by
    default, the last `cfg.steps` (validation, test) steps of the panel's dates counted back from its
    last date, or the fractions of all its dates when they are given.

    One calendar cut for every series, so no series' future reaches training through another:
    when the series end together, the steps are each series' own last steps. When they end on
    different dates, the default is the fractions of all dates (steps counted from the panel's last
    date would leave the series that end earlier no test span); given steps count from the panel's
    last date all the same."""
    if cfg.val_start is not None and cfg.test_start is not None:
        return cfg
    dates = pd.DatetimeIndex(np.unique(np.concatenate([f.index.to_numpy() for f in frames.values()])))
    n = len(dates)
    steps = by_steps(cfg, panel=_many_together(frames))
    train_end, val_end = span_ends(cfg, n, steps, *_lengths(frames))
    if cfg.val_start is not None or cfg.test_start is not None:  # one date given, the other the default's
        train_end, val_end = dated_ends(dates, cfg, train_end, val_end, "dates")
    if not 0 < train_end < val_end < n:
        val_steps, test_steps = split_steps(cfg, *_lengths(frames))
        how = f"its last {val_steps} validation and {test_steps} test steps" if steps else "the fractions"
        raise ForecastError(f"the data's {n} dates are too few to split into training, then {how}; give "
                            "--split VAL,TEST steps (or dates) that leave rows to train on")
    return replace(cfg, val_start=cfg.val_start or stamp(dates[train_end]),
                   test_start=cfg.test_start or stamp(dates[val_end]))


def _many_together(frames: dict[str, pd.DataFrame]) -> bool:
    """Whether this is a panel of several series that end on the same date: its split then counts
    steps back from that date by default (see `forecast.windows.by_steps`); one series is split by
    the fractions of its dates."""
    return len(frames) > 1 and len({f.index[-1] for f in frames.values() if len(f)}) == 1


def _lengths(frames: dict[str, pd.DataFrame]) -> tuple[int, int]:
    """(median, shortest) series length of a panel."""
    lengths = [len(f) for f in frames.values()]
    return int(np.median(lengths)), min(lengths)


def split_rule(frames: dict[str, pd.DataFrame], cfg: DataConfig) -> str:
    """In words, how `calendar_cut` splits this panel."""
    if cfg.val_start is not None and cfg.test_start is not None:
        return "the dates given"
    together = len({f.index[-1] for f in frames.values() if len(f)}) == 1
    if by_steps(cfg, panel=_many_together(frames)):
        val, test = split_steps(cfg, *_lengths(frames))
        return (f"the last {val} validation and {test} test steps counted back from the panel's last date"
                + (" (its series end together)" if together else ""))
    val_share, test_share = cfg.fractions
    return (f"{val_share:.0%} validation and {test_share:.0%} test of all the panel's dates"
            + ("" if together else " (its series end on different dates; --split's steps count from the last)"))


def unusable(frames: dict[str, pd.DataFrame], cfg: DataConfig) -> tuple[DataConfig, dict[str, str]]:
    """The panel's common cut (see `calendar_cut`) and the series that cannot be split on it with
    `cfg`'s window (a series that starts after validation does, or ends before test), with why."""
    cut = calendar_cut(frames, cfg)
    why = {}
    for name, frame in frames.items():
        try:
            split_rows(frame.index, cut)
        except ForecastError as e:
            why[name] = str(e)
    return cut, why


@dataclass
class Prepared:
    """Every series ready for windowing, on one calendar cut.

    parts : per series, its own `PreparedSeries` (index, encoded values, splits, preprocessor).
    values : (sum of rows, C) the parts' encoded values, concatenated.
    offsets : (S,) the first row of each series in `values`.
    dropped : series left out (with the reason), when the caller asked to drop bad ones.
    static_encoding : how the static columns were encoded (see `forecast.preprocess.static_encoding`).
    """

    cfg: DataConfig
    names: list[str]
    parts: list[PreparedSeries]
    values: torch.Tensor
    offsets: np.ndarray
    dropped: dict[str, str]
    static_encoding: dict = field(default_factory=dict)

    @property
    def n_targets(self) -> int:
        return len(self.cfg.targets)

    def stage_starts(self, stage: str) -> torch.Tensor:
        """Global rows at which `stage` windows' targets start: each series' own, shifted."""
        return torch.cat([part.stage_starts(stage) + int(offset)
                          for part, offset in zip(self.parts, self.offsets)])

    def row_series(self) -> torch.Tensor:
        """(rows,) the series of every row of `values`: each part's place in the panel."""
        return torch.repeat_interleave(torch.tensor([p.series for p in self.parts]),
                                       torch.tensor([len(p.values) for p in self.parts]))

    def split_sizes(self) -> dict[str, int]:
        sizes = [part.split_sizes() for part in self.parts]
        return {stage: sum(s[stage] for s in sizes) for stage in sizes[0]}


def prepare_panel(frames: dict[str, pd.DataFrame], cfg: DataConfig, fit_on: str = "train",
                  drop_bad: bool = False) -> Prepared:
    """Cut every series on one calendar and encode each with its own preprocessor.

    A series that cannot be split or encoded (too short for the cut, constant) is named in the
    error, or left out and reported in `dropped` with `drop_bad`. A panel of one is cut on its own
    dates, and its errors are that series'.
    """
    if not frames:
        raise ForecastError("the panel holds no series")
    cut = calendar_cut(frames, cfg) if fit_on != "all" else cfg
    names: list[str] = []
    parts: list[PreparedSeries] = []
    dropped: dict[str, str] = {}
    static: pd.DataFrame | None = None
    encoding: dict[str, dict] = {}
    if cfg.static and len(frames) > 1:  # one encoding for the panel: categories and spreads across its series
        static_names, vectors, encoding = encode_static(static_table(frames, cfg.static))
        static = dict(zip(frames, vectors))
    for name, frame in frames.items():
        try:
            part = prepare(frame, cut, fit_on, static=None if static is None else (static_names, static[name]))
            part.series = len(parts)
            parts.append(part)
            names.append(name)
        except ForecastError as e:
            if len(frames) == 1:
                raise
            dropped[name] = _too_short(frame, cut) or str(e)
    split = f"the common split (validation from {cut.val_start}, test from {cut.test_start})"
    if not parts:
        name, why = next(iter(dropped.items()))
        raise ForecastError(f"none of the {len(frames)} series can be used with {split}; the first, "
                            f"{name}: {why}")
    if dropped and not drop_bad:
        reasons = "; ".join(f"{name}: {why}" for name, why in list(dropped.items())[:3])
        more = f" (and {len(dropped) - 3} more)" if len(dropped) > 3 else ""
        raise UnusableSeries(f"{len(dropped)} of {len(frames)} series cannot be used with {split}: "
                             f"{reasons}{more}; leave them out with --drop-bad, or change the dates", list(dropped))
    sizes = np.array([len(part.values) for part in parts])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return Prepared(cut, names, parts, torch.cat([part.values for part in parts]), offsets, dropped, encoding)


def _too_short(frame: pd.DataFrame, cut: DataConfig) -> str | None:
    """Why a series is too short for the common cut, with its length and what it would need; None when
    that is not why it failed."""
    if cut.val_start is None or not len(frame):
        return None
    before = int((frame.index < moment(cut.val_start, frame.index)).sum())
    need = cut.seq_len + cut.horizon
    if before >= need:
        return None
    after = len(frame) - before
    return (f"series too short: {len(frame)} rows from {stamp(frame.index[0])}, {before} of them before "
            f"validation starts ({cut.val_start}); training needs {need} (input window {cut.seq_len} + horizon "
            f"{cut.horizon}), so {need + after} rows in all")


def validate_panel(frames: dict, columns, max_gap: int = 5, drop_bad: bool = False,
                   source: str = "panel", static=(), fill_dates: bool = False):
    """Validate every series on its own; a bad one is named in the error, or left out (and listed
    in the report's warnings) with `drop_bad`. Returns the clean frames and one report. The `static`
    columns (see `forecast.preprocess`) are checked to hold one value per series and kept, after
    `columns`, on every row of the clean frame. `fill_dates`: see `validate_frame`."""
    if not frames:
        raise ForecastError(f"{source}: no series; give at least one (a dict of frames by series name)")
    clean, reports, bad = {}, [], {}
    for name, frame in frames.items():
        try:
            values = static_values(frame, static, f"series {name}") if static else {}
            kept = frame.drop(columns=list(static)) if static and columns is None else frame  # (static: not left out)
            clean[name], report = validate_frame(kept, columns, max_gap, f"series {name}", fill_dates)
            if values:
                clean[name] = clean[name].assign(**values)
            reports.append(report)
        except ForecastError as e:
            bad[name] = str(e)
    if bad and (not drop_bad or not clean):
        reasons = "; ".join(f"{why}" for why in list(bad.values())[:3])
        more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
        raise ForecastError(f"{len(bad)} of {len(frames)} series are unusable: {reasons}{more}"
                            + ("" if drop_bad else "; fix them or leave them out with --drop-bad"))
    axes = {r.steps for r in reports}
    if len(axes) > 1:
        steps = next(name for name, f in clean.items() if is_steps(f.index))
        raise ForecastError(f"series {steps!r} counts time in integer steps, others in dates: give every "
                            "series of a panel the same time axis")
    report = DataReport(
        source=f"{source}: {len(clean)} series ({listed(clean, 6)})",
        rows=sum(r.rows for r in reports), start=stamp(min(f.index[0] for f in clean.values())),
        end=stamp(max(f.index[-1] for f in clean.values())), columns=reports[0].columns, steps=axes == {True},
        filled=sum(r.filled for r in reports), dropped_leading=sum(r.dropped_leading for r in reports),
        dropped_trailing=sum(r.dropped_trailing for r in reports), dates_filled=fill_dates,
        missing_dates=sum(r.missing_dates for r in reports),
        warnings=[f"left out {why}" if why.startswith(f"series {name}: ") else f"left out series {name}: {why}"
                  for name, why in bad.items()])
    steps = steps_of(clean)
    if len(steps) > 1:
        report.warnings.append("the series come at different steps (" + "; ".join(
            f"{step}: {listed(names, 3)}" for step, names in steps.items()) + "); one model reads every step alike: "
            "give each step's series a model of its own")
    holed = [r.warnings[-1] for r in reports if r.missing_dates and not fill_dates]
    if holed:  # one warning for the panel: the first series' with a count
        report.warnings.append((f"{len(holed)} of {len(reports)} series miss timestamps, {report.missing_dates} in "
                                f"all; the first, " if len(holed) > 1 else "") + holed[0])
    sparse = [w for r in reports for w in r.warnings if w not in holed]  # columns over 10% forward-filled
    report.warnings += sparse[:3] + ([f"and {len(sparse) - 3} more series with over 10% of a column forward-filled"]
                                     if len(sparse) > 3 else [])
    said: dict[str, list] = {}  # each series' notes (newest first, columns left out), once for the series they fit,
    for name, one in zip(clean, reports):  # their examples left out when they differ ("city (e.g. 'Paris')")
        for note in one.notes:
            text = note.removeprefix(f"series {name}: ")
            said.setdefault(re.sub(r" \(e\.g\. [^)]*\)", "", text), []).append((name, text))
    report.notes = [f"series {listed([n for n, _ in named], 3)}: {named[0][1] if len({t for _, t in named}) == 1 else plain}"
                    for plain, named in said.items()]
    first = frames[next(iter(clean))]
    if columns is None and report.notes and isinstance(first, pd.DataFrame):  # left-out text that --static reads
        kinds = [c for c in first.columns if c not in report.columns and c not in static and first[c].dtype.kind not in
                 "biufcmM" and all(c in frames[n] and frames[n][c].nunique() == 1 for n in clean)]
        report.notes += [f"{listed(kinds, 5)}: one value per series, what --static {shlex.quote(','.join(map(str, kinds)))} reads "
                         "as what each series is (a store's city or size)"] if kinds else []
    return clean, report


def steps_of(frames: dict[str, pd.DataFrame], calendar: str | None = None) -> dict[str, list[str]]:
    """The series by the dates their forecasts fall on (`forecast.dates.infer_frequency`: an exchange,
    "B", a pandas frequency or "steps"); more than one key: series at different steps, read alike."""
    gaps: dict[int, list[str]] = {}
    for name, f in frames.items():  # one inference per typical gap, so that thousands of series stay quick
        if len(f) > 2:  # the mean gap of the last 200 rows: a key, not a step
            tail = f.index.asi8[-200:]
            gaps.setdefault(int(tail[-1] - tail[0]) // (len(tail) - 1), []).append(name)
    found: dict[str, list[str]] = {}
    for names in gaps.values():
        found.setdefault(infer_frequency(frames[names[0]].index, calendar), []).extend(names)
    return found
