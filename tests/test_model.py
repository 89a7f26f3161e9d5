"""The recurrent network: shapes for every cell, instance normalisation, one error for a bad cell."""
import pytest
import torch

from forecast.config import DataConfig, ModelConfig
from forecast.errors import ForecastError
from forecast.model import RecurrentNet, build_net


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


def test_without_instance_norm_a_silent_network_forecasts_the_solved_linear_map_of_the_levels():
    net = RecurrentNet(ModelConfig(hidden_size=8, fit_skip=True, linear_skip=True, instance_norm=False),
                       1, 1, 10, 3)
    x = torch.randn(64, 10, 1)
    y = x[:, -3:] * 0.5 + 2.0  # a map from the levels themselves, with an offset
    net.fit_skip([(x, y)], ridge=0.0)
    net.eval()
    torch.testing.assert_close(net(x), y, atol=1e-4, rtol=0)
    assert not torch.allclose(net(x + 100.0), net(x) + 100.0, atol=1.0)  # the level is not taken out


def test_when_targets_are_log_returns_then_their_inputs_are_not_shifted():
    data = DataConfig(targets=("y",), features=("x",), seq_len=10, horizon=3, transform="log_return")
    net = build_net(data, ModelConfig(hidden_size=8))
    x = torch.randn(4, 10, 2)
    shifted_target = x.clone()
    shifted_target[:, :, 0] += 1.0  # a return level change is information, not an offset
    assert not torch.allclose(net(shifted_target), net(x) + 1.0, atol=1e-3)
    shifted_feature = x.clone()
    shifted_feature[:, :, 1] += 50.0  # a covariate's level is still removed
    assert torch.allclose(net(shifted_feature), net(x), atol=1e-4)


def test_when_cell_unknown_then_error_lists_valid_ones():
    with pytest.raises(ForecastError, match="rnn, lstm, gru"):
        ModelConfig(cell="transformer")


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("options", [{}, {"channel_independent": True}])
def test_a_quantile_head_gives_sorted_quantiles_with_the_median_added(cell, options):
    cfg = ModelConfig(cell=cell, hidden_size=8, quantiles=(0.9, 0.1), **options)
    assert cfg.quantiles == (0.1, 0.5, 0.9)
    net = RecurrentNet(cfg, 2, 2, 12, 4)
    out = net(torch.randn(64, 12, 2) * 5)
    assert out.shape == (64, 4, 2, 3)
    assert (out.diff(dim=-1) >= 0).all()  # never crossing, whatever the weights


def test_a_quantile_head_on_returns_gives_sorted_cumulative_quantiles():
    """On changes the head's quantiles are of the change up to each step; the decoder sums steps, so
    summed outputs must be sorted (the per-step outputs themselves need not be)."""
    data = DataConfig(targets=("y",), seq_len=10, horizon=5, transform="log_return")
    net = build_net(data, ModelConfig(hidden_size=8, quantiles=(0.05, 0.95)))
    cumulative = net(torch.randn(64, 10, 1) * 3).cumsum(dim=1)
    assert (cumulative.diff(dim=-1) >= 0).all()


@pytest.mark.parametrize("bad", [(0.0,), (1.0,), (0.5, 1.2), ("a",)])
def test_levels_outside_zero_one_are_refused(bad):
    with pytest.raises(ForecastError, match="between 0 and 1"):
        ModelConfig(quantiles=bad)
    with pytest.raises(ForecastError, match="between 0 and 1"):
        ModelConfig(coverage=bad)


def test_the_pinball_loss_matches_a_hand_computed_value():
    from forecast.forecaster import pinball_loss
    quantiles = torch.tensor([[[[-1.0, 1.0]]]])  # (B=1, H=1, T=1, Q=2) at levels 0.1 and 0.9
    target = torch.tensor([[[3.0]]])
    # 0.1 * (3 - -1) = 0.4 and 0.9 * (3 - 1) = 1.8: mean 1.1
    assert pinball_loss(quantiles, target, torch.tensor([0.1, 0.9])).item() == pytest.approx(1.1)


@pytest.mark.parametrize("quantiles", [(), (0.1, 0.9)])
def test_instance_scale_makes_forecasts_and_quantile_widths_follow_the_window_volatility(quantiles):
    net = RecurrentNet(ModelConfig(hidden_size=8, instance_scale=True, quantiles=quantiles), 1, 1, 10, 3)
    x = torch.randn(4, 10, 1)
    # a window 3 times as volatile at another level: the forecast is 3 times as far from its last value
    assert torch.allclose(net(3 * x + 100.0), 3 * net(x) + 100.0, atol=1e-3)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("options,horizon", [({}, 7), ({"channel_independent": True}, 24),
                                             ({"quantiles": (0.1, 0.9), "num_layers": 2}, 5)])
def test_the_pmf_decoder_gives_every_horizon_step(cell, options, horizon):
    cfg = ModelConfig(cell=cell, hidden_size=8, segment_len=4, decoder="pmf", **options)
    net = RecurrentNet(cfg, 3, 3, 12, horizon)
    out = net(torch.randn(5, 12, 3))
    assert out.shape[:3] == (5, horizon, 3)
    assert net(torch.randn(5, 12, 3) + 50.0).shape == out.shape


