"""Tuning: a tiny study end to end, real pruning, resumption, two workers, a killed worker."""
import logging
import subprocess
import sys
import time

import optuna
import pytest

from forecast.errors import ForecastError
from forecast.loading import load
from forecast.study import StudySpec, load_study_file, parse_range, suggest
from forecast.storage import creation_lock, fail_orphans
from forecast.tuning import finished_trials, make_study, open_storage, run_study, tune
from tests.conftest import make_frame

SINE = make_frame(n=400)


def spec(tmp_path, name="s", **kw):
    base = dict(study_name=name, storage=f"sqlite:///{tmp_path}/{name}.db",
                data={"targets": ["y"], "horizon": 3},
                train={"max_epochs": 2, "batch_size": 64, "accelerator": "cpu"},
                search={"hidden_size": [4, 16], "seq_len": [8, 24]}, n_trials=3)
    return StudySpec(**{**base, **kw})


@pytest.mark.slow
def test_tiny_study_completes_and_the_refit_is_tested_then_saved(tmp_path):
    s = spec(tmp_path)
    result = tune(s, SINE)
    assert finished_trials(result.study) == 3 and result.study.best_trial.value > 0
    fitted = result.refit
    assert fitted.model.data.seq_len == result.study.best_trial.params["seq_len"]
    assert fitted.evaluated.info["trained_on_rows"] == fitted.prepared.parts[0].val_end  # train + validation
    assert fitted.model.info["trained_on"] == "all 400 rows"
    paths = result.write(tmp_path / "best")
    assert {p.name for p in paths.values()} >= {"study.json", "optimization_history.png",
                                                 "model.safetensors", "config.json"}


@pytest.mark.slow
def test_pruning_stops_a_bad_trial(tmp_path):
    s = spec(tmp_path, search={"hidden_size": [8, 8], "seq_len": [16, 16],
                               "learning_rate": [1e-9, 1e-1]},
             model={"normalize": "none"},
             train={"max_epochs": 4, "accelerator": "cpu", "patience": 0}, n_trials=4)
    study = make_study(s, open_storage(s.storage))
    for lr in (1e-2, 1e-2, 1e-2, 1e-9):  # three good trials, then one that cannot learn
        study.enqueue_trial({"hidden_size": 8, "seq_len": 16, "learning_rate": lr})
    study = run_study(s, SINE)
    states = [t.state for t in study.get_trials()]
    assert states[:3] == [optuna.trial.TrialState.COMPLETE] * 3
    assert states[3] == optuna.trial.TrialState.PRUNED
    assert len(study.trials[3].intermediate_values) < 4  # stopped before its last epoch


@pytest.mark.slow
def test_running_again_continues_up_to_the_total(tmp_path):
    run_study(spec(tmp_path, n_trials=2), SINE)
    study = run_study(spec(tmp_path, n_trials=3), SINE)
    assert [t.number for t in study.trials] == [0, 1, 2]
    assert finished_trials(run_study(spec(tmp_path, n_trials=3), SINE)) == 3  # already done


def test_the_trial_lock_of_a_journal_study_leaves_the_journals_own_lock_file_free(tmp_path):
    url = str(tmp_path / "s.log")  # Optuna's journal locks each write with FILE.lock
    storage = open_storage(url)
    with creation_lock(url, storage):
        assert not (tmp_path / "s.log.lock").exists()
        optuna.create_study(storage=storage, study_name="s").ask()  # journal writes, under the trial lock
    assert not (tmp_path / "s.log.lock").exists()


@pytest.mark.slow
def test_a_study_in_a_journal_file_runs_and_continues_like_one_in_a_database(tmp_path):
    journal = spec(tmp_path, storage=str(tmp_path / "s.log"), n_trials=2)
    assert finished_trials(run_study(journal, SINE)) == 2
    assert finished_trials(run_study(journal.override(n_trials=3), SINE)) == 3


