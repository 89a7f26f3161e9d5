"""The test forecasts table: one row per (origin, target, step), each value where the arrays put it."""
import numpy as np
import pandas as pd
import pytest

from forecast.intervals import Intervals
from forecast.evaluation import Evaluation


@pytest.mark.parametrize("series", [None, np.array(["s1", "s1", "s2", "s2", "s2"], dtype=object)])
def test_the_table_puts_every_value_of_every_array_on_its_origin_target_and_step_row(series):
    rng = np.random.default_rng(0)
    b, h, targets = 5, 3, ("zeta", "alpha", "Mid")  # not in name order
    index = pd.date_range("2024-01-01", periods=40, freq="h")
    starts = np.array([20, 21, 22, 30, 31])
    arr = lambda *extra: rng.normal(size=(b, h, len(targets), *extra))  # noqa: E731
    ones = np.ones((b, 1, len(targets)))
    iv = Intervals((0.8,), arr()[None], arr()[None], arr()[None], arr()[None], arr(2), (0.1, 0.9))
    ev = Evaluation(targets, index[starts - 1], index.to_numpy()[starts[:, None] + np.arange(h)], arr(),
                    {"model": arr(), "naive": arr()}, arr()[:, 0], ones, iv, ones, lag=h, series=series)
    table = ev.table()
    assert len(table) == b * h * len(targets)
    expected = []
    for i, start in enumerate(starts):
        for t in np.argsort(targets):
            for step in range(h):
                at = (i, step, t)
                row = {"series": series[i]} if series is not None else {}
                expected.append({**row, "origin": index[start - 1], "cutoff": index[start - 1],
                                 "target_date": index[start + step], "step": step + 1,
                                 "target": targets[t], "actual": ev.actual[at], "model": ev.forecasts["model"][at],
                                 "naive": ev.forecasts["naive"][at], "model_q0.1": iv.quantiles[at + (0,)],
                                 "model_q0.9": iv.quantiles[at + (1,)], "model_lower80": iv.lower[0][at],
                                 "model_upper80": iv.upper[0][at], "naive_lower80": iv.naive_lower[0][at],
                                 "naive_upper80": iv.naive_upper[0][at]})
    pd.testing.assert_frame_equal(table, pd.DataFrame(expected), check_dtype=False)


@pytest.mark.parametrize("cell", ["=cmd|' /C calc'!A0", "+1+cmd", "-2+3+cmd|' /C calc'!A0", "@SUM(A1)",
                                  "\tx", "\r=1"])
def test_a_text_cell_that_starts_like_a_formula_is_written_inert(cell, tmp_path):
    from forecast.files import write_csv
    frame = pd.DataFrame({"series": [cell, "store 1"], cell: [1.5, -2.0]},
                         index=pd.Index([cell, "b"], name="id"))
    written = pd.read_csv(write_csv(frame, tmp_path / "t.csv", index_label="id"), dtype=str,
                          keep_default_na=False)
    for text in (*written.columns, *written["id"], *written["series"]):
        assert not text.startswith(("=", "+", "-", "@", "\t", "\r")), text
    assert written["series"].tolist() == ["'" + cell, "store 1"]
    assert [float(v) for v in written.iloc[:, 2]] == [1.5, -2.0]  # numbers stay numbers, negatives too


def test_numbers_written_as_text_and_plain_names_are_left_alone(tmp_path):
    from forecast.files import write_csv
    frame = pd.DataFrame({"series": ["-1.5", "north"], "value": [1, 2]})
    written = pd.read_csv(write_csv(frame, tmp_path / "t.csv"), dtype=str)
    assert written["series"].tolist() == ["-1.5", "north"] and list(written.columns) == ["series", "value"]


def test_dates_at_midnight_are_written_as_days_and_times_to_the_second(tmp_path):
    from forecast.files import write_csv
    frame = pd.DataFrame({"day": pd.to_datetime(["2024-01-31", None]), "at": pd.to_datetime(["2024-01-31 13:00:00.25", None]),
                          "v": [1.0, 2.0]}, index=pd.date_range("2024-02-01", periods=2, name="Date"))
    lines = write_csv(frame, tmp_path / "t.csv", index_label="Date").read_text().splitlines()
    assert lines[1:] == ["2024-02-01,2024-01-31,2024-01-31 13:00:00,1", "2024-02-02,,,2"]


