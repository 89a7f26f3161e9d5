"""Experiment tracking: TensorBoard and MLflow run for real on local stores, holding the settings,
the losses of every epoch, the test metrics, the verdict and the files a fit writes."""
import pytest

pytestmark = pytest.mark.slow  # each trains a model and starts a tracking library

ARGS = ("fit", "--sample", "IBM", "--seq-len", "20", "--max-epochs", "2", "--quiet", "--no-refit",
        "--set", "train.patience=0")


def test_tensorboard_logs_every_epoch_the_test_metrics_the_verdict_and_the_plot(run, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    done = run(*ARGS, "--set", "train.logger=tensorboard", "--out", tmp_path / "tb")
    assert done.returncode == 0, done.stderr
    events = EventAccumulator(str(tmp_path / "tb" / "tensorboard"), size_guidance={"tensors": 0, "images": 0})
    events.Reload()
    tags = events.Tags()
    assert len(events.Scalars("val_loss")) == 2 and len(events.Scalars("train_loss")) == 2
    assert {"test_model_rmse", "test_naive_rmse"} <= set(tags["scalars"])
    assert {"verdict/text_summary", "settings/text_summary"} <= set(tags["tensors"]) and "plot" in tags["images"]
    assert (tmp_path / "tb" / "logs" / "metrics.csv").is_file()  # the CSV log --resume reads stays


def test_mlflow_records_params_every_epoch_test_metrics_and_the_files_as_artifacts(run, tmp_path, monkeypatch):
    from mlflow import MlflowClient
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    done = run(*ARGS, "--set", "train.logger=mlflow", "--out", tmp_path / "ml")
    assert done.returncode == 0, done.stderr
    client = MlflowClient(f"sqlite:///{tmp_path / 'ml' / 'mlflow.db'}")
    (found,) = client.search_runs([client.get_experiment_by_name("forecast").experiment_id])
    run_id = found.info.run_id
    assert found.info.run_name == "ml" and found.data.params["model/cell"] == "lstm"
    assert len(client.get_metric_history(run_id, "val_loss")) == 2
    assert {"test_model_mase", "test_naive_rmse"} <= set(found.data.metrics)
    assert {a.path for a in client.list_artifacts(run_id)} >= {"config.json", "test_forecasts.csv", "test.png",
                                                               "verdict.txt", "model.safetensors"}


def test_tune_logs_each_trial_in_its_own_folder_and_mlflow_run(run, tmp_path, monkeypatch):
    from mlflow import MlflowClient
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    done = run("tune", "--sample", "IBM", "--n-trials", "2", "--max-epochs", "2", "--storage", "t.db",
               "--search", "seq_len=10,20", "--set", "train.logger=mlflow", "--set", "train.patience=0",
               "--no-refit", "--out", "out")
    assert done.returncode == 0, done.stderr
    assert "each trial's epochs are logged in out/trials" in done.stdout
    for trial in ("trial-0000", "trial-0001"):
        log = (tmp_path / "out" / "trials" / trial / "logs" / "metrics.csv").read_text()
        assert log.startswith("epoch,step,") and log.count("\n") >= 3
    client = MlflowClient(f"sqlite:///{tmp_path / 'out' / 'trials' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("forecast").experiment_id])
    assert sorted(r.info.run_name for r in runs) == ["trial-0000", "trial-0001"]
    assert all(len(client.get_metric_history(r.info.run_id, "val_loss")) == 2 for r in runs)


def test_an_unknown_logger_is_refused(run):
    from tests.test_cli import assert_one_line_error
    assert_one_line_error(run("fit", "--set", "train.logger=wandb"), "unknown logger 'wandb'; choose one of: csv")
