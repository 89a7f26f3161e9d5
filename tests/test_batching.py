"""The fast batching path gives what the textbook path gives: same batches, same order, same loss."""
import pytest
import torch
from torch.utils.data import DataLoader, RandomSampler

from forecast.config import DataConfig, ModelConfig, TrainConfig
from forecast.forecaster import Forecaster
from forecast.trainer import WindowDataModule
from forecast.windows import batch_loader
from tests.conftest import make_frame


def datamodule(**kw):
    frame = make_frame(n=400, cols=("y", "x"))
    dm = WindowDataModule(frame, DataConfig(targets=("y",), features=("x",), seq_len=24, horizon=6),
                          batch_size=32, seed=7, **kw)
    dm.setup()
    return dm


def test_whole_batch_indexing_equals_per_sample_dataloader_with_collate():
    dm = datamodule()
    dataset = dm.dataset("train")
    fast = list(batch_loader(dataset, 32, shuffle=True, seed=7))
    # The textbook path: one __getitem__ per window, default collate, same seeded sampler.
    sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(7))
    reference = list(DataLoader(dataset, batch_size=32, sampler=sampler))
    assert len(fast) == len(reference)
    for (xf, yf, sf), (xr, yr, sr) in zip(fast, reference):  # one series is a panel of one: series 0
        assert torch.equal(xf, xr) and torch.equal(yf, yr) and torch.equal(sf, sr) and not sf.any()


def test_train_loader_order_is_fixed_by_the_seed():
    first = [y for _, y, _ in datamodule().train_dataloader()]
    again = [y for _, y, _ in datamodule().train_dataloader()]
    assert all(torch.equal(a, b) for a, b in zip(first, again))


def test_training_step_loss_equals_the_plain_loss():
    dm = datamodule()
    torch.manual_seed(0)
    data = DataConfig(targets=("y",), features=("x",), seq_len=24, horizon=6)
    module = Forecaster(data.to_dict(), ModelConfig(hidden_size=8).to_dict(), TrainConfig().to_dict())
    x, y, series = next(iter(dm.train_dataloader()))
    module.log = lambda *a, **k: None  # outside a Trainer there is nothing to log to
    loss = module.training_step((x, y, series), 0)
    assert torch.allclose(loss, torch.nn.functional.mse_loss(module.net(x), y))


def test_the_logged_training_loss_is_the_epochs_mean_over_its_windows():
    import lightning.pytorch as pl

    batches: list[list[tuple[float, int]]] = []
    logged: list[float] = []

    class Recorded(Forecaster):
        def on_train_epoch_start(self):
            super().on_train_epoch_start()
            batches.append([])

        def batch_loss(self, batch):
            loss = super().batch_loss(batch)
            batches[-1].append((float(loss.detach()), len(batch[0])))
            return loss

    class Spy(pl.Callback):  # as `forecast update` and the progress lines read it
        def on_train_epoch_end(self, trainer, module):
            logged.append(float(trainer.callback_metrics["train_loss"]))

    dm = datamodule()
    data = DataConfig(targets=("y",), features=("x",), seq_len=24, horizon=6)
    module = Recorded(data.to_dict(), ModelConfig(hidden_size=8).to_dict(), TrainConfig().to_dict())
    pl.Trainer(max_epochs=3, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False, limit_val_batches=0, callbacks=[Spy()]).fit(module, datamodule=dm)
    assert len(logged) == 3 and all(len(b) > 1 and len({n for _, n in b}) > 1 for b in batches)  # a short last batch
    for value, epoch in zip(logged, batches):
        assert value == pytest.approx(sum(loss * n for loss, n in epoch) / sum(n for _, n in epoch), rel=1e-6)

