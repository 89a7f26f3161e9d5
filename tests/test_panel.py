"""Many series, one model: ragged panels windowed per series, one calendar cut, per-series scaling."""
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from forecast.config import DataConfig, ModelConfig, SourceConfig, TrainConfig
from forecast.windows import split_steps
from forecast.errors import ForecastError
from forecast.panel import calendar_cut, from_long, from_wide, prepare_panel, to_long
from forecast.windows import stage_dataset
from tests.conftest import make_frame

FAST = TrainConfig(max_epochs=2, batch_size=32, accelerator="cpu", patience=0)
DATA = DataConfig(targets=("y",), seq_len=8, horizon=3)


def ragged() -> dict:
    """Three series of different lengths, starts, ends and levels."""
    return {"a": make_frame(n=200, seed=1, start="2020-01-01"),
            "b": make_frame(n=150, seed=2, start="2020-02-15") * 3 + 40,
            "c": make_frame(n=260, seed=3, start="2019-12-01") - 5}


def test_windows_of_a_ragged_panel_equal_a_brute_force_construction_per_series():
    panel = prepare_panel(ragged(), DATA)
    for stage in ("train", "val", "test"):
        dataset = stage_dataset(panel, stage)
        x, y, _ = dataset[torch.arange(len(dataset))]
        expected_x, expected_y = [], []
        for part in panel.parts:  # each series alone, window by window
            lo, hi = part.target_starts(stage)
            for s in range(lo, hi):
                expected_x.append(part.values[s - 8:s])
                expected_y.append(part.values[s:s + 3, :1])
        assert torch.equal(x, torch.stack(expected_x)) and torch.equal(y, torch.stack(expected_y))


def test_no_window_crosses_from_one_series_into_the_next():
    panel = prepare_panel(ragged(), DATA)
    ends = np.cumsum([len(p.values) for p in panel.parts])
    for stage in ("train", "val", "test"):
        starts = panel.stage_starts(stage).numpy()
        series = np.searchsorted(ends, starts, side="right")  # the series a window's target starts in
        first_input, last_target = starts - 8, starts + 3 - 1
        assert (np.searchsorted(ends, first_input, side="right") == series).all()
        assert (np.searchsorted(ends, last_target, side="right") == series).all()


def test_validation_and_test_are_the_same_dates_for_every_series():
    panel = prepare_panel(ragged(), DATA)
    for part in panel.parts:
        assert part.index[part.train_end] >= pd.Timestamp(panel.cfg.val_start) > part.index[part.train_end - 1]
        assert part.index[part.val_end] >= pd.Timestamp(panel.cfg.test_start) > part.index[part.val_end - 1]


def test_poison_after_the_cut_changes_no_scaler_and_no_training_window():
    frames = ragged()
    clean = prepare_panel(frames, DATA)
    poisoned = {}
    for name, frame in frames.items():
        frame = frame.copy()
        frame.loc[frame.index >= pd.Timestamp(clean.cfg.val_start), "y"] = 1e9
        poisoned[name] = frame
    dirty = prepare_panel(poisoned, DATA)
    for a, b in zip(clean.parts, dirty.parts):
        np.testing.assert_array_equal(a.preprocessor.mean, b.preprocessor.mean)
        np.testing.assert_array_equal(a.preprocessor.std, b.preprocessor.std)
    x1, y1, _ = stage_dataset(clean, "train")[torch.arange(len(stage_dataset(clean, "train")))]
    x2, y2, _ = stage_dataset(dirty, "train")[torch.arange(len(stage_dataset(dirty, "train")))]
    assert torch.equal(x1, x2) and torch.equal(y1, y2)


def test_each_series_is_scaled_by_its_own_training_rows():
    panel = prepare_panel(ragged(), DATA)
    for name, part in zip(panel.names, panel.parts):
        train = ragged()[name]["y"].to_numpy()[:part.fit_end]
        assert part.preprocessor.mean[0] == pytest.approx(train.mean())


