"""Where studies live: Optuna storages opened safely by many processes on many machines.

An RDB URL (SQLite, PostgreSQL with psycopg 3 or psycopg2, MySQL) or a journal file. Several processes
creating the same schema or study at the same moment collide in the database; those collisions are
retried, and every other failure is one clear error; a storage that stops answering mid-study is
said in one line (`storage_lost`) that names no password.
"""
from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import optuna

from forecast.errors import ForecastError


SQLITE_FILES = (".db", ".sqlite", ".sqlite3")


def storage_url(spec) -> str:
    """`spec.storage` (a URL, a journal file, or a SQLite file's path, made a URL), or a SQLite file
    in studies/ named after the study."""
    url = spec.storage or f"sqlite:///studies/{spec.study_name}.db"
    if "://" in url or url.endswith((".log", ".jsonl")):
        return url
    if url.endswith(SQLITE_FILES):
        return f"sqlite:///{url}"
    raise ForecastError(f"storage {masked(url)!r} is neither a URL (sqlite:///file.db, postgresql://...) nor a "
                        f"file ending in {', '.join(SQLITE_FILES)} (SQLite) or .log (a journal)")


def masked(url: str) -> str:
    """The URL as it may be shown or saved: a password in it becomes `***` (SQLAlchemy's own
    rendering). Leave passwords out of URLs: PostgreSQL's driver reads `PGPASSWORD` or `~/.pgpass`."""
    if "://" not in url or url.startswith("sqlite:"):
        return url
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # not a database URL: hide whatever stands between : and @
        scheme, _, rest = url.partition("://")
        user, at, host = rest.rpartition("@")
        return f"{scheme}://{user.split(':')[0]}:***@{host}" if at and ":" in user else url


def _with_driver(url: str) -> str:
    """`postgresql://` with whichever driver is installed (psycopg 3, else psycopg2)."""
    scheme, sep, rest = url.partition("://")
    if scheme not in ("postgresql", "postgres") or not sep:
        return url
    import importlib.util

    for module in ("psycopg", "psycopg2"):
        if importlib.util.find_spec(module) is not None:
            return f"postgresql+{module}://{rest}"
    raise ForecastError("a postgresql:// storage needs a database driver: "
                        "pip install 'forecast[postgres]' (psycopg 3) or pip install psycopg2-binary")


def retrying(what: str, action, attempts: int = 6):
    """Run `action`; retry when several processes creating the same schema or study collide."""
    import random
    import time

    for attempt in range(attempts):
        try:
            return action()
        except ForecastError:
            raise
        except Exception as e:  # noqa: BLE001 - SQLAlchemy and drivers raise many types
            racing = any(word in str(e).lower() for word in
                         ("already exists", "unique constraint", "duplicate", "database is locked"))
            if not racing or attempt == attempts - 1:
                raise ForecastError(f"cannot open {what}: {_without_secrets(str(e).splitlines()[0])}") from None
            time.sleep(0.2 + random.random() * 0.3 * (attempt + 1))


def _without_secrets(text: str) -> str:
    """A driver's message with any `user:password@` in it masked."""
    import re

    return re.sub(r"(://[^:/@\s]+):[^@\s]*@", r"\1:***@", text)


