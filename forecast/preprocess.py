"""Encode frames for the network and decode its forecasts: the one place that knows transforms and scalers.

On the way in: known covariates read `horizon` rows ahead (`lead_known`) -> target transform (log, log
returns) -> per-column standardisation. On the way out:
inverse standardisation of the target columns -> inverse transform, which for log returns needs the
last observed value before the forecast (the anchor). Training, evaluation, backtests and `predict`
all go through one fitted `Preprocessor`, which is saved in the model file. A panel's static
columns (one value per series) are encoded here too: text one-hot, numbers standardised.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.dates import from_steps, holiday_flags, is_steps, phase_of, season_of_unit, stamp, step_unit
from forecast.errors import ForecastError, listed

LARGEST, SMALLEST = 1e30, 1e-30  # the network computes in float32 (3.4e38 to 1.2e-38)


def check_magnitudes(values: np.ndarray, columns, source: str) -> None:
    """(rows, columns) values the network can compute with: none beyond 1e30 (float32 tops out at 3.4e38;
    sums overflow long before), and not all of a column's non-zero values below 1e-30 (float32's 0)."""
    with np.errstate(invalid="ignore"):
        size = np.abs(values)
    for j, c in enumerate(columns):
        column = size[:, j][np.isfinite(size[:, j])]
        if column.size and column.max() > LARGEST:
            raise ForecastError(f"{source}: column {c!r} holds {column.max():.3g}, beyond what the network "
                                f"computes with (about {LARGEST:g}); rescale it (in thousands, millions, ...)")
        nonzero = column[column > 0]
        if nonzero.size and nonzero.max() < SMALLEST:
            raise ForecastError(f"{source}: column {c!r} holds values no larger than {nonzero.max():.3g}, too "
                                f"small for the network to tell from 0 (below {SMALLEST:g}); rescale it "
                                "(multiply by a power of 10)")


def _check_positive(kind: str, values: pd.DataFrame) -> None:
    bad = (values <= 0).to_numpy()
    if bad.any():
        col = values.columns[bad.any(axis=0).argmax()]
        first = values.index[(values[col] <= 0).to_numpy().argmax()]
        raise ForecastError(f"transform {kind!r} needs positive values, but {col!r} is "
                            f"{values[col][first]:g} at {stamp(first)}; use --transform none")


def apply_transform(kind: str, frame: pd.DataFrame, targets) -> pd.DataFrame:
    """Transform the target columns; `log_return` drops the first row (it has no previous value)."""
    if kind == "none":
        return frame
    targets = list(targets)
    _check_positive(kind, frame[targets])
    out = frame.copy()
    out[targets] = np.log(frame[targets])
    if kind == "log_return":
        out[targets] = out[targets].diff()
        out = out.iloc[1:]
    return out


def invert_transform(kind: str, values: np.ndarray, anchor: np.ndarray) -> np.ndarray:
    """(B, H, T) or (B, H, T, Q) forecasts in transformed units (already unscaled) -> original units;
    `anchor` (B, T) is the last observed original value before each forecast (used by `log_return`)."""
    if kind == "none":
        return values
    if kind == "log":
        return np.exp(values)
    if kind == "log_return":
        anchor = anchor.reshape(anchor.shape[0], 1, anchor.shape[1], *([1] * (values.ndim - 3)))
        return anchor * np.exp(np.cumsum(values, axis=1))
    raise ForecastError(f"unknown transform {kind!r}")


def time_features_of(index: pd.DatetimeIndex, names) -> np.ndarray:
    """(N, 2 * len(names)) the sine and cosine of each named calendar position's phase at every
    timestamp (hour of the day, day of the week, of the month, of the year, month of the year): known
    for any date, so a window's last step tells the network where in each cycle its forecast falls."""
    index = pd.DatetimeIndex(index)
    phases = {"hour": lambda: (index.hour + index.minute / 60) / 24,
              "dayofweek": lambda: index.day_of_week / 7,
              "day": lambda: (index.day - 1) / index.days_in_month,
              "dayofyear": lambda: (index.day_of_year - 1) / (365 + index.is_leap_year),
              "month": lambda: (index.month - 1) / 12}
    columns = []
    for name in names:
        angle = 2 * np.pi * np.asarray(phases[name](), dtype=np.float64)
        columns += [np.sin(angle), np.cos(angle)]
    return np.stack(columns, axis=1) if columns else np.zeros((len(index), 0))


