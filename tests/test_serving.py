"""Serving: a TorchScript export that forecasts what the model file does, and a JSON endpoint on
127.0.0.1 answered by a real HTTP client, bad requests with 4xx and never a crash."""
import json
import threading
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest
import torch

from forecast import DataConfig, ModelConfig, TrainConfig, fit, load
from forecast.errors import ForecastError
from forecast.serving import export, make_server
from tests.test_cli import assert_one_line_error


@pytest.fixture(scope="module")
def models():
    index = pd.date_range("2024-01-01", periods=300, freq="h")
    wave = 50 + 10 * np.sin(np.arange(300) * 2 * np.pi / 24) + np.random.default_rng(0).normal(0, 1, 300)
    one = fit(pd.Series(wave, index=index, name="load"), DataConfig(targets=["load"], seq_len=24, horizon=6),
              ModelConfig(hidden_size=8, quantiles=(0.1, 0.9)), TrainConfig(max_epochs=1), quiet=True).model
    panel = fit({"a": pd.DataFrame({"load": wave}, index=index), "b": pd.DataFrame({"load": 2 * wave}, index=index)},
                DataConfig(targets=["load"], seq_len=24, horizon=6), ModelConfig(hidden_size=8, series_embedding=2),
                TrainConfig(max_epochs=1), quiet=True).model
    return one, panel


@pytest.mark.parametrize("which", [0, 1])
def test_the_torchscript_export_forecasts_what_the_model_file_does(models, which, tmp_path):
    model = models[which]
    written = export(model, tmp_path / "x")
    assert written["largest_gap"] <= 1e-5
    graph = torch.jit.load(str(written["model"]))
    spec = json.loads(written["preprocessing"].read_text())
    assert spec["seq_len"] == 24 and spec["horizon"] == 6 and set(spec["series"]) == set(model.series)
    for name, member in model.members.items():  # the saved history, encoded as the JSON says, any batch size
        x = model._window(member, None)[0].repeat(3, 1, 1)
        ids = torch.full((3,), spec["series"][name]["index"])
        torch.testing.assert_close(graph(x, ids), model.net(x, ids), atol=1e-5, rtol=0)
    with pytest.raises(ForecastError, match="exists; choose another folder or pass --force"):
        export(model, tmp_path / "x")
    with pytest.raises(ForecastError, match="unknown export format 'coreml'"):
        export(model, tmp_path / "y", "coreml")


@pytest.mark.slow  # torch.export and ONNX Runtime: 10-20 s a model
@pytest.mark.parametrize("which", [0, 1])
def test_the_onnx_export_forecasts_what_the_model_file_does_under_onnx_runtime(models, which, tmp_path):
    import onnxruntime

    model = models[which]
    written = export(model, tmp_path / "x", "onnx")
    assert written["model"].name == "model.onnx" and written["largest_gap"] <= 1e-5
    spec = json.loads(written["preprocessing"].read_text())
    assert spec["graph"].startswith("model.onnx")
    session = onnxruntime.InferenceSession(str(written["model"]), providers=["CPUExecutionProvider"])
    for name, member in model.members.items():  # any batch size, as the JSON says
        x = model._window(member, None)[0].repeat(3, 1, 1)
        ids = torch.full((3,), spec["series"][name]["index"])
        feed = {i.name: {"x": x, "series": ids}[i.name].numpy() for i in session.get_inputs()}
        np.testing.assert_allclose(session.run(None, feed)[0], model.net(x, ids).detach().numpy(), atol=1e-5, rtol=0)


def _call(url, body=None, method=None):
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method or ("POST" if data is not None else "GET"))
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture(scope="module")
def open_panel():
    """Two daily series and a model of them without a series embedding, so that it takes new series."""
    index = pd.date_range("2024-01-01", periods=120, freq="D")
    wave = 50 + 10 * np.sin(np.arange(120) / 5)
    model = fit({"a": pd.DataFrame({"y": wave}, index=index), "b": pd.DataFrame({"y": wave + 5}, index=index)},
                DataConfig(targets=["y"], seq_len=10, horizon=3), ModelConfig(hidden_size=8),
                TrainConfig(max_epochs=1), quiet=True).model
    return index, wave, model


