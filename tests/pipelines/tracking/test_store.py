import pytest

from pipelines.cli import main
from pipelines.errors import StoreError
from pipelines.tracking.store import artifact_root, setup_experiment, sqlite_file, tracking_uri


def test_default_store_is_sqlite_under_mlflow_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    uri = tracking_uri()
    assert uri == f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"


def test_env_uri_wins(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5555")
    assert tracking_uri() == "http://127.0.0.1:5555"
    assert artifact_root("http://127.0.0.1:5555") is None


def test_sqlite_artifacts_live_beside_the_database(tmp_path, monkeypatch):
    monkeypatch.delenv("PRIORWORKS_ARTIFACT_ROOT", raising=False)
    root = artifact_root(f"sqlite:///{tmp_path}/store/mlflow.db")
    assert root == (tmp_path / "store" / "artifacts").as_uri()


def test_experiment_gets_the_explicit_artifact_location(mlflow_store, tmp_path):
    from mlflow.tracking import MlflowClient

    _, exp_id = setup_experiment("unit-test")
    location = MlflowClient(mlflow_store).get_experiment(exp_id).artifact_location
    assert location == (tmp_path / "artifacts").as_uri()
    assert setup_experiment("unit-test")[1] == exp_id


def test_reading_commands_refuse_a_missing_store_and_create_nothing(tmp_path, monkeypatch, capsys):

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreError, match=str(tmp_path / "mlflow" / "mlflow.db")):
        tracking_uri(existing=True)
    score = ["score", "--model", "models:/detector@champion", "--input", str(tmp_path)]
    assert main(score) == 2
    assert main(["compare", "anomaly-detect"]) == 2
    assert "no MLflow store at" in capsys.readouterr().err
    assert not (tmp_path / "mlflow").exists()  # no empty store left behind
    tracking_uri()  # a run, which writes, creates it
    assert (tmp_path / "mlflow").is_dir()


def test_sqlite_uris_are_read_as_sqlalchemy_reads_them(tmp_path, monkeypatch):

    monkeypatch.chdir(tmp_path)
    assert sqlite_file("sqlite:///rel/store.db") == tmp_path / "rel" / "store.db"
    assert sqlite_file(f"sqlite:///{tmp_path}/abs.db") == tmp_path / "abs.db"  # four slashes
    assert sqlite_file("http://127.0.0.1:5000") is None
    monkeypatch.delenv("PRIORWORKS_ARTIFACT_ROOT", raising=False)
    assert artifact_root("sqlite:///rel/store.db") == (tmp_path / "rel" / "artifacts").as_uri()
    (tmp_path / "rel" / "store.db").touch()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///rel/store.db")
    assert tracking_uri(existing=True) == "sqlite:///rel/store.db"  # found, not refused
