"""Champion promotion in the MLflow model registry, by test or by validation AUROC."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

import mlflow
from pipelines.tracking.champion import CHAMPION, promote_if_better
from pipelines.tracking.store import setup_experiment


class _Constant(mlflow.pyfunc.PythonModel):
    def predict(self, model_input: list[str]) -> list[str]:
        return model_input


@pytest.fixture
def model_uri(mlflow_store: str) -> str:
    setup_experiment("registry")  # the fixture's store for runs, registry and artifacts
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model", python_model=_Constant(), pip_requirements=["mlflow"]
        )  # given: inferring them loads the model in a subprocess, for seconds
    return info.model_uri


def _champion(name: str) -> str:
    return str(MlflowClient().get_model_version_by_alias(name, CHAMPION).version)


def test_the_champion_moves_only_to_a_higher_value_of_the_same_metric(model_uri):
    first = promote_if_better("reg", model_uri, 0.90, "val_auroc")
    assert first.promoted and not first.had_champion and "no champion before" in first.message
    worse = promote_if_better("reg", model_uri, 0.85, "val_auroc")
    tie = promote_if_better("reg", model_uri, 0.90, "val_auroc")
    assert not worse.promoted and not tie.promoted and _champion("reg") == "1"
    better = promote_if_better("reg", model_uri, 0.95, "val_auroc")
    assert better.promoted and better.previous == pytest.approx(0.90) and _champion("reg") == "4"
    tags = MlflowClient().get_model_version("reg", "4").tags
    assert float(tags["val_auroc"]) == pytest.approx(0.95) and "auroc" not in tags


def test_a_champion_judged_by_another_metric_is_not_compared(model_uri):
    promote_if_better("reg", model_uri, 0.70, "auroc")  # test AUROC
    other = promote_if_better("reg", model_uri, 0.99, "val_auroc")
    assert not other.promoted and other.previous is None and other.had_champion
    assert "not judged by val_auroc" in other.message and _champion("reg") == "1"


def test_an_unknown_metric_is_refused_before_registering(model_uri):
    with pytest.raises(ValueError, match="unknown selection metric 'accuracy'"):
        promote_if_better("reg", model_uri, 0.9, "accuracy")
    with pytest.raises(mlflow.exceptions.MlflowException):
        MlflowClient().get_registered_model("reg")


def test_a_concurrent_alias_write_is_decided_again_on_the_new_champion(model_uri, monkeypatch):
    """PostgreSQL refuses the second of two simultaneous alias writes as a duplicate key: the
    promotion reads the champion that won and decides again."""
    from mlflow.exceptions import MlflowException

    promote_if_better("reg", model_uri, 0.80, "val_auroc")
    real = MlflowClient.set_registered_model_alias
    raced = []

    def racing(self, name, alias, version):
        if not raced:  # another pipeline's better version takes the alias first
            raced.append(version)
            other = mlflow.register_model(model_uri, name).version
            self.set_model_version_tag(name, other, "val_auroc", "0.99")
            real(self, name, alias, other)
            raise MlflowException("(psycopg2.errors.UniqueViolation) duplicate key value")
        return real(self, name, alias, version)

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", racing)
    ours = promote_if_better("reg", model_uri, 0.90, "val_auroc")
    assert [str(v) for v in raced] == [ours.version]  # it tried once, lost the race
    assert not ours.promoted and ours.previous == pytest.approx(0.99)  # decided again: worse
    assert _champion("reg") == "3"  # the racer's version stays champion
    # an unrelated failure is not retried
    monkeypatch.setattr(
        MlflowClient, "set_registered_model_alias",
        lambda *a: (_ for _ in ()).throw(MlflowException("permission denied")),
    )  # fmt: skip
    with pytest.raises(MlflowException, match="permission denied"):
        promote_if_better("reg", model_uri, 0.999, "val_auroc")
