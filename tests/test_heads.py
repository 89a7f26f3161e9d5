"""The ETTh1 lab bench's networks on the extension point (`benchmarks/heads.py`): each does what it
did as a switch of the product, a custom network saves and loads through the model file, and the
forecasts match the ones the product gave before they moved."""
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from forecast.config import DataConfig, ModelConfig, TrainConfig
from forecast.errors import ForecastError
from forecast.model import build_net, net_spec

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
heads = pytest.importorskip("heads")
LinearSkipNet, SegmentDecoderNet, EnsembleNet = heads.LinearSkipNet, heads.SegmentDecoderNet, heads.EnsembleNet


def skipnet(cfg, *shape, **options):
    return LinearSkipNet(cfg, *shape, **options)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("options,horizon", [({}, 7), ({"channel_independent": True}, 24),
                                             ({"quantiles": (0.1, 0.9), "num_layers": 2}, 5)])
def test_the_segment_decoder_gives_every_horizon_step(cell, options, horizon):
    net = SegmentDecoderNet(ModelConfig(cell=cell, hidden_size=8, segment_len=4, **options), 3, 3, 12, horizon)
    out = net(torch.randn(5, 12, 3))
    assert out.shape[:3] == (5, horizon, 3)
    assert net(torch.randn(5, 12, 3) + 50.0).shape == out.shape


def test_the_segment_decoder_needs_segments():
    with pytest.raises(ForecastError, match="segment_len above 1"):
        SegmentDecoderNet(ModelConfig(), 1, 1, 12, 3)


@pytest.mark.parametrize("options,skip", [({}, {}), ({"channel_independent": True, "segment_len": 4}, {}),
                                          ({"normalize": "last+scale", "quantiles": (0.1, 0.9)}, {}),
                                          ({"channel_independent": True, "segment_len": 4},
                                           {"skip": "sparse", "period": 4})])
def test_the_linear_skip_adds_a_linear_forecast_from_each_targets_own_window(options, skip):
    net = skipnet(ModelConfig(hidden_size=8, **options), 2, 2, 12, 5, **skip)
    with torch.no_grad():  # silence the recurrent head: what is left is the linear forecast alone
        net.head.weight.zero_()
        net.head.bias.zero_()
    x = torch.randn(3, 12, 2)
    out = net(x)
    last = x[:, -1:, :]
    spread = (x.diff(dim=1).abs().mean(dim=1, keepdim=True).clamp_min(1e-3)
              if net.cfg.normalize == "last+scale" else torch.ones_like(last))
    expected = net.skip(((x - last) / spread).transpose(1, 2)).transpose(1, 2) * spread + last
    if net.n_quantiles:
        assert torch.allclose(out, expected[..., None].expand_as(out), atol=1e-5)
    else:
        assert torch.allclose(out, expected, atol=1e-5)
    other = x.clone()
    other[:, :, 1] += torch.randn(3, 12)  # one target's forecast never reads the other's window
    assert torch.allclose(net(other)[:, :, 0], out[:, :, 0], atol=1e-5)


def test_the_sparse_skip_maps_each_phase_of_the_period_to_the_same_phase_ahead():
    skip = heads.SparseSkip(seq_len=12, horizon=10, period=4)  # 3 past values per phase -> 3 future (cut to 10)
    with torch.no_grad():
        skip.smooth.weight.zero_()
        skip.map.weight.zero_()
        skip.map.bias.zero_()
        skip.map.weight[:, -1] = 1.0  # every future period repeats the last past one
    x = torch.tensor([5.0, 1, 2, 3] * 3)  # a period-4 pattern
    x[8:] += torch.tensor([0.0, 10, 0, 0])  # the last period differs: phase 1 is 10 higher
    out = skip(x[None, None])[0, 0]
    last = x[8:]
    assert torch.allclose(out, torch.cat([last, last, last[:2]]), atol=1e-5)


def test_the_sparse_skip_has_few_weights_and_needs_a_period_that_divides_the_input():
    net = skipnet(ModelConfig(segment_len=24, channel_independent=True), 7, 7, 720, 720, skip="sparse", period=24)
    assert sum(p.numel() for p in net.skip.parameters()) == 30 * 30 + 30 + 25
    for bad in ({"skip": "sparse", "period": 1}, {"skip": "sparse", "period": 5}, {"skip": "solved", "period": 4},
                {"skip": "other"}):
        with pytest.raises(ForecastError):
            skipnet(ModelConfig(), 1, 1, 12, 3, **bad)