def test_long_and_wide_inputs_give_identical_panels():
    frames = {"a": make_frame(n=120, seed=1), "b": make_frame(n=120, seed=2) + 3}
    long = pd.concat([f.assign(id=name) for name, f in frames.items()])
    wide = pd.DataFrame({name: f["y"] for name, f in frames.items()})
    from_l, from_w = from_long(long, "id"), from_wide(wide, ["a", "b"], name="y")
    assert list(from_l) == list(from_w) == ["a", "b"]
    a, b = prepare_panel(from_l, DATA), prepare_panel(from_w, DATA)
    assert torch.equal(a.values, b.values) and a.cfg == b.cfg
    back = from_long(to_long(from_l, "id"), "id")  # to_long is from_long's inverse
    assert list(back) == ["a", "b"] and all(back[n].equals(from_l[n]) for n in back)


def test_a_series_too_short_for_the_cut_is_named_or_left_out_when_asked():
    frames = {**ragged(), "tiny": make_frame(n=12, seed=4, start="2020-06-01")}
    with pytest.raises(ForecastError, match="1 of 4 series cannot be used with the common split.*tiny"):
        prepare_panel(frames, DATA)
    panel = prepare_panel(frames, DATA, drop_bad=True)
    assert panel.names == ["a", "b", "c"] and "tiny" in panel.dropped


def test_the_cut_comes_from_the_union_of_dates_unless_dates_are_given():
    cfg = calendar_cut(ragged(), DATA)
    assert cfg.val_start is not None and cfg.test_start > cfg.val_start
    given = DATA.override(val_start="2020-05-01", test_start="2020-06-01")
    assert calendar_cut(ragged(), given) is given


def test_a_panel_fit_reports_each_series_and_predicts_each_its_own_future(tmp_path):
    from forecast.train import fit
    from forecast.trained import TrainedModel
    result = fit(ragged(), DATA, ModelConfig(hidden_size=8), FAST, quiet=True)
    assert set(result.metrics["series"]) == {"a", "b", "c"}
    assert result.metrics["verdict"][0].startswith("The model beats the naive forecast on")
    assert len(result.test.actual) == sum(len(ev.actual) for ev in result.by_series.values())
    table = result.model.predict()
    assert list(table["series"].unique()) == ["a", "b", "c"]
    for name, frame in ragged().items():  # each series' forecast starts the day after its own end
        assert table[table.series == name].index[0] == frame.index[-1] + pd.Timedelta(days=1)
    loaded = TrainedModel.load(result.save(tmp_path / "panel.safetensors"))
    pd.testing.assert_frame_equal(loaded.predict(), table)
    assert loaded.predict(series=["b"]).shape[0] == 3
    line = loaded.plot(series="b").axes[0].lines[0]  # the history drawn is b's own, up to its end
    assert pd.Timestamp(line.get_xdata()[-1]) == ragged()["b"].index[-1]
    paths = result.write(tmp_path / "out")
    assert "series metrics" in paths and len(pd.read_csv(paths["series metrics"])) == 3
    assert set(pd.read_csv(paths["test forecasts"])["series"]) == {"a", "b", "c"}
    with pytest.raises(ForecastError, match="forecasts 3 series"):
        _ = result.model.history


def test_a_panel_left_with_one_series_after_dropping_the_bad_ones_writes_and_plots_like_one(tmp_path):
    from forecast.config import SourceConfig as Source
    from forecast.train import fit
    frames = {"a": make_frame(n=200, seed=1, start="2020-01-01"), "tiny": make_frame(n=12, seed=4)}
    result = fit(frames, DATA, ModelConfig(hidden_size=4), FAST, source=Source(drop_bad=True), quiet=True)
    assert not result.is_panel and list(result.parts) == ["a"]
    assert "series" not in result.metrics and "of 1 series" not in result.metrics["verdict"][0]
    paths = result.write(tmp_path)
    table = pd.read_csv(paths["test forecasts"])
    assert len(table) == len(result.test.actual) * 3 and (tmp_path / "test.png").stat().st_size > 0
    from forecast.trainer import update  # newer rows of both: the one left out is left out again, and said
    newer = {name: make_frame(n=len(f) + 5, seed=1, start=str(f.index[0].date())) for name, f in frames.items()}
    updated, changed = update(result.model, newer, epochs=1)
    assert changed["left_out"] == ["tiny"] and list(updated.members) == ["a"] and changed["new_rows"] == 5
    with pytest.raises(ForecastError, match="series tiny not in this model"):  # fitted without drop_bad: refused
        update(replace(result.model, source=Source()), newer, epochs=1)
    with pytest.raises(ForecastError, match="series tiny not in this model"):  # nothing left to train on
        update(result.model, {"tiny": newer["tiny"]}, epochs=1)
    with pytest.raises(ForecastError, match="no newer rows given; give those of the model's series \\(a\\)"):
        update(result.model, {}, epochs=1)


