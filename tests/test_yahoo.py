"""The Yahoo path with a fake `yfinance.download` shaped like the real one: MultiIndex (Price, Ticker)."""
import numpy as np
import pandas as pd
import pytest
import yfinance

from forecast.errors import ForecastError
from forecast.loading import cache_path, load_yahoo, validate_ticker


def yahoo_frame(ticker, dates, scale=1.0):
    """What yf.download(ticker, auto_adjust=True) returns for one ticker."""
    n = len(dates)
    close = scale * (100 + np.arange(n, dtype=float))
    cols = pd.MultiIndex.from_product([["Close", "High", "Low", "Open", "Volume"], [ticker]],
                                      names=["Price", "Ticker"])
    data = np.column_stack([close, close + 1, close - 1, close, np.full(n, 1e6)])
    return pd.DataFrame(data, index=pd.DatetimeIndex(dates, name="Date"), columns=cols)


class FakeYahoo:
    """Serves a fixed history; records every call; `online=False` mimics the empty-frame failure."""

    def __init__(self, ticker="MSFT", end="2024-03-01", scale=1.0):
        self.dates = pd.bdate_range("2024-01-01", end, inclusive="left")
        self.ticker, self.scale, self.online, self.calls = ticker, scale, True, []

    def __call__(self, tickers, start=None, end=None, period=None, **kw):
        self.calls.append({"start": start, "end": end, "period": period})
        if not self.online:
            return pd.DataFrame(columns=pd.MultiIndex.from_tuples([], names=["Price", "Ticker"]))
        dates = self.dates
        if start is not None:
            dates = dates[dates >= pd.Timestamp(start)]
        if end is not None:
            dates = dates[dates < pd.Timestamp(end)]
        full = yahoo_frame(self.ticker, self.dates, self.scale)
        return full.loc[dates]


@pytest.fixture
def fake(monkeypatch):
    f = FakeYahoo()
    monkeypatch.setattr(yfinance, "download", f)
    return f


def test_when_downloaded_then_flat_columns_and_cache_written(fake, tmp_path):
    frame, report = load_yahoo("msft", cache=tmp_path)
    assert list(frame.columns) == ["Open", "High", "Low", "Close", "Volume"]
    assert len(frame) == len(fake.dates) and cache_path("MSFT", "1d", tmp_path).is_file()
    assert fake.calls[0]["period"] == "max" and report.calendar == "XNYS"


def test_when_cache_exists_then_only_the_tail_is_downloaded(fake, tmp_path):
    load_yahoo("MSFT", cache=tmp_path, end="2024-02-01")
    fake.calls.clear()
    frame, _ = load_yahoo("MSFT", cache=tmp_path)
    assert fake.calls == [{"start": pd.Timestamp("2024-01-31"), "end": None, "period": None}]
    assert len(frame) == len(fake.dates) and frame.index.is_unique


def test_when_cache_covers_request_then_no_download(fake, tmp_path):
    load_yahoo("MSFT", cache=tmp_path)
    fake.calls.clear()
    frame, _ = load_yahoo("MSFT", cache=tmp_path, end="2024-02-01")
    assert fake.calls == [] and frame.index[-1] < pd.Timestamp("2024-02-01")


def test_when_adjustment_changed_then_full_history_downloaded_again(fake, tmp_path):
    load_yahoo("MSFT", cache=tmp_path, end="2024-02-01")
    fake.scale, fake.calls[:] = 0.5, []  # a split rescaled all adjusted prices
    frame, _ = load_yahoo("MSFT", cache=tmp_path)
    assert len(fake.calls) == 2 and fake.calls[1]["period"] == "max"
    assert frame["Close"].iloc[0] == 50.0


def test_when_download_fails_and_cache_exists_then_cache_used_with_warning(fake, tmp_path):
    load_yahoo("MSFT", cache=tmp_path, end="2024-02-01")
    fake.online = False
    frame, report = load_yahoo("MSFT", cache=tmp_path)
    assert frame.index[-1] == pd.Timestamp("2024-01-31")
    assert "using cached MSFT data up to 2024-01-31" in report.warnings[0]