@pytest.fixture
def server(models):
    servers = []

    def start(model):
        srv = make_server(model, "127.0.0.1", 0)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}"
    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def test_the_endpoint_answers_a_json_history_with_the_forecast_and_its_intervals(models, server):
    one, panel = models
    url = server(one)
    status, health = _call(url + "/health")
    assert status == 200 and health["series"] == one.series and health["horizon"] == 6
    status, saved = _call(url + "/predict", {})
    expected = one.predict()
    assert status == 200 and len(saved["forecast"]) == 6
    assert saved["forecast"][0]["load"] == pytest.approx(expected["load"].iloc[0], rel=1e-9)
    assert {"load_lower80", "load_upper90", "load_q0.1"} <= set(saved["forecast"][0])
    later = pd.date_range(one.history.index[-1], periods=4, freq="h")[1:]  # three newer hours
    history = pd.concat([one.history, pd.DataFrame({"load": [55.0, 57.0, 58.0]}, index=later)])
    body = {"history": {"dates": [d.isoformat() for d in history.index], "load": history["load"].tolist()}}
    status, fresh = _call(url + "/predict", body)
    expected = one.predict(history)
    assert status == 200 and fresh["forecast"][0]["date"] == expected.index[0].isoformat()
    assert fresh["forecast"][-1]["load"] == pytest.approx(expected["load"].iloc[-1], rel=1e-9)
    records = history.rename_axis("Date").reset_index().to_json(orient="records", date_format="iso")
    status, from_records = _call(url + "/predict", {"history": json.loads(records)})  # pandas' records, as answers are
    assert status == 200 and [r["date"] for r in from_records["forecast"]] == [r["date"] for r in fresh["forecast"]]
    assert [r["load"] for r in from_records["forecast"]] == pytest.approx([r["load"] for r in fresh["forecast"]])
    berlin = history.index.tz_localize("UTC").tz_convert("Europe/Berlin")  # the same instants with offsets
    status, offset = _call(url + "/predict", {**body, "history": {**body["history"], "dates": [d.isoformat() for d in berlin]}})
    assert status == 200 and offset == fresh  # read as a file's dates are: in UTC, not as wall time
    status, both = _call(server(panel) + "/predict", {})
    assert status == 200 and {row["series"] for row in both["forecast"]} == {"a", "b"}
    status, refused = _call(server(panel) + "/predict", {**body, "series": "c"})  # a learned vector per series
    assert status == 422 and "series_embedding" in refused["error"]


def test_the_endpoint_forecasts_a_series_the_model_never_saw_from_the_history_sent(server, open_panel):
    index, wave, model = open_panel
    store = pd.DataFrame({"y": wave[:30] * 2}, index=index[:30])
    body = {"history": {"dates": [d.isoformat() for d in store.index], "y": store["y"].tolist()}, "series": "c"}
    status, answer = _call(server(model) + "/predict", body)
    expected = model.predict(store, series=["c"], new=True)
    assert status == 200 and [row["series"] for row in answer["forecast"]] == ["c"] * 3
    assert [row["y"] for row in answer["forecast"]] == pytest.approx(expected["y"].tolist(), rel=1e-9)
    short = {"history": {k: v[:5] for k, v in body["history"].items()}, "series": "c"}
    status, answer = _call(server(model) + "/predict", short)
    assert status == 422 and "rows of history" in answer["error"]


@pytest.mark.parametrize("body,status,message", [
    (b"not json", 400, "not JSON"),
    ([1, 2], 400, "must be a JSON object"),
    ({"history": [1, 2]}, 400, '"history" must be records ([{"date": ..., "<column>": ...}, ...]) or an object'),
    ({"history": [{"date": "2024-01-01", "load": 1.0}, {"load": 2.0}]}, 400, 'every record of "history" needs its date'),
    ({"history": {"dates": ["2024-01-01"], "load": [1, 2]}}, 400, "as long as"),
    ({"history": {"dates": ["2024-01-01", "2024-01-02"], "load": [1.0, 2.0]}}, 422, "rows"),
    ({"history": {"dates": ["x", "y"], "load": [1.0, 2.0]}}, 422, "history"),
    ({"series": "nope"}, 422, "no series 'nope'"),
    ({"series": 3}, 400, "must be the name of one series")])
def test_a_bad_request_is_answered_4xx_with_the_reason_and_the_server_goes_on(models, server, body, status, message):
    url = server(models[0])
    got, answer = _call(url + "/predict", body)
    assert got == status and message in answer["error"]
    assert _call(url + "/health")[0] == 200  # still serving
    assert _call(url + "/nowhere")[0] == 404