@pytest.mark.parametrize("options", [{}, {"normalize": "last+scale", "channel_independent": True}])
def test_the_solved_skip_is_the_ridge_least_squares_fit_of_the_normalised_windows(options):
    net = skipnet(ModelConfig(hidden_size=8, **options), 2, 2, 12, 5, skip="solved")
    x, y = torch.randn(64, 12, 2), torch.randn(64, 5, 2)
    assert heads.solve_skip(net, [(x[:40], y[:40]), (x[40:], y[40:])], ridge=0.5) == 0.5
    a, b, _ = (v.double().numpy() for v in net.skip_rows(x, y))  # 128 rows: 64 windows, 2 targets
    a = np.hstack([a, np.ones((len(a), 1))])
    w = np.linalg.solve(a.T @ a + np.diag([0.5 * len(a)] * 12 + [0.0]), a.T @ b)
    np.testing.assert_allclose(net.skip.weight.numpy(), w[:-1].T, atol=1e-5)
    np.testing.assert_allclose(net.skip.bias.numpy(), w[-1], atol=1e-5)
    # the head starts silent, so the network's forecast is the solved linear one; training never moves it
    last = x[:, -1:]
    spread = x.diff(dim=1).abs().mean(dim=1, keepdim=True).clamp_min(1e-3) if net.cfg.normalize == "last+scale" \
        else torch.ones_like(last)
    expected = net.skip(((x - last) / spread).transpose(1, 2)).transpose(1, 2) * spread + last
    torch.testing.assert_close(net(x), expected)
    assert not any(p.requires_grad for p in net.skip.parameters())


def test_without_normalisation_a_silent_network_forecasts_the_solved_linear_map_of_the_levels():
    net = skipnet(ModelConfig(hidden_size=8, normalize="none"), 1, 1, 10, 3, skip="solved")
    x = torch.randn(64, 10, 1)
    y = x[:, -3:] * 0.5 + 2.0  # a map from the levels themselves, with an offset
    heads.solve_skip(net, [(x, y)], ridge=0.0)
    net.eval()
    torch.testing.assert_close(net(x), y, atol=1e-4, rtol=0)
    assert not torch.allclose(net(x + 100.0), net(x) + 100.0, atol=1.0)  # the level is not taken out


def test_without_a_ridge_the_skip_takes_the_penalty_with_the_lowest_validation_error():
    torch.manual_seed(0)
    net = skipnet(ModelConfig(hidden_size=8), 1, 1, 24, 3, skip="solved")
    x = torch.randn(30, 24, 1)  # few noisy windows, many weights: a strong penalty predicts better
    y = torch.randn(30, 3, 1)
    xv, yv = torch.randn(200, 24, 1), torch.randn(200, 3, 1)
    errors = {}
    for ridge in heads.RIDGES:
        heads.solve_skip(net, [(x, y)], ridge=ridge)
        with torch.no_grad():
            errors[ridge] = float(((net(xv) - yv) ** 2).mean())
    net.prepare([(x, y)], [(xv, yv)])
    assert net.picked["ridge"] == min(errors, key=errors.get)
    assert len(set(errors.values())) == len(heads.RIDGES)  # the penalties differ: the choice is real


def test_a_solved_skip_under_a_quantile_head_of_changes_fits_the_changes_summed_up():
    """That head's outputs are cumulative changes, differenced at the end: the skip added to them
    must be fitted to cumulative changes too, or a linear process would not be recovered."""
    torch.manual_seed(0)
    net = skipnet(ModelConfig(hidden_size=8, quantiles=(0.1, 0.9)), 1, 1, 12, 4, skip="solved", level_targets=False)
    x = torch.randn(200, 12, 1)
    weights = torch.randn(12, 4) / 4
    y = torch.diff((x[:, :, 0] @ weights), dim=1, prepend=torch.zeros(200, 1))[..., None]  # (B, H, 1)
    heads.solve_skip(net, [(x, y)], ridge=0.0)
    with torch.no_grad():
        out = net(x)  # (B, H, 1, Q), every quantile the skip's (the head is silent)
    torch.testing.assert_close(out, y[..., None].expand_as(out), atol=1e-4, rtol=1e-4)