def test_when_offline_then_never_downloads(fake, tmp_path):
    load_yahoo("MSFT", cache=tmp_path)
    fake.calls.clear()
    frame, report = load_yahoo("MSFT", cache=tmp_path, offline=True)
    assert fake.calls == [] and len(frame) == len(fake.dates)


def test_when_failed_and_no_cache_then_bundled_sample_said_loudly(fake, tmp_path):
    fake.online = False
    frame, report = load_yahoo("AAPL", cache=tmp_path)
    assert "bundled sample AAPL" in report.source and "USING THE BUNDLED SAMPLE" in report.warnings[0]
    assert frame.index[-1] == pd.Timestamp("2013-03-01")


def test_when_offline_fallback_has_nothing_in_the_range_then_the_error_says_why(fake, tmp_path):
    fake.online = False
    with pytest.raises(ForecastError, match="2015-01-01.*download failed.*bundled sample AAPL daily "
                                            r"\(2000-2013\) has nothing in that range"):
        load_yahoo("AAPL", start="2015-01-01", cache=tmp_path)


@pytest.mark.slow
def test_two_processes_refreshing_one_cache_file_do_not_collide(tmp_path):
    """Each writer has its own temporary file; the cache is always one whole Parquet file."""
    import subprocess
    import sys
    code = ("import sys, pandas as pd, numpy as np; from forecast.loading import _write_cache; "
            "from pathlib import Path; f = pd.DataFrame({'Close': np.arange(20000.0)}, "
            "index=pd.date_range('1950-01-01', periods=20000, name='Date')); "
            "[_write_cache(f, Path(sys.argv[1])) for _ in range(15)]")
    target = tmp_path / "MSFT_1d.parquet"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(target)]) for _ in range(2)]
    assert all(p.wait() == 0 for p in procs)
    assert len(pd.read_parquet(target)) == 20000 and list(tmp_path.iterdir()) == [target]


def test_when_failed_no_cache_unknown_ticker_then_error(fake, tmp_path):
    fake.online = False
    with pytest.raises(ForecastError, match="no data for ZZZZ.*nothing cached"):
        load_yahoo("ZZZZ", cache=tmp_path)
    with pytest.raises(ForecastError, match="run it once online"):
        load_yahoo("ZZZZ", cache=tmp_path, offline=True)


def test_when_yfinance_raises_then_treated_as_failure(monkeypatch, tmp_path):
    def boom(*a, **k):
        raise ConnectionError("no route")
    monkeypatch.setattr(yfinance, "download", boom)
    with pytest.raises(ForecastError, match="no route"):
        load_yahoo("ZZZZ", cache=tmp_path)


def test_when_hourly_then_timezone_dropped_and_730_days_asked(monkeypatch, tmp_path):
    f = FakeYahoo()
    f.dates = pd.date_range("2024-01-02 09:30", periods=50, freq="h", tz="America/New_York")
    monkeypatch.setattr(yfinance, "download", f)
    frame, report = load_yahoo("MSFT", interval="1h", cache=tmp_path)
    assert frame.index.tz is None and frame.index[0].hour == 9 and f.calls[0]["period"] == "730d"
    assert report.calendar is None


def test_cache_dir_comes_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FORECAST_CACHE_DIR", str(tmp_path / "env"))
    assert cache_path("IBM", "1d").parent == tmp_path / "env" / "yahoo"


@pytest.mark.parametrize("bad", ["", "../etc/passwd", "A B", "x" * 30, "a/b"])
def test_when_ticker_unsafe_then_error(bad):
    with pytest.raises(ForecastError, match="invalid ticker"):
        validate_ticker(bad)


def test_good_tickers_pass():
    assert [validate_ticker(t) for t in ("aapl", "BRK-B", "^GSPC", "EURUSD=X")] == \
        ["AAPL", "BRK-B", "^GSPC", "EURUSD=X"]


def test_when_interval_unknown_then_error(tmp_path):
    with pytest.raises(ForecastError, match="unknown interval"):
        load_yahoo("MSFT", interval="5m", cache=tmp_path)
