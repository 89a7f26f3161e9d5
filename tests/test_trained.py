"""The trained model: one type from fit and from a file; predict equals evaluate; safe, clear loading."""
import json

import numpy as np
import pandas as pd
import pytest
import torch

from forecast.config import DataConfig, ModelConfig, TrainConfig
from forecast.errors import ForecastError
from forecast.train import fit
from forecast.trained import TrainedModel
from tests.conftest import make_frame

FAST = TrainConfig(max_epochs=2, batch_size=32, accelerator="cpu", patience=0)


@pytest.fixture(scope="module")
def fitted():
    frame = make_frame(n=300, cols=("y", "x"))
    return fit(frame, DataConfig(targets=("y",), features=("x",), seq_len=20, horizon=4,
                                 transform="log"), ModelConfig(hidden_size=16), FAST, quiet=True)


def test_fit_and_load_give_the_same_type_with_identical_forecasts(fitted, tmp_path):
    path = fitted.save(tmp_path / "m.safetensors")
    loaded = TrainedModel.load(path)
    assert type(loaded) is type(fitted.model) is TrainedModel
    direct, reloaded = fitted.model.predict(), loaded.predict()
    pd.testing.assert_frame_equal(direct, reloaded)
    assert list(direct.columns) == ["y", "y_lower80", "y_upper80", "y_lower90", "y_upper90"]
    assert len(direct) == 4 and (direct["y_lower90"] < direct["y_lower80"]).all()
    assert ((direct["y_lower80"] < direct["y"]) & (direct["y"] < direct["y_upper80"])).all()
    assert direct.index[0] == fitted.model.history.index[-1] + pd.Timedelta(days=1)
    assert loaded.info["test_metrics"]["skill"] == pytest.approx(fitted.metrics["skill"])
    assert loaded.info["trained_on"] == "all 300 rows"
    fitted.save(tmp_path / "run" / "model.safetensors")  # the folder `forecast fit` writes loads too
    pd.testing.assert_frame_equal(TrainedModel.load(tmp_path / "run").predict(), direct)


@pytest.mark.parametrize("transform, time_features, cycle", [
    ("none", (), 0), ("log", (), 0), ("log_return", (), 0), ("log_return", ("dayofweek", "month"), 0),
    ("log", ("month",), 7)])
def test_predict_from_the_history_ending_at_a_test_origin_equals_evaluate(transform, time_features, cycle, tmp_path):
    frame = make_frame(n=260, cols=("y", "x"))
    result = fit(frame, DataConfig(targets=("y",), features=("x",), seq_len=12, horizon=3,
                                   transform=transform, time_features=time_features, cycle=cycle),
                 ModelConfig(hidden_size=8), FAST, quiet=True, refit=False)
    # the saved model computes the time features and the phases again from the dates it is given
    model = TrainedModel.load(result.save(tmp_path / "m.safetensors")) if time_features else result.model
    for i in (0, 17, len(result.test.index) - 1):
        first_target = result.test.index[i]
        history = frame[frame.index < first_target]
        predicted = model.predict(history)
        np.testing.assert_allclose(predicted["y"].to_numpy(), result.test.forecast[i, :, 0], rtol=1e-6)
        assert predicted.index[0] == first_target


def test_predict_with_fresher_history_uses_its_end(fitted):
    fresh = make_frame(n=100, cols=("y", "x"), start="2021-06-01")
    forecast = fitted.model.predict(fresh)
    assert forecast.index[0] == pd.Timestamp("2021-06-01") + pd.Timedelta(days=100)


def test_predict_when_history_lacks_a_trained_column_then_error_says_rename(fitted):
    with pytest.raises(ForecastError, match=r"history lacks column\(s\) 'x' this model was trained on "
                                            r"\(it has: y, z\); rename them to match"):
        fitted.model.predict(make_frame(n=100, cols=("y", "z")))


def test_predict_from_fresh_data_at_another_step_than_the_model_was_trained_on_is_refused(fitted):
    weekly = make_frame(n=100, cols=("y", "x"), freq="W")
    with pytest.raises(ForecastError, match="rows are 7 days apart, but this model was trained on rows 1 day apart"):
        fitted.model.predict(weekly)
    business = make_frame(n=100, cols=("y", "x"), freq="B")  # weekends skipped: still a daily step
    assert len(fitted.model.predict(business)) == 4


def test_predict_when_history_too_short_then_error(fitted):
    with pytest.raises(ForecastError, match="needs the last 20"):
        fitted.model.predict(make_frame(n=10, cols=("y", "x")))


