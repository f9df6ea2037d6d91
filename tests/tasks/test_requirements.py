import pytest

from genmodels.contract import Capability, GenerativeModel, Likelihood
from genmodels.errors import CapabilityError
from tasks.requirements import TaskRequirement


class _Bound(GenerativeModel):
    name = "bound-model"
    likelihood = Likelihood.BOUND
    capabilities = frozenset({Capability.SAMPLE})


def test_missing_likelihood_and_capability_are_both_named():
    need = TaskRequirement(
        "augment", frozenset({Likelihood.EXACT}), frozenset({Capability.CONDITIONAL})
    )
    with pytest.raises(CapabilityError) as err:
        need.check(_Bound)
    msg = str(err.value)
    assert "task 'augment' cannot use model 'bound-model'" in msg
    assert "EXACT; it has BOUND" in msg and "capabilities conditional" in msg


def test_satisfied_requirement_passes():
    TaskRequirement("anomaly", frozenset({Likelihood.EXACT, Likelihood.BOUND})).check(_Bound)
