"""ETTh1 on the standard protocol with the project's forecaster, beside the naive Repeat baseline.

Protocol (see ../shared/data/README.md): rows [0, 8640) train, [8640, 11520) validation, [11520, 14400)
test; every channel standardised with train statistics; windows at stride 1 whose inputs reach back
before each span; MSE and MAE on standardised values over all windows, steps and channels.
Multivariate: 7 channels in and out; univariate: OT alone. Everything goes through the public API
(`fit`), with options any user has. The test split is evaluated once per configuration; early
stopping and the best epoch are chosen on validation. Last line: JSON with the figures.

    python benchmarks/ett.py [--modes multi uni] [--horizons 96 192 336 720] [--cells lstm gru]
                             [--seq-len 96] [--segment-len 24] [--hidden-size 256] ...
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from forecast import DataConfig, ModelConfig, TrainConfig, fit
from forecast.train import predict_scaled
from forecast.windows import stage_dataset

ETTH1 = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "ETTh1.csv"
# Published test MSE / MAE, horizon 96 multivariate (../shared/data/README.md).
PUBLISHED_96 = {"Repeat (published)": (1.295, 0.713), "Informer": (0.865, 0.713),
                "Autoformer": (0.449, 0.459), "DLinear (input 336)": (0.375, 0.399),
                "PatchTST/64 (input 512)": (0.370, 0.400), "SegRNN (input 96)": (0.368, 0.395),
                "SegRNN (input 720)": (0.341, None)}


def scaled_test_metrics(result):
    """MSE and MAE of model and Repeat on standardised values, all test windows, steps, channels."""
    dataset = stage_dataset(result.prepared, "test")
    x, y = dataset[torch.arange(len(dataset))]  # (B, L, C), (B, H, T)
    forecast = torch.from_numpy(predict_scaled(result.net, dataset))
    repeat = x[:, -1:, : y.shape[-1]].expand_as(y)
    err, naive = forecast - y, repeat - y
    return {"mse": float((err ** 2).mean()), "mae": float(err.abs().mean()),
            "repeat_mse": float((naive ** 2).mean()), "repeat_mae": float(naive.abs().mean()),
            "windows": len(dataset)}


def run(frame, mode, cell, horizon, args):
    columns = list(frame.columns) if mode == "multi" else ["OT"]
    data = DataConfig(targets=tuple(columns), seq_len=args.seq_len, horizon=horizon,
                      val_start=str(frame.index[8640]), test_start=str(frame.index[11520]))
    model = ModelConfig(cell=cell, hidden_size=args.hidden_size, segment_len=args.segment_len,
                        instance_norm=True, channel_independent=mode == "multi",
                        dropout=args.dropout)
    train = TrainConfig(loss=args.loss, learning_rate=args.learning_rate, batch_size=args.batch_size,
                        max_epochs=args.max_epochs, patience=args.patience, schedule=args.schedule,
                        seed=args.seed, accelerator=args.accelerator)
    started = time.perf_counter()
    result = fit(frame[columns], data, model, train, quiet=True)
    figures = scaled_test_metrics(result)
    figures.update(seconds=round(time.perf_counter() - started, 1), epochs=result.epochs,
                   best_epoch=result.extra["best_epoch"], val_loss=round(result.extra["best_val_loss"], 4))
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", default=["multi", "uni"], choices=["multi", "uni"])
    parser.add_argument("--horizons", nargs="+", type=int, default=[96, 192, 336, 720])
    parser.add_argument("--cells", nargs="+", default=["lstm", "gru"])
    parser.add_argument("--seq-len", type=int, default=96)
    parser.add_argument("--segment-len", type=int, default=24)
    parser.add_argument("--hidden-size", type=int, default=256)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--loss", default="mae")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--max-epochs", type=int, default=20)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--schedule", default="none")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--accelerator", default="cpu")
    args = parser.parse_args()
    import logging
    import warnings
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    frame = pd.read_csv(ETTH1, parse_dates=["date"], index_col="date").iloc[:14400]
    print(f"ETTh1, input {args.seq_len}, segment {args.segment_len}, hidden {args.hidden_size}, "
          f"loss {args.loss}, lr {args.learning_rate}, batch {args.batch_size}, "
          f"epochs <= {args.max_epochs} (patience {args.patience}), seed {args.seed}")
    print(f"{'mode':6s} {'cell':5s} {'horizon':>7s} {'MSE':>7s} {'MAE':>7s} {'Repeat MSE':>10s} "
          f"{'Repeat MAE':>10s} {'seconds':>8s} {'epochs':>6s}")
    rows = []
    for mode in args.modes:
        for horizon in args.horizons:
            for cell in args.cells:
                f = run(frame, mode, cell, horizon, args)
                rows.append({"mode": mode, "cell": cell, "horizon": horizon, **f})
                print(f"{mode:6s} {cell:5s} {horizon:>7d} {f['mse']:>7.3f} {f['mae']:>7.3f} "
                      f"{f['repeat_mse']:>10.3f} {f['repeat_mae']:>10.3f} {f['seconds']:>8.1f} "
                      f"{f['epochs']:>6d}", flush=True)
    print("published, horizon 96 multivariate (MSE / MAE): " +
          "; ".join(f"{k} {v[0]}" + (f" / {v[1]}" if v[1] else "") for k, v in PUBLISHED_96.items()))
    print(json.dumps({"config": vars(args), "rows": rows}))


if __name__ == "__main__":
    main()