def test_the_pmf_decoder_needs_segments():
    from forecast.config import check_compatible
    with pytest.raises(ForecastError, match="segment_len above 1"):
        check_compatible(DataConfig(), ModelConfig(decoder="pmf"))


@pytest.mark.parametrize("options", [{}, {"channel_independent": True, "segment_len": 4},
                                     {"instance_scale": True, "quantiles": (0.1, 0.9)},
                                     {"skip_period": 4, "channel_independent": True, "segment_len": 4}])
def test_the_linear_skip_adds_a_linear_forecast_from_each_targets_own_window(options):
    net = RecurrentNet(ModelConfig(hidden_size=8, linear_skip=True, **options), 2, 2, 12, 5)
    with torch.no_grad():  # silence the recurrent head: what is left is the linear forecast alone
        net.head.weight.zero_()
        net.head.bias.zero_()
    x = torch.randn(3, 12, 2)
    out = net(x)
    last = x[:, -1:, :]
    spread = (x.diff(dim=1).abs().mean(dim=1, keepdim=True).clamp_min(1e-3)
              if net.cfg.instance_scale else torch.ones_like(last))
    expected = net.skip(((x - last) / spread).transpose(1, 2)).transpose(1, 2) * spread + last
    if net.n_quantiles:
        assert torch.allclose(out, expected[..., None].expand_as(out), atol=1e-5)
    else:
        assert torch.allclose(out, expected, atol=1e-5)
    other = x.clone()
    other[:, :, 1] += torch.randn(3, 12)  # one target's forecast never reads the other's window
    assert torch.allclose(net(other)[:, :, 0], out[:, :, 0], atol=1e-5)


def test_the_sparse_skip_maps_each_phase_of_the_period_to_the_same_phase_ahead():
    from forecast.model import SparseSkip
    skip = SparseSkip(seq_len=12, horizon=10, period=4)  # 3 past values per phase -> 3 future (cut to 10)
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


def test_the_sparse_skip_has_few_weights_and_implies_the_skip():
    cfg = ModelConfig(skip_period=24, segment_len=24, channel_independent=True)
    assert cfg.linear_skip
    net = RecurrentNet(cfg, 7, 7, 720, 720)
    assert sum(p.numel() for p in net.skip.parameters()) == 30 * 30 + 30 + 25
    with pytest.raises(ForecastError, match="skip_period must be 0"):
        ModelConfig(skip_period=1)
    from forecast.config import check_compatible
    with pytest.raises(ForecastError, match="multiple of skip_period 24"):
        check_compatible(DataConfig(seq_len=36), ModelConfig(skip_period=24))


@pytest.mark.parametrize("options", [{}, {"instance_scale": True, "channel_independent": True}])
def test_the_solved_skip_is_the_ridge_least_squares_fit_of_the_normalised_windows(options):
    import numpy as np
    net = RecurrentNet(ModelConfig(hidden_size=8, fit_skip=True, **options), 2, 2, 12, 5)
    x, y = torch.randn(64, 12, 2), torch.randn(64, 5, 2)
    assert net.fit_skip([(x[:40], y[:40]), (x[40:], y[40:])], ridge=0.5) == 0.5
    a, b, _ = (v.double().numpy() for v in net.skip_rows(x, y))  # 128 rows: 64 windows, 2 targets
    a = np.hstack([a, np.ones((len(a), 1))])
    w = np.linalg.solve(a.T @ a + np.diag([0.5 * len(a)] * 12 + [0.0]), a.T @ b)
    np.testing.assert_allclose(net.skip.weight.numpy(), w[:-1].T, atol=1e-5)
    np.testing.assert_allclose(net.skip.bias.numpy(), w[-1], atol=1e-5)
    # the head starts silent, so the network's forecast is the solved linear one; training never moves it
    last = x[:, -1:]
    spread = x.diff(dim=1).abs().mean(dim=1, keepdim=True).clamp_min(1e-3) if net.cfg.instance_scale \
        else torch.ones_like(last)
    expected = net.skip(((x - last) / spread).transpose(1, 2)).transpose(1, 2) * spread + last
    torch.testing.assert_close(net(x), expected)
    assert not any(p.requires_grad for p in net.skip.parameters())


def test_without_a_ridge_the_skip_takes_the_penalty_with_the_lowest_validation_error():
    from forecast.model import RIDGES
    torch.manual_seed(0)
    net = RecurrentNet(ModelConfig(hidden_size=8, fit_skip=True), 1, 1, 24, 3)
    x = torch.randn(30, 24, 1)  # few noisy windows, many weights: a strong penalty predicts better
    y = torch.randn(30, 3, 1)
    xv, yv = torch.randn(200, 24, 1), torch.randn(200, 3, 1)
    errors = {}
    for ridge in RIDGES:
        net.fit_skip([(x, y)], ridge=ridge)
        with torch.no_grad():
            errors[ridge] = float(((net(xv) - yv) ** 2).mean())
    assert net.fit_skip([(x, y)], val=[(xv, yv)]) == min(errors, key=errors.get)
    assert len(set(errors.values())) == len(RIDGES)  # the penalties differ: the choice is real


