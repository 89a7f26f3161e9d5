"""ETTh1 on the standard protocol with the project's forecaster, beside the naive Repeat baseline.

Protocol (see ../shared/data/README.md): rows [0, 8640) train, [8640, 11520) validation, [11520, 14400)
test; every channel standardised with train statistics; windows at stride 1 whose inputs reach back
before each span; MSE and MAE on standardised values over all windows, steps and channels.
Multivariate: 7 channels in and out; univariate: OT alone. Everything goes through the public API
(`fit`, `evaluate`), with options any user has. Early stopping and the best epoch are chosen on
validation; every row prints validation beside test, and the cell of each (mode, horizon) is picked by
the lower validation MSE (marked `*`), never by test. Last line: JSON with the figures.

    python benchmarks/ett.py [--modes multi uni] [--horizons 96 192 336 720] [--cells lstm gru]
                             [--seq-len 96] [--segment-len 24] [--hidden-size 256] [--seeds 1 2 3]
                             [--set normalize=last+scale blend_linear=true ...]
    python benchmarks/ett.py --tune 10      # tune on validation, then score the best once on test
    python benchmarks/ett.py --ablation     # what each design choice is worth, on validation only
    python benchmarks/ett.py --pick A.log B.log   # per horizon, the table with the lower validation MSE
    python benchmarks/ett.py --linear --seq-len 336   # the solved linear forecast alone

The switches the ETTh1 experiments had when they were the product's (`blend_linear`, `fit_skip`, ...)
are read by `--set` and mapped to the networks of `benchmarks/heads.py` on fit's `net=` extension point.
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from forecast import DataConfig, ModelConfig, TrainConfig, fit
from forecast.evaluation import evaluate
from heads import EnsembleNet, LinearSkipNet, SegmentDecoderNet, solve_skip

ETTH1 = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "ETTh1.csv"
# Published test MSE / MAE, horizon 96 multivariate (../shared/data/README.md).
PUBLISHED_96 = {"Repeat (published)": (1.295, 0.713), "Informer": (0.865, 0.713),
                "Autoformer": (0.449, 0.459), "DLinear (input 336)": (0.375, 0.399),
                "PatchTST/64 (input 512)": (0.370, 0.400), "SegRNN (input 96)": (0.368, 0.395),
                "SegRNN (input 720)": (0.341, None)}


def scaled_metrics(result, stage):
    """MSE and MAE of model and Repeat on standardised values (train statistics, as the protocol
    says), over all windows, steps and channels of `stage`."""
    ev = result.test if stage == "test" else evaluate(result.evaluated.net, result.prepared.parts[0], stage)
    return standardised(ev, result.evaluated.preprocessor)


def standardised(ev, pre):
    """`scaled_metrics` of one evaluation, standardised with the preprocessor `pre`."""
    mean, std = pre.mean[:pre.n_targets], pre.std[:pre.n_targets]
    actual, forecast, repeat = ((a - mean) / std for a in (ev.actual, ev.forecast, ev.naive))
    err, naive = forecast - actual, repeat - actual
    return {"mse": float(np.mean(err ** 2)), "mae": float(np.mean(np.abs(err))),
            "repeat_mse": float(np.mean(naive ** 2)), "repeat_mae": float(np.mean(np.abs(naive))),
            "windows": len(ev.index)}


def protocol_data(frame, mode, horizon, seq_len):
    """The columns of `mode` and the protocol's split: rows [0, 8640) train, then 2,880 + 2,880."""
    columns = list(frame.columns) if mode == "multi" else ["OT"]
    return columns, DataConfig(targets=tuple(columns), seq_len=seq_len, horizon=horizon,
                               val_start=str(frame.index[8640]), test_start=str(frame.index[11520]))


# The switches these experiments had when they were the product's (the stored results and the docs
# name them so), and how each maps to a network of heads.py on fit's extension point (`net=`)
SKIP_SWITCHES = {"linear_skip": ("skip", lambda v: "learned" if v else None),
                 "skip_period": ("period", lambda v: v or None),
                 "fit_skip": ("skip", lambda v: "solved" if v else None),
                 "skip_ridge": ("ridge", lambda v: v),
                 "blend_linear": ("skip", lambda v: "blend" if v else None),
                 "linear_weight": ("weight", lambda v: v)}


