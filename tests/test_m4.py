"""The M4 benchmark's scorer reproduces the organisers' published figures on M4 Hourly exactly, so the
project's row beside them means what it says (benchmarks/m4.py)."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).parent.parent
DATA = ROOT.parent / "shared" / "data" / "m4"


def m4():
    spec = importlib.util.spec_from_file_location("m4_benchmark", ROOT / "benchmarks" / "m4.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # reads 353,500 rows and decomposes 414 series
@pytest.mark.skipif(not (DATA / "hourly_train.csv").is_file(),
                    reason="M4 Hourly is not beside the project (../shared/data/m4); see ../shared/data/README.md")
def test_the_scorer_reproduces_the_published_naive2_seasonal_naive_and_naive_interval_figures():
    bench = m4()
    train, actual = bench.load(DATA)
    assert len(train) == 414 and all(len(v) == 48 for v in actual.values())
    histories = {n: f["value"].to_numpy(np.float64) for n, f in train.items()}
    scored = {name: bench.score(histories, actual, fc)
              for name, fc in bench.baselines(histories, include_theta=False).items()}
    assert [round(v, 3) for v in scored["Naive2"]] == [18.383, 2.395]
    assert [round(v, 3) for v in scored["seasonal naive"]] == [13.912, 1.193]
    product = bench.baselines(histories, include_theta=False, product=("naive2",))["naive2 (forecast --baselines)"]
    assert [round(v, 3) for v in bench.score(histories, actual, product)] == [18.383, 2.395]  # the product's Naive2
    width, inside = bench.interval_score(histories, actual, {n: bench.naive_interval(x) for n, x in histories.items()})
    assert (round(width, 3), round(abs(inside - 0.95), 3)) == (71.245, 0.011)  # the published Naive interval row


def test_the_validation_cut_forecasts_each_training_parts_last_48_hours_from_what_precedes_them():
    import pandas as pd

    bench = m4()
    index = pd.date_range("2024-01-01", periods=200, freq="h")
    train = {name: pd.DataFrame({"value": np.arange(200.0) + k}, index=index) for k, name in enumerate("ab")}
    cut, actual = bench.validation_cut(train)
    for k, name in enumerate("ab"):
        assert len(cut[name]) == 152 and cut[name].index[-1] == index[151]
        np.testing.assert_array_equal(actual[name], np.arange(152.0, 200.0) + k)
    assert len(train["a"]) == 200  # the training parts given are not changed


def test_the_seasonality_test_and_decomposition_follow_the_organisers_code():
    bench = m4()
    t = np.arange(24 * 30)
    daily = 100 + 20 * np.sin(2 * np.pi * t / 24) + np.random.default_rng(0).normal(0, 1, len(t))
    assert bench.seasonal(daily)
    noise = [bench.seasonal(np.random.default_rng(s).normal(100, 1, len(t))) for s in range(100)]
    assert sum(noise) < 20  # a 90% test: about one white noise in ten is called seasonal
    figure = bench.seasonal_indices(daily)
    assert figure.shape == (24,) and abs(figure.mean() - 1) < 1e-12
    assert np.argmax(figure) == 6  # the sine's peak: hour 6 of each day
    forecast = bench.naive2(daily)  # the last value, deseasonalised, then the cycle put back
    assert np.allclose(forecast / figure[np.arange(len(t), len(t) + 48) % 24],
                       daily[-1] / figure[(len(t) - 1) % 24])
    assert bench.smape(np.array([100.0]), np.array([50.0]))[0] == pytest.approx(200 * 50 / 150)


def test_the_interval_score_charges_the_width_and_two_over_alpha_per_miss():
    bench = m4()
    history = np.arange(48.0)  # each 24-step difference is 24: the scale
    actual = np.array([5.0, 5.0, 5.0])
    lower, upper = np.array([4.0, 6.0, 0.0]), np.array([6.0, 8.0, 4.0])
    # widths 2, 2 and 4; misses: 1 below the second (6 - 5), 1 above the third (5 - 4), each times 2 / 0.05
    assert bench.msis(history, actual, lower, upper) == pytest.approx((8 + 40 * 2) / 3 / 24)
    width, inside = bench.interval_score({"a": history}, {"a": actual}, {"a": (lower, upper)})
    assert inside == pytest.approx(1 / 3)


def test_the_smoothed_level_is_the_exponential_smoothing_recurrence_and_its_net_saves_and_loads(tmp_path):
    import sys

    import pandas as pd
    import torch

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from m4_nets import SmoothedLevelNet, smoothed_level

    from forecast import DataConfig, ModelConfig, TrainConfig, TrainedModel, fit

    x, alpha = torch.randn(3, 12, 2), torch.tensor([0.2, 0.5, 0.95]).view(3, 1, 1)
    level = x[:, :1]
    for t in range(1, 12):
        level = alpha * x[:, t:t + 1] + (1 - alpha) * level
    assert torch.allclose(smoothed_level(x, alpha), level, atol=1e-6)
    net = SmoothedLevelNet(ModelConfig(hidden_size=4), 1, 1, 12, 3, n_series=2)
    window = torch.randn(2, 12, 1)
    shifted, shift, _ = net._normalise(window)  # alpha 0.5 to start: the level, not the last value
    assert torch.allclose(shift, smoothed_level(window, torch.full((2, 1, 1), 0.5)), atol=1e-6)
    assert torch.allclose(shifted + shift, window, atol=1e-6)
    rng = np.random.default_rng(0)
    days = pd.date_range("2024-01-01", periods=150, freq="h")
    frames = {name: pd.DataFrame({"y": level + np.sin(np.arange(150) * 2 * np.pi / 24) + rng.normal(0, 0.3, 150)},
                                 index=days) for name, level in (("a", 10.0), ("b", 30.0))}
    result = fit(frames, DataConfig(targets=("y",), seq_len=24, horizon=6, cycle=24), ModelConfig(hidden_size=4),
                 TrainConfig(max_epochs=2, batch_size=32), net="m4_nets:SmoothedLevelNet", quiet=True, refit=False)
    learned = torch.sigmoid(result.model.net.smoothing.weight).detach().ravel()
    assert not torch.allclose(learned, torch.full((2,), 0.5))  # each series' smoothing is trained
    path = result.model.save(tmp_path / "m.safetensors")
    again = TrainedModel.load(path)
    assert type(again.net).__name__ == "SmoothedLevelNet"
    pd.testing.assert_frame_equal(again.predict(), result.model.predict())


def test_each_member_of_the_input_length_ensemble_reads_only_its_own_last_steps(tmp_path):
    import sys

    import pandas as pd
    import torch

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from m4_nets import InputsEnsemble

    from forecast import DataConfig, ForecastError, ModelConfig, TrainConfig, TrainedModel, fit

    torch.manual_seed(0)
    net = InputsEnsemble(ModelConfig(hidden_size=4, segment_len=6), 1, 1, 24, 3, inputs=[12, 24]).eval()
    window = torch.randn(2, 24, 1)
    changed = window.clone()
    changed[:, :12] += 5.0  # before the short member's 12 steps
    short, long = net.members
    assert torch.equal(short(changed[:, -12:]), short(window[:, -12:]))
    assert torch.allclose(net(window), (short(window[:, -12:]) + long(window)) / 2, atol=1e-6)
    assert not torch.allclose(net(changed), net(window))  # the long member sees the change
    for bad in ([24], [12, 30], [12, 10]):  # one member; longer than the window; not whole segments
        with pytest.raises(ForecastError, match="inputs must be"):
            InputsEnsemble(ModelConfig(hidden_size=4, segment_len=6), 1, 1, 24, 3, inputs=bad)
    rng = np.random.default_rng(0)
    days = pd.date_range("2024-01-01", periods=150, freq="h")
    frames = {name: pd.DataFrame({"y": level + np.sin(np.arange(150) * 2 * np.pi / 24) + rng.normal(0, 0.3, 150)},
                                 index=days) for name, level in (("a", 10.0), ("b", 30.0))}
    result = fit(frames, DataConfig(targets=("y",), seq_len=24, horizon=6), ModelConfig(hidden_size=4, segment_len=6),
                 TrainConfig(max_epochs=1, batch_size=32), net="m4_nets:InputsEnsemble",
                 net_options={"inputs": [12, 24]}, quiet=True, refit=False)
    again = TrainedModel.load(result.model.save(tmp_path / "m.safetensors"))
    assert again.net.inputs == [12, 24]
    pd.testing.assert_frame_equal(again.predict(), result.model.predict())


@pytest.mark.slow  # a real process: about 4 s
def test_a_setting_the_library_refuses_ends_the_benchmark_with_its_one_line(tmp_path):
    import subprocess
    import sys

    import pandas as pd

    hours = pd.date_range("2017-12-01", periods=400, freq="h")
    rows = pd.DataFrame({"series": "H1", "date": hours, "value": 100 + np.sin(np.arange(400) / 4)})
    rows.iloc[:352].to_csv(tmp_path / "hourly_train.csv", index=False)
    rows.iloc[352:].to_csv(tmp_path / "hourly_test.csv", index=False)
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "m4.py"), "--data", str(tmp_path), "--no-theta",
                           "--scaler", "bogus", "--max-epochs", "1", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 1
    assert done.stderr.strip() == "error: unknown scaler 'bogus'; choose one of: standard, none"
