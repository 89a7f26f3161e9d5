"""The checks every settings dataclass in `config.py` runs on creation, and their JSON round trip.

Each check raises one `ForecastError` that names the setting, the value given and what is allowed.
"""
from __future__ import annotations

import re
from dataclasses import asdict, fields
from typing import Any, ClassVar

from forecast.errors import ForecastError, meant


def choice(name: str, value: str, valid: tuple[str, ...]) -> None:
    """One of the `valid` names; the error lists them."""
    if value not in valid:
        raise ForecastError(f"unknown {name} {value!r}{meant([value], valid)}; choose one of: {', '.join(valid)}")


def placed(**settings) -> None:
    """Each settings argument of its own type: a `TrainConfig` given in a `ModelConfig`'s place (by
    position) is named, with the keyword it goes by."""
    kinds = {"data": "DataConfig", "model": "ModelConfig", "train": "TrainConfig", "bt": "BacktestConfig",
             "source": "SourceConfig"}
    for name, value in settings.items():
        got = type(value).__name__
        if kinds[name] not in {c.__name__ for c in type(value).__mro__}:
            owner = next((n for n, k in kinds.items() if k == got), None)
            raise ForecastError(f"{name} takes a {kinds[name]}, got a {got}" + (
                f": give it by name, {owner}={got}(...)" if owner else f" ({kinds[name]}.from_dict builds one)"
                if isinstance(value, dict) else ""))


def target_index(target, targets) -> int:
    """`target`, the index of one of `targets` (from 0) that a plot draws; the error lists them."""
    if isinstance(target, bool) or not isinstance(target, int) or not 0 <= target < len(targets):
        raise ForecastError(f"target {target!r}: the index of one of {list(targets)}, from 0")
    return target


def non_negative(name: str, value) -> None:
    """A finite number of 0 or more (bools and NaN are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise ForecastError(f"{name} must be 0 or more, got {value!r}")


def positive(name: str, value, kind=(int, float)) -> None:
    """A positive, finite number of the given kind (bools and NaN are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, kind) or not value > 0 or value == float("inf"):
        raise ForecastError(f"{name} must be a positive {'whole number' if kind is int else 'number'}, "
                            f"got {value!r}")


