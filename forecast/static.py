"""Static covariates: what describes each series of a panel and never changes (a store's region and
size, a sensor's model), so one model can tell series apart by what they are, not only by their past.

A static column holds one value per series (a long file repeats it on every row). Text columns are
one-hot encoded over the panel's categories; numeric ones are standardised across the series. Each
series' encoded vector goes into its preprocessor, which appends it to every encoded row (see
`forecast.preprocess.Preprocessor`), so training, evaluation, backtests, tuning and `predict` all read
it through the one encode path; the network reads those columns unshifted, like calendar inputs.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.dates import stamp
from forecast.errors import ForecastError

# One-hot columns are inputs at every step of every window: more categories than this would swamp them
MAX_CATEGORIES = 100


def static_values(frame: pd.DataFrame, static, source: str) -> dict:
    """The one value of each `static` column of `frame` (a series), checked present and constant."""
    missing = [c for c in static if c not in frame.columns]
    if missing:
        raise ForecastError(f"{source}: static column(s) {', '.join(map(repr, missing))} not found; "
                            f"columns are: {', '.join(map(str, frame.columns))}")
    values = {}
    for c in static:
        column = frame[c]
        if column.isna().any():
            raise ForecastError(f"{source}: static column {c!r} is blank at {stamp(column.index[column.isna().argmax()])}; "
                                "a static column holds the series' one value on every row")
        changed = column.ne(column.iloc[0]).to_numpy()
        if changed.any():
            at = int(changed.argmax())
            raise ForecastError(f"{source}: static column {c!r} changes from {column.iloc[0]!r} to "
                                f"{column.iloc[at]!r} at {stamp(column.index[at])}; a static column holds one "
                                "value per series (a value that changes over time is a --features column)")
        values[c] = column.iloc[0] if len(column) else None
    return values


def static_encoding(table: pd.DataFrame) -> dict:
    """How to encode the static columns of a panel's (series x columns) `table`: a text column's
    sorted categories, a numeric column's mean and spread across the series. A column with one value
    for every series tells the model nothing and is refused."""
    encoding: dict[str, dict] = {}
    for c in table.columns:
        column = table[c]
        if column.nunique() < 2:
            raise ForecastError(f"static column {c!r} is {column.iloc[0]!r} for every series: it tells the "
                                "model nothing; drop it")
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            values = column.to_numpy(dtype=np.float64)
            from forecast.sources import check_magnitudes

            check_magnitudes(values[:, None], [c], "static columns")
            encoding[str(c)] = {"mean": float(values.mean()), "std": float(values.std())}
        else:
            categories = sorted(column.astype(str).unique())
            if len(categories) > MAX_CATEGORIES:
                raise ForecastError(f"static column {c!r} has {len(categories):,} categories; one-hot, each would be "
                                    f"an input at every step (at most {MAX_CATEGORIES}): group them (a region for a "
                                    "postcode), or give each series a learned vector with --set model.series_embedding=8")
            encoding[str(c)] = {"categories": categories}
    return encoding


def apply_static(encoding: dict, values: dict, source: str = "series") -> tuple[list[str], np.ndarray]:
    """One series' static `values` (column -> value) -> (encoded column names, (K,) vector): one 0/1
    column per category (`column=category`) of a text column, a number standardised."""
    names, vector = [], []
    for c, how in encoding.items():
        value = values[c]
        if "categories" in how:
            if str(value) not in how["categories"]:
                raise ForecastError(f"{source}: static column {c!r} is {value!r}, which the model never saw; "
                                    f"it knows: {', '.join(how['categories'])}")
            names += [f"{c}={k}" for k in how["categories"]]
            vector += [float(str(value) == k) for k in how["categories"]]
        else:
            number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
            if not np.isfinite(number):
                raise ForecastError(f"{source}: static column {c!r} is {value!r}, not a number as in training")
            names.append(c)
            vector.append((float(number) - how["mean"]) / how["std"])
    return names, np.array(vector, dtype=np.float64)


def encode_static(table: pd.DataFrame) -> tuple[list[str], np.ndarray, dict]:
    """(series x static columns) values -> (encoded column names, (S, K) vectors, the encoding):
    see `static_encoding` and `apply_static`."""
    encoding = static_encoding(table)
    encoded = [apply_static(encoding, row.to_dict(), f"series {name}") for name, row in table.iterrows()]
    return encoded[0][0], np.stack([vector for _, vector in encoded]), encoding


def static_table(frames: dict[str, pd.DataFrame], static) -> pd.DataFrame:
    """One row per series (in the panel's order), its static values, read from its frame."""
    rows = {name: static_values(frame, static, f"series {name}") for name, frame in frames.items()}
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(static))
    return table.infer_objects()
