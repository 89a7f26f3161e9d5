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


class Result:
    """What a command left: exit status, stdout, stderr."""

    def __init__(self, code, out, err):
        self.returncode, self.stdout, self.stderr = code, out, err


@pytest.fixture
def run(capsys, monkeypatch, tmp_path):
    """Run `forecast ARGS` in-process through the real entry point, from `cwd` (default: a fresh
    folder)."""
    import sys

    from forecast.cli import main

    def invoke(*args, cwd=None):
        monkeypatch.chdir(cwd or tmp_path)
        monkeypatch.setattr(sys, "argv", ["forecast", *map(str, args)])
        capsys.readouterr()
        code = 0
        try:
            main()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)
    return invoke


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """No test touches the user's real cache directory, and no test depends on the machine's load:
    the thread count is fixed (tests/test_threads.py tests the measuring default)."""
    monkeypatch.setenv("FORECAST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FORECAST_THREADS", "1")  # tiny models; and a busy machine cannot collapse it


def _pg_bin() -> str:
    """The newest installed PostgreSQL's programs (Debian puts them in /usr/lib/postgresql/N/bin)."""
    import glob
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[-3]) if p.split("/")[-3].isdigit() else 0)
    return found[-1].rsplit("/", 1)[0] if found else "/usr/lib/postgresql/15/bin"


PG_BIN = _pg_bin()


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """A fresh PostgreSQL cluster in a temporary folder, owned by the unprivileged `postgres` user
    (initdb refuses root), on 127.0.0.1 and a free port; `stop()` and `start()` it at will. Skipped,
    with the reason, only where no server can be had; in CI (CI=true) that fails."""

    def __init__(self):
        import os
        import shutil
        import tempfile
        from pathlib import Path

        def unavailable(reason):
            if os.environ.get("CI"):
                pytest.fail(f"PostgreSQL is required in CI: {reason}")
            pytest.skip(f"no PostgreSQL server here: {reason}")

        try:
            import psycopg  # noqa: F401
        except ImportError:
            unavailable("the psycopg driver is not installed (pip install 'forecast[postgres]')")
        if not os.path.exists(f"{PG_BIN}/initdb"):
            unavailable(f"{PG_BIN}/initdb not found (apt-get install postgresql)")
        self.root = Path(tempfile.mkdtemp(prefix="forecast-pg-"))  # under /tmp: the postgres user can reach it
        self.data, self.sock = self.root / "data", self.root / "sock"
        self.sock.mkdir()
        self.as_postgres = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
        if self.as_postgres:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.sock, "postgres")
        self.port = _free_port()
        init = self._run(f"{PG_BIN}/initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        if init.returncode != 0:
            shutil.rmtree(self.root, ignore_errors=True)
            unavailable(f"initdb failed: {init.stderr.strip()[-300:]}")
        started = self.start()
        if started.returncode != 0:
            unavailable(f"the server did not start: {started.stderr.strip()[-300:]}")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *cmd):
        import subprocess

        return subprocess.run([*self.as_postgres, *cmd], capture_output=True, text=True)

    def start(self):
        return self._run(f"{PG_BIN}/pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-o",
                         f"-h 127.0.0.1 -p {self.port} -k {self.sock} -c max_connections=200 -c fsync=off", "start")

    def stop(self):
        return self._run(f"{PG_BIN}/pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def remove(self):
        import shutil

        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url():
    """The URL of a PostgreSQL server shared by this test run (see `PostgresServer`)."""
    server = PostgresServer()
    try:
        yield server.url
    finally:
        server.remove()


@pytest.fixture
def postgres_server():
    """A PostgreSQL server of this test's own, which it may stop and start (see `PostgresServer`)."""
    server = PostgresServer()
    try:
        yield server
    finally:
        server.remove()