def test_many_samples_load_as_one_panel():
    from forecast.loading import load_panel
    frames, report = load_panel(SourceConfig(sample="all"), ["Close"])
    assert list(frames) == ["AAPL", "MSFT", "IBM", "GOOG"] and report.calendar == "XNYS"
    frames, _ = load_panel(SourceConfig(sample="IBM,MSFT"), ["Close"])
    assert list(frames) == ["IBM", "MSFT"]
    with pytest.raises(ForecastError, match="TSLA"):
        load_panel(SourceConfig(sample="IBM,TSLA"), ["Close"])
    frames, report = load_panel(SourceConfig(sample="IBM,TSLA", drop_bad=True), ["Close"])
    assert list(frames) == ["IBM"] and any("TSLA" in w for w in report.warnings)


def same_end() -> dict:
    """Series of different lengths that all end on the same day."""
    return {"a": make_frame(n=220, seed=1, start="2020-01-01"),
            "b": make_frame(n=160, seed=2, start="2020-03-01") * 3 + 40,
            "c": make_frame(n=260, seed=3, start="2019-11-22") - 5}


def test_a_panel_backtest_trains_one_model_per_fold_and_scores_every_series(tmp_path):
    from forecast.config import BacktestConfig
    from forecast.walkforward import backtest
    frames = same_end()
    assert len({f.index[-1] for f in frames.values()}) == 1
    result = backtest(frames, DATA, ModelConfig(hidden_size=4), FAST,
                      BacktestConfig(origins=6, stride=2, retrain_every=3))
    assert result.folds == 2 and list(dict.fromkeys(result.series)) == ["a", "b", "c"]
    metrics = result.metrics
    assert set(metrics["series"]) == {"a", "b", "c"} and "of 3 series" in metrics["verdict"][0]
    table = result.table()
    for name, frame in frames.items():  # each series is forecast from its own values
        first = table[(table.series == name) & (table.step == 1)]
        assert len(first) == 6
        np.testing.assert_array_equal(first["naive"], frame["y"].loc[first["origin"]].to_numpy())
        np.testing.assert_array_equal(first["actual"], frame["y"].loc[first["target_date"]].to_numpy())
    paths = result.write(tmp_path)
    assert len(pd.read_csv(paths["series metrics"])) == 3
    adaptive = backtest(frames, DATA, ModelConfig(hidden_size=4), FAST,
                        BacktestConfig(origins=6, stride=2, calibration="adaptive", gamma=0.05))
    assert adaptive.intervals.lower.shape == result.intervals.lower.shape


def test_a_series_embedding_is_learned_per_series_saved_and_used_when_predicting(tmp_path):
    from forecast.train import fit
    from forecast.trained import TrainedModel
    result = fit(same_end(), DATA, ModelConfig(hidden_size=8, series_embedding=3), FAST, quiet=True)
    net = result.model.net
    assert net.embedding.weight.shape == (3, 3)
    assert [m.index for m in result.model.members.values()] == [0, 1, 2]
    loaded = TrainedModel.load(result.save(tmp_path / "e.safetensors"))
    pd.testing.assert_frame_equal(loaded.predict(), result.model.predict())
    # the same series with another row of the embedding forecasts otherwise: identity is read
    from dataclasses import replace
    a = loaded.member("a")
    as_b = replace(a, members={"a": replace(a.members["a"], index=1)})
    assert not np.allclose(a.predict()["y"].to_numpy(), as_b.predict()["y"].to_numpy())
    assert loaded.plot(series="b").axes[0].get_title() == "b y: next 3 steps"  # whose forecast it is
    b = loaded.member("b")  # a one-series view keeps b's row of the embedding
    assert b.members["b"].index == 1
    pd.testing.assert_frame_equal(b.predict(), loaded.predict(series=["b"]).drop(columns="series"))


