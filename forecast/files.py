"""Files in and out: reading the CSV and Parquet files people have into a frame indexed by its dates
(validated after, by `forecast.sources.validate_frame`), whatever their separator, encoding, number
style or date column; and writing ours safely: atomic replacement, strict JSON, and CSV or Parquet
tables whose text cells a spreadsheet will not run.
"""
from __future__ import annotations

import csv
import errno
import gzip
import json
import math
import os
import re
import shlex
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.dates import looks_like_dates, parse_dates, plain
from forecast.errors import ForecastError, listed, meant

DATE_NAMES = ("date", "datetime", "timestamp", "time", "ds", "day", "step")  # step: the integer axis as written


def load_file(path: str | Path, date_col: str | None = None, date_format: str | None = None,
              dayfirst: bool | None = None, text_cols: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a CSV or Parquet file into a frame indexed by its date column (not yet validated).

    CSV files (UTF-8, UTF-16 or Windows' cp1252, as Excel saves them) may start with a byte-order mark
    and separate fields by `,`, `;`, tab or `|`; an unnamed column of row numbers (a pandas index
    written with the data) or of nothing is dropped; `MISSING` marks are missing values; numbers may
    have a decimal comma (12,5: not with `,` separators), thousands commas (1,234.5), a currency or
    percent sign ($1,234.50, -0.5%) or a K/M/B suffix (45.6M); rows may run newest first (read
    reversed by `validate_frame`); a date column beside a `Time` column of clock times makes one
    timestamp. Dates are read by `forecast.dates.parse_dates` (`date_format`, `dayfirst` settle
    ambiguous ones). `text_cols` are read as written (series ids: `01` and `1` are two series, not
    one number). A header that names a column twice is refused: which of the two was meant cannot
    be known; a title above the header, a totals line below the data, a web page or a file that is
    not text are named for what they are.
    """
    path = Path(path)
    if path.is_dir():
        raise ForecastError(f"{path} is a folder; give a CSV or Parquet file")
    if not path.is_file():
        ticker = not path.suffix and re.fullmatch(r"\^?[A-Za-z][A-Za-z0-9.=-]{0,9}", str(path))  # AAPL, ^GSPC, BRK-B
        raise ForecastError(f"file not found: {path}" + (f"; a ticker is --ticker {path} (in Python, "
                            f"SourceConfig(ticker={str(path)!r}))" if ticker else ""))
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
            if not isinstance(frame.index, pd.RangeIndex):  # to_parquet kept an index: dates are data, row labels not
                frame = frame.reset_index(drop=frame.index.name is None and not isinstance(frame.index, pd.DatetimeIndex))
        elif suffix in (".csv", ".txt", ".gz", ".tsv"):
            text, encoding = {c: str for c in text_cols}, _encoding(path)
            sep = _separator(path, encoding) if suffix != ".gz" else ","
            try:
                frame = pd.read_csv(path, sep=sep, encoding=encoding, na_values=MISSING, dtype=text)
            except UnicodeDecodeError:  # not UTF-8: Windows' Western code page, in which Excel saves a "CSV"
                encoding = "cp1252"  # on many European machines (é, € as single bytes)
                frame = pd.read_csv(path, sep=sep, encoding=encoding, na_values=MISSING, dtype=text)
            _check_header(path, sep, frame, encoding)
            style, numbers = _number_style(frame, sep)
            if numbers:  # read again in that style; the other columns (dates: 01.02.2024) as they were
                styled = pd.read_csv(path, sep=sep, encoding=encoding, na_values=MISSING, dtype=text, **style)
                frame = frame.assign(**{str(c): styled[c] for c in numbers})
            frame = frame.assign(**_with_units(frame.drop(columns=list(text), errors="ignore")))  # $189.95, 0.5%, 45.6M
            frame = frame.rename(columns=lambda c: c.strip() if isinstance(c, str) else c)  # "date , load " headers
            unnamed = [c for c in frame.columns if str(c).startswith("Unnamed: ")]  # a pandas index, a line's last ","
            frame = frame.drop(columns=[c for c in unnamed if (frame[c].to_numpy() == np.arange(len(frame))).all()
                                        or frame[c].isna().all()])
        else:
            sheet = "; from a spreadsheet, save the sheet as CSV (UTF-8)" if suffix in (".xlsx", ".xls", ".ods") else ""
            raise ForecastError(f"{path}: unknown file type {suffix!r}; use .csv or .parquet{sheet}")
    except ForecastError:
        raise
    except Exception as e:  # parser errors come in many types; all mean the same to a user
        raise ForecastError(f"{path}: cannot read it as {suffix.lstrip('.')} ({str(e).splitlines()[0]})") from None
    if frame.empty:
        raise ForecastError(f"{path}: no data rows (columns: {listed(frame.columns) or 'none'})")
    col = _find_date_column(frame, date_col, str(path))
    dates, used = frame[col], [col]
    clock = _clock_column(frame, col) if not dates.astype(str).head(50).str.contains(":").any() else None
    if clock is not None:  # a date column and a time-of-day column, as many meter exports write them
        dates, used = dates.astype(str) + " " + frame[clock].astype(str), [col, clock]
    try:
        index = parse_dates(dates, str(col), date_format, dayfirst)
    except ForecastError as e:  # which file, and whether only its last line is no date (a total, a note)
        read = pd.to_datetime(dates.astype(str), format="mixed", errors="coerce")
        last = "; only its last line is not a date: a total or a note? remove it" if len(read) > 2 and \
            read.iloc[:-1].notna().all() and pd.isna(read.iloc[-1]) else ""
        raise ForecastError(f"{path}: {e}{last}") from None
    return frame.drop(columns=used).set_index(index)


def file_columns(path: str | Path) -> list[str]:
    """The column names a CSV's header or a Parquet file's schema gives; [] when it cannot be read
    (reading it properly says why)."""
    path = Path(path)
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq
            return list(pq.read_schema(path).names)
        if path.suffix.lower() in (".csv", ".txt", ".tsv"):
            encoding = _encoding(path)
            with open(path, encoding=encoding, errors="replace", newline="") as f:
                return [name.strip() for name in next(csv.reader(f, delimiter=_separator(path, encoding)), [])]
    except (OSError, UnicodeDecodeError, ValueError, ImportError):
        pass
    return []


def _check_header(path: Path, sep: str, frame: pd.DataFrame, encoding: str) -> None:
    """pandas renames a repeated column name (`A`, `A.1`); the header as written says which repeat."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rt", encoding=encoding, errors="replace", newline="") as f:
        header = next(csv.reader(f, delimiter=sep), [])
    if len(header) != len(frame.columns):
        return
    seen = Counter(name.strip() for name in header)
    twice = [f"{name!r} ({n} times)" for name, n in seen.items() if n > 1 and name]
    if twice:
        raise ForecastError(f"{path}: the header names {', '.join(twice)}; rename the columns so that each "
                            "name is used once (which one was meant cannot be known)")


def is_text(values: pd.Series) -> bool:
    """A column of text: pandas 3's string dtype, or pandas 2's object one (not "string" to pandas 2
    once a value is missing)."""
    return pd.api.types.is_string_dtype(values) or pd.api.types.is_object_dtype(values)


def _clock_column(frame: pd.DataFrame, date_col) -> str | None:
    """The column named `time` (any case) beside the date column when it holds times of day."""
    clock = r"\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?"
    return next((c for c in frame.columns if c != date_col and str(c).strip().lower() == "time" and
                 is_text(frame[c]) and frame[c].dropna().astype(str).head(50).str.fullmatch(clock).all()), None)


def _find_date_column(frame: pd.DataFrame, date_col: str | None, name: str) -> str:
    if date_col is not None and date_col not in frame.columns:
        raise ForecastError(f"{name}: date column {date_col!r} not found{meant([date_col], frame.columns)}; "
                            f"columns: {listed(frame.columns)}")
    found = date_col if date_col is not None else date_column(frame)
    if found is None:  # a title above the header makes the header a row; dates may run across the header
        below = next((row for row in frame.head(10).astype(str).itertuples(index=False)
                      if any(cell.strip().lower() in DATE_NAMES for cell in row)), None)
        header = pd.Series([str(c) for c in frame.columns])
        across = header[pd.to_datetime(header, errors="coerce", format="mixed").notna() | header.str.fullmatch(r"\d{4}")]
        ids = list(header[:across.index[0]]) if len(across) > len(header) / 2 else []  # the columns naming each row
        hint = f"; the row {', '.join(below)!r} looks like the header: delete the lines above it" if below else (
            f"; the dates run across the header ({across.iloc[0]}, ...): give one row per date, e.g. with pandas "
            f"frame.melt(id_vars={ids}, var_name='date'), and --series-col {shlex.quote(ids[0])}" if ids else "")
        raise ForecastError(f"{name}: no date column found; name it with --set source.date_col=NAME (columns: "
                            f"{', '.join(header[:12])}{', ...' if len(header) > 12 else ''}){hint}")
    return found


def date_column(frame: pd.DataFrame):
    """The column holding the dates: one named like them (`DATE_NAMES`) or of datetimes, else the first
    text column whose values all read as dates; None when there is none."""
    named = [c for c in frame.columns if str(c).strip().lower() in DATE_NAMES or
             pd.api.types.is_datetime64_any_dtype(frame[c])]
    return next(iter(named), None) or next((c for c in frame.columns if is_text(frame[c])
                                            and looks_like_dates(frame[c])), None)


def _encoding(path: Path) -> str:
    """UTF-16 after its byte-order mark (Excel's "Unicode text"), else UTF-8 (a byte-order mark or
    none; `load_file` falls back to cp1252). A file of control bytes is no text: refused, saying so."""
    with (gzip.open if path.suffix.lower() == ".gz" else open)(path, "rb") as f:
        head = f.read(1 << 16)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "utf-16"
    if b"\x00" in head or sum(b < 9 or 13 < b < 32 for b in head[:4096]) > 40:  # control bytes text never holds
        raise ForecastError(f"{path}: this is not a text file, so not a CSV (a spreadsheet, an archive or an "
                            "image?); give a CSV or a Parquet file")
    return "utf-8-sig"


def _separator(path: Path, encoding: str = "utf-8-sig") -> str:
    """The CSV's field separator, from its header line: comma, semicolon, tab or pipe. A web page saved
    where the data were expected (a download that failed) is refused here, saying so."""
    with open(path, encoding=encoding, errors="replace") as f:
        lines = [line for line, _ in zip(f, range(20))]
    header = lines[0] if lines else ""
    if header.lstrip().lower().startswith(("<!doctype", "<html", "<?xml")):
        raise ForecastError(f"{path}: this is a web page (HTML or XML), not a CSV: a download that failed "
                            "saves one; open it to see why, then download the data again")
    if not any(sep in header for sep in ",;\t|"):  # one column, or a title above the header (a report's export)
        below = next((n for n, line in enumerate(lines[1:], 2) if any(sep in line for sep in ",;\t|")), None)
        if below is not None and len(lines) > below:  # the columns start further down
            raise ForecastError(f"{path}: line 1 ({header.strip()[:40]!r}) names one column but line {below} "
                                f"and those after it several: if line {below} is the header, delete the lines above it")
        return ","
    return max((",", ";", "\t", "|"), key=header.count)


MISSING = ["?", "-", "--", "."]  # missing values as some exports (FRED: ".") write them, beside pandas' own (NA, ...)
# Numbers as text: 12,5 (a decimal comma, in files separated by ; or tab), 1,234.5 (quoted with ","), 1.234,5
NUMBER_STYLES = (({"decimal": ","}, r"[-+]?\d+,\d+|[-+]?\d+"),
                 ({"thousands": ","}, r"[-+]?\d{1,3}(,\d{3})+(\.\d+)?|[-+]?\d+(\.\d+)?"),
                 ({"decimal": ",", "thousands": "."}, r"[-+]?\d{1,3}(\.\d{3})+(,\d+)?|[-+]?\d+(,\d+)?"))
WITH_UNIT = r"\s*[-+]?[$€£¥]\s*[-+]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?\s*"  # $1,234.56, -$5, €12.50: amounts in US style
WITH_UNIT += r"|\s*[-+]?\d+(\.\d+)?\s*%\s*"  # and percentages (-0.52%, as price exports write changes): in percent
SCALED = r"\s*[-+]?\d+(\.\d+)?\s*[KMB]\s*"  # 45.67M, 1.2K, 3B: volumes as investing.com writes them
SCALES = {"K": 1e3, "M": 1e6, "B": 1e9}


def _with_units(frame: pd.DataFrame) -> dict:
    """Text columns whose every value is a number with a currency or a percent sign (`WITH_UNIT`), or
    with a suffix of thousands, millions or billions (`SCALED`), read as the numbers they are; the
    first 200 values are read first, so that a column of dates costs little."""
    fits = lambda values, unit: len(values) > 0 and values.astype(str).str.fullmatch(unit).all()  # noqa: E731
    found = {}
    for c in frame.columns:
        if not is_text(frame[c]):
            continue
        head = frame[c].dropna().head(200)
        if fits(head, WITH_UNIT) and fits(frame[c].dropna(), WITH_UNIT):
            found[str(c)] = pd.to_numeric(frame[c].str.replace(r"[\s$€£¥,%]", "", regex=True))
        elif fits(head, SCALED) and fits(frame[c].dropna(), SCALED):
            text = frame[c].str.strip()
            found[str(c)] = pd.to_numeric(text.str[:-1]) * text.str[-1].map(SCALES)
    return found


def _number_style(frame: pd.DataFrame, sep: str) -> tuple[dict, list]:
    """Options for `read_csv` that read text columns of numbers as numbers (a decimal comma, not in
    comma-separated files; thousands commas or points), and those columns; ({}, []) when none is."""
    text = {c: frame[c].dropna().astype(str).head(200).str.strip() for c in frame.columns
            if is_text(frame[c])}
    for options, pattern in NUMBER_STYLES:
        found = [c for c, v in text.items() if len(v) and options.get("decimal") != sep and v.str.contains(",").any()
                 and v.str.fullmatch(pattern).all()]
        if found:
            return options, found
    return {}, []


# --- Writing ours


def write_atomically(path: str | Path, write) -> Path:
    """Call `write(temporary_path)`, then move the file into place.

    The temporary file has a unique name in the same folder, so no reader ever sees half a file,
    two writers never share a temporary file, and an interrupted write leaves the old file as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # a file replaced keeps its permissions; a new one gets what open() would give it
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        try:
            write(Path(tmp))
        except OSError as e:  # named after the file being written, not the hidden temporary one
            raise OSError(e.errno, e.strerror or str(e), str(path)) from None
        except Exception as e:  # noqa: BLE001 - writers that wrap the OS error (safetensors, pyarrow)
            if "os error 28" in str(e) or "No space left" in str(e):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from None
            raise
        os.chmod(tmp, mode)  # mkstemp makes it private (0600): a colleague could not read the model
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def remove_stale_temporaries(folder: str | Path, older_than: float = 600.0) -> tuple[int, int]:
    """Remove the hidden temporary files (`.NAME.*.tmp`) that a process killed while writing left in
    `folder` and below it, once they are `older_than` seconds old (a write still going on touches
    its file); (files, bytes) removed."""
    import time

    removed, size = 0, 0
    now = time.time()
    for tmp in Path(folder).rglob(".*.tmp"):
        try:
            stat = tmp.stat()
            if tmp.is_file() and now - stat.st_mtime > older_than:
                tmp.unlink()
                removed, size = removed + 1, size + stat.st_size
        except OSError:  # gone already, or not ours to remove
            continue
    return removed, size


def _umask() -> int:
    """The process's umask: read from /proc where there is one (setting it to read it, elsewhere,
    would change it for other threads for a moment)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def jsonable(value):
    """Plain JSON values: numpy scalars and arrays unwrapped, NaN and infinities as null."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy arrays and scalars
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(data: dict, path: str | Path) -> Path:
    """Strict JSON (NaN and infinities become null), written atomically."""
    text = json.dumps(jsonable(data), indent=2, allow_nan=False, default=str)
    return write_atomically(Path(path), lambda tmp: tmp.write_text(text))


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    """A text cell a spreadsheet will not run: one that starts like a formula (`=`, `+`, `-`, `@`, a
    tab or a carriage return) gets a leading `'`, as OWASP's CSV-injection rule says; numbers
    written as text (`-1.5`) are left alone."""
    if not isinstance(text, str) or not text.startswith(FORMULA_START):
        return text
    try:
        float(text)
        return text
    except ValueError:
        return "'" + text


def write_csv(frame: pd.DataFrame, path: str | Path, index_label: str | None = None) -> Path:
    """CSV through Arrow's writer (ten times faster than pandas' for millions of rows), timestamps to
    the second, atomically; `index_label` writes the index as the first column under that name.
    Text cells and column names that a spreadsheet would read as formulas are neutralised
    (`safe_cell`): series ids and column names come from the user's files."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    frame = _plain(frame)
    if index_label is not None:
        frame = frame.rename_axis(index_label).reset_index()

    def column(c):
        values = frame[c]
        if pd.api.types.is_datetime64_any_dtype(values):  # days as 2024-01-31, times to the second
            days = values.dropna()
            return values.dt.date if (days == days.dt.normalize()).all() else values.astype("datetime64[s]")
        if values.dtype == object or isinstance(values.dtype, pd.StringDtype) \
                or isinstance(values.dtype, pd.CategoricalDtype):
            return values.astype(object).map(safe_cell)
        return values
    columns = {safe_cell(str(c)): column(c) for c in frame.columns}
    table = pa.Table.from_pandas(pd.DataFrame(columns), preserve_index=False)
    options = pacsv.WriteOptions(quoting_style="needed")
    return write_atomically(Path(path), lambda tmp: pacsv.write_csv(table, str(tmp), options))


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """An integer time axis written as its steps (`forecast.dates.plain`)."""
    return plain(frame)