def open_storage(url: str, grace: int = 60):
    """An RDB URL (sqlite, postgresql, mysql) or a journal file (`*.log`, `*.jsonl`).

    Workers write a heartbeat every `grace / 6` s; a RUNNING trial without one for `grace` s belongs
    to a killed worker, and the next process that looks marks it failed (see also `fail_orphans`).
    """
    if url.endswith((".log", ".jsonl")):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        Path(url).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(url))
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)

    def connect():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(_with_driver(url), grace_period=grace,
                                              heartbeat_interval=max(1, grace // 6))
    return retrying(f"study storage {masked(url)!r}", connect)


@contextlib.contextmanager
def creation_lock(url: str, storage):
    """Held while a process checks the study's trial count and creates its next trial, so that
    processes and machines together never create more trials than asked: a file lock beside a
    SQLite or journal file, an advisory lock on PostgreSQL, a named lock on MySQL."""
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else \
        url if url.endswith((".log", ".jsonl")) else None
    if path is not None:
        from filelock import FileLock

        # an OS lock on Linux, macOS and Windows alike; not FILE.lock, which Optuna's journal takes for
        # each write (a file left there made every later write wait 30 s, then break the lock)
        with FileLock(f"{path}.trials.lock"):
            yield
        return
    engine = getattr(storage, "engine", None)
    dialect = engine.dialect.name if engine is not None else ""
    if engine is None or dialect not in ("postgresql", "mysql"):
        yield
        return
    from sqlalchemy import text

    take, give = ((text("SELECT pg_advisory_lock(727100)"), text("SELECT pg_advisory_unlock(727100)"))
                  if dialect == "postgresql" else
                  (text("SELECT GET_LOCK('forecast_trials', 60)"), text("SELECT RELEASE_LOCK('forecast_trials')")))
    with engine.connect() as connection:
        connection.execute(take)
        try:
            yield
        finally:
            connection.execute(give)


def first_heartbeat(storage, study_name: str, trial) -> None:
    """Record a new trial's first heartbeat now (an RDB storage; a journal has none), so that
    `fail_orphans` can tell a trial whose worker died from one just created."""
    if getattr(storage, "engine", None) is not None:
        study_id = storage.get_study_id_from_name(study_name)
        storage.record_heartbeat(storage.get_trial_id_from_study_id_trial_number(study_id, trial.number))


def fail_orphans(storage, study_name: str) -> int:
    """Fail the RUNNING trials that never wrote a heartbeat; return how many. Optuna's grace period
    never applies to them, so a worker killed between creating its trial and the first heartbeat
    would leave the trial RUNNING for good (and counted against the study's total). Call it under
    `creation_lock`: every process records its new trial's first heartbeat before releasing that
    lock, so a heartbeat-less RUNNING trial seen there belongs to a process that died.

    The one place that reads Optuna's tables (`trials`, `trial_heartbeats`) in SQL: the Optuna major
    version is pinned in pyproject.toml, and `tests/test_tune_postgres.py` runs it on a real server."""
    engine = getattr(storage, "engine", None)
    if engine is None:  # a journal file: no heartbeats
        return 0
    from sqlalchemy import text

    study_id = storage.get_study_id_from_name(study_name)
    with engine.connect() as connection:
        orphans = connection.execute(text(
            "SELECT t.trial_id FROM trials t LEFT JOIN trial_heartbeats h ON h.trial_id = t.trial_id "
            "WHERE t.study_id = :study AND t.state = 'RUNNING' AND h.trial_id IS NULL"),
            {"study": study_id}).scalars().all()
    for trial_id in orphans:
        try:
            storage.set_trial_user_attr(trial_id, "failure", "its worker died before the first heartbeat")
            storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:  # another process failed it first
            pass
    return len(orphans)


# A storage that stopped answering

def storage_errors() -> tuple[type[BaseException], ...]:
    """What Optuna and SQLAlchemy raise when the study's database stops answering."""
    from sqlalchemy.exc import SQLAlchemyError

    return optuna.exceptions.StorageInternalError, SQLAlchemyError


def storage_cause(error: BaseException | None) -> BaseException | None:
    """The storage error behind `error` (itself, or one it was raised from or while handling)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, storage_errors()):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def storage_lost(url: str, error: BaseException) -> str:
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return (f"the study storage {masked(url)} stopped answering ({_plain(first)}); the trials finished "
            "before are saved there: run the same command to continue the study once it answers again")


def _plain(text: str) -> str:
    """A driver's message without a password or SQLAlchemy's trailing link."""
    return _without_secrets(text.split("(Background on this error")[0]).strip()
