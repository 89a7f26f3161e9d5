"""Training: it learns, it repeats, it refits on all rows, it resumes, it fails in one clear line."""
import copy
import logging
from dataclasses import replace
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from forecast.config import DataConfig, ModelConfig, TrainConfig
from forecast.errors import ForecastError
from forecast.loading import load
from forecast.train import fit
from tests.conftest import make_frame

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))  # heads.py

FAST = TrainConfig(max_epochs=2, batch_size=32, accelerator="cpu", patience=0)
DATA = DataConfig(targets=("y",), seq_len=16, horizon=2)


def test_loss_falls_on_a_noisy_sine(tmp_path):
    frame = make_frame(n=600)
    result = fit(frame, DataConfig(targets=("y",), seq_len=30, horizon=5),
                 ModelConfig(cell="gru", hidden_size=32),
                 TrainConfig(max_epochs=8, patience=0, accelerator="cpu", learning_rate=5e-3),
                 out_dir=tmp_path, quiet=True, refit=False)
    losses = pd.read_csv(tmp_path / "logs" / "metrics.csv")["train_loss"].dropna().to_numpy()
    assert losses[-1] < 0.5 * losses[0]
    assert result.metrics["skill"] > 0.2  # a sine is predictable: the model must beat naive


def test_a_long_frame_in_nixtlas_shape_fits_without_naming_its_target():
    long = make_frame(n=200).rename_axis("ds").reset_index().assign(unique_id="shop")
    result = fit(long, DataConfig(seq_len=16, horizon=2), ModelConfig(hidden_size=8), FAST, quiet=True)
    assert result.model.data.targets == ("y",) and list(result.model.predict()["y"].shape) == [2]
    assert "target: y, the data's only numeric column (DataConfig(targets=...))" in result.report.notes


def test_same_seed_gives_same_metrics():
    frame = make_frame(n=250)
    run = lambda: fit(frame, DATA, ModelConfig(hidden_size=8), FAST, quiet=True,  # noqa: E731
                      refit=False).metrics
    np.testing.assert_equal(run(), run())  # NaN (naive makes no direction call) equals NaN here


def test_refit_trains_on_every_row_for_the_chosen_epochs_and_keeps_the_test_metrics():
    frame = make_frame(n=250)
    result = fit(frame, DATA, ModelConfig(hidden_size=8), FAST, quiet=True)
    assert result.refit and result.model is not result.evaluated
    assert result.model.info["trained_on"] == "all 250 rows"
    assert result.evaluated.info["trained_on_rows"] == result.prepared.parts[0].train_end
    assert result.model.info["test_metrics"] == result.evaluated.info["test_metrics"]
    # The refit's scaler saw the newest rows; the evaluated model's did not.
    assert result.model.preprocessor.mean[0] == pytest.approx(frame["y"].mean())
    assert result.evaluated.preprocessor.mean[0] == pytest.approx(
        frame["y"].iloc[:result.prepared.parts[0].train_end].mean())
    kept = fit(frame, DATA, ModelConfig(hidden_size=8), FAST, quiet=True, refit=False)
    assert kept.model is kept.evaluated
    np.testing.assert_equal(kept.metrics, result.metrics)
    for run in (result, kept):  # the stages' seconds add up to the fit's
        assert set(run.stages) == {"train", "evaluate", "refit"} and min(run.stages.values()) >= 0
        assert sum(run.stages.values()) == pytest.approx(run.seconds, abs=0.05)
    assert result.stages["refit"] > kept.stages["refit"]  # two epochs of training against none


def test_a_warm_refit_continues_the_evaluated_network_on_every_row_for_its_own_epochs(monkeypatch):
    import forecast.train

    calls, train_network = [], forecast.train.train_network
    monkeypatch.setattr(forecast.train, "train_network",
                        lambda *a, **k: calls.append((a, k)) or train_network(*a, **k))
    frame = make_frame(n=250)
    warm = fit(frame, DATA, ModelConfig(hidden_size=8), replace(FAST, refit_epochs=1), quiet=True)
    (_, first), (again, refit) = calls
    assert first.get("start") is None
    assert refit["start"] is warm.evaluated.net and again[3].max_epochs == 1 and again[4] == "all"
    assert warm.model.info["trained_on"] == "all 250 rows, 1 more epoch from the evaluated model"
    assert warm.model.preprocessor.mean[0] == pytest.approx(frame["y"].mean())  # its scaler saw every row
    for wrong in (1.5, -1, "2", True):
        with pytest.raises(ForecastError, match="refit_epochs must be 0 .refit afresh. or a number of epochs"):
            TrainConfig(refit_epochs=wrong)


