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
def test_last_scale_makes_forecasts_and_quantile_widths_follow_the_window_volatility(quantiles):
    net = RecurrentNet(ModelConfig(hidden_size=8, normalize="last+scale", quantiles=quantiles), 1, 1, 10, 3)
    x = torch.randn(4, 10, 1)
    # a window 3 times as volatile at another level: the forecast is 3 times as far from its last value
    assert torch.allclose(net(3 * x + 100.0), 3 * net(x) + 100.0, atol=1e-3)


def test_normalize_defaults_to_scaling_for_a_quantile_head_only_and_names_its_choices():
    assert ModelConfig().normalize == "last"
    assert ModelConfig(quantiles=(0.1, 0.9)).normalize == "last+scale"
    assert ModelConfig(normalize="none", quantiles=(0.1, 0.9)).normalize == "none"
    with pytest.raises(ForecastError, match="unknown normalize 'scale'; choose one of: none, last, last\\+scale"):
        ModelConfig(normalize="scale")


def test_without_normalisation_the_network_forecasts_levels():
    net = RecurrentNet(ModelConfig(hidden_size=8, normalize="none"), 1, 1, 10, 3)
    x = torch.randn(4, 10, 1)
    assert not torch.allclose(net(x + 100.0), net(x) + 100.0, atol=1.0)


def test_an_ensemble_trains_each_member_on_its_own_forecast_and_forecasts_their_mean():
    data = DataConfig(targets=("y",), seq_len=12, horizon=3)
    net = build_net(data, ModelConfig(hidden_size=8), ensemble=3)
    x = torch.randn(5, 12, 1)
    stacked = net.train()(x)
    assert stacked.shape == (3, 5, 3, 1)  # each member's own forecast, for its own loss
    net.eval()
    alone = torch.stack([member(x) for member in net.members])
    assert not torch.allclose(alone[0], alone[1])  # each from its own initial weights
    assert torch.allclose(net(x), alone.mean(dim=0))
    assert build_net(data, ModelConfig(hidden_size=8)).__class__ is RecurrentNet  # one: no wrapper