def test_a_blended_network_trains_alone_and_forecasts_its_share_of_the_linear_forecast():
    torch.manual_seed(0)
    net = skipnet(ModelConfig(hidden_size=8), 2, 2, 12, 5, skip="blend", weight=0.25)
    x, y = torch.randn(64, 12, 2), torch.randn(64, 5, 2)
    heads.solve_skip(net, [(x, y)], ridge=0.5)
    assert net.finish() and net.picked["weight"] == 0.25
    assert not any(p.requires_grad for p in net.skip.parameters())
    assert any(p.requires_grad for p in net.head.parameters()) and net.head.weight.abs().sum() > 0
    last = x[:, -1:]
    linear = net.skip((x - last).transpose(1, 2)).transpose(1, 2) + last  # the solved forecast alone
    with torch.no_grad():
        blended = net.eval()(x)
        alone = net.train()(x)  # trained on its own loss: the network without the linear forecast
    torch.testing.assert_close(blended, 0.75 * alone + 0.25 * linear)


def test_a_blended_quantile_head_moves_every_quantile_by_the_share_of_the_gap_to_its_median():
    torch.manual_seed(0)
    net = skipnet(ModelConfig(hidden_size=8, quantiles=(0.1, 0.9), normalize="last"), 1, 1, 12, 4,
                  skip="blend", weight=0.5)
    x = torch.randn(32, 12, 1)
    with torch.no_grad():
        net.skip.weight.normal_()
        alone, blended = net.train()(x), net.eval()(x)  # (B, H, 1, 3)
    linear = net.skip((x - x[:, -1:]).transpose(1, 2)).transpose(1, 2) + x[:, -1:]
    torch.testing.assert_close(blended[..., 1], 0.5 * alone[..., 1] + 0.5 * linear)  # the median
    torch.testing.assert_close(blended.diff(dim=-1), alone.diff(dim=-1))  # the widths kept


def test_without_a_share_the_blend_of_an_ensemble_takes_the_one_with_the_lowest_validation_error():
    torch.manual_seed(0)
    net = EnsembleNet(ModelConfig(hidden_size=8), 1, 1, 24, 3, members=2, skip="blend")
    x, y = torch.randn(200, 24, 1), torch.randn(200, 3, 1)
    for member in net.members:
        heads.solve_skip(member, [(x[:100], y[:100])], ridge=1.0)
    # validation targets half way between the network and the linear forecast: 0.5 is best
    with torch.no_grad():
        for member in net.members:
            member.linear_weight.fill_(0.5)
        yv = net.eval()(x[100:]) + 0.01 * torch.randn(100, 3, 1)
    errors = {}
    for share in heads.BLENDS:
        assert heads.pick_share(net, list(net.members), weight=share) == share
        with torch.no_grad():
            errors[share] = float(((net(x[100:]) - yv) ** 2).mean())
    assert net.finish([(x[100:150], yv[:50]), (x[150:], yv[50:])])
    assert net.picked["weight"] == min(errors, key=errors.get) == 0.5
    assert all(float(m.linear_weight) == 0.5 for m in net.members)
    assert heads.pick_share(net, list(net.members)) == 0.5  # no validation: the default share
    assert len(set(errors.values())) == len(heads.BLENDS)


def test_an_ensemble_trains_each_member_on_its_own_loss_and_forecasts_their_mean():
    net = EnsembleNet(ModelConfig(hidden_size=8), 1, 1, 12, 3, members=3)
    x = torch.randn(4, 12, 1)
    stacked = net.train()(x)
    assert stacked.shape == (3, 4, 3, 1)
    torch.testing.assert_close(net.eval()(x), torch.stack([m(x) for m in net.members]).mean(dim=0))
    with pytest.raises(ForecastError, match="2 or more members"):
        EnsembleNet(ModelConfig(), 1, 1, 12, 3, members=1)


def _hourly(n=400):
    index = pd.date_range("2024-01-01", periods=n, freq="h")
    return pd.Series(50 + 10 * np.sin(np.arange(n) * 2 * np.pi / 24) + np.random.default_rng(0).normal(0, 1, n),
                     index=index, name="load")


