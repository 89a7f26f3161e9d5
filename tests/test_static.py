"""Static covariates: one value per series of a panel, encoded once for the panel, read on every step."""
import numpy as np
import pandas as pd
import pytest
import torch

from forecast.config import DataConfig, ModelConfig, TrainConfig
from forecast.errors import ForecastError
from forecast.panel import prepare_panel, validate_panel
from forecast.preprocess import encode_static, static_table, static_values
from forecast.windows import stage_dataset
from tests.conftest import make_frame

FAST = TrainConfig(max_epochs=2, batch_size=32, accelerator="cpu", patience=0)
DATA = DataConfig(targets=("y",), static=("kind", "size"), seq_len=8, horizon=3)


def stores(n_series=4, n=120) -> dict:
    """Series whose `kind` and `size` repeat on every row, as a long file gives them."""
    return {f"s{i}": make_frame(n=n, seed=i).assign(kind="mall" if i % 2 else "office", size=100.0 + 10 * i)
            for i in range(n_series)}


def test_text_is_one_hot_over_sorted_categories_and_numbers_are_standardised_across_series():
    table = pd.DataFrame({"kind": ["office", "mall", "office"], "size": [1.0, 2.0, 6.0]}, index=["a", "b", "c"])
    names, vectors, _ = encode_static(table)
    assert names == ["kind=mall", "kind=office", "size"]
    np.testing.assert_array_equal(vectors[:, :2], [[0, 1], [1, 0], [0, 1]])
    np.testing.assert_allclose(vectors[:, 2], (np.array([1, 2, 6]) - 3) / np.std([1, 2, 6]))


def test_a_static_column_that_changes_is_blank_or_the_same_everywhere_is_refused():
    frame = stores()["s1"]
    changed = frame.assign(kind=["mall"] * 60 + ["office"] * 60)
    with pytest.raises(ForecastError, match=r"series s1: static column 'kind' changes from 'mall' to 'office' at 2020-03-01"):
        static_values(changed, ("kind",), "series s1")
    with pytest.raises(ForecastError, match="'size' is blank at 2020-01-01"):
        static_values(frame.assign(size=[np.nan] + [1.0] * 119), ("size",), "series s1")
    same = {name: f.assign(kind="mall") for name, f in stores().items()}
    with pytest.raises(ForecastError, match="'kind' is 'mall' for every series: it tells the model nothing"):
        encode_static(static_table(same, ("kind",)))
    many = pd.DataFrame({"postcode": [f"p{i}" for i in range(101)]})
    with pytest.raises(ForecastError, match="'postcode' has 101 categories; one-hot, each would be an input"):
        encode_static(many)
    with pytest.raises(ForecastError, match="one series has no use for them"):
        from forecast.train import fit
        fit(stores()["s1"], DATA, ModelConfig(hidden_size=4), FAST, quiet=True)


def test_every_input_row_of_a_window_ends_with_its_own_series_static_vector():
    frames, _ = validate_panel(stores(), ["y"], static=DATA.static)
    assert list(frames["s1"].columns) == ["y", "kind", "size"]
    panel = prepare_panel(frames, DATA)
    names, vectors, _ = encode_static(static_table(frames, DATA.static))
    for stage in ("train", "val", "test"):
        dataset = stage_dataset(panel, stage)
        x, _, series = dataset[torch.arange(len(dataset))]
        expected = torch.tensor(vectors, dtype=torch.float32)[series]  # (B, K), the window's own series
        assert torch.equal(x[:, :, -len(names):], expected[:, None, :].expand(-1, 8, -1))
        assert torch.equal(x[:, :, :1], torch.cat([p.values[:, :1] for p in panel.parts])[
            (torch.as_tensor(panel.stage_starts(stage))[:, None] + torch.arange(-8, 0))])


