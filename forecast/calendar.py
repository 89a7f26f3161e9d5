"""Future timestamps: exchange trading days for daily stock prices, business days for series without
weekends, the data's own step otherwise; or whatever calendar the user names."""
from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.errors import ForecastError


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
    if len(dates) < 10 or (dates.day_of_week >= 5).any():
        return False
    return bool(pd.Series(dates[1:] - dates[:-1]).mode().iloc[0] < pd.Timedelta(days=7))


def check_calendar(name: str | None) -> None:
    """An unknown calendar name fails when the data are loaded, not after training."""
    if name not in (None, "auto") and _offset(name) is None:
        _exchange(name)


def infer_frequency(index: pd.DatetimeIndex, calendar: str | None = None) -> str:
    """A pandas offset alias for the series' step, or an exchange calendar name for trading days.

    `calendar` "auto" or None infers it: the most common step of the last 200 rows, and business
    days ("B") for daily data that never falls on a weekend.
    """
    if calendar not in (None, "auto"):
        check_calendar(calendar)
        return calendar
    tail = index[-200:]
    freq = pd.infer_freq(tail) if len(tail) >= 3 else None
    if freq is None:  # a missing row or a holiday: the frequency most short stretches show
        found = [f for f in (pd.infer_freq(tail[i:i + 8]) for i in range(0, len(tail) - 7, 4)) if f]
        freq = max(found, key=found.count) if found else None
    if freq is None:  # no regular stretch at all: the most common step
        step = pd.Series(tail[1:] - tail[:-1]).mode().iloc[0]
        freq = "D" if step == pd.Timedelta(days=1) else pd.tseries.frequencies.to_offset(step).freqstr
    if freq == "D" and len(tail) >= 10 and (tail.day_of_week < 5).all():
        return "B"  # daily rows, never on a weekend: business days (stock prices from a file)
    return freq


def future_dates(last: pd.Timestamp, horizon: int, frequency: str) -> pd.DatetimeIndex:
    """The `horizon` timestamps after `last`."""
    last = pd.Timestamp(last)
    if _offset(frequency) is None:  # an exchange calendar
        cal = _exchange(frequency, start=last.normalize() - pd.Timedelta(days=7))
        sessions = cal.sessions[cal.sessions > last.normalize()][:horizon]
        if len(sessions) == horizon:
            return pd.DatetimeIndex(sessions.tz_localize(None) if sessions.tz else sessions, name="Date")
        frequency = "B"  # past the calendar's published holidays: weekdays are the best guess
    return pd.date_range(last, periods=horizon + 1, freq=frequency, name="Date")[1:]
