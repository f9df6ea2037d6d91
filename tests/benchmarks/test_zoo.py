"""`python -m benchmarks.zoo` writes its table, with the command, and logs to MLflow."""

import pandas as pd
from mlflow.tracking import MlflowClient

from benchmarks.zoo import main


def test_measure_writes_tables_and_logs_sample_grids(mlflow_store, tmp_path, capsys):
    out = tmp_path / "results"
    args = ["--data", "digits", "--path", "", "--epochs", "1"]
    args += ["--model", "ppca", "--model", "dcgan", "--out", str(out), "--test-limit", "50"]
    assert main(args) == 0
    frame = pd.read_csv(out / "zoo-digits.csv")
    assert list(frame["model"]) == ["ppca", "dcgan"]
    ppca = frame.set_index("model").loc["ppca"]
    assert 0 < ppca["test_bpd"] < 10 and ppca["file_bytes"] > 0 and ppca["parameters"] > 0
    assert ppca["test_images"] == 50
    assert pd.isna(frame.set_index("model").loc["dcgan", "test_bpd"])  # no likelihood, no bpd
    markdown = (out / "zoo-digits.md").read_text()
    assert markdown.startswith("Command: `python -m benchmarks.zoo") and "| ppca" in markdown
    client = MlflowClient(mlflow_store)
    run = client.search_runs([client.get_experiment_by_name("zoo-benchmark").experiment_id])[0]
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert plots == {"plots/samples_ppca.png", "plots/samples_dcgan.png"}
