"""Dates: reading them as written (one format per column, never a silent guess), the step a series
moves by, and the dates a forecast is for.

`parse_dates` reads a column of date strings, numbers or datetimes into a timezone-naive index: ISO
directly; `03/04/2020` day- or month-first only when the column decides it (a number above 12), else
the error names the option that does; UTC offsets become UTC, but dates at local midnight keep their
own day. `step_unit`, `phase_of` and `full_grid` say what step a series moves by, where in a cycle
each date falls and which dates are missing; `future_dates` and `infer_frequency` give the dates a
forecast is for (trading days, business days or the data's own step).

An integer time axis (M4, many industrial series: steps, no dates) is first-class: step k is held as
the timestamp `STEP_ZERO` + k seconds, so that every part that reads dates works on it unchanged.
The half second marks it (no dated series before 1800 has half seconds), so that any timestamp says
which axis it is on; `stamp`, `moment` and `plain` turn it back into k at the edges.
"""
from __future__ import annotations

import functools
import re
import warnings

import numpy as np
import pandas as pd

from forecast.errors import ForecastError

_NUMERIC = re.compile(r"^\s*(\d{1,4})[/.\-](\d{1,2})[/.\-](\d{1,4})")
_OFFSET = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$")


def _day_or_month_first(values: pd.Series, name: str, dayfirst: bool | None) -> bool | None:
    """True (day-first), False (month-first) or None (not an a/b/yyyy column)."""
    parts = values.str.extract(_NUMERIC)
    if parts.isna().any(axis=None) or (parts[0].str.len() == 4).any():
        return None  # not all in the a/b/c form, or year first (ISO-like): not ambiguous
    first, second = parts[0].astype(int), parts[1].astype(int)
    example_format = "%d{0}%m{0}%Y".format(re.search(r"[/.\-]", values.iloc[0])[0])  # type: ignore[index]  # a/b/c
    day_first_needed, month_first_needed = (first > 12).any(), (second > 12).any()
    if day_first_needed and month_first_needed:
        raise ForecastError(f"date column {name!r} mixes day-first ({values[first > 12].iloc[0]!r}) "
                            f"and month-first ({values[second > 12].iloc[0]!r}) dates; "
                            f"give their format, e.g. --set source.date_format={example_format}")
    if day_first_needed or month_first_needed:
        if dayfirst is not None and dayfirst != day_first_needed:
            example = values[(first > 12) if day_first_needed else (second > 12)].iloc[0]
            raise ForecastError(f"date column {name!r}: {example!r} cannot be read "
                                f"{'day' if dayfirst else 'month'}-first")
        return bool(day_first_needed)
    if dayfirst is None:
        raise ForecastError(f"date column {name!r}: every date (e.g. {values.iloc[0]!r}) reads both "
                            "day-first and month-first; say which with --set source.dayfirst=true or false "
                            f"(or --set source.date_format={example_format})")
    return dayfirst


def parse_dates(column: pd.Series, name: str = "date", date_format: str | None = None,
                dayfirst: bool | None = None) -> pd.DatetimeIndex:
    """Parse one date column into a naive DatetimeIndex; see the module docstring."""
    if pd.api.types.is_datetime64_any_dtype(column):
        return naive(pd.DatetimeIndex(column))
    if date_format is None and steps_like(column):  # an integer time axis: steps, not dates
        return from_steps(column.to_numpy(), name)
    # A long file repeats each date once per series: read every distinct text once
    codes, texts = pd.factorize(column.astype(str).str.strip())
    index = _parse_texts(pd.Series(texts), name, date_format, dayfirst)
    return index if len(texts) == len(column) else index[codes]


def _parse_texts(values: pd.Series, name: str, date_format: str | None, dayfirst: bool | None) -> pd.DatetimeIndex:
    utc = bool(values.str.contains(_OFFSET).any())
    try:
        if date_format is not None:
            index = pd.to_datetime(values, format=date_format, utc=utc)
        else:
            order = _day_or_month_first(values, name, dayfirst)
            if order is not None:
                sep = re.search(r"[/.\-]", values.iloc[0])[0]  # type: ignore[index]  # checked numeric above
                year = "%Y" if len(values.str.extract(_NUMERIC)[2].iloc[0]) == 4 else "%y"
                fmt = f"%d{sep}%m{sep}{year}" if order else f"%m{sep}%d{sep}{year}"
                if (values.str.replace(_NUMERIC, "", regex=True).str.strip() != "").any():
                    index = pd.to_datetime(values, dayfirst=order, format="mixed", utc=utc)  # with times
                else:
                    index = pd.to_datetime(values, format=fmt, utc=utc)
            else:
                index = _one_format(values, name, utc)
    except ForecastError:  # already says what to give
        raise
    except (ValueError, TypeError) as e:
        hint = "check source.date_format" if date_format else "give their format, e.g. --set source.date_format=%Y-%m-%d"
        raise ForecastError(f"date column {name!r} does not hold readable dates ({str(e).splitlines()[0]}); "
                            f"{hint}") from None
    local = _local_midnights(values) if utc else None
    return local if local is not None else naive(pd.DatetimeIndex(index, name="Date"))


