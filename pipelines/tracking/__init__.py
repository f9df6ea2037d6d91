"""MLflow wiring: the store, the runs and what they record, logged models, the champion alias,
comparing runs and scoring with a logged model."""
