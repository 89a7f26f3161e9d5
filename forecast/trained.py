"""The trained model: network, settings, and per series its fitted preprocessing, history tail and
interval calibration, with the calendar, in one object.

`fit` produces one (for one series or a panel of many), `TrainedModel.load` returns the same type,
and it predicts, saves and plots itself. The file is safetensors: the network's weights and each
series' history tail as tensors, and in its header JSON with everything needed to rebuild and use the
model (configs, each series' preprocessing statistics and calibration, columns, frequency or trading
calendar, library versions, seed, the test metrics). Loading never unpickles anything and needs no
training data.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from forecast.checks import target_index
from forecast.config import DataConfig, ModelConfig, SourceConfig, TrainConfig
from forecast.dates import check_step, future_dates, plain
from forecast.errors import ForecastError, MissingColumns
from forecast.intervals import Calibration, local_scale
from forecast.model import build_net, predict_scaled
from forecast.modelfile import check_contents, metadata as file_metadata, read_model_file, write_model_file
from forecast.outputs import plot_forecast
from forecast.panel import split_long
from forecast.preprocess import Preprocessor, apply_static, known_ahead, static_values
from forecast.sources import validate_frame


@dataclass
class Member:
    """What one series of a model needs: its fitted preprocessing, its history tail (enough rows for
    one forecast) and its interval calibration."""

    preprocessor: Preprocessor
    history: pd.DataFrame
    calibration: Calibration | None = None
    index: int = 0  # its row in the network's series embedding (its place in the panel)


@dataclass
class TrainedModel:
    """A forecaster ready to use: `predict()` the next `horizon` steps, `save()`, `plot()`.

    One network serves every series in `members` (one for a single-series model, many for a panel);
    each member has its own preprocessing, history and calibration.
    frequency : a pandas offset alias, or an exchange calendar name ("XNYS") for trading days.
    info : what is known about how it was made: rows trained on, epochs, test metrics, versions.
    static_encoding : how a panel's static columns are encoded (what a new series' values need).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from forecast import DataConfig, TrainConfig, TrainedModel, fit
    >>> index = pd.date_range("2024-01-01", periods=300, freq="h")
    >>> load = pd.Series(50 + 10 * np.sin(np.arange(300) * 2 * np.pi / 24), index=index, name="load")
    >>> model = fit(load, DataConfig(targets=["load"], seq_len=24, horizon=6), train=TrainConfig(max_epochs=1),
    ...             quiet=True).model
    >>> path = model.save("load.safetensors")
    >>> TrainedModel.load(path).predict().columns.tolist()[:3]
    ['load', 'load_lower80', 'load_upper80']
    """

    net: torch.nn.Module
    source: SourceConfig
    data: DataConfig
    model: ModelConfig
    train: TrainConfig
    members: dict[str, Member]
    frequency: str
    info: dict = field(default_factory=dict)
    static_encoding: dict = field(default_factory=dict)  # a panel's (see `forecast.preprocess`)
    net_spec: dict | None = None  # a custom network's name and options (`forecast.model.net_spec`)

    def __repr__(self) -> str:  # a glance in a notebook; the fields hold the rest
        m, names = self.model, ", ".join(list(self.members)[:3]) + (", ..." if len(self.members) > 3 else "")
        net = self.net_spec["class"] if self.net_spec else f"{m.cell.upper()} {m.hidden_size}x{m.num_layers}"
        return (f"TrainedModel({net}, {len(self.members)} series ({names}), targets {', '.join(self.data.targets)}, "
                f"{self.data.seq_len} steps in, {self.data.horizon} out, calendar {self.frequency})")

    @property
    def series(self) -> list[str]:
        return list(self.members)

    def _only(self) -> Member:
        if len(self.members) != 1:
            raise ForecastError(f"this model forecasts {len(self.members)} series; pick one with "
                                f"member(name) or predict(series=[...]): {', '.join(self.members)}")
        return next(iter(self.members.values()))

    @property
    def preprocessor(self) -> Preprocessor:
        return self._only().preprocessor

    @property
    def history(self) -> pd.DataFrame:
        return self._only().history

    @property
    def calibration(self) -> Calibration | None:
        return self._only().calibration

    def unbounded_intervals(self) -> list[str]:
        """One line per coverage whose calibrated interval is infinite (-inf to +inf) in some series:
        too few validation windows to calibrate it."""
        found: dict[float, list[int]] = {}
        for m in self.members.values():
            if m.calibration is not None:
                for c in m.calibration.unbounded():
                    found.setdefault(c, []).append(m.calibration.n)
        return [f"the {100 * c:g}% interval is unbounded (-inf to inf)"
                + (f" in {len(ns)} of {len(self.members)} series" if len(self.members) > 1 else "")
                + f": {min(ns)} held-out windows calibrate at most {100 * min(ns) / (min(ns) + 1):.0f}% and "
                f"{100 * c:g}% needs {math.ceil(c / (1 - c) - 1e-9)}; give validation more rows "
                "(--split) or ask for less (--coverage)" for c, ns in found.items()]

    def add_series(self, histories: dict) -> TrainedModel:
        """This model with series it did not train on, each forecast from its own history (a dict of
        frames by name, holding the input and static columns; see `new_preprocessor`)."""
        added = {n: self._new_member(n, h) for n, h in histories.items() if n not in self.members}
        return replace(self, members={**self.members, **added})

    def _new_member(self, name: str, frame: pd.DataFrame) -> Member:
        """A `Member` for series `name` from its history `frame` (the input columns, and the static
        columns when the model reads some): preprocessing fitted on it, the trained series' median
        interval margins."""
        cfg = self.data
        why = refusal(cfg, self.model)
        if why:
            raise ForecastError(f"series {name!r} is not in this model, which {why}: a new series has none; "
                                "forecast it with a model fitted without it, or one fitted with the series")
        values = static_values(frame, cfg.static, f"series {name}") if cfg.static else {}
        frame, _ = validate_frame(frame, list(cfg.inputs), self.source.max_gap, f"series {name}",
                                  self.source.fill_missing_dates)
        if len(frame) < self.context_rows:
            raise ForecastError(f"series {name}: {len(frame)} rows of history; this model needs at least "
                                f"{self.context_rows}")
        static = apply_static(self.static_encoding, values, f"series {name}") if cfg.static else None
        calibration = pooled_calibration([m.calibration for m in self.members.values()])
        return Member(new_preprocessor(cfg, frame, static), frame.iloc[-self.context_rows:], calibration, 0)

    def member(self, name: str | int) -> TrainedModel:
        """The model of one series (the same network)."""
        if str(name) not in self.members:
            raise ForecastError(f"no series {name!r} in this model; it has: {', '.join(self.members)}")
        return replace(self, members={str(name): self.members[str(name)]})

    @property
    def context_rows(self) -> int:
        """History rows one forecast needs: the input window plus what the transform consumes."""
        return self.data.context_rows

    def predict(self, history=None, series=None, future=None, new: bool = False) -> pd.DataFrame:
        """The next `horizon` values of every target after the end of each series' history.

        Parameters
        ----------
        history : recent data holding the model's input columns (a dict of them, by series, for a
            panel); default: the history saved with the model.
        series : for a panel, the series to forecast: names, or one name (default all).
        future : for a model with known columns (`DataConfig.known`), their values at the dates
            forecast: a frame indexed by date (a dict of them, by series, for a panel); by default the
            last rows of `history` that hold them with the targets still missing.
        new : also forecast the series of a `history` dict that the model did not train on, each
            from its own history (see `add_series`; one frame with one name in `series` is one new
            series); without, they are an error.

        Returns
        -------
        DataFrame (horizon rows per series) in original units, indexed by the future timestamps
        (trading days for daily stock prices, each series its own dates): one column per target
        (the median for a quantile model), then `TARGET_qLEVEL` for each trained quantile and
        `TARGET_lowerPCT` / `TARGET_upperPCT` for each calibrated interval. A panel's table is long:
        a first column `series` names the series of each row. On an integer time axis the index
        holds the steps forecast.
        """
        return plain(self._predict(history, series, future, new))

    def _predict(self, history, series, future, new: bool) -> pd.DataFrame:
        series = [series] if isinstance(series, (str, int)) else series  # one name (not its letters)
        series = None if series is None else [str(n) for n in series]  # names are text: 1 is "1"
        history, future = split_long(history), split_long(future)  # a long frame is frames by series
        if not isinstance(history, (pd.DataFrame, pd.Series, dict, type(None))) or series is not None and not series:
            raise ForecastError("history is a frame (a dict of frames by series for a panel) and series names at "
                                f"least one series (None: all); got {type(history).__name__} and {series!r}")
        if future is not None and not self.data.known:
            raise ForecastError("future values are for a model fitted with known columns (--known); "
                                "this one reads none")
        alone = len(self.members) == 1 and series is None and not isinstance(history, dict)  # no series column
        if new and isinstance(history, (pd.DataFrame, pd.Series)) and series is not None and len(series) == 1:
            history = {series[0]: history}  # one new series' history, named by `series`
        fresh = [n for n in history if n not in self.members and (series is None or n in series)] \
            if isinstance(history, dict) else []
        if new and fresh:
            return self.add_series({n: history[n] for n in fresh})._predict(history, series, future, False)
        names = list(series) if series is not None else self.series
        unknown = [n for n in names if n not in self.members]
        if unknown or fresh:
            raise ForecastError(f"no series {', '.join(map(repr, unknown or fresh))} in this model; it has: "
                                f"{', '.join(list(self.members)[:10])}{', ...' if len(self.members) > 10 else ''}"
                                + ("; forecast a new series from its own history with --new-series "
                                   "(in Python, predict(new=True))" if history is not None else ""))
        if isinstance(history, (pd.DataFrame, pd.Series)):
            if len(names) != 1:
                raise ForecastError("this model forecasts several series: give the history as a dict "
                                    "by series name, or name the one series it belongs to")
            history = {names[0]: history}
        if future is not None and not isinstance(future, dict):
            if len(names) != 1:
                raise ForecastError("this model forecasts several series: give the future values as a "
                                    "dict by series name")
            future = {names[0]: future}
        members = [self.members[name] for name in names]
        windows = [self._named_window(name, m, (history or {}).get(name), (future or {}).get(name))
                   for name, m in zip(names, members)]
        # one forward pass for every series (a panel's thousands would each pay a call's overhead)
        scaled = predict_scaled(self.net, torch.cat([x for x, _, _ in windows]),
                                series=torch.tensor([m.index for m in members]))
        columns = [self._columns(m, scaled[i: i + 1], recent, dates) for i, (m, (_, recent, dates)) in
                   enumerate(zip(members, windows))]
        if alone:
            return pd.DataFrame(columns[0], index=windows[0][2])
        if any(c.keys() != columns[0].keys() for c in columns):  # some series without intervals
            return pd.concat([pd.DataFrame({"series": name, **c}, index=w[2])
                              for name, c, w in zip(names, columns, windows)])
        index = windows[0][2] if len(windows) == 1 else pd.DatetimeIndex(
            np.concatenate([w[2].to_numpy() for w in windows]), name=windows[0][2].name)
        return pd.DataFrame({"series": np.repeat(np.array(names, dtype=object), self.data.horizon),
                             **{k: np.concatenate([c[k] for c in columns]) for k in columns[0]}}, index=index)

    def _named_window(self, name: str, member: Member, history, future):
        try:
            return self._window(member, history, future)
        except ForecastError as e:  # in a panel, which series cannot be forecast
            raise (ForecastError(f"series {name}: {e}") if len(self.members) > 1 else e) from None

    def _window(self, member: Member, history, future=None) -> tuple[torch.Tensor, pd.DataFrame, pd.DatetimeIndex]:
        """The (1, L, C) encoded input window a forecast from `history` (default: the saved one)
        reads, the history's last rows and the dates forecast."""
        cfg = self.data
        if history is None:  # the saved rows: validated when the model was made
            history = member.history
        else:
            try:
                history, report = validate_frame(history, list(cfg.inputs), self.source.max_gap, "history",
                                                 self.source.fill_missing_dates)
            except MissingColumns as e:
                raise lacking(e, "history") from None
            if future is None and report.after is not None:
                future = report.after  # last rows with the known columns and no target yet: their future
            check_step(history.index, member.history.index)
        if len(history) < self.context_rows:
            raise ForecastError(f"history has {len(history)} rows; this model needs the last "
                                f"{self.context_rows}")
        history = history.iloc[-self.context_rows:]
        index = future_dates(history.index[-1], cfg.horizon, self.frequency)
        _, values = member.preprocessor.encode(history, known_ahead(future, self.data.known, index), index)
        return torch.from_numpy(values.astype(np.float32))[None], history, index  # (1, L, C)

    def _columns(self, member: Member, scaled: np.ndarray, history: pd.DataFrame,
                 dates: pd.DatetimeIndex) -> dict[str, np.ndarray]:
        """The forecast table's (H,) columns for one series from the network's (1, H, T[, Q]) outputs
        for `dates`."""
        cfg = self.data
        anchor = history[list(cfg.targets)].to_numpy(dtype=np.float64)[-1:]  # (1, T)
        phases = member.preprocessor.phases(dates)
        decoded = member.preprocessor.decode(scaled, anchor, None if phases is None else phases[None])  # (1, H, T[, Q])
        levels = self.model.quantiles
        point = decoded[..., levels.index(0.5)] if levels else decoded
        columns = {name: point[0, :, t] for t, name in enumerate(cfg.targets)}
        for t, name in enumerate(cfg.targets):
            for q, level in enumerate(levels):
                columns[f"{name}_q{level:g}"] = decoded[0, :, t, q]
            if member.calibration is not None:
                scale = local_scale(history[list(cfg.targets)].to_numpy(np.float64), np.array([len(history)]),
                                    cfg.seq_len)
                lower, upper = member.calibration.bounds(point, decoded if levels else None, scale)
                for k, c in enumerate(member.calibration.coverage):
                    columns[f"{name}_lower{100 * c:g}"] = lower[k, 0, :, t]
                    columns[f"{name}_upper{100 * c:g}"] = upper[k, 0, :, t]
        return columns

    def plot(self, history: pd.DataFrame | None = None, target: int = 0, series: str | None = None,
             future=None):
        """A matplotlib Figure: the recent history and the forecast that follows it (of `series`,
        for a panel; `future` as for `predict`)."""
        target = target_index(target, self.data.targets)
        one = self.member(series) if series is not None else self
        history = one.history if history is None else history
        future = future.get(str(series)) if isinstance(future, dict) else future
        return plot_forecast(history, one.predict(history, future=future), self.data.targets[target],
                             series if len(self.members) > 1 else None)

    def metadata(self) -> dict:
        """The model file's JSON header (see `forecast.modelfile`)."""
        return file_metadata(self)

    def save(self, path: str | Path) -> Path:
        """Write the model file (atomically: an interrupted save leaves no half-written file); into
        an existing folder, as its model.safetensors."""
        return write_model_file(self, path)

    @classmethod
    def load(cls, path: str | Path) -> TrainedModel:
        """Rebuild a model from its file; a missing, corrupt or foreign file raises `ForecastError`."""
        path, meta, tensors = read_model_file(path)
        try:
            return cls._from_parts(meta, tensors)
        except ForecastError as e:
            raise ForecastError(f"{path}: {e}") from None
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise ForecastError(f"{path}: the model file is damaged or incomplete "
                                f"({type(e).__name__}: {e})") from None

    @classmethod
    def _from_parts(cls, meta: dict, tensors: dict) -> TrainedModel:
        data, model = DataConfig.from_dict(meta["data"]), ModelConfig.from_dict(meta["model"])
        train = TrainConfig.from_dict(meta["train"])
        check_contents(meta, tensors, data, model)
        state = {k.removeprefix("net."): v for k, v in tensors.items() if k.startswith("net.")}
        legacy = state.pop("profile", None) if data.cycle else None  # before 0.3 the network held the cycle
        n_static = len(meta["members"][0]["preprocessor"].get("static_names", ()))
        spec = meta.get("net")
        if spec is not None and not (isinstance(spec, dict) and isinstance(spec.get("class"), str)
                                     and isinstance(spec.get("options"), dict)):
            raise ForecastError("its 'net' names no network class and options")
        with torch.device("meta"):  # the shapes the settings ask for, before any memory is allocated
            shapes = {k: tuple(v.shape) for k, v in build_net(data, model, len(meta["members"]), n_static, spec,
                                                              train.ensemble).state_dict().items()}
        wrong = sorted(set(shapes) ^ set(state)) or [k for k in shapes if shapes[k] != tuple(state[k].shape)]
        if wrong:
            raise ForecastError(f"weights do not match the saved configuration ({', '.join(wrong[:3])})")
        net = build_net(data, model, len(meta["members"]), n_static, spec, train.ensemble)
        try:
            net.load_state_dict(state)
        except RuntimeError as e:
            raise ForecastError(f"weights do not match the saved configuration ({e})") from None
        net.eval()
        members = {}
        for i, m in enumerate(meta["members"]):
            preprocessor = Preprocessor.from_dict(m["preprocessor"])
            if preprocessor.columns != list(data.inputs) or preprocessor.transform != data.transform:
                raise ForecastError("preprocessing columns or transform do not match the data settings")
            if preprocessor.n_targets != len(data.targets):
                raise ForecastError(f"the preprocessing has {preprocessor.n_targets} targets, the settings {len(data.targets)}")
            if preprocessor.cycle and preprocessor.profile is None:
                if legacy is None or tuple(legacy.shape) != (len(meta["members"]), data.cycle, len(data.targets)):
                    raise ForecastError(f"series {m['name']!r}: its cycle's profile is missing")
                preprocessor.profile = legacy[i].double().numpy()
            stats = np.concatenate([np.ravel(preprocessor.mean), np.ravel(preprocessor.std)])
            if not np.isfinite(stats).all() or not (np.ravel(preprocessor.std) > 0).all():
                raise ForecastError(f"series {m['name']!r}: its scaler statistics are not finite, positive "
                                    "numbers")
            history = tensors[f"history.{i}"].numpy()
            if history.ndim != 2 or history.shape != (len(m["history_index"]), len(data.inputs)):
                raise ForecastError(f"the saved history has shape {history.shape}, expected "
                                    f"({len(m['history_index'])}, {len(data.inputs)})")
            index = pd.DatetimeIndex(pd.to_datetime(m["history_index"]), name="Date")
            calibration = Calibration.from_dict(m["calibration"]) if m.get("calibration") else None
            members[str(m["name"])] = Member(preprocessor, pd.DataFrame(history, columns=list(data.inputs),
                                                                        index=index), calibration, i)
        return cls(net, SourceConfig.from_dict(meta["source"]), data, model, train, members, meta["frequency"],
                   meta.get("info") or {}, meta.get("static_encoding") or {}, spec)


