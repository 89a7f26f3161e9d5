"""A stored model at work on fresh data: the batch forecast of `forecast predict` (`predict_fresh`), a
TorchScript or ONNX export checked against the model file, and a small JSON HTTP endpoint (the
standard library's server; nothing to install).

`predict_fresh` forecasts from a source's fresh data as a batch job should: a series that cannot be
used (not in the model, or new and too short for one window) is left out with a warning and never
stops the others' forecasts; the notes and warnings come back with the table for the caller to show.

`export` writes the network as TorchScript (`model.pt`, loadable with `torch.jit.load` and no
`forecast`) or ONNX (`model.onnx`, for ONNX Runtime and any language it serves; inputs `x` and
`series`, output `forecast`, any batch size) and the preprocessing beside it in plain JSON (`preprocessing.json`: each series' scaler
and transform, the input columns, window length, horizon, calendar and interval margins), after
checking that the exported graph forecasts what the model file does (to 1e-5, in encoded units, on
each series' latest window).

`make_server` answers, on the address given:
- `GET /health`: the model's series, targets, horizon and input columns;
- `POST /predict` with `{"history": {"dates": [...], "<column>": [...], ...}, "series": "NAME"}`
  (the history may also be records, `[{"date": ..., "<column>": ...}, ...]`, the shape answers come in;
  both optional: without a history, the one saved with the model; without a series, every series;
  a series the model did not train on, with its history, is forecast from it as a new series):
  `{"forecast": [{"date": ..., "series": ..., "<target>": ..., "<target>_lower80": ...}, ...]}`;
  on an integer time axis, `dates` and `date` are step numbers.
A bad request is answered 400 (not JSON, wrong shape), 404 (unknown path), 413 (over 16 MB) or 422
(data the model cannot use: the error says why), each with `{"error": "..."}`; the server never stops
on a request.
"""
from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from forecast.config import SourceConfig
from forecast.dates import STEPS, check_calendar, parse_dates, stamp
from forecast.errors import ForecastError, MissingColumns, listed
from forecast.files import DATE_NAMES, jsonable, load_file, write_atomically, write_json
from forecast.loading import load
from forecast.panel import from_long, id_columns, split_long
from forecast.sources import DataReport
from forecast.trained import TrainedModel, lacking

MAX_BODY = 16 * 1024 * 1024  # bytes of JSON a request may send
FORMATS = ("torchscript", "onnx")
GRAPHS = {"torchscript": "model.pt", "onnx": "model.onnx"}
TOLERANCE = 1e-5