def test_the_export_command_writes_the_graph_and_says_how_close_it_is(models, run, tmp_path):
    path = models[0].save(tmp_path / "m.safetensors")
    done = run("export", "--model", path, "--out", tmp_path / "x")
    assert done.returncode == 0, done.stderr
    assert "exported torchscript" in done.stdout and (tmp_path / "x" / "model.pt").is_file()
    again = run("export", "--model", path, "--out", tmp_path / "x")
    assert again.returncode == 1 and "pass --force" in again.stderr


@pytest.mark.slow
def test_the_onnx_export_command_leaves_stderr_empty(models, tmp_path):
    """A real process, whose stderr torch's exporter would write its notes on operators of packages not
    installed (torchvision) to."""
    import subprocess
    import sys

    path = models[0].save(tmp_path / "m.safetensors")
    done = subprocess.run([sys.executable, "-m", "forecast", "export", "--model", str(path), "--out",
                           str(tmp_path / "x"), "--format", "onnx"], capture_output=True, text=True)
    assert done.returncode == 0 and "exported onnx" in done.stdout and done.stderr == "", done.stderr


def test_a_port_out_of_range_is_one_line_not_a_traceback(models, run, tmp_path):
    with pytest.raises(ForecastError, match="port must be a whole number from 0"):
        make_server(models[0], "127.0.0.1", 99999)
    path = models[0].save(tmp_path / "m.safetensors")
    assert_one_line_error(run("serve", "--model", path, "--port", "99999"), "port must be a whole number")


