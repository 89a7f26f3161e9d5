"""The recurrent network (a plain nn.Module) and the LightningModule that trains it.

One `RecurrentNet` serves `rnn` (Keras' SimpleRNN: tanh), `lstm` and `gru`, picked by name from
`CELLS`. A direct multi-step head maps the last hidden state to every horizon step of every target
at once, so errors do not compound as in step-by-step recursion.
"""
from __future__ import annotations

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import nn

from forecast.config import DataConfig, ModelConfig, TrainConfig
from forecast.errors import ForecastError

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
LOSSES = {"mse": F.mse_loss, "mae": F.l1_loss, "huber": F.huber_loss}


class RecurrentNet(nn.Module):
    """(B, seq_len, C) inputs -> (B, horizon, T) forecasts; targets are the first T input columns.

    With `instance_norm`, each window is shifted by its own last value and the shift added back to
    the output: the network predicts changes from now, so a zero output is the naive forecast and a
    model trained at one level works at another. When the targets are changes already
    (`level_targets=False`, log returns scaled without centring) their columns are not shifted and a
    zero output is a zero change: the naive forecast again. The shift comes from the inputs only,
    never the targets.
    """

    def __init__(self, cfg: ModelConfig, n_inputs: int, n_targets: int, seq_len: int, horizon: int,
                 level_targets: bool = True):
        super().__init__()
        if cfg.cell not in CELLS:
            raise ForecastError(f"unknown cell {cfg.cell!r}; choose one of: {', '.join(CELLS)}")
        if seq_len % cfg.segment_len or (cfg.channel_independent and n_inputs != n_targets):
            raise ForecastError("seq_len must be a multiple of segment_len, and channel_independent "
                                "needs no covariates (see forecast.config.check_compatible)")
        self.cfg, self.n_targets, self.horizon = cfg, n_targets, horizon
        self.level_targets = level_targets
        channels = 1 if cfg.channel_independent else n_inputs
        step = channels * cfg.segment_len  # features per RNN step
        self.embed = nn.Linear(step, cfg.hidden_size) if cfg.segment_len > 1 else None
        self.rnn = CELLS[cfg.cell](
            input_size=cfg.hidden_size if self.embed is not None else step,
            hidden_size=cfg.hidden_size, num_layers=cfg.num_layers, batch_first=True,
            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden_size, horizon * (1 if cfg.channel_independent else n_targets))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq_len, channels = x.shape
        if self.cfg.instance_norm:
            last = x[:, -1:, :]  # (B, 1, C)
            if not self.level_targets:  # changes are not shifted: zero is "no change"
                last = torch.cat([torch.zeros_like(last[:, :, : self.n_targets]),
                                  last[:, :, self.n_targets:]], dim=2)
            x = x - last
        if self.cfg.channel_independent:  # every column is its own series: (B * C, L, 1)
            x = x.permute(0, 2, 1).reshape(batch * channels, seq_len, 1)
        if self.embed is not None:  # (B', L / S, S * C') segments, embedded
            x = torch.relu(self.embed(x.reshape(x.shape[0], seq_len // self.cfg.segment_len, -1)))
        # The LSTM returns (out, (h, c)), the others (out, h); the top layer's outputs serve all three.
        out, _ = self.rnn(x)  # (B', steps, hidden)
        y = self.head(self.dropout(out[:, -1]))  # (B', horizon * T')
        if self.cfg.channel_independent:
            y = y.reshape(batch, channels, self.horizon).permute(0, 2, 1)
        else:
            y = y.reshape(batch, self.horizon, self.n_targets)
        if self.cfg.instance_norm:
            y = y + last[:, :, : self.n_targets]
        return y  # (B, horizon, T)


def build_net(data: DataConfig, model: ModelConfig) -> RecurrentNet:
    """The network for these data and model settings (as training and loading both build it)."""
    return RecurrentNet(model, len(data.inputs), len(data.targets), data.seq_len, data.horizon,
                        level_targets=data.transform != "log_return")


class Forecaster(pl.LightningModule):
    """Loss, optimiser and logging around a `RecurrentNet`; logs `train_loss` and `val_loss`."""

    def __init__(self, data: dict, model: dict, train: dict):
        super().__init__()
        self.save_hyperparameters()
        self.model_cfg, self.train_cfg = ModelConfig.from_dict(model), TrainConfig.from_dict(train)
        self.net = build_net(DataConfig.from_dict(data), self.model_cfg)
        self.loss_fn = LOSSES[self.train_cfg.loss]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _shared_step(self, batch, stage: str) -> torch.Tensor:
        x, y = batch
        loss = self.loss_fn(self(x), y)
        # Epoch-level logging only: a per-step log would synchronise the device every batch.
        self.log(f"{stage}_loss", loss, on_step=False, on_epoch=True, prog_bar=stage == "val",
                 batch_size=len(x))
        return loss

    def training_step(self, batch, batch_idx):
        return self._shared_step(batch, "train")

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