@dataclass
class FreshForecast:
    """What `predict_fresh` returns: the forecast table (as `TrainedModel.predict` makes it), the
    model that made it (any new series added), the history and known future it read (None: the
    saved history; a frame for one series, else a dict by series), the fresh data's report, and
    lines for the user: `notes` to read, `warnings` to act on."""

    table: pd.DataFrame
    model: TrainedModel
    history: pd.DataFrame | dict | None = None
    future: pd.DataFrame | dict | None = None
    report: DataReport | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def predict_fresh(model: TrainedModel, source=None, series=None, future=None,
                  new_series: bool = False, calendar: str | None = None,
                  read_as: SourceConfig | None = None) -> FreshForecast:
    """The next `horizon` steps of `model` from fresh data, as `forecast predict` makes them.

    Parameters
    ----------
    model : a fitted or loaded `TrainedModel`.
    source : the fresh data, anything `load` takes: a `SourceConfig` (a ticker, a sample, a file;
        several series for a panel's model), a file path, a frame (one series), a dict of frames
        by series or a long frame in Nixtla's shape; None: the history saved with the model.
    series : the series to forecast (default all); a one-series source's rows are those of the
        series it names, or of a one-series model's only series.
    future : the known columns' values at the dates forecast (a model fitted with `DataConfig.known`):
        a frame by date, a dict of them by series, or a CSV/Parquet file (a panel's long, with its
        series column). Default: a fresh file's last rows that hold them and no target yet.
    new_series : also forecast the fresh series the model did not train on, each from its own
        history (those shorter than one window are left out); without it they are left out.
    calendar : the dates forecast: an exchange (XNYS), B or a pandas frequency (default the model's).
    read_as : how a `future` file's dates are read (`date_col`, `date_format`, `dayfirst`); default
        as `source`'s, else as the model's source's.

    Returns
    -------
    FreshForecast: `.table` as `TrainedModel.predict` returns it, with what was read and what to say.
    """
    notes: list[str] = []
    warned: list[str] = []
    if calendar not in (None, "auto"):  # the dates forecast follow it, not the saved step
        check_calendar(calendar)
        if model.frequency == STEPS:
            raise ForecastError(f"--calendar {calendar}: this model counts integer steps, not dates; "
                                "it forecasts the steps after its last one")
        model = replace(model, frequency=calendar)
    names = [series] if isinstance(series, str) else list(series) if series else None
    history = report = None
    if source is not None:
        if isinstance(source, (str, Path)):
            source = SourceConfig(path=str(source))
        # a series that cannot be used is left out with a warning, never stops the others' forecasts
        if isinstance(source, SourceConfig):
            source = SourceConfig.from_dict({**source.to_dict(), "drop_bad": True})
            one, label, given = not source.is_panel, source.label, str(source.path or source.label)
        else:  # a frame is one series, unnamed; a dict or a long frame (unique_id, ds) is a panel
            source = split_long(source)
            one, label, given = isinstance(source, (pd.DataFrame, pd.Series)), None, "the fresh data"
        columns, static = list(model.data.inputs), model.data.static if new_series else ()
        try:
            history, report = load(source, columns, static, drop_bad=True, max_gap=model.source.max_gap,
                                   fill_missing_dates=model.source.fill_missing_dates)
        except MissingColumns as e:
            raise lacking(e, given) from None
        warned += report.warnings
        if future is None and model.data.known and report.after is not None:
            future = report.after  # a file whose last rows hold the known columns and no target yet
            notes.append(f"{report.source}: the last {len(future)} rows have no {', '.join(model.data.targets)} "
                         f"yet; their {', '.join(model.data.known)} values are the known future (--future gives others)")
        elif report.dropped_trailing:
            warned.append(f"{report.source}: {report.dropped_trailing} rows at the end lack a value and were left "
                          "out; the forecast starts after the last complete row")
        several = len(model.members) > 1
        if one and not (new_series and several):  # one series' fresh rows: the history of the series
            names = names or ([label] if several and label else None)  # named, or of the only one
            history = next(iter(history.values()))
        else:
            model, history = _fresh_series(model, history, new_series, names, notes, warned)
    elif new_series:
        raise ForecastError("--new-series forecasts series of fresh data: give them with --file (and --series-col); "
                            "in Python, as the source")
    else:
        last = max(m.history.index[-1] for m in model.members.values())
        notes.append(f"using the history saved with the model (up to {stamp(last)}); give a source (--ticker, "
                     "--file, ...) for fresher data")
    if isinstance(future, (str, Path)):
        dated = source if isinstance(source, SourceConfig) else model.source
        future = _future_file(Path(future), model, read_as or dated)
    table = model.predict(history, series=names, future=future)
    return FreshForecast(table, model, history, future, report, notes, warned + model.unbounded_intervals())


def _fresh_series(model: TrainedModel, history: dict, add: bool, names, notes: list, warned: list):
    """The model with the fresh panel's new series (those in `names`, when given) added (`add`), or
    without them in the history; what was left out and why is appended to `warned`."""
    fresh = [n for n in history if n not in model.members and (names is None or n in names)]
    if not fresh:
        return model, history
    if not add:
        if names is None:  # asked for by name, predict's error names them
            warned.append(f"{len(fresh)} series of the fresh data are not in the model ({listed(fresh, 5)}); "
                          "left out (--new-series forecasts them from their own history)")
            history = {n: h for n, h in history.items() if n in model.members}
        return model, history
    short = [n for n in fresh if names is None and len(history[n]) < model.context_rows]
    if short:  # a store opened days ago must not stop the forecasts of the others
        warned.append(f"{len(short)} new series have fewer than the {model.context_rows} rows of history a "
                      f"forecast needs ({listed(short, 5)}); left out")
        fresh, history = [n for n in fresh if n not in short], {n: h for n, h in history.items() if n not in short}
        if not fresh:
            return model, history
    notes.append(f"new series (not trained on): {listed(fresh, 5)}; each scaled on its own history, its intervals "
                 "the trained series' median widths (no coverage guarantee)")
    return model.add_series({n: history[n] for n in fresh}), history


def _future_file(path: Path, model: TrainedModel, read_as: SourceConfig):
    """The known columns' future values from a file, its dates read as `read_as` says: a frame by
    date, or for a panel's model a dict of them by series (the file's column naming the series, as
    the model's source named it, or `series`)."""
    own = id_columns(model.source.series_col)
    frame = load_file(path, read_as.date_col, read_as.date_format, read_as.dayfirst, text_cols=(*own, "series"))
    if len(model.members) == 1:
        return frame
    column = own if own and set(own) <= set(frame.columns) else "series" if "series" in frame.columns else None
    if column is None:
        raise ForecastError(f"{path}: this model forecasts {len(model.members)} series; give the future "
                            "values in a long file with a series column")
    return from_long(frame, column)