def network(changes: dict) -> tuple[dict, type | None, dict]:
    """(the settings `changes` less the switches that moved to heads.py, then fit's `net` and
    `net_options` for those); `instance_norm` and `instance_scale` become `normalize`."""
    changes, options = dict(changes), {}
    norm, scale = changes.pop("instance_norm", True), changes.pop("instance_scale", None)
    if norm is False or scale is not None:
        changes.setdefault("normalize", "none" if not norm else "last+scale" if scale else "last")
    for name, (option, value) in SKIP_SWITCHES.items():
        if name in changes and value(changes[name]) is not None:
            options[option] = value(changes[name])
        changes.pop(name, None)
    if "period" in options:
        options["skip"] = "sparse"
    if "weight" in options:  # a share asks for the blend
        options["skip"] = "blend"
    if options.get("skip") not in ("solved", "blend"):
        options.pop("ridge", None)
    net = LinearSkipNet if options else None
    if changes.pop("decoder", "linear") == "pmf":
        net = SegmentDecoderNet
    members = changes.pop("ensemble", 1)
    if members > 1:
        net, options = EnsembleNet, {"members": members, **options}
    return changes, net, options


def run(frame, mode, cell, horizon, args, stages=("val", "test"), **changes):
    """Fit one configuration; its figures on each of `stages` (prefixed `val_` for validation)."""
    columns, data = protocol_data(frame, mode, horizon, args.seq_len)
    model = ModelConfig(cell=cell, hidden_size=args.hidden_size, segment_len=args.segment_len,
                        channel_independent=mode == "multi", dropout=args.dropout)
    train = TrainConfig(loss=args.loss, learning_rate=args.learning_rate, batch_size=args.batch_size,
                        max_epochs=args.max_epochs, patience=args.patience, schedule=args.schedule,
                        seed=args.seeds[0], accelerator=args.accelerator)
    changes, net, options = network({**args.set, **changes})
    unknown = [k for k in changes if not any(hasattr(c, k) for c in (data, model, train))]
    if unknown:
        raise SystemExit(f"unknown setting(s): {', '.join(unknown)}")
    data, model, train = (c.override(**{k: v for k, v in changes.items() if hasattr(c, k)})
                          for c in (data, model, train))
    started = time.perf_counter()
    result = fit(frame[columns], data, model, train, quiet=True, refit=False, net=net, net_options=options)
    figures = {}
    for stage in stages:
        prefix = "val_" if stage == "val" else ""
        figures.update({prefix + k: v for k, v in scaled_metrics(result, stage).items()})
    figures.update(seconds=round(time.perf_counter() - started, 1), epochs=result.epochs,
                   best_epoch=result.best_epoch, val_loss=round(result.best_val, 4))
    picked = (result.evaluated.net_spec or {}).get("options", {})  # chosen on validation
    figures.update({name: picked[k] for k, name in (("ridge", "skip_ridge"), ("weight", "linear_weight"))
                    if picked.get(k) is not None})
    return figures


def tune_then_test(frame, n_trials):
    """Run the shipped ETTh1 study on validation, then train its best trial's configuration as the
    protocol says (train rows only, early stopping on validation) and score it once on test."""
    import tempfile

    from forecast.study import load_study_file
    from forecast.tuning import run_study

    spec = load_study_file(Path(__file__).resolve().parent.parent / "studies" / "etth1_multi96.yaml")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        spec = spec.override(n_trials=n_trials, storage=f"sqlite:///{tmp}/ett.db")
        columns = list(spec.data.targets)
        study = run_study(spec, frame[columns])
        tune_s = time.perf_counter() - started
        best = study.best_trial
        data, model, train = spec.configs(best.params)
        result = fit(frame[columns], data, model, train, quiet=True, refit=False)
    states = [t.state.name for t in study.trials]
    figures = {**scaled_metrics(result, "test"),
               **{"val_" + k: v for k, v in scaled_metrics(result, "val").items()}}
    figures.update(trials=len(states), pruned=states.count("PRUNED"), best_params=best.params,
                   best_val_loss=round(best.value, 4), tune_seconds=round(tune_s, 1),
                   seconds=round(time.perf_counter() - started, 1))
    print(f"tune: {n_trials} trials ({figures['pruned']} pruned) in {figures['tune_seconds']} s; best "
          f"{best.params} (val loss {figures['best_val_loss']}); test MSE {figures['mse']:.3f} "
          f"MAE {figures['mae']:.3f}", flush=True)
    return figures


