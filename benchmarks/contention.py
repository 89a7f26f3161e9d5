"""Speed on a busy machine: `forecast fit` quiet, then beside other processes that compete for the cores.

The competitors are what a user runs beside `forecast`: a PyTorch training loop with PyTorch's default
threads (a second `forecast`, a test run, a notebook), or a pure-Python busy loop. The script starts
and stops them itself. Measured, for each thread setting of forecast (`--set train.threads=N`):

- `forecast fit` with default settings on the bundled sample, as a user runs it from the shell
  (start-up included);
- one LSTM 64 training run from `benchmarks/throughput.py` (the library path, 2 epochs);
- `forecast predict` from a saved model, from the shell.

Each is timed quiet, beside one and beside two PyTorch loops, and beside two busy loops; the ratios to
the quiet time are what matters. Last line: JSON with the figures.

    python benchmarks/contention.py [--threads default 1 2] [--repeats 1]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TORCH_LOOP = """
import torch
net = torch.nn.LSTM(32, 128, batch_first=True)
opt = torch.optim.Adam(net.parameters())
x = torch.randn(256, 64, 32)
while True:
    out, _ = net(x)
    loss = out.pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
"""
PYTHON_LOOP = "while True:\n    pass\n"
LIBRARY_RUN = """
import sys, time
sys.path.insert(0, {root!r})
sys.path.insert(0, {bench!r})
import logging, warnings
logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
warnings.filterwarnings("ignore")
from throughput import load, project
frame, data = load()
t0 = time.perf_counter()
project(frame, data, "lstm", 2, "cpu", "32-true", threads={threads})
print(time.perf_counter() - t0)
"""


def competitors(kind: str, count: int) -> list[subprocess.Popen]:
    """Start `count` competing processes; they run until killed. A PyTorch loop keeps the
    environment PyTorch users have by default (no thread or wait-policy settings)."""
    code = TORCH_LOOP if kind == "torch" else PYTHON_LOOP
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY",
                                                            "FORECAST_THREADS")}
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for _ in range(count)]
    time.sleep(3.0)  # let them import torch and start spinning
    return procs


def stop(procs) -> None:
    for p in procs:
        p.kill()
    for p in procs:
        p.wait()
    time.sleep(2.0)  # let the machine settle before the next measurement


def forecast_fit(threads: str, folder: Path, limit: float) -> float:
    """Seconds for `forecast fit` (default settings, bundled sample) from the shell; inf past `limit`."""
    cmd = [sys.executable, "-m", "forecast", "fit", "--quiet", "--out", str(folder / f"run{time.time_ns()}")]
    if threads != "default":
        cmd += ["--set", f"train.threads={threads}"]
    t0 = time.perf_counter()
    try:
        subprocess.run(cmd, check=True, capture_output=True, cwd=folder, timeout=limit)
    except subprocess.TimeoutExpired:
        return float("inf")
    return time.perf_counter() - t0


def forecast_predict(threads: str, folder: Path, limit: float) -> float:
    """Seconds for `forecast predict` from a saved model, from the shell (the model is made once)."""
    model = folder / "saved" / "model.safetensors"
    if not model.is_file():
        subprocess.run([sys.executable, "-m", "forecast", "fit", "--quiet", "--max-epochs", "2",
                        "--out", str(model.parent)], check=True, capture_output=True, cwd=folder)
    t0 = time.perf_counter()
    try:
        subprocess.run([sys.executable, "-m", "forecast", "predict", "--model", str(model)], check=True,
                       capture_output=True, cwd=folder, timeout=limit)
    except subprocess.TimeoutExpired:
        return float("inf")
    return time.perf_counter() - t0


def library_run(threads: str, folder: Path, limit: float) -> float:
    """Seconds of the timed part of one LSTM 64 training run (2 epochs, throughput.py's setup)."""
    code = LIBRARY_RUN.format(root=str(ROOT), bench=str(ROOT / "benchmarks"),
                              threads="None" if threads == "default" else int(threads))
    try:
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                             cwd=folder, timeout=limit)
    except subprocess.TimeoutExpired:
        return float("inf")
    return float(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", nargs="+", default=["default", "1", "2"],
                        help="forecast thread settings to compare ('default' = its own policy)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per cell (median reported)")
    parser.add_argument("--loads", type=int, default=4, help="measure only the first N loads")
    parser.add_argument("--limit", type=float, default=90.0,
                        help="give up on a run after this many seconds (reported as over the limit)")
    args = parser.parse_args()
    loads = [("quiet", None, 0), ("beside 1 torch loop", "torch", 1), ("beside 2 torch loops", "torch", 2),
             ("beside 2 python loops", "python", 2)][:args.loads]
    print(f"load before: {os.getloadavg()[0]:.2f} (1-minute average; 2 cores)", flush=True)
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for label, kind, count in loads:
            procs = []
            try:  # started inside the try: whatever happens, no competitor outlives the script
                procs = competitors(kind, count) if count else []
                for job, fn in (("fit", forecast_fit), ("lstm64", library_run),
                                ("predict", forecast_predict)):
                    fn("default", folder, args.limit)  # warm-up: file caches, imports
                    settings = ["default"] if job == "predict" else args.threads  # predict trains nothing
                    times = {t: [] for t in settings}
                    for r in range(args.repeats):  # settings alternate, so drift hits all alike
                        for threads in (settings if r % 2 == 0 else settings[::-1]):
                            times[threads].append(fn(threads, folder, args.limit))
                    for threads in settings:
                        seconds = statistics.median(times[threads])
                        figures.setdefault(f"{job} threads={threads}", {})[label] = \
                            round(seconds, 2) if seconds != float("inf") else None
                        print(f"{label:24s} {job:7s} threads={threads:8s} {seconds:7.2f} s", flush=True)
            finally:
                stop(procs)
    print(f"\n{'run':24s} " + " ".join(f"{label:>22s}" for label, _, _ in loads))
    for run, row in figures.items():
        quiet = row["quiet"]
        cells = [f"> {args.limit:.0f} s (> {args.limit / quiet:.0f}x)" if row[label] is None
                 else f"{row[label]:7.2f} s ({row[label] / quiet:4.1f}x)" for label, _, _ in loads]
        print(f"{run:24s} " + " ".join(f"{c:>22s}" for c in cells))
    print(json.dumps({"loadavg_after": round(os.getloadavg()[0], 2), "limit_s": args.limit,
                      "seconds": figures}))


if __name__ == "__main__":
    main()
