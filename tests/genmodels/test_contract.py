import math

import pytest
import torch

from genmodels.contract import Capability, GenerativeModel, Likelihood, bits_per_dim
from genmodels.errors import CapabilityError


class _SamplesOnly(GenerativeModel):
    name = "samples-only"
    likelihood = Likelihood.NONE
    capabilities = frozenset({Capability.SAMPLE})


def test_bits_per_dim_of_uniform_bits_is_one():
    # A uniform distribution over 2 values per dimension has log p = -D ln 2: exactly 1 bit/dim.
    d = 12
    assert bits_per_dim(torch.tensor([-d * math.log(2.0)]), d).item() == pytest.approx(1.0)


def test_bits_per_dim_is_lower_for_more_likely_data():
    bpd = bits_per_dim(torch.tensor([-10.0, -20.0]), 4)
    assert bpd[0] < bpd[1]


def test_bits_per_dim_rejects_non_positive_dims():
    with pytest.raises(ValueError, match="num_dims"):
        bits_per_dim(torch.zeros(1), 0)


def test_model_without_likelihood_refuses_scores_with_clear_message():
    model = _SamplesOnly((1, 4, 4))
    x = torch.zeros(2, 1, 4, 4)
    for method in (model.log_prob, model.elbo, model.log_likelihood):
        with pytest.raises(CapabilityError, match="samples-only.*likelihood: none"):
            method(x)


def test_unimplemented_sampling_is_refused():
    with pytest.raises(CapabilityError, match="cannot sample"):
        _SamplesOnly((1, 4, 4)).sample(3)


@pytest.mark.parametrize("shape", [(1, 4), (0, 4, 4), (1, -1, 4)])
def test_bad_image_shape_is_rejected(shape):
    with pytest.raises(ValueError, match="image_shape"):
        _SamplesOnly(shape)


def test_check_input_names_expected_shape():
    with pytest.raises(ValueError, match=r"\(B, 1, 4, 4\)"):
        _SamplesOnly((1, 4, 4)).check_input(torch.zeros(2, 3, 4, 4))