ABLATIONS = [  # each row changes one thing, or the combination it names, of the reported configuration
    ("reported configuration", {}),
    ("no instance normalisation", {"instance_norm": False}),
    ("channels mixed (not independent)", {"channel_independent": False}),
    ("segments of 8 steps", {"segment_len": 8}),
    ("segments of 48 steps", {"segment_len": 48}),
    ("MSE loss instead of MAE", {"loss": "mse"}),
    ("input 192", {"seq_len": 192}),
    ("input 336", {"seq_len": 336}),
    ("instance scale (RevIN-style spread)", {"instance_scale": True}),
    ("pmf decoder (SegRNN)", {"decoder": "pmf"}),
    ("pmf decoder + instance scale", {"decoder": "pmf", "instance_scale": True}),
    ("linear skip (RLinear's forecast, refined)", {"linear_skip": True}),
    ("input 336 + instance scale", {"seq_len": 336, "instance_scale": True}),
    ("input 336 + instance scale + skip", {"seq_len": 336, "instance_scale": True, "linear_skip": True}),
    ("input 720 + instance scale + skip", {"seq_len": 720, "instance_scale": True, "linear_skip": True}),
    ("dropout 0.5 before the head", {"dropout": 0.5}),
    ("instance scale + linear skip", {"instance_scale": True, "linear_skip": True}),
    ("ensemble of 3 networks", {"ensemble": 3}),
    ("input 336, scale, skip, dropout 0.5",
     {"seq_len": 336, "instance_scale": True, "linear_skip": True, "dropout": 0.5}),
    ("input 336 + scale + sparse skip (24)", {"seq_len": 336, "instance_scale": True, "skip_period": 24}),
    ("input 720 + scale + sparse skip (24)", {"seq_len": 720, "instance_scale": True, "skip_period": 24}),
    ("input 336 + solved linear skip", {"seq_len": 336, "fit_skip": True}),
    ("input 336 + solved skip, MSE loss", {"seq_len": 336, "fit_skip": True, "loss": "mse"}),
    ("input 720 + solved linear skip", {"seq_len": 720, "fit_skip": True}),
    ("input 720 + solved skip, MSE loss", {"seq_len": 720, "fit_skip": True, "loss": "mse"}),
    ("input 504 + solved skip, MSE loss", {"seq_len": 504, "fit_skip": True, "loss": "mse"}),
    ("blended with the solved linear forecast", {"blend_linear": True}),
    ("input 336 + blended with the linear forecast", {"seq_len": 336, "blend_linear": True}),
    ("input 720 + blended with the linear forecast", {"seq_len": 720, "blend_linear": True}),
    ("cosine learning-rate schedule", {"schedule": "cosine"}),
    ("input 336 + blended + cosine schedule", {"seq_len": 336, "blend_linear": True, "schedule": "cosine"}),
    ("learning rate halved on a plateau", {"schedule": "plateau"}),
    ("input 336 + blended, ensemble of 3", {"seq_len": 336, "blend_linear": True, "ensemble": 3}),
    ("daily cycle taken out (--cycle 24)", {"cycle": 24}),
    ("blended + daily cycle", {"blend_linear": True, "cycle": 24}),
    ("input 336 + blended + daily cycle", {"seq_len": 336, "blend_linear": True, "cycle": 24}),
    ("input 336 + solved skip, MSE + daily cycle", {"seq_len": 336, "fit_skip": True, "loss": "mse", "cycle": 24}),
    ("input 720 + solved skip, MSE + daily cycle", {"seq_len": 720, "fit_skip": True, "loss": "mse", "cycle": 24}),
    ("weekly cycle taken out (--cycle 168)", {"cycle": 168}),
    ("blended + weekly cycle", {"blend_linear": True, "cycle": 168}),
    ("input 336 + solved skip, MSE, daily cycle, no instance norm",
     {"seq_len": 336, "fit_skip": True, "loss": "mse", "cycle": 24, "instance_norm": False}),
    ("input 336 + blended + daily cycle, no instance norm",
     {"seq_len": 336, "blend_linear": True, "cycle": 24, "instance_norm": False}),
    ("blended + daily cycle, no instance norm", {"blend_linear": True, "cycle": 24, "instance_norm": False}),
]