def test_tickers_can_come_from_a_file(tmp_path, monkeypatch):
    (tmp_path / "tickers.txt").write_text("# my portfolio\nIBM, MSFT\nGOOG  # search\n")
    source = SourceConfig(sample=f"@{tmp_path / 'tickers.txt'}")
    assert source.names == ["IBM", "MSFT", "GOOG"] and source.is_panel
    from forecast.loading import load_panel
    frames, _ = load_panel(source, ["Close"])
    assert list(frames) == ["IBM", "MSFT", "GOOG"]
    with pytest.raises(ForecastError, match="ticker file not found"):
        _ = SourceConfig(ticker="@missing.txt").names


def test_a_panel_is_forecast_in_one_pass_with_the_numbers_each_series_gets_alone():
    from forecast.train import fit
    model = fit(ragged(), DATA, ModelConfig(hidden_size=8, quantiles=(0.1, 0.9)), FAST, quiet=True,
                refit=False).model
    fresh = {name: frame.iloc[:-7] for name, frame in ragged().items()}  # each series' own last date
    for history in (None, fresh):
        together = model.predict(history)
        alone = pd.concat([model.member(n).predict(None if history is None else history[n]).assign(series=n)
                           for n in model.series])
        assert together.series.tolist() == alone.series.tolist()
        assert (together.index == alone.index).all() and list(together.columns) == ["series", *alone.columns[:-1]]
        np.testing.assert_allclose(together.drop(columns="series").to_numpy(),
                                   alone.drop(columns="series").to_numpy(), rtol=1e-5, atol=1e-6)


def test_series_named_by_numbers_are_named_as_text_as_the_model_file_keeps_them(tmp_path):
    from forecast.train import fit
    from forecast.trained import TrainedModel
    frames = dict(zip((1, 2, 3), ragged().values()))  # store numbers as a dict's keys
    model = TrainedModel.load(fit(frames, DATA, ModelConfig(hidden_size=4), FAST, quiet=True).model.save(tmp_path / "m"))
    assert model.series == ["1", "2", "3"]
    fresh = model.predict({2: frames[2].iloc[:-5]}, series=[2])  # asked by number too
    pd.testing.assert_frame_equal(fresh, model.predict({"2": frames[2].iloc[:-5]}, series=["2"]))
    with pytest.raises(ForecastError, match=r"two series have one name once written as text \(such as 1 and '1'\)"):
        fit({1: frames[1], "1": frames[2]}, DATA, ModelConfig(hidden_size=4), FAST, quiet=True)


def ragged_ending_together(lengths=(80, 150, 400, 1200, 2600)) -> dict:
    """Series of very different lengths that all end on the same day (stores opened years apart)."""
    end = pd.Timestamp("2024-06-30")
    return {f"s{n}": make_frame(n=n, seed=n, start=str((end - pd.Timedelta(days=n - 1)).date())) for n in lengths}


def test_a_ragged_panel_that_ends_together_is_split_in_steps_from_the_end_and_every_series_takes_part():
    frames = ragged_ending_together()
    data = DataConfig(targets=("y",), seq_len=14, horizon=7)
    panel = prepare_panel(frames, data)
    assert panel.names == list(frames) and not panel.dropped
    val, test = split_steps(data, int(np.median([len(f) for f in frames.values()])), 80)
    assert (val, test) == (29, 29)  # what the 80-step series can give beside 14 + 7 training rows
    for part in panel.parts:  # each series' own last steps: the same for all, the young ones too
        assert len(part.index) - part.val_end == test and part.val_end - part.train_end == val
    fractions = DataConfig(targets=("y",), seq_len=14, horizon=7, val_fraction=0.15, test_fraction=0.15)
    with pytest.raises(ForecastError, match="cannot be used with the common split.*s80"):
        prepare_panel(frames, fractions)  # 15% of 2,600 dates twice: the young series have no training rows