def test_a_saved_model_plots_its_forecast(fitted):
    fig = fitted.model.plot()
    assert fig.axes[0].get_ylabel() == "y (original units)"
    assert len(fig.axes[0].lines) == 2
    with pytest.raises(ForecastError, match=r"target 1: the index of one of \['y'\]"):
        fitted.model.plot(target=1)
    for figure in (fitted.plot, fitted.test.plot):  # fit's test span, and any Evaluation
        with pytest.raises(ForecastError, match="target 'y': the index of one of"):
            figure("y")


def test_when_model_file_corrupt_truncated_or_foreign_then_clear_error(fitted, tmp_path):
    good = fitted.save(tmp_path / "m.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(good[: len(good) // 2])
    (tmp_path / "junk.safetensors").write_bytes(b"not a model")
    from safetensors.torch import save_file
    save_file({"w": torch.zeros(2)}, str(tmp_path / "foreign.safetensors"))
    for name, message in [("cut", "not a readable model file"), ("junk", "not a readable model file"),
                          ("foreign", "not a forecast model"), ("missing", "not found")]:
        with pytest.raises(ForecastError, match=message):
            TrainedModel.load(tmp_path / f"{name}.safetensors")


def _rewrite(fitted, path, change_meta=None, drop=None):
    from safetensors.torch import save_file
    meta = fitted.model.metadata()
    if change_meta:
        change_meta(meta)
    tensors = {f"net.{k}": v.contiguous() for k, v in fitted.model.net.state_dict().items()}
    tensors["history.0"] = torch.tensor(np.ascontiguousarray(fitted.model.history.to_numpy()))
    for key in drop or ():
        tensors.pop(key)
    save_file(tensors, str(path), metadata={"forecast": json.dumps(meta)})
    return path


@pytest.mark.parametrize("change,drop,message", [
    (lambda m: m.pop("data"), None, "damaged or incomplete"),
    (lambda m: m["members"][0]["preprocessor"].update(mean=[0.0]), None, "scaler statistics"),
    (lambda m: m["members"][0]["preprocessor"].update(columns=["y"]), None, "2 means and 2 spreads for 1 columns"),
    (lambda m: m["members"][0]["preprocessor"].update(columns=["y", "z"]), None, "columns or transform"),
    (lambda m: m["members"][0].update(history_index=m["members"][0]["history_index"][:3]), None,
     "saved history has shape"),
    (None, ["history.0"], "series 0 lacks its history"),
    (lambda m: m.update(members=[]), None, "holds no series"),
    (lambda m: m["members"][0]["calibration"].update(margin=[[[1.0]]]), None, "interval margins of shape"),
    (lambda m: m["members"][0]["calibration"].update(
        margin=[[[-abs(v or 1.0) for v in row] for row in k] for k in m["members"][0]["calibration"]["margin"]]),
     None, "negative margin would invert"),
    (lambda m: m["members"][0]["calibration"].update(coverage=[0.5, 0.9]), None, "intervals for"),
    (lambda m: m["members"][0]["preprocessor"].update(std=[0.0, 1.0]), None, "scaler statistics are not finite"),
    (lambda m: m["members"][0]["preprocessor"].update(n_targets=2), None, "has 2 targets"),
    (lambda m: m["model"].update(hidden_size=200_000), None, "weights do not match"),  # 160 GB if built
    (lambda m: m.update(version=99), None, "newer forecast"),
    (lambda m: m["model"].update(hidden_size=7), None, "weights do not match"),
])
def test_when_model_metadata_is_damaged_then_one_clear_error(fitted, tmp_path, change, drop, message):
    path = _rewrite(fitted, tmp_path / "bad.safetensors", change, drop)
    with pytest.raises(ForecastError, match=message):
        TrainedModel.load(path)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_weight_or_history_that_is_not_a_finite_number_is_refused(fitted, tmp_path, value):
    from safetensors.torch import load_file, save_file
    from safetensors import safe_open
    good = fitted.save(tmp_path / "good.safetensors")
    with safe_open(str(good), framework="pt") as f:
        header = f.metadata()
    for name in ("history.0", next(k for k in load_file(str(good)) if k.startswith("net."))):
        tensors = load_file(str(good))
        tensors[name] = tensors[name].clone().reshape(-1).index_fill(0, torch.tensor([0]), value).reshape(
            tensors[name].shape)
        save_file(tensors, str(tmp_path / "bad.safetensors"), metadata=header)
        with pytest.raises(ForecastError, match=f"tensor '{name}' holds values that are not finite"):
            TrainedModel.load(tmp_path / "bad.safetensors")


def test_a_save_is_atomic_and_leaves_no_temporary_file(fitted, tmp_path):
    fitted.save(tmp_path / "m.safetensors")
    fitted.save(tmp_path / "m.safetensors")  # overwrite in place
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]
    (tmp_path / "run").mkdir()
    assert fitted.model.save(tmp_path / "run") == tmp_path / "run" / "model.safetensors"  # as load reads a folder
    assert TrainedModel.load(tmp_path / "run").predict().equals(fitted.model.predict())


