"""Data-parallel training: every window exactly once per epoch across processes, one model written."""
import json
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from forecast.config import DataConfig, ModelConfig, TrainConfig
from forecast.errors import ForecastError
from forecast.train import fit
from forecast.windows import ShardedBatches
from tests.conftest import make_frame


@pytest.mark.parametrize("n,batch_size,world", [(100, 8, 1), (100, 8, 2), (101, 8, 3), (5, 64, 2), (64, 16, 4)])
def test_sharded_batches_cover_every_window_once_per_epoch_with_equal_steps(n, batch_size, world):
    orders = []
    for epoch in range(3):
        shards = []
        for rank in range(world):
            sampler = ShardedBatches(n, batch_size, seed=7, rank=rank, world=world)
            sampler.set_epoch(epoch)
            shards.append([b.tolist() for b in sampler])
            assert len(shards[-1]) == len(sampler)
        assert len({len(s) for s in shards}) == 1  # same number of steps on every process
        seen = [i for shard in shards for batch in shard for i in batch]
        assert sorted(seen) == list(range(n))  # each window once: none skipped, none twice
        assert max(len(b) for s in shards for b in s) <= batch_size
        orders.append(seen)
    assert orders[0] != orders[1]  # a new order every epoch


class RecordBatches(pl.Callback):
    """Writes, per process and epoch, the window indices its sampler gives and the steps it ran."""

    def __init__(self, folder: Path):
        self.folder, self.steps = Path(folder), 0

    def on_train_epoch_start(self, trainer, module):
        sampler = trainer.train_dataloader.sampler
        assert sampler.epoch == trainer.current_epoch
        self.batches, self.steps = [b.tolist() for b in sampler], 0

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.steps += 1

    def on_train_epoch_end(self, trainer, module):
        name = f"rank{trainer.global_rank}-epoch{trainer.current_epoch}.json"
        (self.folder / name).write_text(json.dumps({"batches": self.batches, "steps": self.steps,
                                                    "world": trainer.world_size}))


@pytest.mark.slow
def test_a_two_process_fit_sees_the_training_set_once_per_epoch_and_writes_one_model(tmp_path):
    frame = make_frame(n=500)
    data = DataConfig(targets=("y",), seq_len=16, horizon=2)
    train = TrainConfig(max_epochs=2, batch_size=32, accelerator="cpu", patience=0)
    single = fit(frame, data, ModelConfig(hidden_size=8), train, quiet=True, refit=False)
    record = tmp_path / "record"
    record.mkdir()
    double = fit(frame, data, ModelConfig(hidden_size=8), train.override(devices="2"), quiet=True,
                 refit=False, callbacks=[RecordBatches(record)])
    n_train = double.prepared.split_sizes()["train"]
    for epoch in range(2):
        shards = [json.loads((record / f"rank{r}-epoch{epoch}.json").read_text()) for r in range(2)]
        assert all(s["world"] == 2 and s["steps"] == len(s["batches"]) for s in shards)
        seen = [i for s in shards for batch in s["batches"] for i in batch]
        assert sorted(seen) == list(range(n_train))
    paths = double.write(tmp_path / "out")  # written once, by this process
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths.values())
    assert double.epochs == 2 and double.best_epoch in (0, 1)
    assert double.metrics["model"]["rmse"] == pytest.approx(single.metrics["model"]["rmse"], rel=0.25)
    # the weights that came back from rank 0 are the best epoch's: they reproduce its validation loss
    from forecast.model import predict_scaled
    from forecast.windows import stage_dataset
    val = stage_dataset(double.prepared, "val")
    outputs = torch.from_numpy(predict_scaled(double.evaluated.net, val))
    _, targets, _ = val[torch.arange(len(val))]  # one series is a panel of one: its windows carry series 0
    assert torch.mean((outputs - targets) ** 2).item() == pytest.approx(double.best_val, rel=1e-4)


def test_several_mps_devices_are_refused_in_one_line():
    with pytest.raises(ForecastError, match="MPS is one device|MPS is not available"):
        fit(make_frame(), DataConfig(targets=("y",)), ModelConfig(),
            TrainConfig(accelerator="mps", devices="2"), quiet=True)


@pytest.mark.slow
def test_a_killed_worker_ends_the_fit_with_one_line_and_resume_continues(tmp_path):
    """SIGKILL to one of two training processes: the others stop, `fit` says which and how, in one
    line with exit 1, and `--resume` continues from the last finished epoch."""
    import signal
    import subprocess
    import sys
    import time

    import psutil
    args = [sys.executable, "-m", "forecast", "fit", "--sample", "IBM", "--seq-len", "20", "--max-epochs", "40",
            "--set", "train.devices=2", "--set", "train.accelerator=cpu", "--set", "train.patience=0", "--quiet",
            "--no-refit", "--out", str(tmp_path / "run")]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    deadline = time.time() + 240
    while not last.is_file() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)  # one epoch finished and saved
    workers = [p for p in psutil.Process(proc.pid).children() if "spawn_main" in " ".join(p.cmdline())]
    assert len(workers) == 2, workers
    workers[1].send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    lines = [line for line in err.splitlines() if line.strip()]
    assert proc.returncode == 1 and "Traceback" not in err and len(lines) == 1, err
    assert "of 2 was killed (SIGKILL), and the others were stopped" in lines[0]
    assert "--resume to continue" in lines[0]
    resumed = subprocess.run([*args[:args.index("40")], "3", *args[args.index("40") + 1:], "--resume"],
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode in (0, 1), resumed.stderr
    if resumed.returncode == 1:  # more epochs had finished than 3: the message says so
        assert "already finished" in resumed.stderr
    else:
        assert (tmp_path / "run" / "model.safetensors").is_file()


@pytest.mark.slow
def test_two_processes_continue_a_warm_refit_from_the_weights_they_are_given():
    import copy

    from forecast.train import train_network

    frames, data = {"y": make_frame(n=300)}, DataConfig(targets=("y",), seq_len=16, horizon=2)
    still = TrainConfig(max_epochs=1, batch_size=32, accelerator="cpu", patience=0, learning_rate=1e-9)
    start = copy.deepcopy(train_network(frames, data, ModelConfig(hidden_size=8), still, "all").net)
    with torch.no_grad():
        for weights in start.parameters():
            weights.add_(0.5)  # far from any fresh initialisation
    warm = train_network(frames, data, ModelConfig(hidden_size=8), still.override(devices="2"), "all", start=start).net
    for (name, after), before in zip(warm.state_dict().items(), start.state_dict().values()):
        torch.testing.assert_close(after, before, atol=1e-5, rtol=0, msg=name)