def test_a_split_in_steps_leaks_no_later_value_into_training_or_scaling():
    frames = ragged_ending_together()
    data = DataConfig(targets=("y",), seq_len=14, horizon=7, val_steps=30, test_steps=21)
    clean = prepare_panel(frames, data)
    poisoned = {n: f.assign(y=np.where(f.index >= pd.Timestamp(clean.cfg.val_start), 1e9, f["y"]))
                for n, f in frames.items()}
    dirty = prepare_panel(poisoned, data)
    for a, b in zip(clean.parts, dirty.parts):
        np.testing.assert_array_equal(a.preprocessor.mean, b.preprocessor.mean)
    x1, y1, _ = stage_dataset(clean, "train")[torch.arange(len(stage_dataset(clean, "train")))]
    x2, y2, _ = stage_dataset(dirty, "train")[torch.arange(len(stage_dataset(dirty, "train")))]
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert all(len(p.index) - p.val_end == 21 and p.val_end - p.train_end == 30 for p in clean.parts)


def test_the_default_steps_are_the_most_every_series_can_give_within_15_percent_of_a_typical_one():
    data = DataConfig(targets=("y",), seq_len=30, horizon=5)
    assert split_steps(data, 3270, 2066) == (490, 490)  # the bundled stocks: 15%, as the fractions gave
    assert split_steps(data, 400, 80) == (24, 24)  # a young series: four horizons and 20 windows when it can
    assert split_steps(data, 400, 60) == (24, 24)  # not below that: a series too young for it is named instead
    assert split_steps(DataConfig(targets=("y",), seq_len=3, horizon=1), 28, 28) == (4, 4)  # a tiny panel: 15%


def test_steps_split_one_series_too_and_cannot_be_given_beside_a_fraction():
    from forecast.windows import split_rows
    index = pd.date_range("2024-01-01", periods=300, freq="D")
    assert split_rows(index, DataConfig(targets=("y",), val_steps=40, test_steps=30)) == (230, 270)
    assert split_rows(index, DataConfig(targets=("y",))) == (210, 255)  # one series: 15% each, as before
    with pytest.raises(ForecastError, match="give test_steps or test_fraction, not both"):
        DataConfig(targets=("y",), test_steps=30, test_fraction=0.2)
    with pytest.raises(ForecastError, match="val_steps must be a positive whole number"):
        DataConfig(targets=("y",), val_steps=0)


def test_a_series_too_young_for_the_steps_is_named_with_its_length_and_left_out_when_asked():
    frames = {**ragged_ending_together(), "new": make_frame(n=40, seed=9, start="2024-05-22")}
    data = DataConfig(targets=("y",), seq_len=14, horizon=7)
    with pytest.raises(ForecastError, match=r"1 of 6 series cannot be used.*new: series too short: 40 rows"):
        prepare_panel(frames, data)
    panel = prepare_panel(frames, data, drop_bad=True)
    assert "new" in panel.dropped and len(panel.names) == 5


def test_series_that_end_on_different_dates_keep_the_fractions_of_all_dates_unless_steps_are_given():
    from forecast.panel import split_rule
    frames = ragged()  # they end in July and August
    assert split_rule(frames, DATA).startswith("15% validation and 15% test of all the panel's dates")
    stepped = DataConfig(targets=("y",), seq_len=8, horizon=3, val_steps=10, test_steps=10)
    assert split_rule(frames, stepped).startswith("the last 10 validation and 10 test steps counted back")
    assert calendar_cut(frames, stepped).test_start == "2020-08-07"  # the last 10 days of c, the panel's last