def test_temporary_files_an_interrupted_write_left_are_removed_on_the_next_run_and_fresh_ones_kept(tmp_path):
    import os
    import time

    from forecast.files import remove_stale_temporaries
    old = [tmp_path / ".model.safetensors.abc123.tmp", tmp_path / "checkpoints" / ".last.ckpt.tmp"]
    for path in old:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"x" * 1000)
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    fresh = tmp_path / ".config.json.def456.tmp"  # another process may be writing it now
    fresh.write_text("{}")
    keep = tmp_path / "notes.tmp"  # not one of ours: not hidden
    keep.write_text("mine")
    os.utime(keep, (time.time() - 3600, time.time() - 3600))
    assert remove_stale_temporaries(tmp_path) == (2, 2000)
    assert not any(p.exists() for p in old) and fresh.exists() and keep.exists()


def test_a_run_folder_with_leftovers_is_cleaned_and_says_so(run, tmp_path):
    import os
    import time
    out = tmp_path / "r"
    out.mkdir()
    stale = out / ".test_forecasts.csv.x1.tmp"
    stale.write_bytes(b"x" * 2_000_000)
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    result = run("data", "--sample", "IBM", "--output", out / "ibm.csv")
    assert result.returncode == 0, result.stderr
    assert not stale.exists() and "removed 1 temporary file(s) (2.0 MB)" in result.stderr


def _evaluation(series=None, targets=("y",), seed=0):
    rng = np.random.default_rng(seed)
    b, h = (len(series) if series is not None else 4), 3
    index = pd.date_range("2024-01-01", periods=40, freq="D")
    starts = np.arange(20, 20 + b)
    arr = lambda: rng.normal(size=(b, h, len(targets))) + 10  # noqa: E731
    ones = np.ones((b, 1, len(targets)))
    iv = Intervals((0.8,), arr()[None] - 5, arr()[None] + 5, arr()[None] - 6, arr()[None] + 6)
    return Evaluation(targets, index[starts - 1], index.to_numpy()[starts[:, None] + np.arange(h)], arr(),
                      {"model": arr(), "naive": arr(), "seasonal_naive": arr(), "theta": arr()}, arr()[:, 0], ones,
                      iv, ones, lag=h, series=series)


def test_a_backtest_in_nixtla_shape_is_read_by_utilsforecast_with_the_same_errors():
    from utilsforecast.evaluation import evaluate
    from utilsforecast.losses import mae

    from forecast.outputs import nixtla

    ev = _evaluation(np.array(["a", "a", "b", "b"], dtype=object))
    shaped = nixtla(ev.table(), "GRU")
    assert list(shaped.columns) == ["unique_id", "ds", "cutoff", "y", "GRU", "Naive", "SeasonalNaive", "Theta",
                                    "GRU-lo-80", "GRU-hi-80", "Naive-lo-80", "Naive-hi-80"]
    scored = evaluate(shaped.drop(columns=[c for c in shaped if "-lo-" in c or "-hi-" in c]), metrics=[mae])
    for unique_id, name, key in (("a", "GRU", "model"), ("b", "Naive", "naive"), ("b", "Theta", "theta")):
        keep = ev.series == unique_id
        expected = np.abs(ev.forecasts[key][keep] - ev.actual[keep]).mean()
        got = scored.loc[scored["unique_id"] == unique_id, name].mean()  # one row per cutoff: equal counts
        assert got == pytest.approx(expected), (unique_id, name)
    two = nixtla(_evaluation(targets=("x", "y")).table(), "LSTM", "store")
    assert set(two["unique_id"]) == {"store/x", "store/y"}


def test_a_forecast_in_nixtla_shape_has_one_row_per_series_and_date():
    from forecast.outputs import nixtla

    dates = pd.date_range("2024-02-01", periods=2, freq="D", name="Date")
    panel = pd.DataFrame({"series": ["a", "a", "b", "b"], "load": [1.0, 2, 3, 4], "load_lower80": [0.5, 1, 2, 3],
                          "load_upper80": [2.0, 3, 4, 5], "load_q0.1": [0.0, 0, 0, 0]}, index=dates.append(dates))
    shaped = nixtla(panel, "LSTM")
    assert list(shaped.columns) == ["unique_id", "ds", "LSTM", "LSTM-lo-80", "LSTM-hi-80"]
    assert shaped["unique_id"].tolist() == ["a", "a", "b", "b"] and shaped["LSTM-hi-80"].tolist() == [2, 3, 4, 5]
    one = nixtla(panel[panel["series"] == "a"].drop(columns="series"), "GRU", "IBM")
    assert one["unique_id"].tolist() == ["IBM", "IBM"] and one["GRU"].tolist() == [1, 2]
    quantity = nixtla(pd.DataFrame({"sales_qty": [1.0, 2], "sales_qty_q0.9": [3.0, 4]}, index=dates), "GRU", "shop")
    assert quantity["GRU"].tolist() == [1, 2] and set(quantity["unique_id"]) == {"shop"}  # its own name kept
