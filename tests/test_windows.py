"""Windows, splits and scaling: brute-force equality, no leaks, same evaluation dates for any seq_len."""
import numpy as np
import pytest
import torch

from forecast.config import DataConfig
from forecast.windows import prepare, span_levels
from forecast.errors import ForecastError
from forecast.trainer import WindowDataModule
from forecast.windows import batch_loader, stage_dataset
from tests.conftest import make_frame


def cfg(**kw):
    base = dict(targets=("y",), features=("x",), seq_len=12, horizon=4)
    return DataConfig(**{**base, **kw})


@pytest.fixture
def frame2():
    return make_frame(n=200, cols=("y", "x"))


def test_windows_equal_brute_force_construction(frame2):
    prepared = prepare(frame2, cfg())
    values = prepared.values.numpy()
    for stage in ("train", "val", "test"):
        ds = stage_dataset(prepared, stage)
        x, y = ds[torch.arange(len(ds))]
        for i, s in enumerate(ds.starts.tolist()):
            np.testing.assert_array_equal(x[i].numpy(), values[s - 12:s])
            np.testing.assert_array_equal(y[i].numpy(), values[s:s + 4, :1])


def test_windows_are_views_not_copies(frame2):
    prepared = prepare(frame2, cfg())
    ds = stage_dataset(prepared, "train")
    assert ds.inputs.untyped_storage().data_ptr() == prepared.values.untyped_storage().data_ptr()
    assert ds.targets.untyped_storage().data_ptr() == prepared.values.untyped_storage().data_ptr()


def test_no_target_crosses_a_split_and_eval_targets_start_at_span_start(frame2):
    p = prepare(frame2, cfg())
    tr, va, te = (p.target_starts(s) for s in ("train", "val", "test"))
    h = p.cfg.horizon
    assert tr[1] - 1 + h <= p.train_end  # last train target row < train_end
    assert va == (p.train_end, p.val_end - h + 1) and te == (p.val_end, len(p.index) - h + 1)


def test_eval_targets_cover_same_dates_whatever_seq_len(frame2):
    a, b = prepare(frame2, cfg(seq_len=5)), prepare(frame2, cfg(seq_len=40))
    for stage in ("val", "test"):
        da, db = stage_dataset(a, stage), stage_dataset(b, stage)
        assert a.index[da.starts.numpy()].equals(b.index[db.starts.numpy()])


def test_leak_changing_everything_after_train_changes_no_train_window_nor_scaler(frame2):
    c = cfg(transform="log_return")
    frame2 = frame2 + 5  # positive for log returns
    before = prepare(frame2, c)
    poisoned = frame2.copy()
    poisoned.iloc[before.train_end + 1:] = 1e6  # +1: log returns drop the first row
    after = prepare(poisoned, c)
    np.testing.assert_array_equal(before.preprocessor.mean, after.preprocessor.mean)
    np.testing.assert_array_equal(before.preprocessor.std, after.preprocessor.std)
    xa, ya = stage_dataset(before, "train")[torch.arange(len(stage_dataset(before, "train")))]
    xb, yb = stage_dataset(after, "train")[torch.arange(len(stage_dataset(after, "train")))]
    assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(before.values, after.values)  # the poison did reach later rows


@pytest.mark.parametrize("kind", ["none", "log", "log_return"])
def test_target_transform_inverts_exactly(kind, frame2):
    p = prepare(frame2, cfg(transform=kind))
    ds = stage_dataset(p, "test")
    _, y = ds[torch.arange(len(ds))]
    restored = p.to_original(y.numpy(), ds.starts.numpy())
    np.testing.assert_allclose(restored, p.actuals(ds.starts.numpy()), rtol=1e-5)


def test_when_log_transform_meets_non_positive_values_then_error(frame2):
    frame2.iloc[3, 0] = -1.0
    with pytest.raises(ForecastError, match="needs positive values"):
        prepare(frame2, cfg(transform="log"))


def test_constant_covariate_does_not_divide_by_zero(frame2):
    frame2["x"] = 3.0
    p = prepare(frame2, cfg())
    assert torch.isfinite(p.values).all() and p.preprocessor.std[1] == 1.0


def test_when_target_constant_then_error(frame2):
    frame2["y"] = 1.0
    with pytest.raises(ForecastError, match="constant"):
        prepare(frame2, cfg())


def test_when_series_too_short_then_error_gives_the_numbers():
    short = make_frame(n=40, cols=("y", "x"))
    with pytest.raises(ForecastError, match=r"40 rows split into train 28 .*needs train >= 34"):
        prepare(short, cfg(seq_len=30))


@pytest.mark.parametrize("bad", [dict(seq_len=0), dict(horizon=-1), dict(val_fraction=1.5),
                                 dict(transform="sqrt"), dict(scaler="minmax")])
def test_when_config_invalid_then_error(bad):
    with pytest.raises(ForecastError):
        cfg(**bad)


def test_split_by_dates(frame2):
    p = prepare(frame2, cfg(val_start="2020-05-01", test_start="2020-06-01"))
    assert str(p.index[p.train_end].date()) == "2020-05-01"
    assert str(p.index[p.val_end].date()) == "2020-06-01"


def test_levels_put_each_span_against_the_training_rows_in_their_standard_deviations(frame2):
    frame2.loc["2020-06-01":, "y"] -= 5.0  # the test span's level falls
    p = prepare(frame2, cfg(val_start="2020-05-01", test_start="2020-06-01"))
    y = frame2["y"].to_numpy()
    train, val, test = y[: p.train_end], y[p.train_end: p.val_end], y[p.val_end:]
    levels = p.levels()
    assert levels["val"][0] == pytest.approx((val.mean() - train.mean()) / train.std())
    assert levels["test"][0] == pytest.approx((test.mean() - train.mean()) / train.std())
    assert levels["test"][0] < -5 < 0 < abs(levels["val"][0]) < 1
    assert span_levels(p) == {"y": (levels["val"][0], levels["test"][0])}


def test_shuffled_loader_is_repeatable_for_a_seed_and_covers_every_window(frame2):
    ds = stage_dataset(prepare(frame2, cfg()), "train")
    order = lambda seed: torch.cat([y for _, y in batch_loader(ds, 16, True, seed)])  # noqa: E731
    assert torch.equal(order(1), order(1)) and not torch.equal(order(1), order(2))
    assert len(order(1)) == len(ds)


def test_datamodule_gives_float32_batches(frame2):
    dm = WindowDataModule(frame2, cfg(), batch_size=8)
    x, y, series = next(iter(dm.train_dataloader()))  # one series is a panel of one: its windows are series 0
    assert x.shape == (8, 12, 2) and y.shape == (8, 4, 1) and x.dtype == torch.float32
    assert series.tolist() == [0] * 8


@pytest.mark.parametrize("fit_on,rows", [("train", "train_end"), ("train+val", "val_end")])
def test_the_preprocessor_sees_exactly_the_rows_training_uses(frame2, fit_on, rows):
    p = prepare(frame2, cfg(), fit_on=fit_on)
    end = getattr(p, rows)
    assert p.fit_end == end and p.target_starts("train")[1] == end - p.cfg.horizon + 1
    np.testing.assert_allclose(p.preprocessor.mean, frame2.to_numpy()[:end].mean(axis=0))


def test_fit_on_all_rows_trains_on_every_window(frame2):
    p = prepare(frame2, cfg(), fit_on="all")
    assert p.target_starts("train") == (12, len(frame2) - 4 + 1)
    np.testing.assert_allclose(p.preprocessor.mean, frame2.to_numpy().mean(axis=0))