def test_windows_sampled_per_series_give_each_series_the_same_share_of_an_epoch():
    from forecast.trainer import WindowDataModule
    frames = ragged_ending_together((80, 400, 2600))
    data = DataConfig(targets=("y",), seq_len=14, horizon=7)
    dm = WindowDataModule(frames, data, batch_size=256, seed=1, sampling="series")
    dm.setup()
    drawn = torch.cat(list(dm.train_dataloader().sampler))  # the window indices of one epoch
    series = dm.prepared.row_series()[dm.dataset("train").starts[drawn]]
    shares = torch.bincount(series, minlength=3).double() / len(drawn)
    assert len(drawn) == len(dm.dataset("train"))  # an epoch is as long as before
    assert torch.allclose(shares, torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.03)
    plain = WindowDataModule(frames, data, batch_size=256, seed=1)
    plain.setup()
    every = torch.tensor([i for batch in plain.train_dataloader().sampler for i in batch])
    assert sorted(every.tolist()) == list(range(len(plain.dataset("train"))))  # each window once


def test_a_long_frame_in_nixtlas_shape_loads_and_fits_as_a_panel():
    from forecast import fit, load
    days = pd.date_range("2024-01-01", periods=120)
    rng = np.random.default_rng(0)
    long = pd.concat([pd.DataFrame({"unique_id": uid, "ds": days, "y": level + rng.normal(0, 1, 120).cumsum()})
                      for uid, level in (("a", 10.0), ("b", 50.0))])
    frames, report = load(long, ["y"])
    assert sorted(frames) == ["a", "b"] and report.rows == 240
    assert frames["b"]["y"].iloc[0] == long[long.unique_id == "b"]["y"].iloc[0]
    result = fit(long, DataConfig(targets=("y",), seq_len=10, horizon=2), ModelConfig(hidden_size=4),
                 TrainConfig(max_epochs=1, batch_size=32), quiet=True, refit=False)
    assert result.model.series == ["a", "b"]
    with pytest.raises(ForecastError, match="cannot load a list"):
        load([1, 2])


def test_load_returns_a_panel_whatever_the_source_one_series_a_panel_of_one_named_as_fit_names_it():
    from forecast import fit, load
    frames, report = load()  # the bundled sample
    assert list(frames) == ["AAPL"] and report.rows == len(frames["AAPL"]) == 3270
    assert list(load(SourceConfig(sample="IBM"), ["Close"])[0]) == ["IBM"]
    frame = make_frame(n=120, seed=4)
    one, _ = load(frame, ["y"])
    assert list(one) == ["series"] and one["series"].equals(frame[["y"]])
    small = (DataConfig(targets=("y",), seq_len=8, horizon=2), ModelConfig(hidden_size=4), TrainConfig(max_epochs=1))
    assert fit(frame, *small, quiet=True, refit=False).model.series == \
        fit(one, *small, quiet=True, refit=False).model.series == ["series"]
    with pytest.raises(ForecastError, match="--static describes each series of a panel"):
        load(SourceConfig(sample="IBM"), ["Close"], static=("sector",))


def test_a_wide_files_series_are_named_in_plots_not_called_value():
    from forecast.panel import WIDE_VALUE
    from forecast.outputs import plot_forecast
    history = pd.DataFrame({WIDE_VALUE: np.arange(80.0)}, index=pd.date_range("2024-01-01", periods=80))
    ahead = pd.DataFrame({WIDE_VALUE: [81.0, 82.0]}, index=pd.date_range("2024-03-21", periods=2))
    ax = plot_forecast(history, ahead, WIDE_VALUE, "AAPL").axes[0]
    assert ax.get_title() == "AAPL: next 2 steps" and ax.get_ylabel() == "AAPL (original units)"
    assert plot_forecast(history.rename(columns={WIDE_VALUE: "Close"}), ahead.rename(columns={WIDE_VALUE: "Close"}),
                         "Close", "IBM").axes[0].get_title() == "IBM Close: next 2 steps"


def test_an_empty_panel_is_one_clear_error_not_a_crash():
    from forecast import fit, load

    for call in (lambda: load({}), lambda: fit({})):
        with pytest.raises(ForecastError, match="no series; give at least one"):
            call()


