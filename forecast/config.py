"""Every setting and its default, in small dataclasses that check themselves on creation.

`SourceConfig` says where the data comes from, `DataConfig` what is forecast and how it is split and scaled,
`ModelConfig` the network, `TrainConfig` its optimisation, `BacktestConfig` a walk-forward run. CLI options and
study files override fields; they never restate a default. The resolved configs are saved with every model file
and run, and rebuilt with `from_dict`. No torch import here, so the CLI can build and check configs first.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from forecast.checks import (Settings, check_cycle, check_order, check_roles, check_spans, choice, date_like,
                             hold_out_spec, holiday_calendar, levels, non_negative, positive)
from forecast.errors import ForecastError

CELLS = ("rnn", "lstm", "gru")
LOSSES = ("mse", "mae", "huber")
OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("none", "cosine", "plateau")
SCALERS = ("standard", "none")
TRANSFORMS = ("none", "log", "log_return")
TIME_FEATURES = ("hour", "dayofweek", "day", "dayofyear", "month")  # calendar phases as inputs
STATISTICAL = ("naive2", "ets", "theta", "arima")  # opt-in baselines (forecast.metrics.statistical)
INTERVALS = ("1d", "1wk", "1mo", "1h")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
SAMPLINGS = ("windows", "series")  # every window once per epoch, or each series equally often
STRATEGIES = ("auto", "ddp")
NORMALIZE = ("none", "last", "last+scale")
LOGGERS = ("csv", "tensorboard", "mlflow")  # csv is always written; the others beside it
WINDOWS = ("expanding", "sliding")  # a backtest's training rows: every earlier one, or a fixed count
CALIBRATIONS = ("split", "adaptive")  # a backtest's intervals: split conformal, or adapting to each outcome
FILE_LAYOUT = {"series_col": None, "wide": False, "date_col": None, "date_format": None, "dayfirst": None}  # a file's
PRECISIONS = ("32-true", "32", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true", "64")


@dataclass(frozen=True)
class SourceConfig(Settings):
    """Where the data comes from: a Yahoo `ticker`, a bundled `sample`, or a CSV/Parquet `path`
    (none of them: the bundled AAPL sample), and how it is read and repaired.

    Several series (a panel, one model for all): tickers or samples separated by commas ("AAPL,MSFT", or a list;
    `sample="all"` for every bundled one; "@tickers.txt" reads them from a file), or a long file with
    a `series_col` naming each row's series, or a wide file (`wide`) whose chosen columns are each a
    series (their values are then called "value"); `drop_bad` leaves out series that cannot be used.

    `start <= date < end` limits the rows; `max_gap` is the longest run of missing values that is
    forward-filled (a longer one is an error naming its first date); `fill_missing_dates` makes the
    timestamps missing from a series on a fixed step such values (else a warning counts them).
    `calendar` says which dates come next when forecasting: "auto" (trading days for stock prices,
    business days for a series without weekends, else its own step), an exchange such as "XNYS",
    "B" for business days, or any pandas frequency ("D", "h", "W-FRI", ...).
    """

    ticker: str | None = None
    sample: str | None = None
    path: str | None = None
    date_col: str | None = None
    date_format: str | None = None  # e.g. "%d/%m/%Y"; detected when None
    dayfirst: bool | None = None  # settles dates like 03/04/2020 that read both ways
    start: str | None = None
    end: str | None = None
    interval: str = "1d"
    cache_dir: str | None = None
    offline: bool = False
    max_gap: int = 5
    fill_missing_dates: bool = False
    calendar: str = "auto"
    series_col: str | None = None
    wide: bool = False
    drop_bad: bool = False

    def __post_init__(self):
        self.check_flags()
        given = [n for n in ("ticker", "sample", "path") if getattr(self, n) is not None]
        if len(given) > 1:
            raise ForecastError(f"give one data source, not {' and '.join(given)}")
        choice("interval", self.interval, INTERVALS)
        if not isinstance(self.max_gap, int) or self.max_gap < 0:
            raise ForecastError(f"max_gap must be 0 or more, got {self.max_gap}")
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None:
                date_like(name, value)
                object.__setattr__(self, name, str(value))
        for name in ("ticker", "sample", "path", "cache_dir"):  # text; tickers or samples may be a list
            value = getattr(self, name)
            if value is not None:
                several = isinstance(value, (list, tuple)) and name in ("ticker", "sample")
                object.__setattr__(self, name, ",".join(map(str, value)) if several else str(value))

    def with_flags(self, **flags) -> SourceConfig:
        """Apply overrides (None: not given): a ticker, sample or path replaces whichever of the three was set (a
        ticker or sample also drops a file's layout, `FILE_LAYOUT`); other fields replace only themselves."""
        flags = {k: v for k, v in flags.items() if v is not None}
        if not {"ticker", "sample", "path"} & set(flags):
            return self.override(**flags)
        cleared = {"ticker": None, "sample": None, "path": None, **({} if "path" in flags else FILE_LAYOUT)}
        return SourceConfig.from_dict({**asdict(self), **cleared}).override(**flags)

    @property
    def names(self) -> list[str]:
        """The tickers or samples named (several for a panel); `@FILE` reads them from a file (one
        per line or separated by commas; `#` starts a comment)."""
        given = self.ticker or self.sample or ""
        if given.startswith("@"):
            path = Path(given[1:])
            if not path.is_file():
                raise ForecastError(f"ticker file not found: {path}")
            given = ",".join(line.split("#")[0] for line in path.read_text().splitlines())
        return [n.strip() for n in given.replace(" ", ",").split(",") if n.strip()]

    @property
    def is_panel(self) -> bool:
        return (len(self.names) > 1 or (self.sample or "").lower() == "all" or self.wide
                or (self.ticker or "").startswith("@") or self.series_col is not None)

    @property
    def label(self) -> str:
        """A short name for output folders: the ticker, the file's stem, or the sample."""
        if self.ticker or self.sample:
            names = self.names or ["none"]
            label = names[0] if len(names) == 1 else f"{names[0]}+{len(names) - 1}"
            return label.upper().replace("^", "")
        return Path(self.path).stem if self.path else "AAPL"


@dataclass(frozen=True)
class DataConfig(Settings):
    """What to forecast from which columns, and how the series is split and scaled.

    Splits are chronological: the last `test_fraction` of rows is the test span, the `val_fraction`
    before it the validation span (or from `val_start` / `test_start` dates when given). Validation
    and test *targets* start at their span's first row whatever `seq_len` is; their inputs may reach
    back into the span before. `time_features` (of `TIME_FEATURES`) add calendar inputs computed
    from the dates (`forecast.preprocess.time_features_of`). `known` columns are covariates whose
    future values are known when forecasting (a holiday flag, a weather forecast, a planned price):
    the network reads each one `horizon` steps ahead, so its input window ends with their values over
    the forecast's own dates (`forecast.preprocess.lead_known`). A `cycle` of N steps (24 for the day of
    hourly data, 7 for the week of daily data) is taken out of the targets before the network and
    added back to its forecast: each series' training targets' mean at each phase of it, as in
    CycleNet (`forecast.preprocess.Preprocessor`).
    `static` columns describe each series of a panel and hold one value per series (a store's
    region or size): text is one-hot encoded, numbers standardised across the series, and the
    network reads them beside every input step (`forecast.preprocess`). `baselines` adds statistical
    models (of `STATISTICAL`: naive2, ets, theta, arima) to the naive family every evaluation scores.
    """

    targets: tuple[str, ...] = ("Close",)
    features: tuple[str, ...] = ()
    known: tuple[str, ...] = ()
    static: tuple[str, ...] = ()
    seq_len: int = 60
    horizon: int = 5
    val_fraction: float | None = None  # None: 0.15 of a single series' rows; a panel splits in steps
    test_fraction: float | None = None
    val_steps: int | None = None  # None: see `forecast.windows.split_steps`
    test_steps: int | None = None
    val_start: str | None = None
    test_start: str | None = None
    scaler: str = "standard"
    transform: str = "none"
    time_features: tuple[str, ...] = ()
    cycle: int = 0
    baselines: tuple[str, ...] = ()
    holidays: str | None = None  # a calendar (US, DE-BY, XNYS): a known holiday flag from the dates

    def __post_init__(self):
        self.check_flags()
        for name in ("time_features", "baselines"):  # "hour,dayofweek", as a study's choice; "" for none
            if isinstance(getattr(self, name), str):
                object.__setattr__(self, name, tuple(n.strip() for n in getattr(self, name).split(",") if n.strip()))
        for name in ("targets", "features", "known", "static", "time_features", "baselines"):  # one name, or several, once each
            value = getattr(self, name)
            object.__setattr__(self, name, tuple(dict.fromkeys((value,) if isinstance(value, str) else value)))
        object.__setattr__(self, "features", tuple(f for f in self.features if f not in self.targets))  # fed once
        check_roles(self)
        positive("seq_len", self.seq_len, int)
        positive("horizon", self.horizon, int)
        if self.known and self.seq_len < self.horizon:
            raise ForecastError(f"known columns are read over the horizon inside the input window: seq_len "
                                f"{self.seq_len} must be at least the horizon {self.horizon}")
        for name in ("val_start", "test_start"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, str(getattr(self, name)))
        check_spans(self)
        choice("scaler", self.scaler, SCALERS)
        choice("transform", self.transform, TRANSFORMS)
        for name in self.time_features:
            choice("time feature", name, TIME_FEATURES)
        for name in self.baselines:
            choice("baseline", name, STATISTICAL)
        object.__setattr__(self, "holidays", holiday_calendar(self.holidays))
        check_cycle(self)

    @property
    def fractions(self) -> tuple[float, float]:
        """(validation, test) shares of the rows when the split is by fractions (0.15 each unless given)."""
        return (0.15 if self.val_fraction is None else self.val_fraction,
                0.15 if self.test_fraction is None else self.test_fraction)

    @property
    def lost_rows(self) -> int:
        """Rows the transform consumes before its first value: one for a log return (the row before)."""
        return 1 if self.transform == "log_return" else 0

    @property
    def context_rows(self) -> int:
        """History rows one forecast reads: the input window and what the transform consumes."""
        return self.seq_len + self.lost_rows

    @property
    def inputs(self) -> tuple[str, ...]:
        """Input columns: targets first (the model reads its targets' history), then covariates, then
        the known ones (read `horizon` steps ahead)."""
        return self.targets + self.features + self.known

    @property
    def n_inputs(self) -> int:
        """Values per input step: the input columns, a sine and a cosine per time feature, the holiday flag."""
        return len(self.inputs) + 2 * len(self.time_features) + (1 if self.holidays else 0)


@dataclass(frozen=True)
class ModelConfig(Settings):
    """The recurrent network: ten settings.

    `normalize` "last" shifts each input window by its own last value (subtracts it) and adds it
    back to the output, so the network predicts changes from now: a zero output is the naive
    forecast and a model trained at one price level works at another. With
    `transform="log_return"` the targets are changes already; their inputs are not shifted and a
    zero output is a zero return, again the naive forecast. "last+scale" also divides each window by
    its own spread (the mean absolute one-step change over its inputs; for log-return targets the
    mean absolute return) and multiplies the output back: forecasts, and a quantile head's widths,
    follow the volatility of the window (RevIN-style, with the last value as the centre). None (the
    default) is "last+scale" for a quantile head, whose fixed widths would otherwise be too narrow
    wherever the series got more volatile than in training (`benchmarks/intervals.py`), and "last"
    for a point forecast; "none" feeds the scaled levels as they are. `segment_len` > 1 feeds the
    RNN non-overlapping segments of the input instead of single steps (fewer, richer steps).
    `channel_independent` runs every column through the same network as its own univariate series.

    `quantiles` (e.g. 0.1, 0.5, 0.9) trains a quantile head with the pinball loss instead of a point
    forecast; the median is always among them and is the point forecast. `coverage` names the
    prediction intervals every model gets, calibrated on the validation span (conformal).
    `series_embedding` > 0 gives a panel's model a learned vector of that size per series, read by
    the head beside the last hidden state (series identity beyond each series' own history).

    Other networks (the ETTh1 experiments: linear skips, SegRNN's pmf decoder, blends, ensembles)
    live in `benchmarks/heads.py` on the `net=` extension point of `fit` (see `forecast.model`).
    """

    cell: str = "lstm"
    hidden_size: int = 64
    num_layers: int = 1
    dropout: float = 0.0
    normalize: str | None = None  # "none", "last", "last+scale"; None: last+scale for quantiles, else last
    segment_len: int = 1
    channel_independent: bool = False
    quantiles: tuple[float, ...] = ()
    coverage: tuple[float, ...] = (0.8, 0.9)
    series_embedding: int = 0

    def __post_init__(self):
        self.check_flags()
        choice("cell", self.cell, CELLS)
        if isinstance(self.series_embedding, bool) or not isinstance(self.series_embedding, int) \
                or self.series_embedding < 0:
            raise ForecastError(f"series_embedding must be 0 (none) or a size, got {self.series_embedding!r}")
        quantiles = levels("quantiles", self.quantiles)
        object.__setattr__(self, "quantiles", tuple(sorted({*quantiles, 0.5})) if quantiles else ())
        object.__setattr__(self, "coverage", levels("coverage", self.coverage))
        if not self.coverage:  # `--coverage ,`: every model gets its intervals
            raise ForecastError("coverage needs at least one level, e.g. 0.8 or 0.8,0.9")
        if self.normalize is None:  # a quantile head's widths must follow the volatility
            object.__setattr__(self, "normalize", "last+scale" if self.quantiles else "last")
        choice("normalize", self.normalize, NORMALIZE)
        positive("hidden_size", self.hidden_size, int)
        positive("num_layers", self.num_layers, int)
        positive("segment_len", self.segment_len, int)
        if not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise ForecastError(f"dropout must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class TrainConfig(Settings):
    """Optimisation and the Lightning Trainer's settings.

    `threads` is how many CPU threads PyTorch uses while training and evaluating (restored after the
    call); None takes $FORECAST_THREADS, else every core this process may run on. `devices` above 1
    trains one model data-parallel in that many processes (`strategy` "ddp", which "auto" picks then):
    each sees its own share of every epoch's batches; with the CPU each process is one "device".
    `ensemble` > 1 trains that many networks side by side and averages them (`forecast.model.Ensemble`).
    """

    loss: str = "mse"
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "none"  # cosine: over max_epochs; plateau: halve when val_loss (train_loss in a refit) stalls
    gradient_clip: float = 1.0
    batch_size: int = 64
    max_epochs: int = 30
    patience: int = 5
    seed: int = 42
    accelerator: str = "auto"
    devices: str = "auto"
    strategy: str = "auto"
    precision: str = "32-true"
    threads: int | None = None  # CPU threads for PyTorch; None: $FORECAST_THREADS, else every core
    sampling: str = "windows"  # "series": each series of a panel weighs the same per epoch
    logger: str = "csv"  # where a fit with an output folder logs: csv (logs/metrics.csv), tensorboard, mlflow
    refit_epochs: int = 0  # 0: the refit trains afresh for the epochs chosen; N: continues the evaluated model N epochs
    ensemble: int = 1  # networks trained side by side from their own initial weights, their forecasts averaged

    def __post_init__(self):
        self.check_flags()
        for name, valid in (("loss", LOSSES), ("optimizer", OPTIMIZERS), ("schedule", SCHEDULES), ("logger", LOGGERS),
                            ("accelerator", ACCELERATORS), ("strategy", STRATEGIES), ("sampling", SAMPLINGS),
                            ("precision", PRECISIONS)):
            choice(name, getattr(self, name), valid)
        positive("learning_rate", self.learning_rate)
        for name in ("batch_size", "max_epochs", "ensemble"):
            positive(name, getattr(self, name), int)
        for name in ("weight_decay", "gradient_clip", "patience"):
            non_negative(name, getattr(self, name))
        if isinstance(self.refit_epochs, bool) or not isinstance(self.refit_epochs, int) or self.refit_epochs < 0:
            raise ForecastError(f"refit_epochs must be 0 (refit afresh) or a number of epochs, got {self.refit_epochs!r}")
        devices = str(self.devices)
        if devices != "auto" and not (devices.isdigit() and int(devices) > 0):
            raise ForecastError(f"devices must be auto or a positive count, got {self.devices!r}")
        object.__setattr__(self, "devices", devices)
        if self.threads is not None:
            positive("threads", self.threads, int)


def check_compatible(data: DataConfig, model: ModelConfig) -> None:
    """Settings that are fine alone but not together."""
    if data.seq_len % model.segment_len:
        raise ForecastError(f"seq_len {data.seq_len} must be a multiple of segment_len {model.segment_len}")
    if model.channel_independent and (data.features or data.known or data.time_features or data.static):
        raise ForecastError("channel_independent needs every input column to be a target; drop the "
                            "features, known, static columns and time features, or make them targets")


@dataclass(frozen=True)
class BacktestConfig(Settings):
    """Walk-forward evaluation.

    Origins are the last `origins` points spaced `stride` steps apart (or every `stride`-th point whose
    first target falls in `[origins_from, origins_to)`). The model is retrained every `retrain_every` origins (0:
    trained once before the first origin, then only rolled forward), on all data before the fold's
    first target (`expanding`) or on the last `train_size` rows of it (`sliding`).
    Intervals are calibrated on each fold's validation span (`calibration` "split": split conformal),
    or start there and adapt as each outcome is observed ("adaptive": adaptive conformal inference
    with step size `gamma`). `hold_out` holds series of a panel out of training and forecasts them at every origin as new
    ones, from their own history (see `TrainedModel.add_series`): their names ("a,b"), a share ("20%") or a
    count ("5") drawn at random with the training seed.
    """

    origins: int | None = None  # None: 250 (enough for the significance tests), or a quarter of shorter data
    stride: int = 1
    origins_from: str | None = None
    origins_to: str | None = None
    window: str = "expanding"
    train_size: int | None = None
    retrain_every: int = 0
    season_length: int | None = None  # None: from the data's step (see `forecast.metrics.season_of`)
    ma_window: int = 20
    calibration: str = "split"
    gamma: float = 0.005
    hold_out: str | None = None

    def __post_init__(self):
        self.check_flags()
        choice("calibration", self.calibration, CALIBRATIONS)
        if self.hold_out is not None:
            hold_out_spec(self.hold_out)
        positive("gamma", self.gamma)
        if self.gamma > 0.2:  # each miss would move the level aimed at by more than the 80% interval's 0.2
            raise ForecastError(f"gamma {self.gamma:g} is the step of adaptive intervals: above 0.2 one miss "
                                "moves them to unbounded; Gibbs and Candes use 0.005 (the default) to 0.05")
        for name in ("stride", "ma_window"):
            positive(name, getattr(self, name), int)
        if self.origins is not None:
            positive("origins", self.origins, int)
        if self.season_length is not None:
            positive("season_length", self.season_length, int)
        for name in ("origins_from", "origins_to"):
            if getattr(self, name) is not None:
                date_like(name, getattr(self, name))
        if self.origins_from is not None and self.origins_to is not None:
            check_order(("origins-from", self.origins_from), ("origins-to", self.origins_to), "--")
        choice("window", self.window, WINDOWS)
        if self.retrain_every < 0:
            raise ForecastError(f"retrain_every must be 0 (train once) or more, got {self.retrain_every}")
        if self.train_size is not None:
            positive("train_size", self.train_size, int)
        if (self.window == "sliding") != (self.train_size is not None):  # one without the other
            raise ForecastError("a sliding window trains each fold on its last train_size rows: give "
                                "--window sliding with --train-size N (an expanding window takes every row)")
