"""Stock prices from Yahoo Finance through `yfinance`, cached on disk as Parquet.

One cache file per ticker and interval holds the whole history fetched so far; a later call downloads
only the tail. `yf.download` does not raise when the network fails (it logs and returns an empty
frame), so emptiness is the failure signal here. When a download fails the cache is used, and for the
bundled tickers the bundled sample, each with a warning in the report.
"""
from __future__ import annotations

import logging
import os
import re
import warnings
from pathlib import Path

import pandas as pd

from forecast.dates import stamp
from forecast.errors import ForecastError
from forecast.files import write_atomically
from forecast.sources import SAMPLE_TICKERS, DataReport, load_sample

INTERVALS = {"1d": "daily", "1wk": "weekly", "1mo": "monthly", "1h": "hourly"}
PRICE_COLUMNS = ["Open", "High", "Low", "Close", "Volume"]
_TICKER = re.compile(r"^[A-Z0-9^][A-Z0-9.\-=^]{0,19}$")


class YahooUnavailable(Exception):
    """The download gave nothing: network down, rate limit, or unknown ticker."""


def validate_ticker(ticker: str) -> str:
    """Upper-case a ticker and make sure it is safe to use as a file name."""
    t = (ticker or "").strip().upper()
    if not _TICKER.match(t):
        raise ForecastError(f"invalid ticker {ticker!r}: use letters, digits and . - = ^ "
                            "(e.g. AAPL, BRK-B, ^GSPC, EURUSD=X)")
    return t


def cache_dir(override: str | Path | None = None) -> Path:
    """`override`, else $FORECAST_CACHE_DIR, else the user cache directory."""
    if override:
        return Path(override).expanduser()
    if os.environ.get("FORECAST_CACHE_DIR"):
        return Path(os.environ["FORECAST_CACHE_DIR"]).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("forecast"))


def cache_path(ticker: str, interval: str, directory: str | Path | None = None) -> Path:
    return cache_dir(directory) / "yahoo" / f"{validate_ticker(ticker)}_{interval}.parquet"


def _download(ticker: str, interval: str, start=None, end=None) -> pd.DataFrame:
    """One `yf.download` call, flattened to Open/High/Low/Close/Volume with a naive DatetimeIndex."""
    import yfinance as yf

    # Without a start, ask for all history (Yahoo keeps only 730 days of hourly bars).
    span = {"start": start} if start is not None else {"period": "730d" if interval == "1h" else "max"}
    log = logging.getLogger("yfinance")
    level = log.level
    log.setLevel(logging.CRITICAL)  # we report failures ourselves; restored below
    try:
        with warnings.catch_warnings():  # yfinance's own deprecation noise is not the user's business
            warnings.simplefilter("ignore")
            raw = yf.download(ticker, end=end, interval=interval, auto_adjust=True, progress=False,
                              threads=False, **span)
    except Exception as e:  # yfinance raises for a few failures and logs the rest
        raise YahooUnavailable(str(e)) from None
    finally:
        log.setLevel(level)
    if raw is None or raw.empty:
        raise YahooUnavailable("no data returned (offline, rate-limited or unknown ticker)")
    if isinstance(raw.columns, pd.MultiIndex):  # (Price, Ticker) columns
        name: str | int = "Ticker" if "Ticker" in raw.columns.names else 1
        raw = raw.xs(raw.columns.get_level_values(name)[0], axis=1, level=name)
    raw = raw[[c for c in PRICE_COLUMNS if c in raw.columns]].dropna(subset=["Close"])
    if raw.empty:
        raise YahooUnavailable("only empty rows returned")
    index = pd.DatetimeIndex(raw.index)
    if index.tz is not None:
        index = index.tz_localize(None)
    raw = raw.set_axis(index.rename("Date"), axis=0).astype("float64")
    return raw[~raw.index.duplicated(keep="last")].sort_index()


def _write_cache(frame: pd.DataFrame, path: Path) -> None:
    # Atomic, with a unique temporary file: a crash never leaves half a cache file, and two
    # processes refreshing the same ticker never write into each other's file.
    write_atomically(path, lambda tmp: frame.to_parquet(tmp))


def _update(cached: pd.DataFrame | None, ticker: str, interval: str, end) -> pd.DataFrame:
    if cached is None:
        return _download(ticker, interval, end=end)
    last = cached.index[-1]
    if end is not None and pd.Timestamp(end) <= last:
        return cached  # the cache already covers the request
    tail = _download(ticker, interval, start=last, end=end)
    if last in tail.index:
        # Adjusted prices are rescaled after every split or dividend: if the overlapping row moved,
        # the whole cached history is stale.
        old, new = cached.loc[last, "Close"], tail.loc[last, "Close"]
        if abs(old - new) > 1e-6 * max(abs(old), 1.0):
            return _download(ticker, interval, end=end)
    merged = pd.concat([cached, tail])
    return merged[~merged.index.duplicated(keep="last")].sort_index()


def load_yahoo(ticker: str, start=None, end=None, interval: str = "1d",
               cache: str | Path | None = None, offline: bool = False
               ) -> tuple[pd.DataFrame, DataReport]:
    """Adjusted prices of one ticker: cache, then Yahoo for what is missing, then fallbacks.

    Returns the raw (not yet validated) frame and a report naming the data actually used.
    """
    ticker = validate_ticker(ticker)
    if interval not in INTERVALS:
        raise ForecastError(f"unknown interval {interval!r}; choose one of: {', '.join(INTERVALS)}")
    path = cache_path(ticker, interval, cache)
    cached = None
    if path.is_file():
        try:
            cached = pd.read_parquet(path)
        except Exception:  # a corrupt cache is only a cache: download again
            cached = None
    report = DataReport(source=f"Yahoo Finance {ticker} {INTERVALS[interval]}",
                        calendar="XNYS" if interval == "1d" else None)
    if offline:
        frame = cached if cached is not None else None
        why = "offline"
    else:
        try:
            frame = _update(cached, ticker, interval, end)
            _write_cache(frame, path)
            report.source += f" (cached at {path})"
            why = None
        except YahooUnavailable as e:
            frame, why = cached, f"download failed: {e}"
    if why is not None:
        if frame is not None:
            report.source = f"cache {path} (up to {stamp(frame.index[-1])})"
            report.warnings.append(f"{why}; using cached {ticker} data up to {stamp(frame.index[-1])}")
        elif ticker in SAMPLE_TICKERS and interval == "1d":
            frame = load_sample(ticker)
            report.source = f"bundled sample {ticker} daily (2000-2013)"
            report.warnings.append(f"{why} and no cache for {ticker}; USING THE BUNDLED SAMPLE "
                                   f"(ends {stamp(frame.index[-1])}), not current prices")
        else:
            hint = "run it once online to fill the cache" if offline else "check the ticker and network"
            raise ForecastError(f"no data for {ticker} ({why}) and nothing cached; {hint}")
    assert frame is not None  # downloaded, cached or the sample: each branch above gave one
    if start is not None:
        frame = frame[frame.index >= pd.Timestamp(start)]
    if end is not None:
        frame = frame[frame.index < pd.Timestamp(end)]
    if frame.empty:
        used = f"; {why}, and the {report.source} has nothing in that range" if why else ""
        raise ForecastError(f"no {ticker} data between {start or 'the start'} and {end or 'now'}{used}")
    return frame, report