def linear_only(frame, args):
    """The linear forecast heads.LinearSkipNet's solved skip gives, alone (no network trained, the head silent): per
    mode and horizon, at `--seq-len`, its validation and test MSE; what the recurrent head adds is
    the difference to the table's rows with the same settings."""
    from forecast.model import build_net, net_spec
    from forecast.trainer import WindowDataModule
    from forecast.windows import batch_loader

    print(f"{'mode':6s} {'horizon':>7s} {'ridge':>7s} {'val MSE':>8s} {'test MSE':>8s} {'test MAE':>8s}")
    rows = []
    for mode, horizon in ((m, h) for m in args.modes for h in args.horizons):
        columns, data = protocol_data(frame, mode, horizon, args.seq_len)
        model = ModelConfig(cell="gru", segment_len=args.segment_len, channel_independent=mode == "multi")
        changes, _, _ = network(args.set)
        model = model.override(**{k: v for k, v in changes.items() if hasattr(model, k)})
        data = data.override(**{k: v for k, v in changes.items() if hasattr(data, k)})
        dm = WindowDataModule(frame[columns], data)
        dm.setup()
        net = build_net(data, model, net=net_spec(LinearSkipNet, {"skip": "solved"}))
        ridge = solve_skip(net, batch_loader(dm.dataset("train"), 4096), batch_loader(dm.dataset("val"), 4096))
        net.eval()
        part = dm.prepared.parts[0]
        f = {stage: standardised(evaluate(net, part, stage), part.preprocessor)
             for stage in ("val", "test")}
        rows.append({"mode": mode, "horizon": horizon, "ridge": ridge, "val_mse": f["val"]["mse"],
                     "mse": f["test"]["mse"], "mae": f["test"]["mae"]})
        print(f"{mode:6s} {horizon:>7d} {ridge:>7g} {f['val']['mse']:>8.3f} {f['test']['mse']:>8.3f} "
              f"{f['test']['mae']:>8.3f}", flush=True)
    return rows


def ablation(frame, args):
    """Multivariate, GRU, each horizon asked for: what each design choice is worth, on the
    VALIDATION split (`--only` picks variants by their number, from 0)."""
    print(f"{'variant':38s} {'horizon':>7s} {'val MSE':>8s} {'val MAE':>8s} {'seconds':>8s}")
    rows = []
    chosen = [ABLATIONS[i] for i in args.only] if args.only else ABLATIONS
    for (name, changes), horizon in ((a, h) for h in args.horizons for a in chosen):
        f = run(frame, "multi", "gru", horizon, args, stages=("val",), **changes)
        f["mse"], f["mae"] = f.pop("val_mse"), f.pop("val_mae")
        rows.append({"variant": name, "horizon": horizon, **changes, **f})
        print(f"{name:38s} {horizon:>7d} {f['mse']:>8.3f} {f['mae']:>8.3f} {f['seconds']:>8.1f}", flush=True)
    return rows