def naive(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Timezone-naive: instants in UTC, but dates at local midnight keep their local day."""
    if index.tz is None:
        return index
    local = index.tz_localize(None)
    return local if (local == local.normalize()).all() else index.tz_convert(None)


def _local_midnights(values: pd.Series) -> pd.DatetimeIndex | None:
    """The local calendar days of texts that all stand at midnight before their UTC offset, else None
    (several offsets in one column are daylight saving, not a reason to move a day)."""
    local = pd.to_datetime(values.str.replace(_OFFSET, "", regex=True).str.strip(), format="mixed",
                           errors="coerce")
    if local.isna().any() or not (local == local.dt.normalize()).all():
        return None
    return pd.DatetimeIndex(local, name="Date")


def _one_format(values: pd.Series, name: str, utc: bool) -> pd.DatetimeIndex:
    """ISO 8601 first; else the format pandas infers from the first value, applied to every value."""
    for how in ({"format": "ISO8601"}, {}):
        try:
            with warnings.catch_warnings():  # pandas' note that it read each value alone: order is checked later
                warnings.simplefilter("ignore", UserWarning)
                return pd.to_datetime(values, utc=utc, **how)
        except (ValueError, TypeError):
            pass
    mixed = pd.to_datetime(values, format="mixed", errors="coerce", utc=utc)
    if mixed.notna().all():
        first = values.iloc[0]
        other = values[~values.str.len().eq(len(first))]
        example = other.iloc[0] if len(other) else values.iloc[-1]
        raise ForecastError(f"date column {name!r} mixes date formats (e.g. {first!r} and "
                            f"{example!r}); give --set source.date_format=...")
    raise ForecastError(f"date column {name!r}: {values[mixed.isna()].iloc[0]!r} is not a date")


def looks_like_dates(values: pd.Series) -> bool:
    """Could this text column be the date column? (Every one of its first 20 values parses.)"""
    head = values.dropna().astype(str).head(20)
    parsed = pd.to_datetime(head, errors="coerce", format="mixed", utc=True)
    numbers = pd.to_numeric(head, errors="coerce").notna()  # "20240131" or "1.5": not taken for dates
    return not head.empty and bool(parsed.notna().all()) and not bool(numbers.all())


def stamp(ts) -> str:
    """A timestamp as text: the date alone at midnight, else the date and the time; a step its number."""
    ts = pd.Timestamp(ts)
    return str((ts - STEP_ZERO) // _SECOND) if is_step(ts) else str(ts.date()) if ts == ts.normalize() else str(ts)


# --- The integer time axis: step k inside is STEP_ZERO + k seconds (a Monday: phases are k mod period)
STEP_ZERO = pd.Timestamp("1700-01-04 00:00:00.5")
STEPS = "steps"  # the model's frequency on this axis
_SECOND = pd.Timedelta(seconds=1)
_FIRST, _LAST = -700_000_000, 3_000_000_000  # the steps pandas' timestamps can hold before 1800


def is_step(ts) -> bool:
    return ts.year < 1800 and ts.microsecond == 500_000


def is_steps(index) -> bool:
    """True when `index` (timestamps) is on the integer axis (its first timestamp decides)."""
    return len(index) > 0 and is_step(pd.Timestamp(index[0]))


def from_steps(values, name: str = "ds") -> pd.DatetimeIndex:
    """Integer steps as the timestamps that stand for them inside."""
    steps = np.asarray(values)
    if not np.issubdtype(steps.dtype, np.integer):
        raise ForecastError(f"{name!r} holds {steps.dtype} values; an integer time axis takes whole steps")
    if len(steps) and (steps.min() < _FIRST or steps.max() > _LAST):
        raise ForecastError(f"{name!r} holds steps from {steps.min()} to {steps.max()}; an integer time axis "
                            f"runs from {_FIRST} to {_LAST} (subtract the first step)")
    return pd.DatetimeIndex(STEP_ZERO + pd.to_timedelta(steps.astype(np.int64), unit="s"), name="Date")


def to_steps(index) -> np.ndarray:
    return np.asarray((pd.DatetimeIndex(index) - STEP_ZERO) // _SECOND, dtype=np.int64)


def steps_like(values) -> bool:
    """An integer column that is not dates written as numbers (20240131): a step count."""
    if not pd.api.types.is_integer_dtype(values) or pd.api.types.is_bool_dtype(values) or not len(values):
        return False
    numbers = np.asarray(values)
    if numbers.min() < 10_000_101 or numbers.max() > 99_991_231:  # not eight digits: steps
        return True
    written = pd.to_datetime(pd.Series(np.unique(numbers)).astype(str), format="%Y%m%d", errors="coerce")
    return bool(written.isna().any())


def moment(value, index) -> pd.Timestamp:
    """A boundary the user gave (`val_start`, `--origins-from`, `--start`) on `index`'s axis: a step
    number on the integer axis, else a date."""
    if is_steps(index):
        text = str(value).strip()
        if not re.fullmatch(r"-?\d+", text):
            raise ForecastError(f"{value!r} is not a step: this data's time axis counts steps (integers)")
        return from_steps([int(text)])[0]
    try:
        return pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ForecastError(f"{value!r} is not a date on this data's axis; write it as YYYY-MM-DD") from None


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with its index and columns of timestamps on the integer axis as integer steps (what
    a user reads and writes); dated ones unchanged."""
    changes = {c: to_steps(frame[c]) for c in frame.columns
               if pd.api.types.is_datetime64_any_dtype(frame[c]) and is_steps(frame[c].to_numpy())}
    frame = frame.assign(**changes) if changes else frame
    if isinstance(frame.index, pd.DatetimeIndex) and is_steps(frame.index):
        frame = frame.set_axis(pd.Index(to_steps(frame.index), name="step"), axis=0)
    return frame


# A Monday at midnight: the phase count starts here, so a period of 7 days or 168 hours starts on Mondays
_MONDAY = pd.Timestamp("1970-01-05")
_UNITS = {"B": 5, "D": 7, "W": 52, "M": 12, "Q": 4, "Y": 1}  # each step's usual season


def step_unit(index: pd.DatetimeIndex) -> str:
    """The data's step as a unit to count in: seconds (`"3600s"`) below a day, else `B` (trading
    days: no weekend dates), `D`, `W`, `M`, `Q` or `Y`, from the median gap between timestamps."""
    step = pd.Series(index).diff().median() if len(index) > 1 else pd.Timedelta(days=1)
    if step < pd.Timedelta(days=1):
        return f"{max(1, round(step.total_seconds()))}s"
    if step < pd.Timedelta(days=6):
        return "D" if (pd.DatetimeIndex(index).day_of_week >= 5).any() else "B"
    return next((unit for unit, below in (("W", 27), ("M", 80), ("Q", 300)) if step < pd.Timedelta(days=below)), "Y")


def season_of_unit(unit: str) -> int:
    """A day of steps below a day; a week of trading days (5) or days (7); a year of weeks, months,
    quarters; 1 for years."""
    return max(1, round(86400 / int(unit[:-1]))) if unit.endswith("s") else _UNITS[unit]


def phase_of(index: pd.DatetimeIndex, period: int, unit: str) -> np.ndarray:
    """(N,) each timestamp's place in a cycle of `period` steps of `unit` (see `step_unit`): the
    steps counted from a Monday at midnight, modulo `period`. A period of 24 hours is the hour of the
    day, of 5 trading days the weekday, of 12 months the month; gaps in the data do not shift it."""
    index = pd.DatetimeIndex(index)
    if unit.endswith("s"):
        count = (index - _MONDAY) // pd.Timedelta(seconds=int(unit[:-1]))
    elif unit == "B":
        count = np.busday_count(_MONDAY.date(), index.values.astype("datetime64[D]"))
    elif unit in ("D", "W"):
        count = (index.normalize() - _MONDAY).days // (7 if unit == "W" else 1)
    else:
        months = index.year * 12 + index.month - 1
        count = {"M": months, "Q": months // 3, "Y": index.year}[unit]
    return np.mod(np.asarray(count, dtype=np.int64), period)


def full_grid(index: pd.DatetimeIndex) -> pd.DatetimeIndex | None:
    """Every timestamp from first to last of a series on a fixed step (hours, days with weekends, weeks,
    months, quarters, years, integer steps) when some are missing; else None, as for trading days or hours."""
    index = index if isinstance(index, pd.DatetimeIndex) else pd.DatetimeIndex(index)
    gaps = np.diff(index.asi8)
    if len(index) < 3 or (gaps == gaps[0]).all():  # complete
        return None
    unit = step_unit(index)
    if unit not in ("W", "M", "Q", "Y") and not is_steps(index) and (index.day_of_week >= 5).mean() < 0.1:
        return None  # trading days or hours, even with a rare weekend session: a closure is not a gap
    if unit in ("M", "Q", "Y"):  # of uneven lengths: the first date moved on by whole months
        count, months = np.diff(index[[0, -1]].to_period(unit).asi8)[0], {"M": 1, "Q": 3, "Y": 12}[unit]
        grid = pd.DatetimeIndex([index[0] + pd.DateOffset(months=months * k) for k in range(count + 1)])
    else:
        step = pd.Series(np.diff(index.values)).mode().iloc[0].to_timedelta64()  # in the index's own unit
        grid = pd.DatetimeIndex(index.values[0] + np.arange((index.values[-1] - index.values[0]) // step + 1) * step)
    return grid.rename(index.name) if len(grid) > len(index) and index.isin(grid).all() else None


def holes(index: pd.DatetimeIndex) -> tuple[int, int, pd.Timestamp, int] | None:
    """(timestamps missing, holes, the last timestamp before the longest, its steps) (see `full_grid`), or None."""
    if (grid := full_grid(index)) is None:
        return None
    edges = np.diff(np.r_[0, (~grid.isin(index)).astype(int), 0])
    starts, lengths = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    return int(lengths.sum()), len(starts), grid[starts[lengths.argmax()] - 1], int(lengths.max())


def check_step(fresh: pd.DatetimeIndex, trained: pd.DatetimeIndex) -> None:
    """Fresh data must come at the step the model was trained on (hourly data for an hourly model):
    the typical gap between rows may differ by a third at most (months, trading days)."""
    step = lambda index: pd.Series(index).diff().median()  # noqa: E731
    axis = lambda index: "integer steps" if is_steps(index) else "dates"  # noqa: E731
    if len(fresh) and len(trained) and is_steps(fresh) != is_steps(trained):
        raise ForecastError(f"this model's time axis is {axis(trained)}, but the history's is {axis(fresh)}; "
                            "give the history on the model's axis")
    if len(fresh) > 1 and len(trained) > 1 and not 0.75 <= step(fresh) / step(trained) <= 4 / 3:
        raise ForecastError(f"the history's rows are {_words(step(fresh))} apart, but this model was "
                            f"trained on rows {_words(step(trained))} apart; give data at the model's step")


def _words(step: pd.Timedelta) -> str:
    for unit, size in (("day", pd.Timedelta(days=1)), ("hour", pd.Timedelta(hours=1)), ("minute", pd.Timedelta(minutes=1))):
        if step >= size:
            return f"{step / size:g} {unit}{'' if step == size else 's'}"
    return str(step)


# --- Future timestamps: trading days, business days or the data's step (forecast.calendar until 0.3)

def _offset(name: str):
    try:
        return pd.tseries.frequencies.to_offset(name)
    except (ValueError, TypeError):
        return None


def _exchange(name: str, start: pd.Timestamp | None = None):
    import exchange_calendars as xcals

    try:
        return xcals.get_calendar(name, **({"start": start} if start is not None else {}))
    except Exception:  # noqa: BLE001 - the package raises its own types for unknown names
        raise ForecastError(f"unknown calendar {name!r}: use auto, an exchange such as XNYS or XLON, "
                            "B for business days, or a pandas frequency such as D, h or W-FRI") from None


def weekdays_only(dates) -> bool:
    """Dates that never fall on a weekend and are under a week apart: trading days (prices, whose
    verdict adds that the random walk is hard to beat), not a calendar series such as sales."""
    dates = pd.DatetimeIndex(np.unique(np.asarray(dates, dtype="datetime64[ns]").ravel()))
    if len(dates) < 10 or is_steps(dates) or (dates.day_of_week >= 5).any():
        return False
    return bool(pd.Series(dates[1:] - dates[:-1]).mode().iloc[0] < pd.Timedelta(days=7))


def check_calendar(name: str | None) -> None:
    """An unknown calendar name fails when the data are loaded, not after training."""
    if name not in (None, "auto") and _offset(name) is None:
        _exchange(name)


def infer_frequency(index: pd.DatetimeIndex, calendar: str | None = None) -> str:
    """A pandas offset alias for the series' step, or an exchange calendar name for trading days;
    `calendar` "auto" or None infers it: the most common step of the last 200 rows, business days
    ("B") for daily data that never falls on a weekend, `STEPS` on the integer axis."""
    if is_steps(index):
        return STEPS
    if calendar not in (None, "auto"):
        check_calendar(calendar)
        return calendar
    tail = index[-200:]  # (pandas' alias through freq="infer": its infer_freq warns it will return an offset)
    alias = lambda part: getattr(pd.DatetimeIndex(part, freq="infer").freq, "freqstr", None)  # noqa: E731
    freq = alias(tail) if len(tail) >= 3 else None
    if freq is None:  # a missing row or a holiday: the frequency most short stretches show
        found = [f for f in (alias(tail[i:i + 8]) for i in range(0, len(tail) - 7, 4)) if f]
        freq = max(found, key=found.count) if found else None
    if freq is None:  # no regular stretch at all: the most common step
        step = pd.Series(tail[1:] - tail[:-1]).mode().iloc[0]
        freq = "D" if step == pd.Timedelta(days=1) else pd.tseries.frequencies.to_offset(step).freqstr
    return "B" if freq == "D" and len(tail) >= 10 and (tail.day_of_week < 5).all() else freq  # never a weekend day


def future_dates(last: pd.Timestamp, horizon: int, frequency: str) -> pd.DatetimeIndex:
    """The `horizon` timestamps after `last`."""
    last = pd.Timestamp(last)
    if frequency == STEPS:
        return pd.DatetimeIndex(last + _SECOND * np.arange(1, horizon + 1), name="Date")
    if _offset(frequency) is None:  # an exchange calendar
        cal = _exchange(frequency, start=last.normalize() - pd.Timedelta(days=7))
        sessions = cal.sessions[cal.sessions > last.normalize()][:horizon]
        if len(sessions) == horizon:
            return pd.DatetimeIndex(sessions.tz_localize(None) if sessions.tz else sessions, name="Date")
        frequency = "B"  # past the calendar's published holidays: weekdays are the best guess
    return pd.date_range(last, periods=horizon + 1, freq=frequency, name="Date")[1:]


def holiday_flags(dates: pd.DatetimeIndex, code: str) -> np.ndarray:
    """(N,) 1.0 where a holiday of `code` falls on a row's date or between it and the row before (the
    session after a market holiday), else 0.0. `code`: a country, optionally with its subdivision
    (US, DE-BY, GB-ENG), or a market (XNYS, XLON, ...), from the `holidays` package."""
    days = pd.DatetimeIndex(dates).normalize()
    marked = _holiday_dates(code.upper(), days.min().year - 1, days.max().year + 1)
    day = days.to_numpy().astype("datetime64[D]")
    before = np.concatenate([day[:1], day[:-1]])
    on_day = np.isin(day, marked)
    since = np.searchsorted(marked, day, side="right") - np.searchsorted(marked, before, side="right") > 0
    return (on_day | since).astype(np.float64)


@functools.lru_cache(maxsize=64)
def _holiday_dates(code: str, first: int, last: int) -> np.ndarray:
    """The sorted holidays of calendar `code` from year `first` to `last`, built once (every series
    of a panel, and every forecast, reads the same calendar)."""
    import holidays  # here: only a model with a holiday input pays for it
    years = range(first, last + 1)
    try:
        if code in holidays.list_supported_financial():
            found = holidays.financial_holidays(code, years=years)
        else:
            country, _, subdiv = code.partition("-")
            found = holidays.country_holidays(country, subdiv=subdiv or None, years=years)
    except NotImplementedError:
        raise ForecastError(f"unknown holiday calendar {code!r}: give a country (US, DE, GB-ENG, DE-BY) or a "
                            "market (XNYS, XLON, XETR) that the holidays package knows") from None
    marked = np.sort(np.array(list(found), dtype="datetime64[D]"))
    marked.flags.writeable = False  # shared by every caller
    return marked