class Settings:
    # the dataclasses that inherit this one are dataclasses; for type checkers, so is this
    __dataclass_fields__: ClassVar[dict[str, Any]]

    """Round-trips through plain JSON-able dicts (tuples become lists)."""

    def check_flags(self) -> None:
        """Every field typed `bool` holds True or False (`bool | None` may also be None): a study
        file's or config's "false" or 1 is refused instead of read as true."""
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("bool", "bool | None") and not isinstance(value, bool) \
                    and not (value is None and f.type == "bool | None"):
                raise ForecastError(f"{f.name} must be true or false, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        if not isinstance(d, dict):
            raise ForecastError(f"{cls.__name__} settings must be a mapping of names to values, "
                                f"got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ForecastError(f"unknown {cls.__name__} setting(s): {', '.join(sorted(unknown))}"
                                f"{meant(sorted(unknown), sorted(known))}; known: {', '.join(sorted(known))}")
        try:
            return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
        except TypeError as e:  # e.g. a string where a number belongs
            raise ForecastError(f"{cls.__name__}: {e}") from None

    def override(self, **changes):
        """A copy with the given fields replaced; None means "keep this config's value"."""
        changes = {k: v for k, v in changes.items() if v is not None}
        return self.from_dict({**asdict(self), **changes}) if changes else self


def date_like(name: str, value):
    """Anything pandas reads as one date, as a Timestamp, or a whole number (a step on an integer
    time axis, or a year), as an int (pandas imported here only, so the CLI starts fast)."""
    import pandas as pd

    if not isinstance(value, bool) and re.fullmatch(r"\s*-?\d+\s*", str(value)):
        return int(str(value))
    try:
        return pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ForecastError(f"{name} {value!r} is not a date; write it as YYYY-MM-DD") from None


def check_order(first: tuple[str, Any], second: tuple[str, Any], hint: str = "") -> None:
    """Two (name, value) boundaries, the first before the second: steps or dates (a whole number
    beside a date is a year)."""
    import pandas as pd

    a, b = date_like(*first), date_like(*second)
    if isinstance(a, int) != isinstance(b, int):
        a, b = (pd.Timestamp(str(v)) if isinstance(v, int) else v for v in (a, b))
    if a >= b:
        raise ForecastError(f"{hint}{first[0]} {first[1]} must come before {hint}{second[0]} {second[1]}")


def hold_out_spec(spec: str) -> None:
    """A share must lie between 0 and 100%, a count be 1 or more; names are checked against the data."""
    text = spec.strip()
    number = text.removesuffix("%")
    try:
        value = float(number)
    except ValueError:
        if not text.strip(", ") or text.endswith("%"):
            raise ForecastError(f"hold_out (--hold-out) must be names (a,b), a share (20%) or a count "
                                f"(5), got {spec!r}") from None
        return
    if text.endswith("%") and not 0 < value < 100:
        raise ForecastError(f"hold_out (--hold-out) {spec}: a share lies between 0% and 100%")
    if not text.endswith("%") and (value < 1 or value != int(value)):
        raise ForecastError(f"hold_out (--hold-out) {spec}: a count of series is a whole number, 1 or more")


def check_roles(data) -> None:
    """A `DataConfig`'s columns: a target at least, and each column in one role only."""
    if not data.targets:
        raise ForecastError("at least one target column is needed")
    twice = [c for c in data.known if c in data.targets or c in data.features]
    if twice:
        raise ForecastError(f"{twice[0]!r} is listed as known and as a target or feature; a known column is "
                            "read over the horizon ahead, a feature over the past: list it once")
    twice = [c for c in data.static if c in data.inputs]
    if twice:
        raise ForecastError(f"{twice[0]!r} is listed as static and as an input; a static column holds one "
                            "value per series, an input one per step: list it once")


def check_spans(data) -> None:
    """A `DataConfig`'s split: start boundaries in order, fractions that leave training rows, and
    per span steps or a fraction, not both."""
    for name in ("val_start", "test_start"):
        if getattr(data, name) is not None:
            date_like(name, getattr(data, name))
    if data.val_start and data.test_start:
        check_order(("val_start", data.val_start), ("test_start", data.test_start))
    for name in ("val_fraction", "test_fraction"):
        value = getattr(data, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1):
            raise ForecastError(f"{name} must be between 0 and 1, got {value}")
    for span in ("val", "test"):
        if getattr(data, f"{span}_steps") is not None:
            positive(f"{span}_steps", getattr(data, f"{span}_steps"), int)
            if getattr(data, f"{span}_fraction") is not None:
                raise ForecastError(f"give {span}_steps or {span}_fraction, not both")
    if sum(data.fractions) >= 0.9:
        raise ForecastError("val_fraction + test_fraction must leave at least 10% for training")


def check_cycle(data) -> None:
    """A `DataConfig`'s cycle: none (0) or a whole number of steps from 2, on levels."""
    if isinstance(data.cycle, bool) or not isinstance(data.cycle, int) or data.cycle < 0 or data.cycle == 1:
        raise ForecastError(f"cycle must be 0 (none) or a whole number of steps from 2, e.g. 24 for the "
                            f"day of hourly data, got {data.cycle!r}")
    if data.cycle and data.transform == "log_return":
        raise ForecastError("cycle works on levels: use --transform none or log with --cycle")


def holiday_calendar(value) -> str | None:
    """A holiday calendar's name (US, DE-BY, XNYS), checked to exist (one line if not); None for none."""
    name = str(value).strip() if value is not None else ""
    if name:
        from forecast.dates import holiday_flags  # here, not above: the settings (and --help) import no pandas

        holiday_flags(["2020-01-01"], name)
    return name or None


def levels(name: str, values) -> tuple[float, ...]:
    """Probabilities strictly between 0 and 1, sorted, each once."""
    values = (values,) if isinstance(values, (int, float)) else tuple(values)
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 1:
            hint = f"; write {v / 100:g} for {v:g}%" if isinstance(v, (int, float)) and 1 < v < 100 else ""
            raise ForecastError(f"{name} must be between 0 and 1 (exclusive), got {v!r}{hint}")
    return tuple(sorted({float(v) for v in values}))