def test_training_from_a_start_network_begins_at_its_weights():
    from forecast.train import train_network

    frames, still = {"y": make_frame(n=250)}, replace(FAST, learning_rate=1e-9, max_epochs=1)
    fresh = train_network(frames, DATA, ModelConfig(hidden_size=8), still, "all").net
    start = copy.deepcopy(fresh)
    with torch.no_grad():
        for weights in start.parameters():
            weights.add_(0.5)
    warm = train_network(frames, DATA, ModelConfig(hidden_size=8), still, "all", start=start).net
    for (name, after), before in zip(warm.state_dict().items(), start.state_dict().values()):
        torch.testing.assert_close(after, before, atol=1e-5, rtol=0, msg=name)
        assert not torch.allclose(after, fresh.state_dict()[name], atol=0.1)


def test_metrics_are_in_original_units_beside_naive():
    result = fit(make_frame(n=300, cols=("y", "x")), DataConfig(targets=("y",), features=("x",),
                 seq_len=20, horizon=4), ModelConfig(hidden_size=16), FAST, quiet=True, refit=False)
    ev = result.test
    assert ev.actual.shape == ev.forecast.shape == ev.naive.shape
    naive_rmse = np.sqrt(np.mean((ev.naive - ev.actual) ** 2))
    assert result.metrics["naive"]["rmse"] == pytest.approx(naive_rmse)
    assert 8 < ev.actual.mean() < 12  # make_frame is centred on 10, not on 0 (scaled)
    assert set(result.metrics["model"]) == {"mae", "rmse", "mape", "smape", "mase", "direction",
                                            "direction_calls"}


def test_when_quiet_then_nothing_is_printed_or_logged(capfd, caplog):
    with caplog.at_level(logging.INFO):
        fit(make_frame(n=200), DATA, ModelConfig(hidden_size=4), FAST, quiet=True)
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == "", captured
    assert not [r for r in caplog.records if r.name.startswith("lightning")]


def test_progress_bars_come_without_lightnings_banners_tips_or_warnings(capfd, caplog):
    with caplog.at_level(logging.INFO):
        fit(make_frame(n=200), DATA, ModelConfig(hidden_size=4), FAST, quiet=False, refit=False)
    captured = capfd.readouterr()
    assert "Epoch 1/1" in captured.out + captured.err  # the progress bar
    for noise in ("GPU available", "Tip", "LeafSpec", "Trainer.fit"):
        assert noise not in captured.out + captured.err + caplog.text, noise


def test_a_result_shows_itself_in_a_few_lines_not_every_array():
    result = fit(make_frame(n=250), DATA, ModelConfig(cell="gru", hidden_size=8), FAST, quiet=True)
    shown = repr(result)
    assert len(shown) < 800 and shown.count("\n") <= 4, shown
    assert shown.startswith("FitResult of TrainedModel(GRU 8x1, 1 series (series), targets y, 16 steps in, 2 out")
    assert f"{result.test.origins.size} forecasts of 2 steps" in shown and result.metrics["verdict"][0] in shown
    assert f"trained {result.epochs} epoch" in shown


def test_what_load_returns_is_fitted_with_its_report_and_predicted_from():
    loaded = load(make_frame(n=250).iloc[::-1], ["y"])  # newest first: the report says it reversed them
    result = fit(loaded, DATA, ModelConfig(hidden_size=4), FAST, quiet=True, refit=False)
    assert result.report is loaded[1] and any("newest" in note for note in result.report.notes)
    pd.testing.assert_frame_equal(result.model.predict(loaded).drop(columns="series"), result.model.predict())


def test_settings_in_another_ones_place_are_named_with_the_keyword_they_go_by():
    with pytest.raises(ForecastError, match=r"^model takes a ModelConfig, got a TrainConfig: give it by name, "
                                            r"train=TrainConfig\(\.\.\.\)$"):
        fit(make_frame(n=200), DATA, FAST, quiet=True)  # the train settings where the model's go
    with pytest.raises(ForecastError, match=r"data takes a DataConfig, got a dict \(DataConfig.from_dict builds"):
        fit(make_frame(n=200), {"targets": ["y"]})
    with pytest.raises(ForecastError, match="got ndarray; values alone have no time axis: pd.Series"):
        fit(make_frame(n=200)["y"].to_numpy(), DATA)


def test_fit_changes_no_global_logging_level():
    before = logging.getLogger("lightning.pytorch").level
    fit(make_frame(n=200), DATA, ModelConfig(hidden_size=4), FAST, quiet=True, refit=False)
    assert logging.getLogger("lightning.pytorch").level == before


def test_when_accelerator_missing_then_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ForecastError, match="no CUDA GPU"):
        fit(make_frame(), DataConfig(targets=("y",)), ModelConfig(), TrainConfig(accelerator="gpu"))