def test_the_network_reads_static_values_unshifted_and_a_saved_model_keeps_them(tmp_path):
    from dataclasses import replace

    from forecast.train import fit
    from forecast.trained import TrainedModel
    result = fit(stores(), DATA, ModelConfig(hidden_size=8, cell="gru"), FAST, quiet=True, refit=False)
    pre = result.model.members["s1"].preprocessor
    assert pre.static_names == ["kind=mall", "kind=office", "size"] and pre.static[:2].tolist() == [1.0, 0.0]
    loaded = TrainedModel.load(result.save(tmp_path / "m.safetensors"))
    pd.testing.assert_frame_equal(loaded.predict(), result.model.predict())
    # the same history read as another kind of store forecasts otherwise: the network uses it
    one = loaded.member("s1")
    member = one.members["s1"]
    as_office = replace(one, members={"s1": replace(member, preprocessor=type(pre).from_dict(
        {**pre.to_dict(), "static": [0.0, 1.0, pre.static[2]]}))})
    assert not np.allclose(one.predict()["y"], as_office.predict()["y"])
    # fresh history need not carry the static columns: the model's own values are used
    fresh = {name: f[["y"]] for name, f in stores().items()}
    pd.testing.assert_frame_equal(loaded.predict(fresh), loaded.predict())


def drifting(n_series=16, n=160) -> dict:
    """Random walks that drift up or down by their kind; a 2-step window barely shows which."""
    rng = np.random.default_rng(0)
    out = {}
    for i in range(n_series):
        drift = 1.0 if i % 2 else -1.0
        y = 100 + np.cumsum(drift + rng.standard_normal(n))
        out[f"s{i}"] = pd.DataFrame({"y": y, "kind": "up" if i % 2 else "down"},
                                    index=pd.date_range("2020-01-01", periods=n, freq="D"))
    return out


@pytest.mark.slow
def test_a_static_kind_tells_the_model_what_a_short_window_cannot():
    from forecast.train import fit
    data = DataConfig(targets=("y",), seq_len=2, horizon=4)
    model, train = ModelConfig(hidden_size=16, cell="gru"), TrainConfig(max_epochs=15, accelerator="cpu", seed=1)
    without = fit(drifting(), data, model, train, quiet=True, refit=False).metrics["model"]["rmse"]
    with_kind = fit(drifting(), data.override(static=("kind",)), model, train, quiet=True,
                    refit=False).metrics["model"]["rmse"]
    assert with_kind < 0.85 * without, (with_kind, without)


def test_a_new_series_with_a_trained_series_history_and_kind_is_forecast_as_that_series(tmp_path):
    from forecast.train import fit
    from forecast.trained import TrainedModel
    frames = stores()
    model = fit(frames, DATA, ModelConfig(hidden_size=8, cell="gru"), FAST, quiet=True).model  # refit: all rows
    twin = {"opened": frames["s1"]}  # s1's rows, kind and size under a new name
    both = model.predict({**frames, **twin}, series=["s1", "opened"], new=True)
    np.testing.assert_allclose(both[both.series == "opened"]["y"], both[both.series == "s1"]["y"], rtol=1e-6)
    as_office = model.predict({"opened": frames["s1"].assign(kind="office")}, series=["opened"], new=True)
    assert not np.allclose(as_office["y"], both[both.series == "opened"]["y"])
    # its intervals are the trained series' median widths; the extended model saves and loads
    extended = model.add_series(twin)
    margins = np.stack([m.calibration.margin for name, m in model.members.items()])
    np.testing.assert_allclose(extended.members["opened"].calibration.margin, np.median(margins, axis=0))
    loaded = TrainedModel.load(extended.save(tmp_path / "x.safetensors"))
    pd.testing.assert_frame_equal(loaded.predict(series=["opened"]), extended.predict(series=["opened"]))


