"""Pure task logic over any compatible model: no MLflow, no file layout, no CLI."""