def lead_known(frame: pd.DataFrame, n_known: int, lead: int, future=None) -> pd.DataFrame:
    """`frame` with its last `n_known` columns (the known covariates) moved `lead` rows earlier: row t
    holds their value at row t + lead, so an input window that ends at row t reads them over the
    `lead` steps it forecasts. The last `lead` rows take theirs from `future` ((lead, n_known), the
    values at the dates forecast after the frame's last row) when given, else repeat the last value:
    no training or evaluation window reads those rows (its targets would lie past the data)."""
    if not n_known or not lead:
        return frame
    columns = list(frame.columns[-n_known:])
    ahead = frame[columns].to_numpy(dtype=np.float64)
    ahead = np.concatenate([ahead[lead:], np.repeat(ahead[-1:], min(lead, len(ahead)), axis=0)])
    if future is not None:
        tail = min(lead, len(ahead))
        ahead[len(ahead) - tail:] = np.asarray(future, dtype=np.float64).reshape(lead, n_known)[lead - tail:]
    out = frame.copy()
    out[columns] = ahead
    return out


def known_ahead(future, known, index: pd.DatetimeIndex) -> np.ndarray | None:
    """(H, K) the `known` columns' values at the dates forecast, `index`, from `future` (a frame by
    date): what `lead_known` puts in the last rows of the window a forecast starts from."""
    known = list(known)
    if not known:
        return None
    span = f"{stamp(index[0])} to {stamp(index[-1])}"
    if future is None:
        raise ForecastError(f"this model reads the future values of {', '.join(known)}: give them for the "
                            f"{len(index)} dates forecast ({span}) with --future FILE (in Python, "
                            "predict(future=frame))")
    if isinstance(future, pd.Series):
        future = future.to_frame()
    lacks = [c for c in known if c not in future.columns]
    if lacks:
        raise ForecastError(f"the future values lack column(s) {', '.join(map(repr, lacks))}; "
                            f"they have: {listed(future.columns)}")
    try:
        if isinstance(future.index, pd.DatetimeIndex):  # read by the loader: dates or steps already
            dates = future.index
        elif is_steps(index):
            dates = from_steps(future.index.to_numpy())
        else:
            dates = pd.DatetimeIndex(pd.to_datetime(future.index))
    except (ValueError, TypeError, ForecastError):
        raise ForecastError("the future values must be indexed by " + ("step" if is_steps(index) else "date")) from None
    rows = future[known].apply(pd.to_numeric, errors="coerce")
    rows = rows.set_axis(dates.tz_localize(None) if dates.tz else dates)
    rows = rows[~rows.index.duplicated(keep="last")].reindex(index)
    if rows.isna().to_numpy().any():
        first = index[rows.isna().any(axis=1).to_numpy().argmax()]
        raise ForecastError(f"the future values have no number for {', '.join(known)} at {stamp(first)}; "
                            f"give every date forecast: {span}")
    return rows.to_numpy(dtype=np.float64)