SOLVED = {"net": "heads:LinearSkipNet", "net_options": {"skip": "solved"}}


@pytest.mark.parametrize("custom", [{}, SOLVED])
def test_interrupted_fit_resumes_from_its_last_epoch(custom, tmp_path):
    import signal

    import lightning.pytorch as pl

    from forecast.errors import TrainingInterrupted

    class CtrlC(pl.Callback):
        def on_train_epoch_end(self, trainer, module):
            if trainer.current_epoch == 2:
                raise KeyboardInterrupt

    frame = make_frame(n=250)
    model = ModelConfig(hidden_size=8)
    train = TrainConfig(max_epochs=5, patience=0, accelerator="cpu")
    handler = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(TrainingInterrupted, match="--resume"):
            fit(frame, DATA, model, train, out_dir=tmp_path, quiet=True, callbacks=[CtrlC()], **custom)
    finally:
        signal.signal(signal.SIGINT, handler)  # Lightning ignores Ctrl-C while it shuts down
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()

    class Epochs(pl.Callback):
        seen = []

        def on_train_epoch_start(self, trainer, module):
            self.seen.append(trainer.current_epoch)
    resumed = fit(frame, DATA, model, train, out_dir=tmp_path, quiet=True,
                  resume=True, refit=False, callbacks=[Epochs()], **custom)
    # Epochs 0 and 1 were saved after they finished; epoch 2 was cut before its save and is redone.
    assert Epochs.seen == [2, 3, 4] and resumed.epochs == 5
    if custom:  # a custom net's `prepare` (the solved skip and its penalty) survives the interruption
        fresh = fit(frame, DATA, model, train, quiet=True, refit=False, **custom)
        assert resumed.evaluated.net_spec == fresh.evaluated.net_spec
        assert resumed.evaluated.net_spec["options"]["ridge"] is not None
        torch.testing.assert_close(resumed.evaluated.net.skip.weight, fresh.evaluated.net.skip.weight)
        with pytest.raises(ForecastError, match="other settings.*net"):  # not resumed as another network
            fit(frame, DATA, model, train, out_dir=tmp_path, quiet=True, resume=True)


def test_a_fresh_fit_never_resumes_from_an_old_checkpoint_folder(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"stale")
    fit(make_frame(n=200), DATA, ModelConfig(hidden_size=4), FAST, out_dir=tmp_path, quiet=True,
        refit=False)
    assert (tmp_path / "checkpoints" / "last.ckpt").read_bytes() != b"stale"


def test_resume_with_other_settings_is_refused_in_one_line(tmp_path):
    frame = make_frame(n=200)
    fit(frame, DATA, ModelConfig(hidden_size=8), FAST, out_dir=tmp_path, quiet=True, refit=False)
    for model, train, named in [(ModelConfig(hidden_size=16), FAST, "hidden_size 8 -> 16"),
                                (ModelConfig(hidden_size=8), FAST.override(learning_rate=0.01),
                                 "learning_rate 0.001 -> 0.01")]:
        with pytest.raises(ForecastError, match=named):
            fit(frame, DATA, model, train, out_dir=tmp_path, quiet=True, resume=True)
    with pytest.raises(ForecastError, match="seq_len 16 -> 20"):
        fit(frame, DATA.override(seq_len=20), ModelConfig(hidden_size=8), FAST, out_dir=tmp_path,
            quiet=True, resume=True)
    # More epochs is what resuming is for.
    more = fit(frame, DATA, ModelConfig(hidden_size=8), FAST.override(max_epochs=3), out_dir=tmp_path,
               quiet=True, resume=True, refit=False)
    assert more.epochs == 3


def test_a_damaged_checkpoint_is_refused_not_unpickled(tmp_path):
    import pickle

    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('code ran')",))
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(pickle.dumps(Boom()))
    with pytest.raises(ForecastError, match="not a readable checkpoint"):
        fit(make_frame(n=200), DATA, ModelConfig(hidden_size=8), FAST, out_dir=tmp_path, quiet=True,
            resume=True)


