"""Pipeline specs: the sections, the whole spec, and reading one from YAML."""

from pipelines.spec.loading import load_spec
from pipelines.spec.pipeline import PipelineSpec

__all__ = ["PipelineSpec", "load_spec"]