def test_a_custom_network_is_saved_by_name_and_options_and_loads_to_the_same_forecasts(tmp_path):
    from forecast import TrainedModel, fit
    result = fit(_hourly(), DataConfig(targets=["load"], seq_len=24, horizon=6), ModelConfig(hidden_size=8),
                 TrainConfig(max_epochs=1), quiet=True, net=LinearSkipNet, net_options={"skip": "blend"})
    spec = result.model.net_spec
    assert spec["class"] == "heads:LinearSkipNet" and spec["options"]["skip"] == "blend"
    assert set(spec["options"]) == {"skip", "ridge", "weight"}  # what validation picked, for the refit
    path = result.model.save(tmp_path / "m.safetensors")
    again = TrainedModel.load(path)
    assert isinstance(again.net, LinearSkipNet) and again.net_spec == spec
    pd.testing.assert_frame_equal(again.predict(), result.model.predict())
    header = json.loads(__import__("safetensors").safe_open(str(path), "pt").metadata()["forecast"])
    header["net"]["class"] = "no_such_module:Net"
    from safetensors.torch import load_file, save_file
    save_file(load_file(str(path)), str(tmp_path / "bad.safetensors"), metadata={"forecast": json.dumps(header)})
    with pytest.raises(ForecastError, match="no_such_module:Net.*cannot be imported"):
        TrainedModel.load(tmp_path / "bad.safetensors")


def test_a_network_that_cannot_be_named_or_built_is_refused_before_training():
    class Local(torch.nn.Module):  # defined in a function: not importable by its name
        pass
    with pytest.raises(ForecastError, match="must be importable"):
        net_spec(Local)
    with pytest.raises(ForecastError, match="not a torch.nn.Module"):
        net_spec("json:dumps")
    with pytest.raises(ForecastError, match="net_options are for a custom network"):
        net_spec(None, {"skip": "blend"})
    with pytest.raises(ForecastError, match="cannot be built with these options"):
        build_net(DataConfig(), ModelConfig(), net=net_spec(LinearSkipNet, {"no_such_option": 1}))


@pytest.mark.slow
def test_the_moved_networks_reproduce_the_forecasts_they_gave_as_switches_of_the_product():
    """benchmarks/results/heads/reference.json holds the test forecasts of ten configurations taken
    with the code before they moved (the switches linear_skip, skip_period, fit_skip, skip_ridge,
    blend_linear, linear_weight, decoder and ensemble), on the bundled AAPL sample."""
    from forecast import fit
    from forecast.sources import load_sample
    reference = json.loads((BENCHMARKS / "results" / "heads" / "reference.json").read_text())
    cases = {"linear_skip": ("LinearSkipNet", {"skip": "learned"}, {}),
             "sparse_skip": ("LinearSkipNet", {"skip": "sparse", "period": 8}, {}),
             "fit_skip": ("LinearSkipNet", {"skip": "solved"}, {}),
             "fit_skip_ridge": ("LinearSkipNet", {"skip": "solved", "ridge": 0.1}, {}),
             "blend": ("LinearSkipNet", {"skip": "blend"}, {}),
             "blend_weight": ("LinearSkipNet", {"skip": "blend", "weight": 0.25}, {}),
             "blend_quantiles": ("LinearSkipNet", {"skip": "blend"}, {"quantiles": (0.1, 0.5, 0.9)}),
             "pmf": ("SegmentDecoderNet", {}, {"segment_len": 8}),
             "ensemble": ("EnsembleNet", {"members": 2}, {}),
             "ensemble_blend": ("EnsembleNet", {"members": 2, "skip": "blend"}, {})}
    assert set(cases) == set(reference)
    frame = load_sample("AAPL")[["Close", "Volume"]].iloc[-700:]
    for name, (cls, options, changes) in cases.items():
        result = fit(frame, DataConfig(targets=("Close",), seq_len=32, horizon=8),
                     ModelConfig(cell="gru", hidden_size=16, **changes),
                     TrainConfig(max_epochs=2, seed=1, batch_size=64, threads=1), quiet=True, refit=False,
                     net=f"heads:{cls}", net_options=options)
        forecast = np.asarray(result.test.forecast).ravel()[:200]
        np.testing.assert_allclose(forecast, reference[name]["forecast"], rtol=1e-5, atol=1e-5, err_msg=name)
        assert result.best_val == pytest.approx(reference[name]["best_val"], rel=1e-5), name
        picked = {k: v for k, v in reference[name]["picked"].items() if v is not None}
        renamed = {"skip_ridge": "ridge", "linear_weight": "weight"}
        assert {renamed[k]: v for k, v in picked.items()} == \
            {k: v for k, v in result.evaluated.net_spec["options"].items() if k in ("ridge", "weight")}, name