# A series the model never trained on (a store that opened after training): the network is shared, so
# it needs only its own preprocessing (scaling and, with a cycle, its cycle) fitted on the history given,
# and its static values encoded as in training. It cannot have a learned vector (series_embedding: such
# models refuse) nor intervals calibrated on its own validation: it takes the trained series' median
# margins (in units of a window's local scale), a reasonable width without the coverage guarantee.

def refusal(data: DataConfig, model: ModelConfig) -> str | None:
    """Why a model of these settings cannot forecast a series it did not train on, or None."""
    return "learned a vector for each series it trained on (model.series_embedding)" if model.series_embedding else None


def new_preprocessor(cfg: DataConfig, history: pd.DataFrame, static=None) -> Preprocessor:
    """A new series' preprocessing, fitted on all of its `history` (its only rows before the forecast)."""
    return Preprocessor.fit(history, cfg.targets, cfg.transform, cfg.scaler, None, cfg.time_features, cfg.cycle,
                            len(cfg.known), cfg.horizon, static)


def pooled_calibration(calibrations: list[Calibration | None]) -> Calibration | None:
    """The median margin of each coverage, step and target over the trained series' calibrations."""
    known = [c for c in calibrations if c is not None]
    if not known:
        return None
    margin = np.median(np.stack([c.margin for c in known]), axis=0)
    return Calibration(known[0].coverage, known[0].pairs, margin, min(c.n for c in known))


def lacking(e: MissingColumns, source: str) -> ForecastError:
    """Fresh data without a column the model was trained on: the model's columns are not the user's
    to choose here (as --target is in `fit`), so the fix is to rename."""
    return ForecastError(f"{source} lacks column(s) {', '.join(map(repr, e.missing))} this model was "
                         f"trained on (it has: {', '.join(map(str, e.available))}); rename them to match")
