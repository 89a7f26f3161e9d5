"""Validation of frames and files: every bad input gives one ForecastError that names the fix."""
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast.errors import ForecastError
from forecast.config import SourceConfig
from forecast.loading import load, load_source
from forecast.files import load_file
from forecast.sources import load_sample, validate_frame
from tests.conftest import make_frame


def test_when_frame_is_clean_then_it_passes_unchanged(frame):
    clean, report = validate_frame(frame)
    pd.testing.assert_frame_equal(clean, frame)
    assert report.rows == 300 and report.filled == 0


def test_when_index_unsorted_then_error_says_sort(frame):
    with pytest.raises(ForecastError, match="not in order.*sort"):
        validate_frame(frame.iloc[[1, 0, *range(2, len(frame))]])  # (newest first throughout is read reversed)


def test_when_index_holds_fractions_then_error_asks_for_dates_not_1970_nanoseconds(frame):
    with pytest.raises(ForecastError, match=r"the index holds numbers \(0.5, ...\), not dates or whole steps"):
        validate_frame(frame.set_axis(np.arange(len(frame)) + 0.5, axis=0))
    clean, _ = validate_frame(frame.set_axis(frame.index.strftime("%Y-%m-%d"), axis=0))  # date text is read
    assert clean.index.equals(frame.index.rename(clean.index.name))


def test_when_timestamp_duplicated_then_error_names_it(frame):
    dup = pd.concat([frame.iloc[:5], frame.iloc[4:]])
    with pytest.raises(ForecastError, match=r"2020-01-05 appears more than once \(1 of 301 rows repeat a timestamp\); "
                       r"keep one row .* totalled per step first \(frame.groupby\(level=0\).sum\(\)\)"):
        validate_frame(dup)  # orders or sales are totalled, not dropped as copies would be


def test_when_column_missing_then_error_lists_available(frame):
    with pytest.raises(ForecastError, match="'price' not found; available: y"):
        validate_frame(frame, ["price"])
    wide = pd.DataFrame(1.0, index=frame.index, columns=[f"sensor{i}" for i in range(1000)])
    with pytest.raises(ForecastError, match=r"available: sensor0, sensor1, .*, sensor19, \.\.\. \(980 more\) \("):
        validate_frame(wide, ["price"])  # a thousand columns: named in part, the error stays a line


def test_when_column_not_numeric_then_error_shows_a_value(frame):
    frame["name"] = "abc"
    with pytest.raises(ForecastError, match="'name' is not numeric.*'abc'"):
        validate_frame(frame, ["y", "name"])


def test_when_short_gap_then_forward_filled_and_counted(frame):
    frame.iloc[10:13, 0] = np.nan
    frame.iloc[20, 0] = np.inf
    clean, report = validate_frame(frame, max_gap=3)
    assert report.filled == 4
    assert clean.iloc[10:13, 0].eq(frame.iloc[9, 0]).all()
    assert np.isfinite(clean.to_numpy()).all()


def test_when_gap_longer_than_limit_then_error_names_first_row(frame):
    frame.iloc[50:60, 0] = np.nan
    with pytest.raises(ForecastError, match="10 missing values in a row from 2020-02-20.*max_gap=5"):
        validate_frame(frame)


def test_when_column_starts_late_then_leading_rows_dropped(frame):
    frame["x"] = frame["y"]
    frame.iloc[:30, 1] = np.nan
    clean, report = validate_frame(frame)
    assert report.dropped_leading == 30 and clean.index[0] == frame.index[30]


def test_when_values_stop_before_the_last_rows_then_those_rows_are_dropped_not_filled(frame):
    frame["x"] = frame["y"]
    frame.iloc[-3:, 0] = np.nan  # the target's last values not yet published
    frame.iloc[-4, 1] = np.nan  # an interior gap is still filled
    clean, report = validate_frame(frame)
    assert report.dropped_trailing == 3 and clean.index[-1] == frame.index[-4]
    assert report.filled == 1 and clean.iloc[-1, 1] == frame.iloc[-5, 1]
    assert "0 leading and 3 trailing incomplete rows dropped" in report.lines()[-1]


def test_a_tz_aware_index_is_read_as_a_file_is_daily_keeping_its_days_hourly_in_utc(frame):
    clean, _ = validate_frame(frame.tz_localize("America/New_York"))
    assert clean.index.tz is None and clean.index.equals(frame.index)  # midnights keep their local day
    hours = pd.date_range("2021-10-30", periods=72, freq="h", tz="Europe/Berlin")  # 02:00 twice on the 31st
    clean, _ = validate_frame(pd.DataFrame({"y": np.arange(72.0)}, index=hours))  # was: "appears more than once"
    assert clean.index.equals(pd.date_range("2021-10-29 22:00", periods=72, freq="h"))
    from forecast.dates import parse_dates
    as_text = pd.Series(hours.astype(str))  # the same hours as a file or a served history writes them
    assert list(parse_dates(as_text)) == list(clean.index)


def test_when_series_given_then_named_column(frame):
    clean, _ = validate_frame(frame["y"])
    assert list(clean.columns) == ["y"]


def test_when_csv_has_date_column_then_it_becomes_the_index(tmp_path, frame):
    path = tmp_path / "s.csv"
    frame.rename_axis("timestamp").to_csv(path)
    loaded = load_file(path)
    assert isinstance(loaded.index, pd.DatetimeIndex) and list(loaded.columns) == ["y"]
    assert np.allclose(loaded["y"], frame["y"])


def test_when_date_column_named_then_it_is_used(tmp_path, frame):
    path = tmp_path / "s.parquet"
    frame.reset_index().rename(columns={"Date": "when"}).to_parquet(path)
    assert load_file(path, date_col="when").index[0] == frame.index[0]
    with pytest.raises(ForecastError, match="date column 'nope' not found"):
        load_file(path, date_col="nope")


def test_a_long_parquet_file_keeps_no_column_of_the_row_labels_pandas_wrote_beside_it(tmp_path, frame):
    long = pd.concat([frame.reset_index().assign(id=name) for name in ("a", "b")])  # row labels 0..299 twice
    long.to_parquet(tmp_path / "long.parquet")  # pandas stores those labels as an index
    assert sorted(load_file(tmp_path / "long.parquet").columns) == ["id", "y"]  # not "index" beside them


