"""CUDA-only checks (`pytest -m gpu`): training on a GPU gives a model that saves, loads and predicts
on a machine without one, and agrees with the same run on the CPU. Skipped with the reason elsewhere."""
import lightning.pytorch as pl
import numpy as np
import pandas as pd
import pytest
import torch

from forecast.config import DataConfig, ModelConfig, TrainConfig
from forecast.trained import TrainedModel
from forecast.train import fit
from tests.conftest import make_frame

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU: "
                                                  "the same checks on the CPU would prove nothing")]

DATA = DataConfig(targets=("y",), features=("x",), seq_len=24, horizon=6)


def train(accelerator: str, **kw):
    return TrainConfig(max_epochs=2, batch_size=32, patience=0, seed=3, accelerator=accelerator, **kw)


class Where(pl.Callback):
    """Records where the network's weights and the batches are while it trains."""

    def __init__(self):
        self.seen: set[tuple[str, str]] = set()

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.seen.add((next(module.parameters()).device.type, batch[0].device.type))


def test_auto_trains_on_the_gpu_and_the_saved_model_predicts_on_the_cpu(tmp_path):
    where = Where()
    result = fit(make_frame(n=400, cols=("y", "x")), DATA, ModelConfig(hidden_size=16, segment_len=4),
                 train("auto", ensemble=2), quiet=True, callbacks=[where])
    assert where.seen == {("cuda", "cuda")}
    assert all(p.device.type == "cpu" for p in result.model.net.parameters())  # handed back on the CPU
    direct = result.model.predict()
    assert np.isfinite(direct.to_numpy()).all() and len(direct) == 6
    loaded = TrainedModel.load(result.save(tmp_path / "m.safetensors"))
    pd.testing.assert_frame_equal(loaded.predict(), direct)


def test_a_gpu_fit_agrees_with_the_same_fit_on_the_cpu():
    frame = make_frame(n=400, cols=("y", "x"))
    runs = {a: fit(frame, DATA, ModelConfig(hidden_size=16), train(a), quiet=True, refit=False)
            for a in ("cpu", "gpu")}
    cpu, gpu = (runs[a].model.predict()["y"].to_numpy() for a in ("cpu", "gpu"))
    # Same seed, same batches, same initial weights: only the float arithmetic differs (cuDNN's kernels,
    # which may round through TF32); a GPU run that trained on other batches or not at all differs far more.
    print(f"largest forecast difference GPU-CPU: {np.abs(gpu - cpu).max() / np.abs(cpu).max():.2e} of the largest")
    assert np.abs(gpu - cpu).max() <= 2e-2 * np.abs(cpu).max(), (cpu, gpu)
    assert runs["gpu"].metrics["model"]["rmse"] == pytest.approx(runs["cpu"].metrics["model"]["rmse"], rel=5e-2)


def test_series_held_on_the_gpu_give_the_same_batches_there():
    from tests.test_batching import datamodule

    on_device = datamodule(device="cuda")
    assert on_device.prepared.values.device.type == "cuda"
    x, *_ = next(iter(on_device.train_dataloader()))
    x_ref, *_ = next(iter(datamodule().train_dataloader()))
    assert x.device.type == "cuda" and torch.equal(x.cpu(), x_ref)


def test_forecast_fit_on_the_gpu_from_the_command_line(run, tmp_path):
    result = run("fit", "--max-epochs", "1", "--set", "train.accelerator=gpu", "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    model = TrainedModel.load(tmp_path / "run")
    assert model.train.accelerator == "gpu" and np.isfinite(model.predict().to_numpy()).all()
