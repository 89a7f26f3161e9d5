"""The LightningModule around the network: loss, optimiser, learning-rate schedule and logging.

`forecast.model.RecurrentNet` is the plain nn.Module; this is the one system that trains it, with
typed settings saved as its hyperparameters (and so in every checkpoint).
"""
from __future__ import annotations

from collections.abc import Callable

import lightning.pytorch as pl
import torch
import torch.nn.functional as F

from forecast.config import DataConfig, ModelConfig, TrainConfig
from forecast.model import build_net

LOSSES: dict[str, Callable[..., torch.Tensor]] = {"mse": F.mse_loss, "mae": F.l1_loss, "huber": F.huber_loss}


def pinball_loss(quantiles: torch.Tensor, target: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Mean pinball loss of (B, H, T, Q) quantiles at `levels` (Q,) for targets (B, H, T)."""
    diff = target[..., None] - quantiles
    return torch.maximum(levels * diff, (levels - 1) * diff).mean()


class Forecaster(pl.LightningModule):
    """Loss, optimiser and logging around a `RecurrentNet` (or the custom network `net`, a
    `forecast.model.net_spec`); logs `train_loss` and `val_loss`.

    A point network is trained with `train.loss`; a quantile network with the pinball loss (on the
    cumulative change up to each step when the targets are changes, which is what its head gives).
    """

    def __init__(self, data: dict, model: dict, train: dict, n_series: int = 1, n_static: int = 0,
                 net: dict | None = None):
        super().__init__()
        self.save_hyperparameters()
        self.model_cfg, self.train_cfg = ModelConfig.from_dict(model), TrainConfig.from_dict(train)
        self.net = build_net(DataConfig.from_dict(data), self.model_cfg, n_series, n_static, net,
                             self.train_cfg.ensemble)
        self.loss_fn = LOSSES[self.train_cfg.loss]
        self._epoch_loss: list = [0.0, 0]  # the epoch's summed loss and its windows (see training_step)
        self.levels: torch.Tensor
        self.register_buffer("levels", torch.tensor(self.model_cfg.quantiles, dtype=torch.float32),
                             persistent=False)

    def forward(self, x: torch.Tensor, series: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x, series)

    def _shared_step(self, batch, stage: str) -> torch.Tensor:
        loss = self.batch_loss(batch)
        # Epoch-level logging only: a per-step log would synchronise the device every batch.
        self.log(f"{stage}_loss", loss, on_step=False, on_epoch=True, prog_bar=stage == "val",
                 batch_size=len(batch[0]), sync_dist=self._distributed())
        return loss

    def batch_loss(self, batch) -> torch.Tensor:
        """The loss of one batch (x, y[, series])."""
        x, y, *series = batch  # a panel's windows also carry their series
        series = series[0] if series else None
        pred = self(x, series)  # a custom net may give K stacked outputs in training, (K, B, H, T[, Q])
        if self.model_cfg.quantiles:
            if not self.net.level_targets:  # cumulative over the horizon axis
                pred, y = pred.cumsum(dim=-3), y.cumsum(dim=-2)
            loss = pinball_loss(pred, y, self.levels)
        else:  # stacked outputs: the mean of their losses, so each learns from its own
            loss = self.loss_fn(pred, y.expand_as(pred))
        return loss

    def _distributed(self) -> bool:
        """Several processes train: epoch losses are averaged over them (else each logs its own)."""
        return self._trainer is not None and self._trainer.world_size > 1

    def on_train_epoch_start(self) -> None:
        self._epoch_loss = [0.0, 0]

    def training_step(self, batch, batch_idx):
        # The epoch's mean loss is logged once, at its last batch: a log every batch costs Lightning's
        # bookkeeping about 0.7 ms a batch, a tenth of a small network's step (benchmarks/m4_speed.py).
        loss, n = self.batch_loss(batch), len(batch[0])
        self._epoch_loss[0] += loss.detach() * n
        self._epoch_loss[1] += n
        if self._trainer is not None and batch_idx == self._trainer.num_training_batches - 1:
            total, count = self._epoch_loss
            self.log("train_loss", total / count, on_step=False, on_epoch=True, batch_size=count,
                     sync_dist=self._distributed())
        return loss

    def validation_step(self, batch, batch_idx):
        return self._shared_step(batch, "val")

    def test_step(self, batch, batch_idx):
        return self._shared_step(batch, "test")

    def configure_optimizers(self):
        cfg = self.train_cfg
        optimizer_cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
        optimizer = optimizer_cls(self.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        if cfg.schedule == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.max_epochs)
            return {"optimizer": optimizer, "lr_scheduler": scheduler}
        if cfg.schedule == "plateau":
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5,
                                                                   patience=max(1, cfg.patience // 2))
            return {"optimizer": optimizer,
                    "lr_scheduler": {"scheduler": scheduler, "monitor": "val_loss"}}
        return optimizer