@pytest.mark.parametrize("name,text", [("when", False), (None, False), ("Date", True)])
def test_a_parquet_file_whose_dates_are_its_index_loads_as_written_by_to_parquet(tmp_path, frame, name, text):
    path = tmp_path / "indexed.parquet"
    indexed = frame.rename_axis(name)
    if text:  # e.g. a pivot of a CSV: the dates are strings in the index
        indexed.index = indexed.index.strftime("%Y-%m-%d").rename(name)
    indexed.to_parquet(path)  # the index is stored as the file's index
    loaded = load_file(path)
    assert loaded.index.equals(frame.index.rename(loaded.index.name)) and list(loaded.columns) == ["y"]


def test_when_first_column_holds_iso_dates_under_any_name_then_it_is_the_date_column(tmp_path):
    path = tmp_path / "monthly.csv"
    pd.DataFrame({"month": ["2000-01-01", "2000-02-01", "2000-03-01"], "sales": [1.0, 2.0, 3.0]}).to_csv(
        path, index=False)
    loaded = load_file(path)
    assert list(loaded.columns) == ["sales"] and loaded.index[1] == pd.Timestamp("2000-02-01")


def test_a_written_pandas_index_is_dropped_and_a_later_column_of_dates_is_found(tmp_path):
    frame = pd.DataFrame({"id": ["a", "b", "c"], "month": ["2000-01-01", "2000-02-01", "2000-03-01"],
                          "sales": [1.0, 2.0, 3.0]})
    frame.to_csv(tmp_path / "s.csv")  # with pandas' unnamed index column first
    loaded = load_file(tmp_path / "s.csv")
    assert list(loaded.columns) == ["id", "sales"] and loaded.index[2] == pd.Timestamp("2000-03-01")


def test_text_that_reads_as_numbers_is_not_taken_for_dates_but_iso_dates_are():
    from forecast.dates import looks_like_dates

    assert not looks_like_dates(pd.Series(["20000101", "20000102"]))  # dates to pandas, numbers first
    assert looks_like_dates(pd.Series(["2000-01-01", "2000-02-01"]))  # digits and dashes, not a number


def test_numbers_with_a_decimal_comma_or_thousands_commas_are_read_as_numbers(tmp_path):
    (tmp_path / "euro.csv").write_text("Datum;Umsatz;Menge\n2020-01-01;12,5;3\n2020-01-02;-1013,25;4\n")
    euro = load_file(tmp_path / "euro.csv")
    assert euro["Umsatz"].tolist() == [12.5, -1013.25] and euro["Menge"].tolist() == [3, 4]
    (tmp_path / "us.csv").write_text('date,sales\n2020-01-01,"1,234.5"\n2020-01-02,"12,000"\n')
    assert load_file(tmp_path / "us.csv")["sales"].tolist() == [1234.5, 12000.0]
    (tmp_path / "plain.csv").write_text('date,sales,note\n2020-01-01,1.5,"a,b"\n2020-01-02,2.5,c\n')
    plain = load_file(tmp_path / "plain.csv")  # a text column with commas stays text
    assert plain["sales"].tolist() == [1.5, 2.5] and plain["note"].tolist() == ["a,b", "c"]
    (tmp_path / "de.csv").write_text("Datum;Umsatz\n01.01.2020;1.234,50\n02.01.2020;987,25\n13.01.2020;1.010\n")
    german = load_file(tmp_path / "de.csv")  # thousands points, a decimal comma, and dates with points too
    assert german["Umsatz"].tolist() == [1234.5, 987.25, 1010.0]
    assert german.index.strftime("%Y-%m-%d").tolist() == ["2020-01-01", "2020-01-02", "2020-01-13"]


def test_question_marks_and_dashes_are_missing_values_that_validation_fills(tmp_path):
    (tmp_path / "m.csv").write_text("Date;Power\n2020-01-01;1,5\n2020-01-02;?\n2020-01-03;-\n2020-01-04;2,5\n")
    clean, report = validate_frame(load_file(tmp_path / "m.csv"))
    assert clean["Power"].tolist() == [1.5, 1.5, 1.5, 2.5] and report.filled == 2


def test_a_date_column_and_a_time_column_make_one_timestamp(tmp_path):
    (tmp_path / "meter.csv").write_text("Date;Time;Global_active_power\n16/12/2006;17:24:00;4,216\n"
                                        "16/12/2006;17:25:00;5,360\n17/12/2006;00:00:00;?\n")
    loaded = load_file(tmp_path / "meter.csv")
    assert list(loaded.columns) == ["Global_active_power"]
    assert list(loaded.index) == [pd.Timestamp("2006-12-16 17:24"), pd.Timestamp("2006-12-16 17:25"),
                                  pd.Timestamp("2006-12-17 00:00")]


def test_when_no_column_holds_numbers_then_the_error_shows_what_they_hold(tmp_path):
    (tmp_path / "t.csv").write_text("date,v\n2020-01-01,abc\n2020-01-02,def\n")
    with pytest.raises(ForecastError, match=r"no numeric columns \(columns: v \(e.g. 'abc'\)\)"):
        validate_frame(load_file(tmp_path / "t.csv"))


def test_when_no_date_column_then_error_says_date_col(tmp_path):
    path = tmp_path / "s.csv"
    pd.DataFrame({"a": [1.0, 2.0]}).to_csv(path, index=False)
    with pytest.raises(ForecastError, match="--set source.date_col="):
        load_file(path)


def test_when_file_missing_or_unknown_type_then_clear_error(tmp_path):
    with pytest.raises(ForecastError, match=r"file not found: .*none.csv$"):
        load_file(tmp_path / "none.csv")
    with pytest.raises(ForecastError, match=r"^file not found: BRK-B; a ticker is --ticker BRK-B \(in Python, "
                                            r"SourceConfig\(ticker='BRK-B'\)\)$"):
        load("BRK-B")  # load's string is a path
    (tmp_path / "x.xlsx").write_text("x")
    with pytest.raises(ForecastError, match=r"unknown file type '.xlsx'; use .csv or .parquet; from a spreadsheet, save"):
        load_file(tmp_path / "x.xlsx")
    with zipfile.ZipFile(tmp_path / "book.csv", "w") as book:  # an .xlsx is a zip: renamed, it is no CSV
        book.writestr("xl/workbook.xml", "<workbook/>" * 100)
    with pytest.raises(ForecastError, match="book.csv: this is not a text file, so not a CSV"):
        load_file(tmp_path / "book.csv")
    (tmp_path / "prices.csv").write_text("<!DOCTYPE html>\n<html><body>Too Many Requests</body></html>\n")
    with pytest.raises(ForecastError, match="this is a web page .* a download that failed saves one"):
        load(tmp_path / "prices.csv")


