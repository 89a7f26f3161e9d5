"""The recurrent forecaster: shapes, learning, save/load/predict, repeatability, bad files."""
import numpy as np
import pandas as pd
import pytest
import torch

from forecast.config import DataConfig, ModelConfig, TrainConfig
from forecast.errors import ForecastError
from forecast.model import RecurrentNet
from forecast.modelfile import load_model
from forecast.inference import predict
from forecast.train import fit
from tests.conftest import make_frame

FAST = TrainConfig(max_epochs=2, batch_size=32, accelerator="cpu", patience=0)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("horizon,targets", [(1, 1), (7, 1), (3, 2)])
@pytest.mark.parametrize("options", [{}, {"segment_len": 4}, {"num_layers": 2, "dropout": 0.1}])
def test_output_shape_for_every_cell_horizon_and_target_count(cell, horizon, targets, options):
    net = RecurrentNet(ModelConfig(cell=cell, hidden_size=8, **options), n_inputs=3,
                       n_targets=targets, seq_len=12, horizon=horizon)
    assert net(torch.randn(5, 12, 3)).shape == (5, horizon, targets)


def test_channel_independent_shape():
    net = RecurrentNet(ModelConfig(channel_independent=True, hidden_size=8), 4, 4, 12, 6)
    assert net(torch.randn(2, 12, 4)).shape == (2, 6, 4)


def test_instance_norm_makes_output_shift_with_the_input_level():
    net = RecurrentNet(ModelConfig(hidden_size=8), 1, 1, 10, 3)
    x = torch.randn(4, 10, 1)
    assert torch.allclose(net(x + 100.0), net(x) + 100.0, atol=1e-4)


def test_when_cell_unknown_then_error_lists_valid_ones():
    with pytest.raises(ForecastError, match="rnn, lstm, gru"):
        ModelConfig(cell="transformer")


def test_loss_falls_on_a_noisy_sine(tmp_path):
    frame = make_frame(n=600)
    result = fit(frame, DataConfig(targets=("y",), seq_len=30, horizon=5),
                 ModelConfig(cell="gru", hidden_size=32),
                 TrainConfig(max_epochs=8, patience=0, accelerator="cpu", learning_rate=5e-3),
                 out_dir=tmp_path, quiet=True)
    losses = pd.read_csv(tmp_path / "logs" / "metrics.csv")["train_loss"].dropna().to_numpy()
    assert losses[-1] < 0.5 * losses[0]
    assert result.metrics["skill"] > 0.2  # a sine is predictable: the model must beat naive


@pytest.fixture(scope="module")
def fitted():
    frame = make_frame(n=300, cols=("y", "x"))
    return fit(frame, DataConfig(targets=("y",), features=("x",), seq_len=20, horizon=4,
                                 transform="log"), ModelConfig(hidden_size=16), FAST, quiet=True)


def test_save_load_predict_gives_identical_numbers(fitted, tmp_path):
    path = fitted.save(tmp_path / "m.safetensors")
    loaded = load_model(path)
    direct, reloaded = predict(fitted), predict(loaded)
    pd.testing.assert_frame_equal(direct, reloaded)
    assert list(direct.columns) == ["y"] and len(direct) == 4
    assert direct.index[0] == fitted.history.index[-1] + pd.Timedelta(days=1)
    assert loaded.meta["metrics"]["skill"] == pytest.approx(fitted.metrics["skill"])
    assert loaded.meta["versions"]["torch"] == torch.__version__


def test_predict_with_fresher_history_uses_its_end(fitted):
    fresh = make_frame(n=100, cols=("y", "x"), start="2021-06-01")
    forecast = predict(fitted, fresh)
    assert forecast.index[0] == pd.Timestamp("2021-06-01") + pd.Timedelta(days=100)


def test_predict_when_history_too_short_then_error(fitted):
    with pytest.raises(ForecastError, match="needs the last 20"):
        predict(fitted, make_frame(n=10, cols=("y", "x")))


def test_same_seed_gives_same_metrics():
    frame = make_frame(n=250)
    run = lambda: fit(frame, DataConfig(targets=("y",), seq_len=16, horizon=2),  # noqa: E731
                      ModelConfig(hidden_size=8), FAST, quiet=True).metrics
    assert run() == run()


def test_when_model_file_corrupt_truncated_or_foreign_then_clear_error(fitted, tmp_path):
    good = fitted.save(tmp_path / "m.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(good[: len(good) // 2])
    (tmp_path / "junk.safetensors").write_bytes(b"not a model")
    from safetensors.torch import save_file
    save_file({"w": torch.zeros(2)}, str(tmp_path / "foreign.safetensors"))
    for name, message in [("cut", "not a readable model file"), ("junk", "not a readable model file"),
                          ("foreign", "not a forecast model"), ("missing", "not found")]:
        with pytest.raises(ForecastError, match=message):
            load_model(tmp_path / f"{name}.safetensors")


def test_trading_day_forecast_skips_weekends_and_holidays():
    from forecast.calendar import future_dates
    dates = future_dates(pd.Timestamp("2012-12-21"), 4, "XNYS")  # Friday before Christmas
    assert [str(d.date()) for d in dates] == ["2012-12-24", "2012-12-26", "2012-12-27", "2012-12-28"]


def test_when_accelerator_missing_then_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ForecastError, match="no CUDA GPU"):
        fit(make_frame(), DataConfig(targets=("y",)), ModelConfig(), TrainConfig(accelerator="gpu"))


def test_metrics_are_in_original_units_beside_naive(fitted):
    ev = fitted.test
    assert ev.actual.shape == ev.forecast.shape == ev.naive.shape
    naive_rmse = np.sqrt(np.mean((ev.naive - ev.actual) ** 2))
    assert fitted.metrics["naive"]["rmse"] == pytest.approx(naive_rmse)
    assert 8 < ev.actual.mean() < 12  # make_frame is centred on 10, not on 0 (scaled)


def test_interrupted_fit_resumes_from_its_last_epoch(tmp_path):
    import signal

    import lightning.pytorch as pl

    from forecast.errors import TrainingInterrupted

    class CtrlC(pl.Callback):
        def on_train_epoch_end(self, trainer, module):
            if trainer.current_epoch == 1:
                raise KeyboardInterrupt

    frame = make_frame(n=250)
    data, model = DataConfig(targets=("y",), seq_len=16, horizon=2), ModelConfig(hidden_size=8)
    train = TrainConfig(max_epochs=4, patience=0, accelerator="cpu")
    handler = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(TrainingInterrupted, match="--resume"):
            fit(frame, data, model, train, out_dir=tmp_path, quiet=True, callbacks=[CtrlC()])
    finally:
        signal.signal(signal.SIGINT, handler)  # Lightning ignores Ctrl-C while it shuts down
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()

    class FirstEpoch(pl.Callback):
        seen = []

        def on_train_epoch_start(self, trainer, module):
            self.seen.append(trainer.current_epoch)
    resumed = fit(frame, data, model, train, out_dir=tmp_path, quiet=True, resume=True,
                  callbacks=[FirstEpoch()])
    # Epoch 1 was cut before its checkpoint: it is redone; epoch 0 is not.
    assert FirstEpoch.seen == [1, 2, 3] and resumed.epochs == 4