def test_a_failing_trial_is_recorded_and_the_study_goes_on(tmp_path):
    s = spec(tmp_path, model={"segment_len": 4}, train={"max_epochs": 1, "accelerator": "cpu"},
             search={"hidden_size": [4, 8], "seq_len": [8, 9]}, n_trials=4)
    study = make_study(s, open_storage(s.storage))
    study.enqueue_trial({"hidden_size": 4, "seq_len": 9})  # 9 is no multiple of segment_len 4
    study = run_study(s, SINE)
    assert study.trials[0].state == optuna.trial.TrialState.FAIL
    assert "multiple of segment_len" in study.trials[0].user_attrs["failure"]
    assert finished_trials(study) == 4


def test_an_unexpected_error_stops_the_study_instead_of_failing_trials(tmp_path, monkeypatch):
    import forecast.tuning as tuning

    def broken(*args, **kwargs):
        raise RuntimeError("a bug, not a bad trial")
    monkeypatch.setattr(tuning, "train_network", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        run_study(spec(tmp_path), SINE)


def test_when_no_trial_completes_then_the_first_failure_is_the_error(tmp_path):
    s = spec(tmp_path, n_trials=2, model={"segment_len": 4}, search={"hidden_size": [4, 8], "seq_len": [8, 8]})
    study = make_study(s, open_storage(s.storage))
    for _ in range(2):
        study.enqueue_trial({"hidden_size": 4, "seq_len": 9})
    with pytest.raises(ForecastError, match="no trial .* completed; the first failure: .*segment_len"):
        tune(s, SINE)


def test_a_study_with_another_search_space_is_refused(tmp_path):
    run_study(spec(tmp_path, n_trials=1), SINE)
    with pytest.raises(ForecastError, match="another data source, settings or search space"):
        run_study(spec(tmp_path, n_trials=1, search={"hidden_size": [4, 32]}), SINE)


def test_default_study_names_differ_when_data_or_space_differ():
    a = StudySpec(source={"sample": "AAPL"})
    assert a.study_name.startswith("aapl-") and a.study_name == StudySpec(source={"sample": "AAPL"}).study_name
    assert StudySpec(source={"sample": "MSFT"}).study_name != a.study_name
    assert StudySpec(source={"sample": "AAPL"}, search={"hidden_size": [8, 16]}).study_name != a.study_name


def test_frames_given_in_python_without_a_source_start_a_study_of_their_own_data():
    from forecast.study import named_for

    spec = StudySpec(data={"targets": ["y"]})
    one = named_for(spec, {"series": SINE})
    assert one.study_name.startswith("series-") and one.study_name == named_for(spec, {"series": SINE}).study_name
    assert named_for(spec, {"series": SINE + 1}).study_name != one.study_name  # other values: another study
    assert named_for(spec, {"a": SINE, "b": SINE}).study_name.startswith("a+1-")
    for kept in (StudySpec(study_name="mine"), StudySpec(source={"sample": "IBM"})):  # named, or data named
        assert named_for(kept, {"series": SINE}) is kept
    default = StudySpec()  # the command line without a source: the bundled AAPL sample keeps its name
    assert named_for(default, {"AAPL": SINE}) is default and named_for(default, {"sales": SINE}) is not default


def test_tuning_a_series_without_the_default_target_tunes_its_values(tmp_path):
    s = spec(tmp_path, n_trials=1, data={"horizon": 3}, search={"hidden_size": [4, 4], "seq_len": [8, 8]})
    result = tune(s, SINE["y"].rename("sales"), refit=False)
    assert result.spec.data.targets == ("sales",) and result.spec.study_name == "s" and s.data.targets == ("Close",)
    assert result.summary["importances"] == {}  # one trial tells nothing of importance (and Optuna warns)


def test_what_load_returns_is_tuned_quietly_and_the_result_shows_itself_in_one_line(tmp_path, capfd, caplog):
    s = spec(tmp_path, n_trials=1, search={"hidden_size": [4, 4], "seq_len": [8, 8]})
    before = optuna.logging.get_verbosity()
    with caplog.at_level(logging.INFO):
        result = tune(s, load(SINE), refit=False)
    assert "Trial 0" not in capfd.readouterr().err + caplog.text  # quiet: Optuna's line per trial too
    assert optuna.logging.get_verbosity() == before
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # as the command line has it: quiet never makes it louder
    failing = spec(tmp_path, name="f", n_trials=1, model={"segment_len": 4}, search={"hidden_size": [4, 4], "seq_len": [8, 8]})
    make_study(failing, open_storage(failing.storage)).enqueue_trial({"hidden_size": 4, "seq_len": 9})  # fails
    try:
        with pytest.raises(ForecastError, match="no trial"):
            tune(failing, SINE, refit=False)
    finally:
        optuna.logging.set_verbosity(before)
    assert "failed" not in caplog.text  # Optuna's warning of a failed trial
    loss = result.summary["best"]["val_loss"]
    assert repr(result) == f"TuneResult(study 's': 1 trial, best {{'hidden_size': 4, 'seq_len': 8}} " \
                           f"(validation loss {loss:.4g}))"


@pytest.mark.slow
@pytest.mark.parametrize("storage", ["sqlite", "journal"])
def test_two_commands_on_one_study_run_its_total_not_each_their_own(tmp_path, storage):
    # A continuous learning rate: two samplers with different seeds never propose the same point.
    s = spec(tmp_path, n_trials=4, search={"hidden_size": [4, 16], "seq_len": [8, 24],
                                           "learning_rate": [1e-4, 1e-2]},
             **({"storage": str(tmp_path / "s.log")} if storage == "journal" else {}))
    code = ("from forecast.study import StudySpec; from forecast.tuning import run_study; "
            "from tests.conftest import make_frame; import json, sys; "
            "run_study(StudySpec(**json.loads(sys.argv[1])), make_frame(n=400))")
    import json
    procs = [subprocess.Popen([sys.executable, "-c", code, json.dumps(s.to_dict())],
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errors = [p.communicate()[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors  # no schema-creation race either
    study = optuna.load_study(study_name="s", storage=open_storage(s.storage))
    assert finished_trials(study) == 4 and len(study.trials) == 4
    params = [tuple(sorted(t.params.items())) for t in study.trials]
    assert len(set(params)) == 4  # the two commands' samplers did not propose the same points


@pytest.mark.slow
def test_two_worker_processes_share_the_trials_without_duplicates(tmp_path):
    study = run_study(spec(tmp_path, n_trials=4, search={"hidden_size": [4, 16], "seq_len": [8, 24],
                                                         "learning_rate": [1e-4, 1e-2]}), SINE, jobs=2)
    numbers = [t.number for t in study.trials]
    assert sorted(numbers) == [0, 1, 2, 3]
    params = {tuple(sorted(t.params.items())) for t in study.trials}
    assert len(params) == 4  # the workers' samplers did not propose the same points


@pytest.mark.slow
def test_killed_worker_leaves_a_readable_resumable_study(tmp_path):
    s = spec(tmp_path, n_trials=3)
    # The worker's first trial hangs (as a long one would) until it is killed.
    code = ("from forecast.study import StudySpec; import forecast.tuning as t; import time; "
            "t.train_network = lambda *a, **k: time.sleep(300); "
            "from tests.conftest import make_frame; import json, sys; "
            "t.run_study(StudySpec(**json.loads(sys.argv[1])), make_frame(n=400))")
    import json
    proc = subprocess.Popen([sys.executable, "-c", code, json.dumps(s.to_dict())])
    storage = open_storage(s.storage)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            trials = optuna.load_study(study_name="s", storage=storage).get_trials()
            if trials and trials[0].state == optuna.trial.TrialState.RUNNING:
                break
        except KeyError:
            pass
        time.sleep(0.5)
    time.sleep(1.0)
    proc.kill()
    proc.wait()
    study = optuna.load_study(study_name="s", storage=storage)  # readable
    assert study.trials[0].state == optuna.trial.TrialState.RUNNING
    time.sleep(2.5)  # past the (short) grace period: the killed worker's trial is stale
    resumed = run_study(s.override(heartbeat_grace=2), SINE)
    assert resumed.trials[0].state == optuna.trial.TrialState.FAIL  # marked failed, not left running
    assert finished_trials(resumed) == 3 and len(resumed.trials) == 3  # counted right: no 4th trial


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")  # ask() outside optimize()
def test_a_trial_whose_worker_died_before_its_first_heartbeat_is_failed_not_counted_forever(tmp_path):
    s = spec(tmp_path, n_trials=2)
    storage = open_storage(s.storage, s.heartbeat_grace)
    study = make_study(s, storage)
    orphan = study.ask()  # created, then the process died: no heartbeat was ever written
    alive = study.ask()
    storage.record_heartbeat(alive._trial_id)  # a live worker's trial, inside its grace period
    assert fail_orphans(storage, "s") == 1
    states = {t.number: t for t in optuna.load_study(study_name="s", storage=storage).trials}
    assert states[orphan.number].state == optuna.trial.TrialState.FAIL
    assert "before the first heartbeat" in states[orphan.number].user_attrs["failure"]
    assert states[alive.number].state == optuna.trial.TrialState.RUNNING
    assert fail_orphans(storage, "s") == 0


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")  # ask() outside optimize()
def test_a_resumed_study_fails_heartbeatless_trials_and_runs_its_full_total(tmp_path):
    s = spec(tmp_path, n_trials=2)
    make_study(s, open_storage(s.storage)).ask()  # a worker killed right after creating its trial
    study = run_study(s, SINE)
    assert [t.state for t in study.trials][0] == optuna.trial.TrialState.FAIL
    assert finished_trials(study) == 2 and len(study.trials) == 2


def test_study_file_and_flags(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("source: {sample: MSFT}\nn_trials: 5\nsearch: {cell: [lstm, gru]}\n")
    s = load_study_file(path)
    assert s.study_name == "x" and s.n_trials == 5
    assert set(s.search) == {"hidden_size", "seq_len", "cell"}  # the two always searched
    assert s.train.max_epochs == 30  # not given: the TrainConfig default, no hidden study default
    assert parse_range("8,64", "hidden_size") == [8, 64]
    assert parse_range("lstm,gru", "cell") == ["lstm", "gru"]


@pytest.mark.slow
def test_a_wide_file_is_tuned_as_the_panel_of_its_columns_and_its_best_model_forecasts_each(run, tmp_path):
    import pandas as pd

    frame = make_frame(n=300, cols=("north", "south"))
    frame.to_csv(tmp_path / "wide.csv")
    tuned = run("tune", "--csv", tmp_path / "wide.csv", "--set", "source.wide=true", "--n-trials", "2",
                "--max-epochs", "1", "--storage", tmp_path / "w.db", "--out", tmp_path / "t")
    assert tuned.returncode == 0, tuned.stderr
    predicted = run("predict", "--model", tmp_path / "t", "--csv", tmp_path / "wide.csv", "--output",
                    tmp_path / "next.csv")
    assert predicted.returncode == 0, predicted.stderr
    assert set(pd.read_csv(tmp_path / "next.csv")["series"]) == {"north", "south"}


def test_a_runs_config_json_names_its_study_from_its_settings_not_config(tmp_path):
    import json

    for name, source in (("a", {"sample": "MSFT"}), ("b", {"sample": "IBM"})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps({"source": source, "metrics": {}, "seconds": 1}))
    msft, ibm = (load_study_file(tmp_path / name / "config.json") for name in "ab")
    assert msft.study_name.startswith("msft-") and ibm.study_name.startswith("ibm-")  # not one study "config"


def test_one_number_for_a_searched_range_holds_that_setting_fixed(tmp_path):
    assert parse_range("24", "seq_len") == [24, 24]  # forecast tune --seq-len 24
    path = tmp_path / "fixed.yaml"
    path.write_text("source: {sample: MSFT}\nsearch: {seq_len: 30, hidden_size: [16], learning_rate: [1e-3, 1e-2]}\n")
    s = load_study_file(path)
    assert s.search["seq_len"] == [30, 30] and s.search["hidden_size"] == [16, 16]
    assert s.search["learning_rate"] == [1e-3, 1e-2]  # YAML 1.1 would read 1e-3 as text


def test_a_study_file_reads_exponents_without_a_dot_as_numbers(tmp_path):
    path = tmp_path / "lr.yaml"
    path.write_text("source: {sample: MSFT}\ntrain: {learning_rate: 3e-4, weight_decay: 1E-5}\nmodel: {dropout: 1e-1}\n")
    s = load_study_file(path)
    assert (s.train.learning_rate, s.train.weight_decay, s.model.dropout) == (3e-4, 1e-5, 0.1)
    trial = optuna.trial.FixedTrial({"seq_len": 30, "hidden_size": 16, "learning_rate": 0.005})
    assert suggest(trial, s.search)["seq_len"] == 30


@pytest.mark.parametrize("text,message", [
    ("n_trials: 0\n", "n_trials must be a positive whole number"),
    ("sampler: grid\n", "unknown sampler"),
    ("search: {colour: [1, 2]}\n", "cannot search 'colour'; searchable"),
    ("search: {hidden: [4, 8]}\n", "cannot search 'hidden' \\(did you mean 'hidden_size'\\?\\)"),
    ("search: {hidden_size: [64, 8]}\n", "low <= high"),
    ("nonsense: 1\n", "unknown key"),
    ("model: {cell: cnn}\n", "unknown cell"),
    ("model: [1, 2]\n", "must be a mapping"),
    ("n_trials: many\n", "n_trials must be a positive whole number"),
    ("model: {segment_len: 24}\nsearch: {seq_len: [10, 20]}\n", "no multiple of segment_len"),
    ("model: {channel_independent: true}\ndata: {features: [Volume]}\n", "channel_independent"),
    ("search: {cell: [lstm, cnn]}\n", "unknown cell"),
    ("model: {channel_independent: 'false'}\n", "channel_independent must be true or false, got 'false'"),
    ("source: {sample: AAPL, offline: 1}\n", "offline must be true or false"),
    ("search: {normalize: [last, revin]}\n", "search normalize=revin: unknown normalize 'revin'"),
    ("model: {fit_skip: true}\n", "unknown ModelConfig setting\\(s\\): fit_skip"),
    ("search: {weight_decay: [-1, 0.1]}\n", "0 <= low"),
    ("search: {time_features: ['', 'hour,minute']}\n", "search time_features=hour,minute: unknown time feature 'minute'"),
    ("search: {cycle: [0, 1]}\n", "search cycle=1: cycle must be 0 \\(none\\)"),
    ("data: {known: [Volume], horizon: 12}\nsearch: {seq_len: [6, 30]}\n",
     "search hidden_size=8, seq_len=6: known columns .* seq_len 6 must be at least the horizon 12"),
])
def test_bad_study_files_give_clear_errors(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ForecastError, match=message):
        load_study_file(path)


def test_with_known_columns_the_default_input_range_starts_at_the_horizon(tmp_path):
    path = tmp_path / "known.yaml"
    path.write_text("data: {known: [Volume], horizon: 12}\n")
    assert load_study_file(path).search["seq_len"] == [12, 120]  # inputs must span the known horizon
    path.write_text("data: {horizon: 12}\n")
    assert load_study_file(path).search["seq_len"] == [10, 120]


def test_shipped_example_study_is_valid():
    from pathlib import Path
    s = load_study_file(Path(__file__).parent.parent / "studies" / "aapl_sample.yaml")
    assert s.source.sample == "AAPL" and "cell" in s.search


def test_a_flag_overrides_the_file_field_it_names_and_other_file_keys_survive(tmp_path):
    path = tmp_path / "multi.yaml"
    path.write_text("source: {sample: IBM, end: '2012-01-01', max_gap: 2}\n"
                    "data: {targets: [Open, Close], horizon: 7}\ntrain: {max_epochs: 4, patience: 2}\n"
                    "n_trials: 5\n")
    s = load_study_file(path).override(source={"path": "other.csv", "interval": "1wk"},
                                       data={"horizon": 3}, train={"patience": 1}, n_trials=9)
    assert s.source.path == "other.csv" and s.source.sample is None  # one choice of source
    assert s.source.end == "2012-01-01" and s.source.max_gap == 2 and s.source.interval == "1wk"
    assert s.data.targets == ("Open", "Close") and s.data.horizon == 3
    assert s.train.max_epochs == 4 and s.train.patience == 1 and s.n_trials == 9
    assert s.study_name == "multi"  # a file's study keeps its name


def test_seq_len_is_drawn_in_multiples_of_the_segment_length():
    from forecast.study import suggest
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    drawn = {suggest(study.ask(), {"seq_len": [10, 50]}, seq_len_step=12)["seq_len"] for _ in range(40)}
    assert drawn == {12, 24, 36, 48}


def test_run_study_validates_the_frame_once_before_any_trial(tmp_path):
    with pytest.raises(ForecastError, match="not in order"):
        run_study(spec(tmp_path), SINE.iloc[[1, 0, *range(2, len(SINE))]])
    with pytest.raises(ForecastError, match="1 <= low"):
        parse_range("0,10", "seq_len")


@pytest.mark.slow
def test_searched_switches_reach_each_trial_and_the_refit(tmp_path):
    """`normalize`, `weight_decay`, `time_features` and `cycle` can be searched; what a trial drew is
    what it trained, and the refit trains the best trial's."""
    s = spec(tmp_path, n_trials=5, sampler="random", pruner="none", search={
        "hidden_size": [4, 8], "seq_len": [8, 16], "normalize": ["last", "last+scale"],
        "weight_decay": [0.0, 0.01], "time_features": ["", "dayofweek"],
        "cycle": [0, 7]})
    result = tune(s, SINE)
    trials = [t for t in result.study.trials if t.state.name == "COMPLETE"]
    assert {t.params["normalize"] for t in trials} == {"last", "last+scale"}
    for t in trials:
        assert 0 <= t.params["weight_decay"] <= 0.01
    best, model = result.study.best_trial, result.refit.model.model
    assert model.normalize == best.params["normalize"]
    assert result.refit.model.train.weight_decay == best.params["weight_decay"]
    assert result.refit.model.data.time_features == tuple(filter(None, [best.params["time_features"]]))
    assert result.refit.model.data.cycle == best.params["cycle"]
    assert {t.params["cycle"] for t in trials} == {0, 7}


def test_a_storage_given_as_a_sqlite_file_path_is_that_file_and_a_bare_name_is_refused(tmp_path):
    from forecast.storage import storage_url
    path = tmp_path / "sub" / "study.db"
    assert storage_url(spec(tmp_path, storage=str(path))) == f"sqlite:///{path}"
    run_study(spec(tmp_path, storage=str(path), n_trials=1), SINE)
    assert path.is_file()
    with pytest.raises(ForecastError, match="neither a URL"):
        storage_url(spec(tmp_path, storage="studies"))


def test_the_default_input_range_is_cut_to_what_a_short_series_can_train_on():
    from forecast.study import fit_search
    short = {"y": make_frame(n=150)}  # the series by name, as `tune` hands them on
    spec = StudySpec(data={"targets": ["y"], "horizon": 5})
    fitted = fit_search(spec, short)
    assert fitted.search["seq_len"] == [10, 101]  # 106 training rows less the horizon
    assert fitted.study_name != spec.study_name  # another search, another study
    assert fit_search(fitted, short) is fitted  # cut once
    given = StudySpec(data={"targets": ["y"], "horizon": 5}, search={"seq_len": [10, 120]}).override(
        search={"seq_len": [12, 120]})
    assert fit_search(given, short).search["seq_len"] == [12, 120]  # a range the user gave is theirs
    assert fit_search(spec, {"y": make_frame(n=2000)}).search["seq_len"] == [10, 120]
    assert fit_search(spec, {"a": short["y"], "b": short["y"]}) is spec


def test_every_public_name_is_what_it_names_even_after_every_module_is_imported():
    """`from forecast import tune` is the function, not the module that once bore its name (a
    package's submodule becomes its attribute when imported, shadowing a lazy export)."""
    import importlib
    import pkgutil
    import types

    import forecast
    for module in pkgutil.iter_modules(forecast.__path__):
        if module.name != "__main__":  # that one runs the command line
            importlib.import_module(f"forecast.{module.name}")
    shadowed = [n for n in forecast.__all__ if isinstance(getattr(forecast, n), types.ModuleType)]
    assert shadowed == []
    assert set(forecast.__all__) - {"__version__"} == set(forecast._EXPORTS)  # the list is the lazy table
    assert len(forecast._EXPORTS) <= 18  # the task API; the rest by module


@pytest.mark.parametrize("url,shown", [
    ("postgresql://me:s3cret@db.example:5432/forecast", "postgresql://me:***@db.example:5432/forecast"),
    ("postgresql+psycopg://me:p%40ss@10.0.0.1/f", "postgresql+psycopg://me:***@10.0.0.1/f"),
    ("mysql://root:hunter2@localhost/optuna", "mysql://root:***@localhost/optuna"),
    ("postgresql://me@db/forecast", "postgresql://me@db/forecast"),
    ("sqlite:///studies/a.db", "sqlite:///studies/a.db"),
])
def test_a_storage_password_is_masked_wherever_the_url_is_shown(url, shown):
    from forecast.storage import masked
    assert masked(url) == shown


def test_a_storage_password_never_reaches_an_error_line_or_study_json(tmp_path):
    from forecast.errors import ForecastError
    from forecast.storage import open_storage, retrying
    from forecast.tuning import TuneResult
    with pytest.raises(ForecastError) as error:  # nothing listens on that port
        open_storage("postgresql://me:s3cret@127.0.0.1:1/forecast")
    assert "s3cret" not in str(error.value) and "me:***@" in str(error.value)
    with pytest.raises(ForecastError) as error:  # a driver's message that repeats the URL
        retrying("x", lambda: (_ for _ in ()).throw(RuntimeError("bad postgresql://me:s3cret@h/db")))
    assert "s3cret" not in str(error.value)
    spec = StudySpec(study_name="s", storage="postgresql://me:s3cret@127.0.0.1:1/forecast")
    TuneResult(study=optuna.create_study(), summary={"best": None}, spec=spec).write(tmp_path)
    saved = (tmp_path / "study.json").read_text()
    assert "s3cret" not in saved and "me:***@127.0.0.1:1/forecast" in saved


def test_a_trial_that_ctrl_c_interrupted_does_not_count_toward_the_total():
    study = optuna.create_study()
    for value in (1.0, 2.0):
        study.tell(study.ask(), value)
    failed = study.ask()
    failed.set_user_attr("failure", "ValueError: a bad combination")
    study.tell(failed, state=optuna.trial.TrialState.FAIL)  # a failure of its own: it counts
    cut = study.ask()
    cut.set_user_attr("failure", "interrupted")
    study.tell(cut, state=optuna.trial.TrialState.FAIL)
    assert finished_trials(study) == 3 and len(study.trials) == 4


def test_a_storage_that_stops_answering_is_named_without_its_password_whatever_optuna_raises_on_top():
    from sqlalchemy.exc import OperationalError

    from forecast.storage import storage_cause, storage_lost
    down = OperationalError("SELECT 1", {}, Exception("connection to server at 10.0.0.1 failed: refused"))
    try:
        try:
            raise down
        except OperationalError:
            raise UnboundLocalError("updated_state")  # what Optuna 5 raises while handling it
    except UnboundLocalError as e:
        assert storage_cause(e) is down
    assert storage_cause(ValueError("x")) is None
    line = storage_lost("postgresql://me:s3cret@db/forecast", down)
    assert "postgresql://me:***@db/forecast stopped answering" in line and "s3cret" not in line
    assert "run the same command to continue the study" in line and "\n" not in line