def test_when_two_sources_given_then_error():
    with pytest.raises(ForecastError, match="one data source"):
        SourceConfig(ticker="AAPL", sample="MSFT")


def test_a_source_flag_replaces_the_other_source_kinds_and_keeps_the_rest():
    file_source = SourceConfig(sample="MSFT", start="2005-01-01", max_gap=2)
    flagged = file_source.with_flags(path="prices.csv", end="2010-01-01")
    assert flagged.sample is None and flagged.path == "prices.csv"
    assert flagged.start == "2005-01-01" and flagged.end == "2010-01-01" and flagged.max_gap == 2
    long = SourceConfig(path="stores.csv", series_col="store", date_format="%d/%m/%Y", max_gap=2)
    assert long.with_flags(path="newer.csv").series_col == "store"  # another file of the same layout
    sample = long.with_flags(sample="IBM")  # a sample has no series column or date format of a file
    assert (sample.series_col, sample.date_format, sample.max_gap) == (None, None, 2)


def test_max_gap_of_the_source_decides_what_is_filled(frame):
    frame.iloc[10:13] = float("nan")
    with pytest.raises(ForecastError, match="3 missing values in a row"):
        load(frame, max_gap=2)
    assert load(frame, max_gap=3)[1].filled == 3


def test_when_no_source_then_bundled_sample_with_trading_calendar():
    clean, report = load_source(columns=["Close"])
    assert report.calendar == "XNYS" and "bundled sample AAPL" in report.source
    assert clean.index.day_of_week.max() < 5 and len(clean) == 3270


def test_when_sample_ticker_unknown_then_error_lists_them():
    with pytest.raises(ForecastError, match="AAPL, MSFT, IBM, GOOG"):
        load_sample("TSLA")


def test_several_samples_or_tickers_may_be_given_as_a_list():
    assert SourceConfig(sample=["IBM", "MSFT"]) == SourceConfig(sample="IBM,MSFT")
    assert SourceConfig.from_dict({"ticker": ["AAPL", "MSFT"]}).names == ["AAPL", "MSFT"]  # a YAML list
    frames, _ = load(SourceConfig(sample=["IBM", "MSFT"]), ["Close"])
    assert list(frames) == ["IBM", "MSFT"]


def test_sample_has_the_documented_tickers_and_columns():
    for ticker in ("AAPL", "MSFT", "IBM", "GOOG"):
        frame = load_sample(ticker)
        assert list(frame.columns) == ["Open", "High", "Low", "Close", "Volume"]
        assert frame.index.is_monotonic_increasing and not frame.isna().any(axis=None)
    # Adjusted for the 2-for-1 split of 2000-06-21: no halving overnight.
    aapl = load_sample("AAPL")["Close"]
    assert aapl["2000-06-21"] / aapl["2000-06-20"] > 0.8


@pytest.mark.slow
def test_when_installed_from_wheel_then_sample_found(tmp_path):
    """A regular (non-editable) install carries the sample inside the package."""
    root = __import__("pathlib").Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(root)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("forecast-*.whl"))
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import forecast.sources as s; p = s.sample_path(); assert 'site' in str(p), p; "
            "print(len(s.load_sample('MSFT')))")
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(site), "PATH": ""})
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "3270"


# Dates and files from other people.