def export(model: TrainedModel, folder: str | Path, format: str = "torchscript", force: bool = False) -> dict:
    """Write the graph (`model.pt` for TorchScript, `model.onnx` for ONNX) and `preprocessing.json`
    into `folder`; return where each went and the largest difference between the exported graph's
    outputs and the model's (encoded units), which must stay within 1e-5."""
    if format not in FORMATS:
        raise ForecastError(f"unknown export format {format!r}; choose one of: {', '.join(FORMATS)}")
    folder = Path(folder)
    target = folder / GRAPHS[format]
    if target.exists() and not force:
        raise ForecastError(f"{target} exists; choose another folder or pass --force")
    windows, ids = _latest_windows(model)
    net = _WithSeries(model.net.eval())
    with torch.no_grad():
        expected = net(windows, ids)
        save, got = (_onnx if format == "onnx" else _torchscript)(net, windows, ids)
    gap = float((expected - torch.as_tensor(got)).abs().max())
    if not math.isfinite(gap) or gap > TOLERANCE:
        raise ForecastError(f"the exported graph forecasts differently from the model file (largest gap "
                            f"{gap:.3g} > {TOLERANCE:g}); this network cannot be exported as {format}")
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"model": write_atomically(target, save),
             "preprocessing": write_json(preprocessing(model, GRAPHS[format]), folder / "preprocessing.json")}
    return {**paths, "largest_gap": gap}


def _torchscript(net: torch.nn.Module, windows: torch.Tensor, ids: torch.Tensor):
    with warnings.catch_warnings():  # branches on shapes are constants of the model
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(net, (windows, ids), check_trace=False)
    return (lambda tmp: traced.save(str(tmp))), traced(windows, ids)


def _onnx(net: torch.nn.Module, windows: torch.Tensor, ids: torch.Tensor):
    """Through torch.export (any batch size), run back by ONNX Runtime for the check."""
    try:
        import onnxruntime
    except ImportError:
        raise ForecastError("ONNX export needs onnx, onnxscript and onnxruntime: pip install 'forecast[onnx]'") from None
    import contextlib
    import io

    batch = torch.export.Dim("batch")
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):  # the exporter's progress lines
        warnings.simplefilter("ignore")
        program = torch.onnx.export(net, (windows, ids), dynamo=True, input_names=["x", "series"],
                                    output_names=["forecast"], dynamic_shapes=({0: batch}, {0: batch}), verbose=False)
    if program is None:  # only when a file name is given
        raise ForecastError("the ONNX exporter returned no program")
    blob = program.model_proto.SerializeToString()
    session = onnxruntime.InferenceSession(blob, providers=["CPUExecutionProvider"])
    feed = {i.name: {"x": windows, "series": ids}[i.name].numpy() for i in session.get_inputs()}
    return (lambda tmp: Path(tmp).write_bytes(blob)), session.run(None, feed)[0]


class _WithSeries(torch.nn.Module):
    """The network with the series argument required (TorchScript traces fixed signatures)."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, series: torch.Tensor) -> torch.Tensor:
        return self.net(x, series)


def _latest_windows(model: TrainedModel) -> tuple[torch.Tensor, torch.Tensor]:
    """(S + 16, L, C) windows to check the export on: each series' latest encoded input window, and
    16 drawn at random; (S + 16,) each one's row in the series embedding."""
    xs, ids = [], []
    for m in model.members.values():
        try:
            xs.append(model._window(m, None)[0])
            ids.append(m.index)
        except ForecastError:
            pass
    if not xs:
        raise ForecastError("export checks the graph on each series' latest window, which a model with known "
                            "columns cannot build without their future values; this model cannot be exported yet")
    shape = (16, model.data.seq_len, xs[0].shape[-1])
    generator = torch.Generator().manual_seed(0)
    xs.append(torch.randn(shape, generator=generator))
    ids += [i % len(model.members) for i in range(16)]
    return torch.cat(xs).float(), torch.tensor(ids, dtype=torch.long)


def preprocessing(model: TrainedModel, graph: str = "model.pt") -> dict:
    """What a runtime without `forecast` needs around the exported graph, in plain JSON."""
    return jsonable({"inputs": list(model.data.inputs), "targets": list(model.data.targets),
                     "seq_len": model.data.seq_len, "horizon": model.data.horizon,
                     "frequency": model.frequency, "quantiles": list(model.model.quantiles),
                     "graph": f"{graph}: (x (B, seq_len, inputs) encoded, series (B,) int64) -> encoded forecasts",
                     "series": {name: {"index": m.index, "preprocessor": m.preprocessor.to_dict(),
                                       "calibration": m.calibration.to_dict() if m.calibration else None}
                                for name, m in model.members.items()}})