FAST = TrainConfig(max_epochs=2, batch_size=32, accelerator="cpu", patience=0)
DATA = DataConfig(targets=("y",), seq_len=16, horizon=2)


def _frame(n=400):
    from tests.conftest import make_frame
    return make_frame(n=n)


@pytest.mark.parametrize("changes,options", [({}, {"members": 3}),
                                             ({"quantiles": (0.1, 0.9)}, {"members": 2, "skip": "learned"})])
def test_an_ensemble_fit_trains_every_member_and_forecasts_their_mean(changes, options, tmp_path):
    from forecast import fit
    from forecast.trained import TrainedModel
    result = fit(_frame(), DATA, ModelConfig(hidden_size=8, **changes), FAST, quiet=True, refit=False,
                 net=EnsembleNet, net_options=options)
    net = result.evaluated.net
    members = list(net.members)
    assert len(members) == options["members"]
    x = torch.randn(5, 16, 1)
    with torch.no_grad():
        outputs = [m(x) for m in members]
        assert not torch.allclose(outputs[0], outputs[1])  # each member from its own weights
        torch.testing.assert_close(net(x), torch.stack(outputs).mean(dim=0))
    loaded = TrainedModel.load(result.evaluated.save(tmp_path / "e.safetensors"))
    pd.testing.assert_frame_equal(loaded.predict(), result.evaluated.predict())


def test_each_ensemble_member_learns_from_its_own_loss():
    """Training steps every member on its own error, not the ensemble mean's: a member's gradient
    is the one it would get alone (scaled by 1/K), whatever the other members predict."""
    from forecast.forecaster import Forecaster
    module = Forecaster(DATA.to_dict(), ModelConfig(hidden_size=8).to_dict(), FAST.to_dict(),
                        net=net_spec(EnsembleNet, {"members": 2}))
    module.train()
    x, y = torch.randn(8, 16, 1), torch.randn(8, 2, 1)
    module.log = lambda *a, **k: None
    module._shared_step((x, y), "train").backward()
    joint = [p.grad.clone() for p in module.net.members[0].parameters()]
    module.zero_grad()
    (torch.nn.functional.mse_loss(module.net.members[0](x), y) / 2).backward()
    for got, alone in zip(joint, module.net.members[0].parameters()):
        torch.testing.assert_close(got, alone.grad)


def test_the_solved_skip_reads_training_windows_for_its_fit_validation_for_its_penalty_never_test():
    """The skip is solved before training and held fixed; its penalty, picked on validation, is
    saved with the model and the refit uses it; poisoning the test span changes nothing."""
    from forecast import fit
    frame = _frame()
    model = ModelConfig(hidden_size=8)
    solved = {"net": LinearSkipNet, "net_options": {"skip": "solved"}}
    clean = fit(frame, DATA, model, FAST, quiet=True, **solved)
    ridge = clean.evaluated.net_spec["options"]["ridge"]
    assert ridge in heads.RIDGES and clean.model.net_spec["options"]["ridge"] == ridge
    poisoned = frame.copy()
    poisoned.iloc[clean.prepared.parts[0].val_end:, 0] = 1e6
    dirty = fit(poisoned, DATA, model, FAST, quiet=True, refit=False, **solved)
    torch.testing.assert_close(dirty.evaluated.net.skip.weight, clean.evaluated.net.skip.weight)
    assert dirty.evaluated.net_spec["options"]["ridge"] == ridge
    again = fit(frame, DATA, model, FAST, quiet=True, refit=False, net=LinearSkipNet,
                net_options={"skip": "solved", "ridge": 10.0})
    assert again.evaluated.net_spec["options"]["ridge"] == 10.0
    assert not torch.allclose(again.evaluated.net.skip.weight, clean.evaluated.net.skip.weight)