def test_the_solved_skip_needs_the_dense_skip_and_a_penalty_of_zero_or_more():
    assert ModelConfig(fit_skip=True).linear_skip
    with pytest.raises(ForecastError, match="drop skip_period"):
        ModelConfig(fit_skip=True, skip_period=24)
    with pytest.raises(ForecastError, match="skip_ridge must be 0 or more"):
        ModelConfig(fit_skip=True, skip_ridge=-1.0)


def test_a_solved_skip_under_a_quantile_head_of_changes_fits_the_changes_summed_up():
    """That head's outputs are cumulative changes, differenced at the end: the skip added to them
    must be fitted to cumulative changes too, or a linear process would not be recovered."""
    torch.manual_seed(0)
    net = RecurrentNet(ModelConfig(hidden_size=8, fit_skip=True, quantiles=(0.1, 0.9)), 1, 1, 12, 4,
                       level_targets=False)
    x = torch.randn(200, 12, 1)
    weights = torch.randn(12, 4) / 4
    y = torch.diff((x[:, :, 0] @ weights), dim=1, prepend=torch.zeros(200, 1))[..., None]  # (B, H, 1)
    net.fit_skip([(x, y)], ridge=0.0)
    with torch.no_grad():
        out = net(x)  # (B, H, 1, Q), every quantile the skip's (the head is silent)
    torch.testing.assert_close(out, y[..., None].expand_as(out), atol=1e-4, rtol=1e-4)


def test_a_blended_network_trains_alone_and_forecasts_its_share_of_the_linear_forecast():
    torch.manual_seed(0)
    net = RecurrentNet(ModelConfig(hidden_size=8, blend_linear=True, linear_weight=0.25), 2, 2, 12, 5)
    x, y = torch.randn(64, 12, 2), torch.randn(64, 5, 2)
    net.fit_skip([(x, y)], ridge=0.5)
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
    net = RecurrentNet(ModelConfig(hidden_size=8, blend_linear=True, linear_weight=0.5,
                                   quantiles=(0.1, 0.9), instance_scale=False), 1, 1, 12, 4)
    x = torch.randn(32, 12, 1)
    with torch.no_grad():
        net.skip.weight.normal_()
        alone, blended = net.train()(x), net.eval()(x)  # (B, H, 1, 3)
    linear = net.skip((x - x[:, -1:]).transpose(1, 2)).transpose(1, 2) + x[:, -1:]
    torch.testing.assert_close(blended[..., 1], 0.5 * alone[..., 1] + 0.5 * linear)  # the median
    torch.testing.assert_close(blended.diff(dim=-1), alone.diff(dim=-1))  # the widths kept


def test_without_a_share_the_blend_takes_the_one_with_the_lowest_validation_error():
    from forecast.model import BLENDS, Ensemble, blend_linear
    torch.manual_seed(0)
    net = Ensemble([RecurrentNet(ModelConfig(hidden_size=8, blend_linear=True, ensemble=2), 1, 1, 24, 3)
                    for _ in range(2)])
    x, y = torch.randn(200, 24, 1), torch.randn(200, 3, 1)
    net.fit_skip([(x[:100], y[:100])], ridge=1.0)
    # validation targets half way between the network and the linear forecast: 0.5 is best
    with torch.no_grad():
        for member in net.members:
            member.linear_weight.fill_(0.5)
        yv = net.eval()(x[100:]) + 0.01 * torch.randn(100, 3, 1)
    errors = {}
    for share in BLENDS:
        assert blend_linear(net, weight=share) == share
        with torch.no_grad():
            errors[share] = float(((net(x[100:]) - yv) ** 2).mean())
    assert blend_linear(net, [(x[100:150], yv[:50]), (x[150:], yv[50:])]) == min(errors, key=errors.get) == 0.5
    assert all(float(m.linear_weight) == 0.5 for m in net.members)
    assert blend_linear(net) == 0.5  # no validation: the default share
    assert len(set(errors.values())) == len(BLENDS)


def test_the_blend_excludes_the_refined_and_the_sparse_skip_and_takes_a_share_from_0_to_1():
    assert ModelConfig(blend_linear=True).linear_skip and ModelConfig(blend_linear=True).solves_skip
    assert ModelConfig(linear_weight=0.3).blend_linear  # a share asks for the blend
    with pytest.raises(ForecastError, match="exclude each other"):
        ModelConfig(blend_linear=True, fit_skip=True)
    with pytest.raises(ForecastError, match="blend_linear solves the dense linear skip"):
        ModelConfig(blend_linear=True, skip_period=24)
    for bad in (1.5, -0.1, True, "x"):
        with pytest.raises(ForecastError, match=r"linear_weight must be in \[0, 1\]"):
            ModelConfig(blend_linear=True, linear_weight=bad)