def _history(payload, model: TrainedModel) -> pd.DataFrame | None:
    """The request's history as a frame indexed by date, or None (the saved one)."""
    history = payload.get("history")
    if history is None:
        return None
    if isinstance(history, list) and history and all(isinstance(row, dict) for row in history):  # records
        key = next((k for k in history[0] if str(k).lower() in DATE_NAMES), None)
        if key is None or not all(key in row for row in history):
            raise ValueError('every record of "history" needs its date (a "date" key)')
        history = {"dates": [row[key] for row in history],
                   **{c: [row.get(c) for row in history] for c in dict.fromkeys(c for r in history for c in r if c != key)}}
    if not isinstance(history, dict) or not isinstance(history.get("dates"), list):
        raise ValueError('"history" must be records ([{"date": ..., "<column>": ...}, ...]) or an object with a '
                         '"dates" list and one list per column')
    columns = {k: v for k, v in history.items() if k != "dates"}
    if not all(isinstance(v, list) and len(v) == len(history["dates"]) for v in columns.values()):
        raise ValueError('every column of "history" must be a list as long as "dates"')
    try:
        index = pd.Index(history["dates"], dtype=np.int64, name="step") if model.frequency == STEPS else \
            parse_dates(pd.Series(history["dates"], dtype=object), "dates")  # as a file's: offsets to UTC
        return pd.DataFrame({k: pd.to_numeric(pd.Series(v, dtype=object)).to_numpy(np.float64)
                             for k, v in columns.items()}, index=index)
    except (ValueError, TypeError) as e:
        raise ForecastError(f"history: {e} (" + ("steps as whole numbers" if model.frequency == STEPS else
                                                  "dates in ISO 8601: 2024-01-31 or 2024-01-31T13:00:00") + ")") from None


def answer(model: TrainedModel, payload) -> dict:
    """The forecast a `POST /predict` body asks for (see the module docstring)."""
    if not isinstance(payload, dict):
        raise ValueError("the body must be a JSON object")
    series = payload.get("series")
    if series is not None and not isinstance(series, str):
        raise ValueError('"series" must be the name of one series')
    history = _history(payload, model)
    names = [series] if series is not None else None
    # a series the model did not train on is forecast from the history sent (a global model's new store)
    table = model.predict(history, series=names, new=history is not None and names is not None)
    rows = table.reset_index().rename(columns={table.index.name or "index": "date"})
    if model.frequency != STEPS:  # steps stay integers
        rows["date"] = rows["date"].map(lambda d: d.isoformat())
    return {"forecast": jsonable(rows.to_dict(orient="records"))}


def make_server(model: TrainedModel, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    """An HTTP server answering for `model` (start it with `serve_forever()`); port 0 takes any free one."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ForecastError(f"port must be a whole number from 0 (any free one) to 65535, got {port!r}")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args) -> None:  # one line per request, on stderr
            pass

        def _send(self, status: int, body: dict) -> None:
            data = json.dumps(body, allow_nan=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path != "/health":
                return self._send(HTTPStatus.NOT_FOUND, {"error": f"no {self.path}; try GET /health or POST /predict"})
            self._send(HTTPStatus.OK, {"status": "ok", "series": model.series, "targets": list(model.data.targets),
                                       "inputs": list(model.data.inputs), "horizon": model.data.horizon,
                                       "history_rows": model.context_rows})

        def do_POST(self) -> None:
            if self.path != "/predict":
                return self._send(HTTPStatus.NOT_FOUND, {"error": f"no {self.path}; POST /predict"})
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                return self._send(HTTPStatus.BAD_REQUEST, {"error": "Content-Length is not a number"})
            if length > MAX_BODY:
                return self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": f"the body is over {MAX_BODY} bytes"})
            try:
                payload = json.loads(self.rfile.read(length) or b"{}")
                return self._send(HTTPStatus.OK, answer(model, payload))
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                return self._send(HTTPStatus.BAD_REQUEST, {"error": f"the body is not JSON: {e}"})
            except ForecastError as e:  # (a ValueError too: first)
                return self._send(HTTPStatus.UNPROCESSABLE_ENTITY, {"error": str(e)})
            except ValueError as e:
                return self._send(HTTPStatus.BAD_REQUEST, {"error": str(e)})
            except Exception as e:  # noqa: BLE001 - a request never stops the server
                return self._send(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{type(e).__name__}: {e}"})

    return ThreadingHTTPServer((host, port), Handler)
