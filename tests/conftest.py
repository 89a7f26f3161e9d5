"""Tiny fixtures shared by the tests: generated series, offline and deterministic."""
import os

os.environ.setdefault("COLUMNS", "200")  # wide tables for the CLI's in-process consoles

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402


def make_frame(n=300, cols=("y",), freq="D", seed=0, start="2020-01-01"):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    data = {c: 10 + np.sin(t / 7 + i) + 0.1 * rng.standard_normal(n) for i, c in enumerate(cols)}
    return pd.DataFrame(data, index=pd.date_range(start, periods=n, freq=freq, name="Date"))


@pytest.fixture
def frame():
    return make_frame()


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """No test touches the user's real cache directory."""
    monkeypatch.setenv("FORECAST_CACHE_DIR", str(tmp_path / "cache"))