def test_trading_day_forecast_skips_weekends_and_holidays():
    from forecast.dates import future_dates
    dates = future_dates(pd.Timestamp("2012-12-21"), 4, "XNYS")  # Friday before Christmas
    assert [str(d.date()) for d in dates] == ["2012-12-24", "2012-12-26", "2012-12-27", "2012-12-28"]


@pytest.mark.parametrize("version", [1, 2, 3])
def test_a_model_file_of_a_format_before_4_is_refused_with_what_to_do(fitted, tmp_path, version):
    """Formats 1 to 3 (forecast 0.1: one series at the top level, a bare scaler) are no longer read."""
    from safetensors.torch import save_file
    model = fitted.model
    meta = {**model.metadata(), "version": version}
    tensors = {f"net.{k}": v.contiguous() for k, v in model.net.state_dict().items()}
    tensors["history"] = torch.tensor(np.ascontiguousarray(model.history.to_numpy()))
    save_file(tensors, str(tmp_path / "old.safetensors"), metadata={"forecast": json.dumps(meta)})
    with pytest.raises(ForecastError, match=f"old.safetensors: written in model-file format {version} "
                                            r"\(forecast 0.1\), which this version no longer reads; fit"):
        TrainedModel.load(tmp_path / "old.safetensors")


@pytest.mark.parametrize("switches,normalize", [({"instance_norm": True, "instance_scale": False}, "last"),
                                                ({"instance_norm": False, "instance_scale": False}, "none"),
                                                ({"instance_norm": True, "instance_scale": True}, "last+scale")])
def test_a_model_file_of_format_4_loads_with_its_normalisation_switches_as_one_setting(switches, normalize,
                                                                                     tmp_path):
    """Format 4 had instance_norm / instance_scale and eight experimental switches, all saved."""
    from safetensors.torch import save_file
    result = fit(make_frame(n=300), DataConfig(targets=("y",), seq_len=20, horizon=3),
                 ModelConfig(hidden_size=8, normalize=normalize), FAST, quiet=True, refit=False)
    meta = result.model.metadata()
    meta["version"] = 4
    meta.pop("net")
    meta["model"].pop("normalize")
    meta["model"].update(switches, decoder="linear", linear_skip=False, skip_period=0, fit_skip=False,
                         skip_ridge=None, blend_linear=False, linear_weight=None, ensemble=1)
    tensors = {f"net.{k}": v.contiguous() for k, v in result.model.net.state_dict().items()}
    tensors["history.0"] = torch.tensor(np.ascontiguousarray(result.model.history.to_numpy()))
    save_file(tensors, str(tmp_path / "v4.safetensors"), metadata={"forecast": json.dumps(meta)})
    old = TrainedModel.load(tmp_path / "v4.safetensors")
    assert old.model.normalize == normalize
    pd.testing.assert_frame_equal(old.predict(), result.model.predict())
    meta["model"].update(blend_linear=True, linear_weight=0.5)  # a model of a switch that left the product
    save_file(tensors, str(tmp_path / "blend.safetensors"), metadata={"forecast": json.dumps(meta)})
    with pytest.raises(ForecastError, match="uses blend_linear, linear_weight, which left the product"):
        TrainedModel.load(tmp_path / "blend.safetensors")


def test_a_model_with_known_columns_predicts_from_their_future_values_as_evaluate_did(tmp_path):
    frame = make_frame(n=260, cols=("y", "x"))
    result = fit(frame, DataConfig(targets=("y",), known=("x",), seq_len=12, horizon=3),
                 ModelConfig(hidden_size=8), FAST, quiet=True, refit=False)
    model = TrainedModel.load(result.save(tmp_path / "m.safetensors"))
    for i in (0, 17, len(result.test.index) - 1):
        first_target = result.test.index[i]
        history = frame[frame.index < first_target]
        future = frame.loc[frame.index >= first_target, ["x"]].iloc[:3]  # x at the dates forecast
        predicted = model.predict(history, future=future)
        np.testing.assert_allclose(predicted["y"].to_numpy(), result.test.forecast[i, :, 0], rtol=1e-6)
    ahead = pd.concat([history, future.assign(y=np.nan)])  # the dates forecast, y not known yet
    pd.testing.assert_frame_equal(model.predict(ahead), predicted)
    other = model.predict(history, future=future * 0 + 100)
    assert not np.allclose(other["y"], predicted["y"])  # the network reads them
    with pytest.raises(ForecastError, match=r"reads the future values of x: give them for the 3 dates forecast"):
        model.predict(history)
    with pytest.raises(ForecastError, match=r"no number for x at"):
        model.predict(history, future=future.iloc[:2])
    with pytest.raises(ForecastError, match=r"lack column\(s\) 'x'"):
        model.predict(history, future=future.rename(columns={"x": "z"}))