def _write(tmp_path, text, name="f.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def test_day_first_dates_are_detected_from_the_column():
    from forecast.dates import parse_dates
    index = parse_dates(pd.Series(["31/01/2020", "01/02/2020", "02/02/2020"]))
    assert list(index.strftime("%Y-%m-%d")) == ["2020-01-31", "2020-02-01", "2020-02-02"]
    us = parse_dates(pd.Series(["01/31/2020", "02/01/2020"]))
    assert list(us.strftime("%m-%d")) == ["01-31", "02-01"]


def test_when_every_date_reads_both_ways_then_the_user_must_say(tmp_path):
    monthly = "date,y\n" + "".join(f"01/{m:02d}/2020,{m}\n" for m in range(1, 13))  # dd/mm, all <= 12
    path = _write(tmp_path, monthly)
    with pytest.raises(ForecastError, match="reads both day-first and month-first.*source.dayfirst"):
        load_file(path)
    frame = load_file(path, dayfirst=True)
    assert list(frame.index.month) == list(range(1, 13)) and (frame.index.day == 1).all()
    assert list(load_file(path, date_format="%d/%m/%Y").index) == list(frame.index)


def test_dates_that_read_both_ways_ask_for_the_option_once_with_the_columns_own_separator(tmp_path):
    (tmp_path / "d.csv").write_text("Datum;Wert\n01.02.2020;1\n02.02.2020;2\n")
    with pytest.raises(ForecastError) as error:
        load_file(tmp_path / "d.csv")
    assert "does not hold readable dates" not in str(error.value)  # not wrapped in a second, wrong hint
    assert str(error.value).endswith("(or --set source.date_format=%d.%m.%Y)")


def test_mixed_date_formats_are_named_not_called_unsorted(tmp_path):
    path = _write(tmp_path, "date,y\n2020-01-01,1\n2020-01-02,2\n03/01/2020,3\n")
    with pytest.raises(ForecastError, match="mixes date formats"):
        load_file(path)


def test_daylight_saving_offsets_become_utc(tmp_path):
    path = _write(tmp_path, "time,y\n2021-03-14 01:00:00-05:00,1\n2021-03-14 03:00:00-04:00,2\n"
                            "2021-03-14 04:00:00-04:00,3\n")
    frame = load_file(path)
    assert frame.index.tz is None and list(frame.index.hour) == [6, 7, 8]


def test_a_bom_and_semicolons_are_read(tmp_path):
    path = _write(tmp_path, "Datum;Wert\n2020-01-01;1,5\n2020-01-02;2,5\n", encoding="utf-8-sig")
    frame = load_file(path, date_col="Datum")
    assert list(frame.columns) == ["Wert"] and len(frame) == 2


def test_spaces_around_the_header_names_and_windows_line_ends_are_read(tmp_path):
    path = _write(tmp_path, " month , sales \r\n2020-01 , 1.5\r\n2020-02 , 2.5\r\n")
    frame = load_file(path)  # was: "column(s) 'sales' not found; available: sales"
    assert list(frame.columns) == ["sales"] and frame["sales"].tolist() == [1.5, 2.5]
    assert frame.index.equals(pd.DatetimeIndex(["2020-01-01", "2020-02-01"], name="Date"))


def test_a_header_only_file_says_it_has_no_rows(tmp_path):
    with pytest.raises(ForecastError, match="no data rows"):
        load_file(_write(tmp_path, "date,y\n"))


def test_daily_data_without_weekends_forecasts_business_days():
    from forecast.dates import future_dates, infer_frequency
    index = pd.bdate_range("2023-01-02", periods=60)
    assert infer_frequency(index) == "B"
    assert future_dates(index[-1], 2, "B").day_of_week.max() < 5
    assert infer_frequency(pd.date_range("2023-01-01", periods=60)) == "D"
    assert infer_frequency(index, "XLON") == "XLON"
    trading = pd.DatetimeIndex(pd.read_csv(Path(__file__).parents[1] / "datasets" / "stocks_daily.csv").query("Ticker == 'IBM'").Date)
    assert infer_frequency(trading) == "B"  # holidays make the steps irregular: still no weekend forecast
    assert infer_frequency(pd.date_range("2023-01-01", periods=60).delete([5, 20])) == "D"


@pytest.mark.parametrize("freq,next_dates", [
    ("MS", ["2022-07-01", "2022-08-01", "2022-09-01"]), ("ME", ["2022-07-31", "2022-08-31", "2022-09-30"]),
    ("W-FRI", ["2020-10-02", "2020-10-09", "2020-10-16"]), ("QS", ["2025-01-01", "2025-04-01", "2025-07-01"]),
])
def test_a_missing_row_does_not_turn_months_into_31_day_steps(freq, next_dates):
    from forecast.dates import future_dates, infer_frequency
    start = {"MS": "2010-01-01", "ME": "2010-01-31", "W-FRI": "2015-01-02", "QS": "2010-01-01"}[freq]
    index = pd.date_range(start, periods={"QS": 60}.get(freq, 150 if freq != "W-FRI" else 300), freq=freq)
    index = index.delete(len(index) // 2)  # one month (week, quarter) missing from the file
    dates = future_dates(index[-1], 3, infer_frequency(index))
    assert list(dates.strftime("%Y-%m-%d")) == next_dates
    with pytest.raises(ForecastError, match="unknown calendar"):
        infer_frequency(index, "NOPE")


def test_ids_that_differ_only_as_text_stay_two_series(tmp_path):
    from forecast.config import SourceConfig
    from forecast.loading import load_panel
    rows = [f"2024-01-{d:02d},{sid},{v}" for sid, v in (("01", 1.0), ("1", 50.0), ("001", 9.0))
            for d in range(1, 31)]
    (tmp_path / "ids.csv").write_text("date,store,y\n" + "\n".join(rows) + "\n")
    frames, _ = load_panel(SourceConfig(path=str(tmp_path / "ids.csv"), series_col="store", max_gap=0), ["y"])
    assert list(frames) == ["01", "1", "001"]
    assert frames["1"]["y"].eq(50.0).all() and len(frames["01"]) == 30


@pytest.mark.parametrize("blank", ["", "   ", "NA"])
def test_rows_without_a_series_id_are_refused_with_their_count_not_dropped(tmp_path, blank):
    from forecast.config import SourceConfig
    from forecast.loading import load_panel
    rows = [f"2024-01-{d:02d},{sid},{d}" for sid in ("a", "c") for d in range(1, 31)]
    rows += [f"2024-01-{d:02d},{blank},{d}" for d in range(1, 4)]
    (tmp_path / "blank.csv").write_text("date,store,y\n" + "\n".join(rows) + "\n")
    with pytest.raises(ForecastError, match=r"3 row\(s\) have no series id in 'store' \(the first dated 2024-01-01"):
        load_panel(SourceConfig(path=str(tmp_path / "blank.csv"), series_col="store"), ["y"])


@pytest.mark.parametrize("header", ["date,A,B,A", "date;A;B;A", "date,A,A,A"])
def test_a_header_that_names_a_column_twice_is_refused(tmp_path, header):
    sep = ";" if ";" in header else ","
    body = "\n".join(sep.join([f"2024-01-{d:02d}", "1", "2", "3"]) for d in range(1, 11))
    (tmp_path / "dup.csv").write_text(header + "\n" + body + "\n")
    with pytest.raises(ForecastError, match=r"the header names 'A' \([23] times\)"):
        load_file(tmp_path / "dup.csv")


@pytest.mark.parametrize("offset", ["-05:00", "+09:00", "Z"])
def test_daily_dates_with_a_utc_offset_keep_their_own_day(offset):
    from forecast.dates import parse_dates
    days = pd.bdate_range("2024-01-01", periods=10)  # Monday to Friday
    index = parse_dates(pd.Series([f"{d:%Y-%m-%d}T00:00:00{offset}" for d in days]))
    assert list(index) == list(days) and set(index.dayofweek) <= set(range(5))


def test_a_tz_aware_daily_index_keeps_its_days_and_an_hourly_one_becomes_utc():
    from forecast.dates import parse_dates
    daily = pd.date_range("2024-03-08", periods=5, freq="D", tz="America/New_York")  # across DST
    assert list(parse_dates(pd.Series(daily))) == list(pd.date_range("2024-03-08", periods=5, freq="D"))
    hourly = pd.date_range("2024-01-01 09:00", periods=3, freq="h", tz="America/New_York")
    assert parse_dates(pd.Series(hourly))[0] == pd.Timestamp("2024-01-01 14:00")


@pytest.mark.parametrize("column,ids", [("store", ["a", "b", "c"]), ("sensor_id", [101, 202]), ("site", ["x", "y"])])
def test_a_long_file_without_series_col_is_told_which_column_names_its_series(tmp_path, column, ids):
    rows = [f"2024-01-{d:02d},{sid},{d}" for sid in ids for d in range(1, 21)]
    (tmp_path / "long.csv").write_text(f"date,{column},y\n" + "\n".join(rows) + "\n")
    with pytest.raises(ForecastError, match=f"a long file of several series; name it with --series-col {column}"):
        load_source(SourceConfig(path=str(tmp_path / "long.csv")), ["y"])
    with pytest.raises(ForecastError) as hint:  # the Python it names exists
        validate_frame(load_file(tmp_path / "long.csv"), ["y"])
    import forecast.panel
    assert f"forecast.panel.from_long(frame, '{column}')" in str(hint.value) and forecast.panel.from_long


def test_a_line_ending_in_a_separator_adds_no_column_and_a_column_of_nothing_is_named(tmp_path):
    (tmp_path / "excel.csv").write_text("date,sales,\n" + "".join(f"2024-01-{d:02d},{d},\n" for d in range(1, 21)))
    frame, report = load_source(SourceConfig(path=str(tmp_path / "excel.csv")))
    assert list(frame.columns) == ["sales"] and report.rows == 20
    (tmp_path / "notes.csv").write_text("date,sales,notes\n" + "".join(f"2024-01-{d:02d},{d},\n" for d in range(1, 21)))
    with pytest.raises(ForecastError, match="no complete rows; column .notes. holds no value: leave it out"):
        load_source(SourceConfig(path=str(tmp_path / "notes.csv")))


def test_true_duplicate_dates_in_one_series_still_ask_for_one_row_per_timestamp():
    frame = make_frame(20)
    frame = pd.concat([frame, frame.iloc[[5]]]).sort_index()
    with pytest.raises(ForecastError, match="appears more than once"):
        validate_frame(frame)


@pytest.mark.parametrize("value,message", [
    (1e308, "holds 1e+308, beyond what the network computes with"),
    (-5e35, "holds 5e+35, beyond what the network computes with"),
])
def test_a_value_beyond_what_the_network_computes_with_is_refused_with_how_to_rescale(value, message):
    frame = make_frame(50)
    frame.iloc[10, 0] = value
    with pytest.raises(ForecastError, match=re.escape(message) + r".*rescale it"):
        validate_frame(frame)


@pytest.mark.parametrize("scale", [1e-300, 1e-40])
def test_values_too_small_to_tell_from_zero_are_refused_not_scored_with_an_astronomical_mase(scale):
    frame = make_frame(50) * scale
    with pytest.raises(ForecastError, match="too small for the network to tell from 0"):
        validate_frame(frame)
    validate_frame(make_frame(50) * 1e-6)  # small but fine


def test_a_huge_static_number_is_refused_instead_of_becoming_a_useless_column():
    from forecast.preprocess import static_encoding
    table = pd.DataFrame({"size": [1e308, 1.0, 2.0]}, index=["a", "b", "c"])
    with pytest.raises(ForecastError, match="static columns: column 'size' holds 1e\\+308"):
        static_encoding(table)


def test_a_file_without_the_default_target_forecasts_its_only_numeric_column_in_python_too(tmp_path):
    from forecast.config import DataConfig
    from forecast.loading import load_inputs

    frame = make_frame(cols=("sales", "Open", "Volume"))
    frame[["sales"]].rename_axis("month").to_csv(tmp_path / "one.csv")
    frames, report, data = load_inputs(tmp_path / "one.csv", DataConfig())
    assert data.targets == ("sales",) and list(frames["one"].columns) == ["sales"]
    assert report.notes == ["target: sales, the file's only numeric column (--target picks another)"]
    with pytest.raises(ForecastError, match="column"):  # a target named by the user is not replaced
        load_inputs(SourceConfig(path=str(tmp_path / "one.csv")), DataConfig(), target_given=True)
    frame[["Open", "Volume"]].rename_axis("month").to_csv(tmp_path / "two.csv")
    with pytest.raises(ForecastError, match=r"which column to forecast\? .*Open, Volume"):
        load_inputs(SourceConfig(path=str(tmp_path / "two.csv")), DataConfig())


def test_when_data_given_to_fit_lack_the_default_target_then_their_one_numeric_column_is_forecast():
    from forecast.config import DataConfig
    from forecast.loading import frame_target

    frame = make_frame(n=30, cols=("y",))
    long = frame.rename_axis("ds").reset_index().assign(unique_id="a")  # Nixtla's shape, ds first
    steps = frame.reset_index(drop=True).assign(step=range(1, 31))  # as pd.read_csv gives a file of steps
    for given in (long, frame["y"], {"a": frame, "b": frame}, steps):
        data, note = frame_target(given, DataConfig(seq_len=5))
        assert data.targets == ("y",) and data.seq_len == 5, type(given)
        assert note == "target: y, the data's only numeric column (DataConfig(targets=...))"
    assert frame_target(frame["y"].rename(None), DataConfig())[0].targets == ("value",)
    with_feature = make_frame(n=30, cols=("y", "temp"))
    assert frame_target(with_feature, DataConfig(features=("temp",)))[0].targets == ("y",)
    for kept, data in ((with_feature, DataConfig()),  # two candidates: the missing column's error names them
                       (frame, DataConfig(targets=("z",))),  # a target named by the user is never replaced
                       (make_frame(n=30, cols=("Close", "y")), DataConfig())):
        assert frame_target(kept, data) == (data, None)


def test_one_column_named_as_a_string_is_that_column_not_its_letters():
    frame = make_frame(cols=("y", "yy"))
    assert list(load(frame, "yy")[0]["series"].columns) == ["yy"]


@pytest.mark.parametrize("index,expected", [
    (pd.date_range("2021-03-01", periods=200, freq="h").delete(range(50, 60)), (10, 1, "2021-03-03 01:00:00", 10)),
    (pd.date_range("2010-01-31", periods=40, freq="ME").delete([5, 6, 20]), (3, 2, "2010-05-31", 2)),
    (pd.date_range("2020-01-01", periods=60, freq="D").delete([3, 9]), (2, 2, "2020-01-03", 1)),
    (pd.date_range("2020-01-01", periods=60, freq="QS").delete([7]), (1, 1, "2021-07-01", 1)),  # 2021-10 missing
])
def test_timestamps_missing_from_a_series_on_a_fixed_step_are_counted_by_hole(index, expected):
    from forecast.dates import full_grid, holes, stamp
    missing, count, after, longest = holes(index)
    assert (missing, count, stamp(after), longest) == expected
    assert full_grid(index).isin(index).sum() == len(index) and len(full_grid(index)) == len(index) + missing


@pytest.mark.parametrize("index", [
    pd.date_range("2020-01-01", periods=300, freq="B").delete([10, 11, 40]),  # trading days: holidays are closures
    pd.bdate_range("2020-01-01", periods=300).append(pd.DatetimeIndex(["2020-11-15"])).sort_values(),  # a Sunday session
    pd.date_range("2020-01-06 09:00", periods=400, freq="h").to_series().between_time("09:00", "16:00").index
    .to_series()[lambda i: i.index.dayofweek < 5].index,  # trading hours: nights and weekends are closures
    pd.DatetimeIndex(pd.Timestamp("2020-01-01") + pd.to_timedelta(np.cumsum(np.arange(1, 40) % 7 + 1), unit="min")),
    pd.date_range("2020-01-01", periods=100, freq="D"),  # complete
])
def test_data_without_a_fixed_step_or_without_holes_have_none(index):
    from forecast.dates import full_grid, holes
    assert holes(index) is None and full_grid(index) is None


def test_missing_timestamps_are_warned_of_or_inserted_as_missing_values_when_asked(frame):
    holed = frame.drop(frame.index[100:103])
    kept, report = validate_frame(holed, ["y"])
    assert len(kept) == len(frame) - 3 and report.missing_dates == 3
    assert "3 timestamps missing at the data's step (1 hole; the longest, 3 steps" in report.warnings[0]
    assert "source.fill_missing_dates=true" in report.warnings[0]
    filled, report = validate_frame(holed, ["y"], fill_dates=True)
    assert filled.index.equals(frame.index) and not report.warnings and report.filled == 3
    assert filled["y"].iloc[100:103].tolist() == [frame["y"].iloc[99]] * 3  # forward-filled, as any missing value
    assert "(of 3 rows inserted at missing timestamps)" in report.lines()[-1]
    with pytest.raises(ForecastError, match="3 missing values in a row .* more than max_gap=2"):
        validate_frame(holed, ["y"], max_gap=2, fill_dates=True)
    panel, report = load({"a": holed, "b": frame, "c": holed.drop(holed.index[10])}, ["y"])
    assert report.missing_dates == 7 and len(report.warnings) == 1
    assert report.warnings[0].startswith("2 of 3 series miss timestamps, 7 in all; the first, series a: 3 timestamps")
    panel, report = load({"a": holed, "b": frame}, ["y"], fill_missing_dates=True)
    assert len(panel["a"]) == len(frame) and not report.warnings


def test_a_frame_with_row_numbers_and_a_date_column_is_indexed_by_its_dates_as_a_file_is(tmp_path):
    days = pd.date_range("2020-01-01", periods=60, freq="MS")
    read = pd.DataFrame({"month": days.strftime("%Y-%m"), "sales": np.arange(60.0)})  # pd.read_csv's shape
    panel, report = load(read)
    assert panel["series"].index.equals(pd.DatetimeIndex(days, name="Date")) and list(panel["series"]) == ["sales"]
    assert report.notes == ["DataFrame: the time axis is column 'month' (the index holds row numbers)"]
    nixtla_one = pd.DataFrame({"ds": days, "y": np.arange(60.0)})  # Nixtla's frame without unique_id
    assert load(nixtla_one)[0]["series"].index.equals(pd.DatetimeIndex(days, name="Date"))
    steps, report = load(pd.DataFrame({"y": np.arange(60.0)}))  # no date column: row numbers are steps
    assert report.steps and not report.notes
    weekday = pd.DataFrame({"day": np.arange(60) % 7 + 1, "y": np.arange(60.0)})  # a feature named like dates
    kept, report = load(weekday)
    assert list(kept["series"].columns) == ["day", "y"] and report.steps and not report.notes
    named = pd.DataFrame({"month": days.strftime("%Y-%m"), "y": np.arange(60.0)}, index=pd.RangeIndex(60, name="t"))
    with pytest.raises(ForecastError, match="not numeric"):  # an index the user named is the user's axis
        load(named, ["y", "month"])


@pytest.mark.parametrize("where", ["sales.csv", SourceConfig(sample="IBM")])
def test_fit_given_where_the_data_are_instead_of_the_data_says_to_load_them_first(where):
    from forecast import DataConfig, StudySpec, fit, tune
    with pytest.raises(ForecastError, match=r"not data: read it with forecast.load\(\.\.\.\)"):
        fit(where, DataConfig(targets=("y",)))
    with pytest.raises(ForecastError, match="tune takes a StudySpec first, then the data; got a DataFrame first"):
        tune(make_frame(), StudySpec())


def test_a_column_mostly_forward_filled_is_warned_of_since_its_test_would_score_copies(frame):
    every_other = frame.copy()
    every_other.iloc[1::2, 0] = np.nan  # a series recorded every other row
    kept, report = validate_frame(every_other, ["y"])
    assert report.filled == 149 and report.dropped_trailing == 1 and len(report.warnings) == 1
    assert report.warnings[0].startswith("DataFrame: 50% of the values of column 'y' are missing and forward-filled")
    few = frame.copy()
    few.iloc[[10, 20], 0] = np.nan
    assert not validate_frame(few, ["y"])[1].warnings  # a few missing values: filled and counted, no warning
    _, report = load({f"s{i}": every_other for i in range(5)} | {"clean": frame}, ["y"])
    assert len(report.warnings) == 4 and report.warnings[0].startswith("series s0: 50% of the values")
    assert report.warnings[-1] == "and 2 more series with over 10% of a column forward-filled"


def test_an_hour_repeated_by_the_autumn_clock_change_in_local_times_says_what_to_give():
    local = pd.date_range("2021-10-30", periods=72, freq="h", tz="Europe/Berlin").tz_localize(None)  # 02:00 twice
    with pytest.raises(ForecastError, match="02:00:00 appears more than once .*if the clocks went back that night, "
                                            "give the times in UTC or with their offset"):
        validate_frame(pd.DataFrame({"y": np.arange(72.0)}, index=local))
    daily = pd.DatetimeIndex(["2021-10-30", "2021-10-31", "2021-10-31"])  # a plain repeat: no word of clocks
    with pytest.raises(ForecastError) as error:
        validate_frame(pd.DataFrame({"y": [1.0, 2.0, 3.0]}, index=daily))
    assert "clocks" not in str(error.value)


def test_frames_as_pandas_users_hold_them_load_periods_levels_and_decimals():
    from decimal import Decimal

    values = np.arange(24.0) + 10
    months = pd.Series(values, index=pd.period_range("2020-01", periods=24, freq="M"), name="y")
    frames, _ = load(months)  # a PeriodIndex: each month at its start, as a file's "2020-01" reads
    assert frames["series"].index[:2].tolist() == [pd.Timestamp("2020-01-01"), pd.Timestamp("2020-02-01")]
    days = pd.date_range("2020-01-01", periods=24)
    long = pd.DataFrame({"store": ["a"] * 24 + ["b"] * 24, "day": list(days) * 2, "y": np.r_[values, values + 1]})
    for levels in (["store", "day"], ["day", "store"]):  # (series, time) as groupby makes, or (time, series)
        frames, _ = load(long.set_index(levels).sort_index())
        assert sorted(frames) == ["a", "b"] and frames["b"]["y"].tolist() == (values + 1).tolist()
        assert frames["a"].index.equals(days.rename("day"))
    decimals = pd.DataFrame({"y": [Decimal(str(v)) for v in values], "label": "x"}, index=days)  # as SQL gives NUMERIC
    assert load(decimals)[0]["series"]["y"].tolist() == values.tolist()
    with pytest.raises(ForecastError, match="column 'label' is not numeric"):  # text stays text
        load(decimals, ["y", "label"])


def test_a_nasdaq_export_reads_newest_first_rows_and_dollar_amounts_as_prices(tmp_path):
    days = pd.bdate_range("2025-01-02", periods=30)[::-1]  # newest first, as Nasdaq's and investing.com's files run
    rows = [f'{d:%m/%d/%Y},"${100 + 50 * i:,.2f}",{1000 * i},-${i}.50,{i / 10 - 1:.2f}%,{i + 0.5}{"KMB"[i % 3]}'
            for i, d in enumerate(days)]
    (tmp_path / "HistoricalData.csv").write_text("Date,Close/Last,Volume,Change,Change %,Vol.\n" + "\n".join(rows) + "\n")
    frame, report = load_source(SourceConfig(path=str(tmp_path / "HistoricalData.csv")))
    assert frame.index.is_monotonic_increasing and frame.index[0] == pd.Timestamp("2025-01-02")
    assert frame["Close/Last"].iloc[0] == 1550.0 and frame["Change"].iloc[-1] == -0.5  # "$1,550.00", "-$0.50"
    assert frame["Change %"].iloc[0] == pytest.approx(1.9) and frame["Change %"].iloc[-1] == -1.0  # "1.90%", "-1.00%"
    assert frame["Vol."].tolist()[:3] == [29.5e9, 28.5e6, 27.5e3] and frame["Vol."].iloc[-1] == 500  # "29.5B" ... "0.5K"
    assert report.notes == [f"{tmp_path / 'HistoricalData.csv'}: the rows run newest first; read oldest first"]
    jumbled = make_frame(n=10).iloc[[0, 2, 1, 3, 4, 5, 6, 7, 8, 9]]
    with pytest.raises(ForecastError, match="dates are not in order"):  # out of order, not reversed: refused
        validate_frame(jumbled)
    stacked = pd.concat([make_frame(n=20).iloc[::-1].assign(store=s) for s in ("a", "b")])
    with pytest.raises(ForecastError, match="its dates repeat once per value of column 'store'"):
        validate_frame(stacked, ["y"])


def test_a_csv_excel_saved_in_windows_western_code_page_is_read_with_its_accents(tmp_path):
    rows = ["Date;Température;Ventes (€)"] + [f"2024-01-{d:02d};{d},5;{100 + d},25" for d in range(1, 29)]
    (tmp_path / "ventes.csv").write_bytes("\n".join(rows).encode("cp1252"))  # not UTF-8: é and € are one byte
    frame = load_file(tmp_path / "ventes.csv")
    assert list(frame.columns) == ["Température", "Ventes (€)"] and frame["Ventes (€)"].iloc[0] == 101.25


def test_excels_unicode_text_export_utf16_with_tabs_is_read(tmp_path):
    rows = ["unique_id\tds\tVentes (€)"] + [f"shop\t2024-01-{d:02d}\t{100 + d}" for d in range(1, 29)]
    (tmp_path / "ventes.txt").write_bytes("\r\n".join(rows).encode("utf-16"))  # a byte-order mark, then UTF-16
    frames, _ = load(tmp_path / "ventes.txt")  # Nixtla's columns found in the header: a long file
    assert list(frames) == ["shop"] and frames["shop"]["Ventes (€)"].iloc[-1] == 128


def test_a_true_false_flag_is_a_0_1_input_and_pandas_missing_values_are_missing(tmp_path):
    rows = [f"2024-01-{d:02d},{d},{'TRUE' if d % 7 == 0 else 'FALSE'}" for d in range(1, 29)]
    (tmp_path / "promo.csv").write_text("date,sales,promo\n" + "\n".join(rows) + "\n")
    frame, _ = load_source(SourceConfig(path=str(tmp_path / "promo.csv")))  # every column, as `forecast data` reads
    assert frame["promo"].tolist()[5:8] == [0.0, 1.0, 0.0]
    index = pd.date_range("2024-01-01", periods=30)
    nullable = pd.DataFrame({"y": pd.array([*range(29), None], dtype="Int64"),
                             "promo": pd.array([True, None, *[False] * 28], dtype="boolean")}, index=index)
    frame, report = validate_frame(nullable)
    assert frame["promo"].tolist()[:3] == [1.0, 1.0, 0.0] and report.filled == 1 and report.dropped_trailing == 1


def test_freds_dot_is_a_missing_value_and_a_column_of_text_is_shown_by_the_value_that_is_not_a_number(tmp_path):
    rows = [f"{2000 + i // 12}-{i % 12 + 1:02d}-01,{'.' if i == 50 else 4 + i % 7 / 10}" for i in range(120)]
    (tmp_path / "UNRATE.csv").write_text("observation_date,UNRATE\n" + "\n".join(rows) + "\n")
    frame, report = load_source(SourceConfig(path=str(tmp_path / "UNRATE.csv")))
    assert report.filled == 1 and frame["UNRATE"].iloc[50] == frame["UNRATE"].iloc[49]
    (tmp_path / "odd.csv").write_text("date,rate\n2020-01-01,4.0\n2020-02-01,n/a!\n2020-03-01,4.2\n")
    with pytest.raises(ForecastError, match=r"rate \(e.g. 'n/a!'\)"):  # not its first value, 4.0
        load_source(SourceConfig(path=str(tmp_path / "odd.csv")))


def test_a_title_above_the_header_and_a_totals_line_below_the_data_are_named_with_their_lines(tmp_path):
    days = "".join(f"2024-01-{d:02d},{d}\n" for d in range(1, 29))
    (tmp_path / "report.csv").write_text("Sales report, generated 2024-02-01\n\ndate,sales\n" + days)
    (tmp_path / "titled.csv").write_text("Sales report\n\ndate,sales\n" + days)
    (tmp_path / "total.csv").write_text("date,sales\n" + days + "Total,406\n")
    with pytest.raises(ForecastError, match="line 1 \\('Sales report'\\) names one column but line 3 .* delete the lines above"):
        load_file(tmp_path / "titled.csv")
    with pytest.raises(ForecastError, match="total.csv: date column 'date': 'Total' is not a date; only its last line"):
        load_file(tmp_path / "total.csv")
    with pytest.raises(ForecastError, match="the row 'date, sales' looks like the header: delete the lines above"):
        load_file(tmp_path / "report.csv")  # a title with a comma reads as a header of two columns


def test_dates_running_across_the_header_are_named_with_how_to_turn_the_file(tmp_path):
    years = ",".join(str(y) for y in range(1960, 2000))  # the World Bank's layout: a row per country
    (tmp_path / "wb.csv").write_text(f"Country Name,Country Code,{years}\n" + "".join(
        f"C{k},C{k}X,{','.join(str(i + k) for i in range(40))}\n" for k in range(3)))
    with pytest.raises(ForecastError, match=r"\(columns: Country Name, Country Code, 1960, .* 1969, \.\.\.\); the dates "
                       r"run across the header \(1960, \.\.\.\): give one row per date, e\.g\. with pandas frame\.melt\("
                       r"id_vars=\['Country Name', 'Country Code'\], var_name='date'\), and --series-col 'Country Name'$"):
        load_file(tmp_path / "wb.csv")
    days = ",".join(f"d_{d}" for d in range(1, 40))  # days numbered, not dated: no such guess
    (tmp_path / "m5.csv").write_text(f"id,{days}\nX,{','.join('1' * 39)}\n")
    with pytest.raises(ForecastError, match=r"no date column found; .*d_11, \.\.\.\)$"):
        load_file(tmp_path / "m5.csv")


def test_series_ids_that_look_like_volumes_stay_names(tmp_path):
    from forecast.loading import load_panel
    rows = [f"2024-01-{d:02d},{sid},{d}" for sid in ("12B", "3M") for d in range(1, 29)]
    (tmp_path / "flats.csv").write_text("date,flat,kwh\n" + "\n".join(rows) + "\n")
    frames, _ = load_panel(SourceConfig(path=str(tmp_path / "flats.csv"), series_col="flat"), ["kwh"])
    assert list(frames) == ["12B", "3M"]  # not 12e9 and 3e6


def test_an_arrow_table_or_a_polars_frame_is_read_as_the_pandas_frame_it_converts_to():
    import pyarrow as pa  # polars frames convert the same way (`to_pandas`); polars is not a dependency
    days = pd.date_range("2024-01-01", periods=30)
    long = pd.DataFrame({"unique_id": ["a"] * 30 + ["b"] * 30, "ds": list(days) * 2, "y": np.arange(60.0)})
    frames, _ = load(pa.Table.from_pandas(long, preserve_index=False))
    assert list(frames) == ["a", "b"] and frames["b"]["y"].iloc[0] == 30.0
    from forecast.config import DataConfig
    from forecast.loading import frame_target
    assert frame_target(pa.Table.from_pandas(long), DataConfig())[0].targets == ("y",)


def test_a_column_named_in_another_case_or_mistyped_is_answered_with_the_one_meant(tmp_path):
    frame = make_frame(n=30, cols=("Close", "Volume"))
    with pytest.raises(ForecastError, match=r"column\(s\) 'close' not found \(did you mean 'Close'\?\); available"):
        validate_frame(frame, ["close"])
    with pytest.raises(ForecastError, match=r"not found \(did you mean 'Volume' for 'volume', 'Close' for 'Clsoe'\?\)"):
        validate_frame(frame, ["volume", "Clsoe", "temperature"])  # nothing near 'temperature': no guess
    with pytest.raises(ForecastError, match=r"'Vol' not found \(did you mean 'Volume'\?\)"):
        validate_frame(frame, ["Vol"])  # the start of one name
    with pytest.raises(ForecastError, match=r"'C' not found; available"):
        validate_frame(frame.assign(Cash=1.0), ["C"])  # too short a start to guess from
    from forecast.panel import from_long
    with pytest.raises(ForecastError, match=r"series column 'Store' not found \(did you mean 'store'\?\)"):
        from_long(frame.assign(store="a"), "Store")
    frame.rename_axis("date").to_csv(tmp_path / "prices.csv")
    with pytest.raises(ForecastError, match=r"date column 'Date' not found \(did you mean 'date'\?\)"):
        load_file(tmp_path / "prices.csv", date_col="Date")
