"""How many generated cases each fuzz test tries: a bounded number in ``make test``, more in
``make test-slow`` (``PRIORWORKS_FUZZ=thorough``)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,  # each test bounds the time of a case itself, with a clearer message
    "derandomize": True,  # the same cases on every run: a failure reproduces
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    "database": None,  # nothing written into the repository
}
settings.register_profile("quick", max_examples=100, **_COMMON)
settings.register_profile("thorough", max_examples=2000, **_COMMON)
settings.load_profile(os.environ.get("PRIORWORKS_FUZZ", "quick"))
