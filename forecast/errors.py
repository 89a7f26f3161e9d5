"""The exception types users see: a message that says what is wrong and how to fix it."""
from collections.abc import Iterable
from difflib import get_close_matches


class ForecastError(ValueError):
    """Bad input or state that the user can fix; the CLI prints it as one line and exits 1."""


class TrainingInterrupted(ForecastError):
    """Ctrl-C: what was finished is saved (the last epoch, the finished trials); the CLI prints one
    line saying how to continue and exits 130."""


class MissingColumns(ForecastError):
    """Columns asked for that the data do not have (`missing`, among `available`, of which
    `numeric` hold numbers)."""

    def __init__(self, message: str, missing: list, available: list, numeric: list | tuple = ()):
        super().__init__(message)
        self.missing, self.available, self.numeric = missing, available, list(numeric)


class UnusableSeries(ForecastError):
    """Series of a panel that cannot be used with its split (`names`): too short for it, constant."""

    def __init__(self, message: str, names: list):
        super().__init__(message)
        self.names = list(names)


def meant(given: Iterable, names: Iterable) -> str:
    """" (did you mean 'Close'?)" for names `given` that are another case, a close spelling or the
    start (of 3 letters or more) of one of `names` (each named when several are), else ""."""
    given, names = list(given), [str(n) for n in names]

    def near_to(g: str) -> list[str]:
        starting = [n for n in names if len(g) >= 3 and n.lower().startswith(g.lower())]
        return [n for n in names if n.lower() == g.lower()] or get_close_matches(g, names, 1, 0.75) \
            or starting[:len(starting) == 1]

    near = {g: near_to(str(g)) for g in given}
    said = ", ".join(f"{n[0]!r} for {g!r}" if len(given) > 1 else repr(n[0]) for g, n in near.items() if n)
    return f" (did you mean {said}?)" if said else ""


def listed(names: Iterable, limit: int = 20) -> str:
    """The first `limit` names, comma-separated, and how many more there are ("a, b, ... (98 more)")."""
    names = [str(n) for n in names]
    return ", ".join(names[:limit]) + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")
