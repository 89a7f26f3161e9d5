"""Tuning throughput by storage and worker count: finished trials per minute, PostgreSQL vs SQLite.

The same small study (bundled IBM sample, 3 epochs per trial, no pruning) runs with 1 and 2 worker
processes (`forecast tune --jobs N`) on a SQLite file and on a PostgreSQL server that the script
starts itself (a fresh cluster in a temporary folder on 127.0.0.1, as the tests do; needs the
Debian `postgresql` package and `pip install 'forecast[postgres]'`). Last line: JSON.

    python benchmarks/tune_scale.py [--n-trials 16] [--epochs 3]
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PG_BIN = "/usr/lib/postgresql/15/bin"


def start_postgres(root: Path) -> tuple[str, callable]:
    data, sock = root / "pgdata", root / "pgsock"
    sock.mkdir()
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = lambda *cmd: subprocess.run([*as_postgres, *cmd], check=True, capture_output=True)  # noqa: E731
    run(f"{PG_BIN}/initdb", "-D", str(data), "-U", "postgres", "--auth=trust")
    run(f"{PG_BIN}/pg_ctl", "-D", str(data), "-l", str(root / "pglog"), "-w", "-o",
        f"-h 127.0.0.1 -p {port} -k {sock} -c fsync=off", "start")
    return (f"postgresql://postgres@127.0.0.1:{port}/postgres",
            lambda: run(f"{PG_BIN}/pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop"))


def timed_tune(storage: str, jobs: int, name: str, args, cwd: Path) -> dict:
    cmd = [sys.executable, "-m", "forecast", "tune", "--sample", "IBM", "--n-trials", str(args.n_trials),
           "--max-epochs", str(args.epochs), "--set", "train.patience=0", "--set", "pruner=none",
           "--search", "seq_len=10,40", "--search", "hidden_size=8,32", "--storage", storage, "--study-name", name,
           "--jobs", str(jobs), "--no-refit", "--out", str(cwd / name)]
    started = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, cwd=cwd)
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 1), "trials_per_minute": round(60 * args.n_trials / seconds, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    print(f"load before: {os.getloadavg()[0]:.2f}", flush=True)
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pg_url, stop = start_postgres(root)
        try:
            for jobs in (1, 2):
                for kind, url in (("sqlite", f"sqlite:///{root}/scale.db"), ("postgresql", pg_url)):
                    label = f"{kind}, {jobs} worker(s)"
                    figures[label] = timed_tune(url, jobs, f"{kind}{jobs}", args, root)
                    print(f"{label:24s} {figures[label]['seconds']:7.1f} s "
                          f"{figures[label]['trials_per_minute']:6.1f} trials/min", flush=True)
        finally:
            stop()
    print(json.dumps({"n_trials": args.n_trials, "epochs": args.epochs,
                      "loadavg_after": round(os.getloadavg()[0], 2), **figures}))


if __name__ == "__main__":
    main()