@pytest.mark.slow
def test_a_known_column_is_read_over_the_horizon_ahead_and_beats_the_same_column_read_as_a_feature():
    rng = np.random.default_rng(0)
    n = 700
    promo = (rng.random(n) < 0.15).astype(float)  # announced ahead: sales jump on those days
    frame = pd.DataFrame({"sales": 50 + rng.normal(0, 1, n) + 8 * promo, "promo": promo},
                         index=pd.date_range("2020-01-01", periods=n, freq="D"))
    train = TrainConfig(max_epochs=60, patience=10, learning_rate=1e-2, accelerator="cpu")
    rmse = {}
    for role in ("features", "known"):
        data = DataConfig(targets=("sales",), seq_len=14, horizon=7, **{role: ("promo",)})
        rmse[role] = fit(frame, data, ModelConfig(cell="gru", hidden_size=32), train, quiet=True,
                         refit=False).metrics["model"]["rmse"]
    assert rmse["known"] < 0.6 * rmse["features"], rmse  # a past promotion says nothing of the next


def test_an_ensemble_is_saved_and_loaded_with_every_member_and_forecasts_the_same(tmp_path):
    from forecast.model import Ensemble

    frame = make_frame(n=200, cols=("y",))
    result = fit(frame, DataConfig(targets=("y",), seq_len=12, horizon=3), ModelConfig(hidden_size=8, segment_len=4),
                 TrainConfig(max_epochs=1, batch_size=32, accelerator="cpu", patience=0, ensemble=2), quiet=True)
    assert isinstance(result.model.net, Ensemble) and len(result.model.net.members) == 2
    loaded = TrainedModel.load(result.save(tmp_path / "m.safetensors"))
    assert isinstance(loaded.net, Ensemble) and loaded.train.ensemble == 2
    pd.testing.assert_frame_equal(result.model.predict(), loaded.predict())
    with pytest.raises(ForecastError, match="ensemble must be a positive whole number"):
        TrainConfig(ensemble=0)
    from forecast.trainer import update

    longer = make_frame(n=230, cols=("y",))  # the same dates and values, 30 rows more
    updated = update(loaded, longer, epochs=1, quiet=True)[0]  # builds the ensemble from the saved settings
    assert isinstance(updated.net, Ensemble) and len(updated.net.members) == 2
    assert updated.predict().index[0] > result.model.predict().index[0]


@pytest.mark.parametrize("history,series", [([1.0, 2.0], None), (None, [])])
def test_a_history_that_is_no_frame_or_an_empty_list_of_series_is_one_clear_error(fitted, history, series):
    with pytest.raises(ForecastError, match="history is a frame"):
        fitted.model.predict(history, series=series)


def test_a_plateau_schedule_follows_the_training_loss_where_there_is_no_validation():
    from forecast.trainer import update

    frame = make_frame(n=200)
    plateau = FAST.override(schedule="plateau")
    result = fit(frame.iloc[:160], DataConfig(targets=("y",), seq_len=10, horizon=3), ModelConfig(hidden_size=8),
                 plateau, quiet=True)  # the refit on every row has no validation span
    assert result.model.info["trained_on"] == "all 160 rows"
    updated, changed = update(result.model, frame, epochs=2)  # nor has an update
    assert changed["new_rows"] == 40


def test_in_a_panel_the_series_that_cannot_be_forecast_is_named():
    frame = make_frame(n=160, cols=("y", "t"))
    model = fit({"a": frame, "b": frame * 2}, DataConfig(targets=("y",), known=("t",), seq_len=10, horizon=3),
                ModelConfig(hidden_size=8), FAST, quiet=True).model
    ahead = pd.DataFrame({"t": [0.1, 0.2, 0.3]}, index=pd.date_range(frame.index[-1], periods=4, freq="D")[1:])
    assert len(model.predict(future={"a": ahead, "b": ahead})) == 6
    with pytest.raises(ForecastError, match="^series b: this model reads the future values of t"):
        model.predict(future={"a": ahead})