def write_frame(frame: pd.DataFrame, path: str | Path, index_label: str | None = None) -> Path:
    """Parquet when `path` ends in .parquet or .pq, else CSV (`write_csv`); the index is a column
    named `index_label` (default `Date`, or `step` on an integer time axis) either way, atomically."""
    path = Path(path)
    frame = _plain(frame)
    index_label = index_label or ("step" if pd.api.types.is_integer_dtype(frame.index) else "Date")
    if path.suffix.lower() not in (".parquet", ".pq"):
        return write_csv(frame, path, index_label=index_label)
    return write_atomically(path, lambda tmp: frame.rename_axis(index_label).reset_index().to_parquet(tmp))


CSV_ROWS = 1_000_000  # above this a table is written as Parquet: a CSV of ETTh1 at horizon 720 is 3.4 GB


def write_table(frame: pd.DataFrame, folder: Path, stem: str) -> Path:
    """`stem.csv`, or `stem.parquet` (zstd) for a table of more than `CSV_ROWS` rows, which a CSV
    would make gigabytes and minutes long."""
    if len(frame) <= CSV_ROWS:
        return write_csv(frame, folder / f"{stem}.csv")
    return write_atomically(folder / f"{stem}.parquet",
                            lambda tmp: frame.to_parquet(tmp, index=False, compression="zstd"))