@pytest.mark.slow
def test_the_serve_command_answers_on_a_free_port_and_stops_on_ctrl_c(models, tmp_path):
    import re
    import signal
    import subprocess
    import sys
    path = models[1].save(tmp_path / "m.safetensors")
    proc = subprocess.Popen([sys.executable, "-m", "forecast", "serve", "--model", str(path), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)
        status, health = _call(url + "/health")
        assert status == 200 and health["series"] == ["a", "b"]
        status, answer = _call(url + "/predict", {"series": "b"})
        assert status == 200 and {row["series"] for row in answer["forecast"]} == {"b"}
        assert _call(url + "/predict", b"{")[0] == 400
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "Traceback" not in err


def _hourly(n):
    index = pd.date_range("2024-01-01", periods=n, freq="h")
    return pd.Series(50 + 10 * np.sin(np.arange(n) * 2 * np.pi / 24), index=index, name="load")


def test_update_trains_further_on_newer_rows_with_the_same_preprocessing_and_leaves_the_old_model():
    from forecast.trainer import update
    load = _hourly(420)
    old = fit(load[:300], DataConfig(targets=["load"], seq_len=24, horizon=6), ModelConfig(hidden_size=8),
              TrainConfig(max_epochs=1), quiet=True).model
    weights = {k: v.clone() for k, v in old.net.state_dict().items()}
    new, changed = update(old, load, epochs=2)
    assert changed["new_rows"] == 120 and changed["trained_rows"] == 420 and changed["epochs"] == 2
    assert new.history.index[-1] == load.index[-1] and new.predict().index[0] == load.index[-1] + pd.Timedelta("1h")
    assert new.preprocessor.to_dict() == old.preprocessor.to_dict()  # not refitted
    assert new.calibration is old.calibration and new.info["updated"]["after"] == "2024-01-13 11:00:00"
    assert any(not torch.equal(v, new.net.state_dict()[k]) for k, v in weights.items())  # it trained
    assert all(torch.equal(v, old.net.state_dict()[k]) for k, v in weights.items())  # the old one did not


def test_update_of_a_model_of_known_columns_needs_no_future_values():
    from forecast.trainer import update
    rows = _hourly(360).to_frame().assign(hour=lambda f: f.index.hour.astype(float))
    old = fit(rows[:300], DataConfig(targets=["load"], known=["hour"], seq_len=24, horizon=6), ModelConfig(hidden_size=4),
              TrainConfig(max_epochs=1), quiet=True, refit=False).model
    new, changed = update(old, rows, epochs=1)  # its forecast would need the hours ahead: none is made
    assert changed["new_rows"] == 60 and changed["first_forecast_before"] is changed["first_forecast_after"] is None
    future = pd.DataFrame({"hour": rows.index[-6:].hour + 0.0}, index=rows.index[-6:] + pd.Timedelta("6h"))
    assert len(new.predict(future=future)) == 6


@pytest.mark.parametrize("history,message", [
    (_hourly(300)[:250], "nothing new to train on"),
    (_hourly(300).resample("2h").mean(), "rows are 2 hours apart, but this model was trained on rows 1 hour"),
    (_hourly(300).rename("other"), "lacks column"),
])
def test_update_refuses_rows_it_cannot_use(history, message):
    from forecast.trainer import update
    old = fit(_hourly(300), DataConfig(targets=["load"], seq_len=24, horizon=6), ModelConfig(hidden_size=4),
              TrainConfig(max_epochs=1), quiet=True, refit=False).model
    with pytest.raises(ForecastError, match=message):
        update(old, history, epochs=1)
    with pytest.raises(ForecastError, match="epochs must be a positive whole number"):
        update(old, _hourly(330), epochs=0)


def test_update_of_a_panel_trains_the_series_given_and_keeps_the_others(models):
    from forecast.trainer import update
    old = models[1]  # series a and b, 300 hours each
    newer = _hourly(330)
    new, changed = update(old, {"b": 2 * newer.rename("load")}, epochs=1)
    assert changed["series"] == 1 and changed["new_rows"] == 30 and changed["trained_rows"] == 330
    assert new.members["b"].history.index[-1] == newer.index[-1]
    assert new.members["a"].history is old.members["a"].history  # not given: unchanged
    assert new.members["b"].index == old.members["b"].index  # its row in the series embedding
    assert new.members["b"].preprocessor.to_dict() == old.members["b"].preprocessor.to_dict()
    rows = {n: m.index for n, m in old.members.items()}
    before, after = old.net.state_dict()["embedding.weight"], new.net.state_dict()["embedding.weight"]
    assert torch.equal(before[rows["a"]], after[rows["a"]]) and not torch.equal(before[rows["b"]], after[rows["b"]])
    assert len(new.predict()) == 2 * 6 and new.predict(series=["b"]).index[0] > old.predict(series=["b"]).index[0]
    with pytest.raises(ForecastError, match="forecasts 2 series: give the newer rows by series"):
        update(old, newer, epochs=1)
    with pytest.raises(ForecastError, match="series c not in this model"):
        update(old, {"c": newer}, epochs=1)
    long = (2 * newer).rename_axis("ds").reset_index().assign(unique_id="b")  # Nixtla's shape
    again, _ = update(old, long, epochs=1)
    assert torch.equal(again.net.state_dict()["embedding.weight"], after)  # the same training as from the dict


def test_the_update_command_writes_a_new_model_and_never_overwrites(run, tmp_path):
    fitted = run("fit", "--sample", "IBM", "--end", "2012-01-01", "--seq-len", "12", "--horizon", "2",
                 "--max-epochs", "1", "--quiet", "--no-refit", "--out", tmp_path / "m")
    assert fitted.returncode == 0, fitted.stderr
    args = ("update", "--model", tmp_path / "m", "--sample", "IBM", "--max-epochs", "1", "--quiet")
    done = run(*args, "--out", tmp_path / "m2")
    assert done.returncode == 0, done.stderr
    assert "291 of them after what the model had seen" in done.stdout and (tmp_path / "m2" / "model.safetensors").is_file()
    again = run(*args, "--out", tmp_path / "m2")
    assert again.returncode == 1 and "pass --force" in again.stderr
    assert run("update", "--model", tmp_path / "m", "--out", tmp_path / "m3").returncode == 1


def test_the_update_command_trains_a_panel_on_its_newer_rows(run, tmp_path):
    fitted = run("fit", "--sample", "IBM,MSFT", "--end", "2012-01-01", "--seq-len", "12", "--horizon", "2",
                 "--max-epochs", "1", "--quiet", "--no-refit", "--out", tmp_path / "m")
    assert fitted.returncode == 0, fitted.stderr
    done = run("update", "--model", tmp_path / "m", "--sample", "IBM,MSFT", "--max-epochs", "1", "--quiet",
               "--out", tmp_path / "m2")
    assert done.returncode == 0, done.stderr
    assert "rows of 2 series" in done.stdout and "582 of them after what the model had seen" in done.stdout
    from forecast.trained import TrainedModel
    updated = TrainedModel.load(tmp_path / "m2")
    assert {str(m.history.index[-1].date()) for m in updated.members.values()} == {"2013-03-01"}
    one = run("update", "--model", tmp_path / "m", "--sample", "MSFT", "--max-epochs", "1", "--quiet",
              "--out", tmp_path / "m3")  # one series of the panel, by its name
    assert one.returncode == 0 and "rows of 1 series" in one.stdout, one.stderr
    assert_one_line_error(run("update", "--model", tmp_path / "m", "--sample", "IBM,GOOG", "--out", tmp_path / "m4"),
                          "series GOOG not in this model")


def test_a_fresh_panel_forecasts_what_it_can_and_says_what_it_left_out(tmp_path, open_panel):
    from forecast import SourceConfig
    from forecast.serving import predict_fresh

    index, wave, trained = open_panel
    rows = [pd.DataFrame({"Date": index, "series": name, "y": wave + k}) for k, name in enumerate("abc")]
    long = pd.concat(rows + [pd.DataFrame({"Date": index[:5], "series": "d", "y": wave[:5]})])
    long.to_csv(tmp_path / "fresh.csv", index=False)
    source = SourceConfig(path=str(tmp_path / "fresh.csv"), series_col="series")

    kept = predict_fresh(trained, source)
    assert set(kept.table["series"]) == {"a", "b"}
    assert kept.warnings == ["2 series of the fresh data are not in the model (c, d); left out "
                             "(--new-series forecasts them from their own history)"]
    added = predict_fresh(trained, source, new_series=True)
    assert set(added.table["series"]) == {"a", "b", "c"} and "c" in added.model.members
    assert any("fewer than the 10 rows" in w and "(d)" in w for w in added.warnings)
    assert added.notes[-1].startswith("new series (not trained on): c;")
    with pytest.raises(ForecastError, match="no series 'c'"):  # named, it is an error, not a silent gap
        predict_fresh(trained, source, series=["c"])
    ab = predict_fresh(trained, {"ab": long[long.series == "a"].set_index("Date")[["y"]]}, new_series=True,
                       series="ab")  # one name, not the series "a" and "b"
    assert set(ab.table["series"]) == {"ab"} and trained.predict(series="a").equals(trained.predict(series=["a"]))
    saved = predict_fresh(trained)
    assert saved.notes[0].startswith("using the history saved with the model") and saved.history is None


def test_fresh_frames_are_read_as_load_reads_them_one_frame_being_the_only_series(models):
    from forecast.serving import predict_fresh

    one, panel = models
    history = one.history * 1.1  # fresh rows: other values on the saved dates
    made = predict_fresh(one, history)
    assert made.table.equals(one.predict(history)) and not made.table.equals(one.predict())
    fresh = {n: panel.members[n].history * 1.1 for n in panel.series}
    assert predict_fresh(panel, fresh).table.equals(panel.predict(fresh))
    with pytest.raises(ForecastError, match="several series"):  # one unnamed frame for a panel's model
        predict_fresh(panel, history)
    with pytest.raises(ForecastError, match="lacks column"):
        predict_fresh(one, history.rename(columns={"load": "demand"}))


def test_a_model_of_a_wide_file_forecasts_from_a_fresh_wide_file_each_column_a_series(tmp_path):
    from forecast import SourceConfig
    from forecast.serving import predict_fresh

    index = pd.date_range("2024-01-01", periods=120, freq="D", name="Date")
    wide = pd.DataFrame({"a": 50 + np.sin(np.arange(120) / 5), "b": 60 + np.cos(np.arange(120) / 5)}, index=index)
    wide.to_csv(tmp_path / "wide.csv")
    source = SourceConfig(path=str(tmp_path / "wide.csv"), wide=True)
    frames, _ = load(source)
    model = fit(frames, DataConfig(targets=["value"], seq_len=10, horizon=3), ModelConfig(hidden_size=8),
                TrainConfig(max_epochs=1), source=source, quiet=True).model
    wide.assign(c=wide["a"] + 1).to_csv(tmp_path / "fresh.csv")  # a column the model did not train on
    made = predict_fresh(model, source.with_flags(path=str(tmp_path / "fresh.csv")))
    assert set(made.table["series"]) == {"a", "b"} and "(c)" in made.warnings[0]