def test_a_long_frame_is_history_and_future_for_predict_as_it_is_data_for_fit():
    from forecast.train import fit
    frames = {n: make_frame(n=120, cols=("y", "promo"), seed=i) for i, n in enumerate(("a", "b"))}
    model = fit(frames, DataConfig(targets=("y",), known=("promo",), seq_len=10, horizon=3), ModelConfig(hidden_size=4),
                FAST, quiet=True, refit=False).model
    ahead = pd.date_range(frames["a"].index[-1], periods=4)[1:]
    future = {n: pd.DataFrame({"promo": [1.0, 0.0, 1.0]}, index=ahead) for n in frames}
    by_dict = model.predict(frames, future=future)
    long = lambda d: pd.concat([f.assign(unique_id=n).rename_axis("ds").reset_index() for n, f in d.items()])  # noqa: E731
    pd.testing.assert_frame_equal(model.predict(long(frames), future=long(future)), by_dict)  # Nixtla's shape
    stacked = {k: long(d).set_index(["unique_id", "ds"]) for k, d in (("history", frames), ("future", future))}
    pd.testing.assert_frame_equal(model.predict(**stacked), by_dict)  # (series, time) levels


def test_a_panels_notes_are_said_once_for_the_series_they_hold_for():
    from forecast.loading import load
    frames = {f"s{i}": make_frame(n=40, seed=i).assign(note="x").iloc[::-1] for i in range(5)}  # newest first
    frames["s9"] = make_frame(n=40)
    _, report = load(frames)
    assert report.notes == ["series s0, s1, s2, ... (2 more): the rows run newest first; read oldest first",
                            "series s0, s1, s2, ... (2 more): left out, not numbers: note (e.g. 'x')"]
    cities = {f"s{i}": make_frame(n=40, seed=i).assign(city=f"town{i}") for i in range(50)}  # a text column per store
    assert load(cities)[1].notes == ["series s0, s1, s2, ... (47 more): left out, not numbers: city",  # not 50 lines
                                     "city: one value per series, what --static city reads as what each series is "
                                     "(a store's city or size)"]
    assert load(cities, static=["city"])[1].notes == []  # read as asked: nothing left out
    varying = {n: f.assign(city=[f"town{i % 2}" for i in range(40)]) for n, f in cities.items()}  # moves: no guess
    assert load(varying)[1].notes == ["series s0, s1, s2, ... (47 more): left out, not numbers: city (e.g. 'town0')"]


def test_a_long_file_whose_series_are_named_by_two_columns_is_read_and_forecast_with_its_future(tmp_path):
    from forecast.loading import load
    from forecast.serving import predict_fresh
    from forecast.train import fit
    days = pd.date_range("2024-01-01", periods=60)
    rows = pd.concat([pd.DataFrame({"date": days, "store": s, "item": i, "promo": np.arange(60) % 5 == 0,
                                    "sales": make_frame(n=60, seed=3 * s + i)["y"].to_numpy()})
                      for s in (1, 2) for i in (1, 2)])
    rows.to_csv(tmp_path / "sales.csv", index=False)
    with pytest.raises(ForecastError, match="once per value of columns 'store' and 'item' .* --series-col store,item"):
        load(SourceConfig(path=str(tmp_path / "sales.csv")))
    source = SourceConfig(path=str(tmp_path / "sales.csv"), series_col="store,item")
    frames, _ = load(source, ["sales", "promo"])
    assert list(frames) == ["1/1", "1/2", "2/1", "2/2"] and list(frames["2/1"].columns) == ["sales", "promo"]
    model = fit(frames, DataConfig(targets=("sales",), known=("promo",), seq_len=8, horizon=2),
                ModelConfig(hidden_size=4), FAST, source=source, quiet=True, refit=False).model
    ahead = pd.date_range(days[-1], periods=3)[1:]
    future = pd.concat([pd.DataFrame({"date": ahead, "store": s, "item": i, "promo": [1, 0]}) for s in (1, 2) for i in (1, 2)])
    future.to_csv(tmp_path / "future.csv", index=False)
    made = predict_fresh(model, source, future=tmp_path / "future.csv")
    assert sorted(set(made.table["series"])) == ["1/1", "1/2", "2/1", "2/2"] and len(made.table) == 8