def seeded(frame, mode, cell, horizon, args):
    """One configuration at every seed of `args.seeds`: the mean of each figure, the test MSE of
    every seed (`seed_mse`) and their spread."""
    runs = [run(frame, mode, cell, horizon, args, seed=seed) for seed in args.seeds]
    mean = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
    mse = [r["mse"] for r in runs]
    return {**mean, "seed_mse": mse, "seed_val_mse": [r["val_mse"] for r in runs],
            "mse_std": float(np.std(mse, ddof=1)) if len(mse) > 1 else 0.0}


def table(frame, args):
    """Every (mode, horizon) with each cell; the cell of a row is picked by the lower mean validation
    MSE, never by test. Ends with the average over the horizons of the picked rows."""
    settings = {"seq_len": args.seq_len, "segment_len": args.segment_len, "hidden_size": args.hidden_size,
                "dropout": args.dropout, "loss": args.loss, "learning_rate": args.learning_rate,
                "batch_size": args.batch_size, "max_epochs": args.max_epochs, "patience": args.patience,
                "schedule": args.schedule, **args.set}
    print(f"ETTh1, seeds {args.seeds}: " + ", ".join(f"{k}={v}" for k, v in settings.items()))
    print(f"{'mode':6s} {'cell':5s} {'horizon':>7s} {'val MSE':>8s} {'val MAE':>8s} {'test MSE':>8s} "
          f"{'(sd)':>6s} {'test MAE':>8s} {'Repeat MSE':>10s} {'Repeat MAE':>10s} {'seconds':>8s}")
    rows = []
    for mode in args.modes:
        picked = []
        for horizon in args.horizons:
            group = []
            for cell in args.cells:
                f = seeded(frame, mode, cell, horizon, args)
                group.append({"mode": mode, "cell": cell, "horizon": horizon, **f})
                print(f"{mode:6s} {cell:5s} {horizon:>7d} {f['val_mse']:>8.3f} {f['val_mae']:>8.3f} "
                      f"{f['mse']:>8.3f} {f['mse_std']:>6.3f} {f['mae']:>8.3f} {f['repeat_mse']:>10.3f} "
                      f"{f['repeat_mae']:>10.3f} {f['seconds']:>8.1f}", flush=True)
            chosen = min(group, key=lambda r: r["val_mse"])  # by validation, never by test
            for row in group:
                row["chosen_by_validation"] = row is chosen
            picked.append(chosen)
            if len(group) > 1:
                print(f"  * {mode} horizon {horizon}: {chosen['cell']} chosen on validation "
                      f"(val MSE {chosen['val_mse']:.3f}) -> test MSE {chosen['mse']:.3f} / MAE "
                      f"{chosen['mae']:.3f}", flush=True)
            rows.extend(group)
        average = {k: float(np.mean([r[k] for r in picked])) for k in ("val_mse", "mse", "mae")}
        print(f"  {mode} average over horizons {args.horizons}: val MSE {average['val_mse']:.3f}, "
              f"test MSE {average['mse']:.3f} / MAE {average['mae']:.3f} (mean of {len(args.seeds)} "
              f"seed(s)); {sum(r['seconds'] for r in picked):.0f} s of wall time per seed", flush=True)
    return rows