def test_a_new_series_needs_new_true_known_values_and_a_model_without_per_series_parts():
    from forecast.train import fit
    frames = stores()
    model = fit(frames, DATA, ModelConfig(hidden_size=4), FAST, quiet=True, refit=False).model
    with pytest.raises(ForecastError, match=r"no series 'opened' in this model.*--new-series"):
        model.predict({"opened": frames["s1"]})
    with pytest.raises(ForecastError, match="'kind' is 'kiosk', which the model never saw; it knows: mall, office"):
        model.predict({"opened": frames["s1"].assign(kind="kiosk")}, new=True)
    with pytest.raises(ForecastError, match="'size' is 'big', not a number as in training"):
        model.predict({"opened": frames["s1"].assign(size="big")}, new=True)
    embedded = fit(frames, DATA, ModelConfig(hidden_size=4, series_embedding=2), FAST, quiet=True, refit=False).model
    with pytest.raises(ForecastError, match="learned a vector for each series it trained on"):
        embedded.predict({"opened": frames["s1"]}, new=True)


def test_the_cli_fits_with_static_columns_and_forecasts_a_new_store_only_when_asked(run, tmp_path):
    from forecast.panel import to_long
    frames = stores()
    to_long({n: f for n, f in frames.items() if n != "s3"}, "store").to_csv(tmp_path / "old.csv")
    to_long({**frames, "young": frames["s3"].iloc[-5:]}, "store").to_csv(tmp_path / "all.csv")
    fitted = run("fit", "--csv", "old.csv", "--series-col", "store", "--target", "y", "--static", "kind,size",
                 "--seq-len", "8", "--horizon", "3", "--max-epochs", "1", "--quiet", "--out", "m")
    assert fitted.returncode == 0, fitted.stderr
    left_out = run("predict", "--model", "m", "--csv", "all.csv", "--series-col", "store")
    assert left_out.returncode == 0 and "2 series of the fresh data are not in the model (s3, young)" in left_out.stderr
    assert "s3" not in left_out.stdout
    added = run("predict", "--model", "m", "--csv", "all.csv", "--series-col", "store", "--new-series",
                "--output", "next.csv")
    assert added.returncode == 0 and "new series (not trained on): s3;" in added.stdout, added.stderr
    assert "1 new series have fewer than the 8 rows of history a forecast needs (young); left out" in added.stderr
    table = pd.read_csv(tmp_path / "next.csv")
    assert table.series.value_counts().to_dict() == {"s0": 3, "s1": 3, "s2": 3, "s3": 3}


def test_one_new_series_can_be_given_as_a_frame_named_by_series_and_its_history_must_be_long_enough():
    from forecast.train import fit
    frames = {n: f.drop(columns=["kind", "size"]) for n, f in stores().items()}
    model = fit(frames, DataConfig(targets=("y",), seq_len=8, horizon=3), ModelConfig(hidden_size=4), FAST,
                quiet=True, refit=False).model
    one = model.predict(frames["s2"], series=["opened"], new=True)
    assert one.series.unique().tolist() == ["opened"] and len(one) == 3
    with pytest.raises(ForecastError, match="series opened: 5 rows of history; this model needs at least 8"):
        model.predict(frames["s2"].iloc[:5], series=["opened"], new=True)


def test_a_study_tunes_a_panel_with_static_columns_and_its_refit_keeps_them(tmp_path):
    from forecast.study import StudySpec
    from forecast.tuning import tune
    spec = StudySpec(study_name="stores", storage=f"sqlite:///{tmp_path}/s.db",
                     data={"targets": ["y"], "static": ["kind", "size"], "horizon": 3},
                     train={"max_epochs": 1, "accelerator": "cpu"},
                     search={"hidden_size": [4, 8], "seq_len": [8, 16]}, n_trials=2)
    result = tune(spec, stores())
    assert result.refit.model.data.static == ("kind", "size")
    assert result.refit.model.members["s1"].preprocessor.static_names == ["kind=mall", "kind=office", "size"]
    assert result.refit.model.static_encoding["kind"] == {"categories": ["mall", "office"]}
