"""Writing files safely: atomic replacement, strict JSON, and CSV or Parquet tables whose text cells a
spreadsheet will not run. No heavy imports at module level (pandas and Arrow load when a table is
written)."""
from __future__ import annotations

import errno
import json
import math
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


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
    import pandas as pd
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
    from forecast.dates import plain  # here, not above: this lowest floor imports no pandas until it writes a table

    return plain(frame)


def write_frame(frame: pd.DataFrame, path: str | Path, index_label: str | None = None) -> Path:
    """Parquet when `path` ends in .parquet or .pq, else CSV (`write_csv`); the index is a column
    named `index_label` (default `Date`, or `step` on an integer time axis) either way, atomically."""
    import pandas as pd

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