class Preprocessor:
    """Target transform plus per-column scaling, fitted on training rows only.

    Columns are `columns` (targets first, then covariates). With `transform="log_return"` the target
    columns are scaled without centring, so that a scaled zero is a zero return: the naive forecast.
    A constant column gets std 1 so nothing divides by zero. Encoded values end with the sine and
    cosine of each of `time_features` (see `time_features_of`), computed from the dates, never scaled,
    then a panel series' encoded `static` vector (`static_names`, see `forecast.preprocess`) on every
    row. With a `cycle` of that many steps (`cycle_unit` each, see `forecast.dates.step_unit`) the
    series' `profile` ((cycle, T): the mean of the scaled training targets at each phase of it, from
    row `cycle_from` on; see `forecast.dates.phase_of`) is taken from the encoded targets and added
    back to the decoded forecast, so the network sees and forecasts what the cycle leaves
    (CycleNet's residual cycle forecasting, Lin et al., NeurIPS 2024, with the cycle fitted on each
    series' own training rows instead of learned). The last `n_known` columns are read `lead` steps
    ahead (see `lead_known`), and scaled as read. With
    `holidays` (a calendar code, see `holiday_flags`) the time features are followed by each row's
    holiday flag `lead` steps ahead: a known covariate computed from the dates, so a forecast needs no future file.
    """

    def __init__(self, columns, n_targets: int, transform: str, mean, std, time_features=(),
                 cycle: int = 0, cycle_unit: str = "D", n_known: int = 0, lead: int = 0,
                 static_names=(), static=(), holidays: str = "", profile=None):
        self.columns = list(columns)
        self.static_names = [str(n) for n in static_names]
        self.static = np.asarray(static, dtype=np.float64).reshape(-1)  # (K,)
        if self.static.shape != (len(self.static_names),) or not np.isfinite(self.static).all():
            raise ForecastError(f"{self.static.size} static values for {len(self.static_names)} static "
                                "columns; the model file is damaged")
        self.n_targets = int(n_targets)
        self.n_known, self.lead = int(n_known), int(lead)
        self.transform = transform
        self.time_features = tuple(time_features)
        self.cycle, self.cycle_unit = int(cycle), str(cycle_unit)
        self.holidays = str(holidays or "")
        self.mean = np.asarray(mean, dtype=np.float64)  # (C,)
        self.std = np.asarray(std, dtype=np.float64)  # (C,)
        if self.mean.shape != (len(self.columns),) or self.std.shape != self.mean.shape:
            raise ForecastError(f"scaler statistics have {self.mean.size} means and {self.std.size} "
                                f"spreads for {len(self.columns)} columns; the model file is damaged")
        if not (np.isfinite(self.mean).all() and np.isfinite(self.std).all() and (self.std > 0).all()):
            raise ForecastError("scaler statistics are not finite and positive; the model file is damaged")
        # None only while a model file from before 0.3 is read: it kept the cycle in the network
        self.profile = None if profile is None else np.asarray(profile, dtype=np.float64)
        if self.profile is not None and (self.profile.shape != (self.cycle, self.n_targets)
                                         or not np.isfinite(self.profile).all()):
            raise ForecastError(f"the cycle's profile has shape {self.profile.shape}, expected "
                                f"({self.cycle}, {self.n_targets}) finite values; the model file is damaged")

    @property
    def targets(self) -> list[str]:
        return self.columns[: self.n_targets]

    @classmethod
    def fit(cls, frame: pd.DataFrame, targets, transform: str = "none", scaler: str = "standard",
            train_rows: int | None = None, time_features=(), cycle: int = 0, n_known: int = 0,
            lead: int = 0, static=None, holidays: str = "", cycle_from: int = 0) -> Preprocessor:
        """Fit on the first `train_rows` rows of the *transformed* `frame` (all rows when None);
        later rows are never read, but for the known covariates' values up to `lead` rows on (what
        those rows read; see `lead_known`). `frame` holds targets first, known columns last.
        `static`: (encoded names, vector) of a panel series' static columns, appended as given.
        `cycle_from`: the first row the cycle is fitted on (the first a training window forecasts)."""
        n_targets = len(list(targets))
        columns = frame.columns
        frame = lead_known(frame, n_known, lead)
        if train_rows is not None:  # only the rows it fits on (a log return also needs the row before)
            frame_rows = frame.iloc[: train_rows + (1 if transform == "log_return" else 0)]
        else:
            frame_rows = frame
        if is_steps(frame_rows.index) and (time_features or holidays):
            raise ForecastError("this data's time axis is integer steps, which have no calendar: drop "
                                f"{'--holidays' if holidays else 'the time features'} (--cycle N gives the "
                                "network a phase of N steps)")
        for name in time_features:
            if np.ptp(time_features_of(frame_rows.index, (name,)), axis=0).max() < 1e-9:
                raise ForecastError(f"time feature {name!r} is the same at every training row (e.g. the hour "
                                    "of daily data): it tells the network nothing; drop it")
        unit = step_unit(frame_rows.index) if cycle else "D"  # the phases' step (unused without a cycle)
        if cycle:
            missing = sorted(set(range(cycle)) - set(phase_of(frame_rows.index[cycle_from:], cycle, unit)))
            if missing:
                raise ForecastError(f"cycle {cycle}: the training rows never reach phase {missing[0]} of it "
                                    f"({len(missing)} of {cycle} phases missing); give more training data or "
                                    f"a shorter --cycle" + ("" if is_steps(frame_rows.index) else
                                                            f" (this data's usual one: {season_of_unit(unit)})"))
        fit_rows = apply_transform(transform, frame_rows, targets).to_numpy(dtype=np.float64)
        if scaler == "none":
            mean, std = np.zeros(fit_rows.shape[1]), np.ones(fit_rows.shape[1])
        else:
            mean, std = fit_rows.mean(axis=0), fit_rows.std(axis=0)
            if transform == "log_return":  # a zero return stays zero after scaling
                std[:n_targets] = np.sqrt(np.mean(fit_rows[:, :n_targets] ** 2, axis=0))
                mean[:n_targets] = 0.0
            std = np.where(std > 1e-12 * np.maximum(np.abs(mean), 1.0), std, 1.0)
        profile = None
        if cycle:  # each phase's mean of the scaled training targets; every phase is there (checked above)
            phases = phase_of(frame_rows.index[cycle_from:], cycle, unit)
            scaled = (fit_rows[cycle_from:, :n_targets] - mean[:n_targets]) / std[:n_targets]
            profile = np.stack([scaled[phases == p].mean(axis=0) for p in range(cycle)])
        names, vector = static if static is not None else ((), ())
        return cls(columns, n_targets, transform, mean, std, time_features, cycle, unit, n_known, lead,
                   names, vector, holidays, profile)

    def phases(self, index: pd.DatetimeIndex) -> np.ndarray | None:
        """(N,) where in the cycle each date of `index` falls; None without a cycle."""
        return phase_of(index, self.cycle, self.cycle_unit) if self.cycle else None

    def cycle_at(self, phases) -> np.ndarray:
        """(..., T) the cycle's value at each of `phases` (...), in scaled units."""
        if self.profile is None:
            raise ForecastError("the cycle's profile is missing; the model file is damaged")
        return self.profile[np.asarray(phases)]

    def encode(self, frame: pd.DataFrame, future=None, ahead: pd.DatetimeIndex | None = None
               ) -> tuple[pd.DatetimeIndex, np.ndarray]:
        """Frame with `columns` -> (index after the transform, (N, C) scaled float64 values, the targets
        less the cycle, then two columns per time feature, the holiday flag and the static vector).
        `future`: the known columns' values at the `lead` dates after the frame's last row (see
        `lead_known`); `ahead`: those dates (the last rows' holiday flags read them; without, those
        rows, which no training window reads, get 0)."""
        if list(frame.columns) != self.columns:
            frame = frame[self.columns]
        frame = lead_known(frame, self.n_known, self.lead, future)
        transformed = apply_transform(self.transform, frame, self.targets)
        values = (transformed.to_numpy(dtype=np.float64) - self.mean) / self.std
        if self.cycle:
            values[:, :self.n_targets] -= self.cycle_at(self.phases(transformed.index))
        if self.time_features:
            values = np.hstack([values, time_features_of(transformed.index, self.time_features)])
        if self.holidays:
            dates = transformed.index if ahead is None else transformed.index.append(pd.DatetimeIndex(ahead))
            flags = np.concatenate([holiday_flags(dates, self.holidays)[self.lead:], np.zeros(self.lead)])
            values = np.hstack([values, flags[:len(values), None]])
        if self.static.size:
            values = np.hstack([values, np.broadcast_to(self.static, (len(values), self.static.size))])
        return transformed.index, values

    def decode(self, scaled: np.ndarray, anchor: np.ndarray, phases: np.ndarray | None = None) -> np.ndarray:
        """(B, H, T) network outputs, or (B, H, T, Q) quantiles, -> original units; `anchor` (B, T)
        is the last observed original value before each forecast; `phases` (B, H), with a cycle, where
        in it each forecast step falls (see `phases`)."""
        t, scaled = self.n_targets, np.asarray(scaled, dtype=np.float64)
        shape = (t, *([1] * (scaled.ndim - 3)))  # per target, broadcast over any quantile axis
        if self.cycle:
            cycle = self.cycle_at(phases)  # (B, H, T)
            scaled = scaled + cycle.reshape(*cycle.shape, *([1] * (scaled.ndim - 3)))
        unscaled = scaled * self.std[:t].reshape(shape) + self.mean[:t].reshape(shape)
        return invert_transform(self.transform, unscaled, np.asarray(anchor, dtype=np.float64))

    def to_dict(self) -> dict:
        return {"columns": self.columns, "n_targets": self.n_targets, "transform": self.transform,
                "mean": self.mean.tolist(), "std": self.std.tolist(), "time_features": list(self.time_features),
                "cycle": self.cycle, "cycle_unit": self.cycle_unit, "n_known": self.n_known, "lead": self.lead,
                "static_names": self.static_names, "static": self.static.tolist(), "holidays": self.holidays,
                "profile": None if self.profile is None else self.profile.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> Preprocessor:
        try:
            return cls(d["columns"], d["n_targets"], d["transform"], d["mean"], d["std"],
                       d.get("time_features", ()), d.get("cycle", 0), d.get("cycle_unit", "D"),
                       d.get("n_known", 0), d.get("lead", 0), d.get("static_names", ()),
                       d.get("static", ()), d.get("holidays", ""), d.get("profile"))  # older files: none of these
        except ForecastError:
            raise
        except (KeyError, TypeError, ValueError) as e:
            raise ForecastError(f"preprocessing settings are incomplete ({e}); the model file is damaged") from None


# --- Static covariates: what describes each series of a panel and never changes (forecast.static until 0.3)

# One-hot columns are inputs at every step of every window: more categories than this would swamp them
MAX_CATEGORIES = 100


def static_values(frame: pd.DataFrame, static, source: str) -> dict:
    """The one value of each `static` column of `frame` (a series), checked present and constant."""
    missing = [c for c in static if c not in frame.columns]
    if missing:
        raise ForecastError(f"{source}: static column(s) {', '.join(map(repr, missing))} not found; "
                            f"columns are: {listed(frame.columns)}")
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
