"""Future timestamps: exchange trading days for daily stock prices, the data's own step otherwise."""
from __future__ import annotations

import pandas as pd

TRADING_CALENDARS = ("XNYS",)


def infer_frequency(index: pd.DatetimeIndex, calendar: str | None = None) -> str:
    """A pandas offset alias for the series' step, or an exchange calendar name for trading days."""
    if calendar in TRADING_CALENDARS:
        return calendar
    tail = index[-200:]
    freq = pd.infer_freq(tail) if len(tail) >= 3 else None
    if freq is None:  # irregular gaps: use the most common step
        step = pd.Series(tail[1:] - tail[:-1]).mode().iloc[0]
        freq = pd.tseries.frequencies.to_offset(step).freqstr
    return freq


def future_dates(last: pd.Timestamp, horizon: int, frequency: str) -> pd.DatetimeIndex:
    """The `horizon` timestamps after `last`."""
    last = pd.Timestamp(last)
    if frequency in TRADING_CALENDARS:
        import exchange_calendars as xcals

        cal = xcals.get_calendar(frequency, start=last.normalize() - pd.Timedelta(days=7))
        sessions = cal.sessions[cal.sessions > last.normalize()][:horizon]
        if len(sessions) == horizon:
            return pd.DatetimeIndex(sessions.tz_localize(None) if sessions.tz else sessions, name="Date")
        frequency = "B"  # past the calendar's published holidays: weekdays are the best guess
    return pd.date_range(last, periods=horizon + 1, freq=frequency, name="Date")[1:]
