"""Operations around pipelines: scheduled runs and release bundles on disk."""