@pytest.mark.parametrize("transform", ["none", "log", "log_return"])
def test_a_quantile_model_trains_saves_and_predicts_its_quantiles_and_intervals(transform, tmp_path):
    from forecast.trained import TrainedModel
    model = ModelConfig(hidden_size=8, quantiles=(0.1, 0.9))
    result = fit(make_frame(n=400), DataConfig(targets=("y",), seq_len=16, horizon=3, transform=transform),
                 model, FAST, quiet=True)
    iv = result.test.intervals
    assert iv.quantiles.shape == (len(result.test.index), 3, 1, 3)
    assert (np.diff(iv.quantiles, axis=-1) >= 0).all()  # decoded quantiles never cross either
    np.testing.assert_array_equal(result.test.forecast, iv.quantiles[..., 1])  # the point is the median
    assert "quantile_head" in result.metrics["pinball"]
    loaded = TrainedModel.load(result.save(tmp_path / "q.safetensors"))
    table = loaded.predict()
    assert {"y", "y_q0.1", "y_q0.5", "y_q0.9", "y_lower80", "y_upper90"} <= set(table.columns)
    assert (table["y_q0.1"] <= table["y"]).all() and (table["y"] <= table["y_q0.9"]).all()
    pd.testing.assert_frame_equal(table, result.model.predict())


def test_the_calibration_never_reads_the_test_span():
    """Poison every test-span value: the margins (fitted on validation windows) stay the same."""
    frame = make_frame(n=400)
    clean = fit(frame, DATA, ModelConfig(hidden_size=8), FAST, quiet=True, refit=False)
    poisoned = frame.copy()
    test_start = clean.prepared.parts[0].val_end
    poisoned.iloc[test_start:, 0] = 1e6
    dirty = fit(poisoned, DATA, ModelConfig(hidden_size=8), FAST, quiet=True, refit=False)
    np.testing.assert_array_equal(clean.model.calibration.margin, dirty.model.calibration.margin)
    assert clean.model.calibration.n == clean.prepared.split_sizes()["val"]


def test_the_test_span_is_scored_with_validation_margins_and_only_the_refit_calibrates_on_it():
    """Shift the test span: the margins the test is scored with (the evaluated model's, from validation)
    do not move; the refit's, taken once the test is scored from every window after the training
    span, do."""
    frame = make_frame(n=400)
    clean = fit(frame, DATA, ModelConfig(hidden_size=8), FAST, quiet=True)
    poisoned = frame.copy()
    part = clean.prepared.parts[0]
    poisoned.iloc[part.val_end:, 0] += 5.0
    dirty = fit(poisoned, DATA, ModelConfig(hidden_size=8), FAST, quiet=True)
    np.testing.assert_array_equal(clean.evaluated.calibration.margin, dirty.evaluated.calibration.margin)
    after = len(part.index) - part.train_end - DATA.horizon + 1  # validation's, those across, test's
    assert clean.model.calibration.n == after > clean.evaluated.calibration.n == clean.prepared.split_sizes()["val"]
    assert not np.array_equal(clean.model.calibration.margin, dirty.model.calibration.margin)


def test_tunings_refit_calibrates_on_a_twin_that_never_trained_on_validation():
    """With fit_on="train+val" the validation span is training data; calibrating there would give
    intervals that are too narrow, so a twin trained on the training span alone calibrates."""
    frame = make_frame(n=400)
    fitted = fit(frame, DATA, ModelConfig(hidden_size=8), FAST, quiet=True, refit=False)
    joint = fit(frame, DATA, ModelConfig(hidden_size=8), FAST, quiet=True, refit=False, fit_on="train+val")
    # same seed, same training span, same epochs: the twin is the plain fit's model
    np.testing.assert_allclose(joint.model.calibration.margin, fitted.model.calibration.margin, rtol=1e-6)


def test_a_resumed_fit_keeps_the_log_of_the_epochs_before_it(tmp_path):
    frame = make_frame(200)
    data, model = DataConfig(targets=["y"], seq_len=10, horizon=2), ModelConfig(hidden_size=4)
    train = TrainConfig(max_epochs=2, batch_size=32, accelerator="cpu", patience=0)
    fit(frame, data, model, train, out_dir=tmp_path, refit=False, quiet=True)
    fit(frame, data, model, train.override(max_epochs=4), out_dir=tmp_path, refit=False, quiet=True, resume=True)
    log = pd.read_csv(tmp_path / "logs" / "metrics.csv")
    assert sorted(log.dropna(subset=["val_loss"])["epoch"].astype(int)) == [0, 1, 2, 3]


def test_a_checkpoint_of_other_data_is_refused_on_resume(tmp_path):
    data, model = DataConfig(targets=["y"], seq_len=10, horizon=2), ModelConfig(hidden_size=4)
    train = TrainConfig(max_epochs=1, batch_size=32, accelerator="cpu", patience=0)
    fit(make_frame(200), data, model, train, out_dir=tmp_path, refit=False, quiet=True)
    for other in (make_frame(200, seed=1), make_frame(201), make_frame(200, start="2021-01-01")):
        with pytest.raises(ForecastError, match="was started on other data"):
            fit(other, data, model, train.override(max_epochs=3), out_dir=tmp_path, refit=False, quiet=True,
                resume=True)