def test_the_blend_share_is_picked_on_validation_never_test_and_saved_with_the_model(tmp_path):
    """The linear forecast's share is chosen after training on validation; poisoning the test span
    changes neither it nor the solved skip; the refit and the saved model use it."""
    from forecast import fit
    from forecast.trained import TrainedModel
    from forecast.windows import stage_dataset
    frame = _frame()
    model = ModelConfig(hidden_size=8)
    blend = {"net": LinearSkipNet, "net_options": {"skip": "blend"}}
    clean = fit(frame, DATA, model, FAST, quiet=True, **blend)
    share = clean.evaluated.net_spec["options"]["weight"]
    assert share in heads.BLENDS and clean.model.net_spec["options"]["weight"] == share
    assert float(clean.model.net.linear_weight) == share  # the refit forecasts with the same blend
    val = stage_dataset(clean.prepared, "val")
    x, y = val[torch.arange(len(val))][:2]
    with torch.no_grad():  # a study compares the blend's validation loss (MSE here), not the network's
        assert clean.best_val == pytest.approx(float(((clean.evaluated.net(x) - y) ** 2).mean()), rel=1e-5)
    poisoned = frame.copy()
    poisoned.iloc[clean.prepared.parts[0].val_end:, 0] = 1e6
    dirty = fit(poisoned, DATA, model, FAST, quiet=True, refit=False, **blend)
    torch.testing.assert_close(dirty.evaluated.net.skip.weight, clean.evaluated.net.skip.weight)
    assert dirty.evaluated.net_spec["options"]["weight"] == share
    loaded = TrainedModel.load(clean.model.save(tmp_path / "m"))
    assert float(loaded.net.linear_weight) == share
    pd.testing.assert_frame_equal(loaded.predict(), clean.model.predict())
    given = fit(frame, DATA, model, FAST, quiet=True, refit=False, net=LinearSkipNet,
                net_options={"skip": "blend", "weight": 1.0})
    assert given.evaluated.net_spec["options"]["weight"] == 1.0


def test_the_etth1_bench_scores_validation_and_test_of_a_fit_in_standardised_units():
    """`benchmarks/ett.py` reads a fit's validation span itself (the protocol scores standardised
    values); a fit's data are a panel of one since 0.3, which this catches."""
    ett = pytest.importorskip("ett")
    from forecast import fit
    from tests.conftest import make_frame

    frame = make_frame(n=200, cols=("a", "b"), freq="h")
    result = fit(frame, DataConfig(targets=("a", "b"), seq_len=12, horizon=4, cycle=24),
                 ModelConfig(hidden_size=4), TrainConfig(max_epochs=1, accelerator="cpu"), quiet=True, refit=False)
    val, test = (ett.scaled_metrics(result, stage) for stage in ("val", "test"))
    assert val["windows"] > 0 and test["windows"] > 0 and val["mse"] != test["mse"]
    assert np.isfinite([val["mse"], val["repeat_mae"], test["mae"]]).all()


def test_the_products_ensemble_is_the_lab_ensemble_of_plain_networks_weight_for_weight():
    """`TrainConfig.ensemble` builds what `EnsembleNet` of `RecurrentNet`s builds from the same seed, so the
    M4 runs of `--net heads:EnsembleNet` are the product's (`benchmarks/results/m4/ensemble/`)."""
    data, model = DataConfig(targets=("y",), seq_len=24, horizon=3), ModelConfig(hidden_size=8, segment_len=6)
    torch.manual_seed(3)
    product = build_net(data, model, ensemble=3)
    torch.manual_seed(3)
    lab = build_net(data, model, net=net_spec(EnsembleNet, {"members": 3}))
    assert product.state_dict().keys() == lab.state_dict().keys()
    assert all(torch.equal(v, lab.state_dict()[k]) for k, v in product.state_dict().items())


def test_an_ensemble_of_a_network_that_fits_on_validation_itself_is_refused():
    with pytest.raises(ForecastError, match="keep train.ensemble at 1"):
        build_net(DataConfig(targets=("y",), seq_len=12, horizon=3), ModelConfig(), ensemble=2,
                  net=net_spec(LinearSkipNet, {"skip": "solved"}))