def pick(paths):
    """Per (mode, horizon), the configuration with the lowest mean validation MSE among the tables
    whose output (the JSON last line of `python benchmarks/ett.py ... > LOG`) is in `paths`; then
    the average over horizons of the picked rows, and of each table alone where it has every horizon."""
    tables = []
    for path in paths:
        out = json.loads(Path(path).read_text().strip().splitlines()[-1])
        cfg = out["config"]
        label = f"input {cfg['seq_len']}" + "".join(f", {k}={v}" for k, v in cfg["set"].items()
                                                 if k != "seq_len")
        tables.append((label, [r for r in out["rows"] if r["chosen_by_validation"]]))
    print(f"{'mode':6s} {'horizon':>7s} {'val MSE':>8s} {'test MSE':>8s} {'test MAE':>8s}  configuration "
          "(lowest validation MSE)")
    for mode in ("multi", "uni"):
        horizons = sorted({r["horizon"] for _, rows in tables for r in rows if r["mode"] == mode})
        picked = []
        for horizon in horizons:
            candidates = [(r["val_mse"], label, r) for label, rows in tables for r in rows
                          if (r["mode"], r["horizon"]) == (mode, horizon)]
            val, label, row = min(candidates, key=lambda c: c[0])
            picked.append(row)
            others = "; ".join(f"{lb} {v:.3f}" for v, lb, _ in candidates if lb != label)
            print(f"{mode:6s} {horizon:>7d} {val:>8.3f} {row['mse']:>8.3f} {row['mae']:>8.3f}  {label} "
                  f"{row['cell']}" + (f"  (val of the others: {others})" if others else ""))
        if picked:
            print(f"  {mode}: picked on validation, average over {horizons}: test MSE "
                  f"{np.mean([r['mse'] for r in picked]):.3f} / MAE {np.mean([r['mae'] for r in picked]):.3f}")
            best = [min(r["mse"] for _, rows in tables for r in rows if (r["mode"], r["horizon"]) == (mode, h))
                    for h in horizons]  # a choice made by test: not a result, the ceiling of every pick
            print(f"  {mode}: lowest test MSE per horizon (chosen by test: not a result, the bound of any "
                  f"pick among these) {' / '.join(f'{b:.4f}' for b in best)}, average {np.mean(best):.4f}")
        for label, rows in tables:
            own = [r for r in rows if r["mode"] == mode]
            if own and len(own) == len(horizons):
                print(f"  {mode}, {label} alone: test MSE {np.mean([r['mse'] for r in own]):.3f} / MAE "
                      f"{np.mean([r['mae'] for r in own]):.3f}")


def setting(text):
    """FIELD=VALUE with VALUE read as a bool, int, float or string."""
    key, _, value = text.partition("=")
    lowered = value.lower()
    if lowered in ("true", "false"):
        return key, lowered == "true"
    for kind in (int, float):
        try:
            return key, kind(value)
        except ValueError:
            pass
    return key, value


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
    parser.add_argument("--seeds", nargs="+", type=int, default=[42], help="the table's figures are "
                        "means over these seeds (the ablation uses the first)")
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", type=setting,
                        help="any DataConfig/ModelConfig/TrainConfig field, e.g. normalize=last+scale, or a "
                        "switch of heads.py's networks: linear_skip, skip_period, fit_skip, skip_ridge, "
                        "blend_linear, linear_weight, decoder=pmf, ensemble")
    parser.add_argument("--ablation", action="store_true",
                        help="instead of the table: design ablations scored on validation")
    parser.add_argument("--only", nargs="*", type=int, default=[], help="ablation variants by number")
    parser.add_argument("--pick", nargs="+", metavar="LOG", help="instead of the table: per horizon, "
                        "the configuration with the lowest validation MSE among these tables' outputs")
    parser.add_argument("--linear", action="store_true", help="instead of the table: the linear "
                        "forecast of the solved skip, alone (what the recurrent head adds is the rest)")
    parser.add_argument("--tune", type=int, default=0, metavar="N",
                        help="instead of the table: run studies/etth1_multi96.yaml with N trials")
    args = parser.parse_args()
    args.set = dict(args.set)
    if args.pick:
        pick(args.pick)
        return
    import logging
    import warnings
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    frame = pd.read_csv(ETTH1, parse_dates=["date"], index_col="date").iloc[:14400]
    if args.tune:
        print(json.dumps({"tune": tune_then_test(frame, args.tune)}))
        return
    if args.ablation:
        print(json.dumps({"config": vars(args), "ablation": ablation(frame, args)}))
        return
    if args.linear:
        print(json.dumps({"config": vars(args), "linear": linear_only(frame, args)}))
        return
    rows = table(frame, args)
    print("published, horizon 96 multivariate (MSE / MAE): " +
          "; ".join(f"{k} {v[0]}" + (f" / {v[1]}" if v[1] else "") for k, v in PUBLISHED_96.items()))
    print(json.dumps({"config": vars(args), "rows": rows}))


if __name__ == "__main__":
    main()
