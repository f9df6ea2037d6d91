import math

import numpy as np
import pytest
import torch

from genmodels.contract import Capability, GenerativeModel, Likelihood
from genmodels.errors import CapabilityError, UnknownNameError
from tasks.anomaly.scores import score_images


class _Gaussian(GenerativeModel):
    """Isotropic Gaussian around 0.5 with unit std: log p known in closed form."""

    name = "test-gaussian"
    likelihood = Likelihood.EXACT
    capabilities = frozenset({Capability.SAMPLE})

    def log_prob(self, x):
        d = self.num_dims
        return -0.5 * ((x - 0.5) ** 2).flatten(1).sum(1) - 0.5 * d * math.log(2 * math.pi)


class _Gan(GenerativeModel):
    name = "test-gan"
    likelihood = Likelihood.NONE


def test_nll_and_bpd_have_the_right_sign_and_units():
    model = _Gaussian((1, 2, 2))
    typical = torch.full((1, 1, 2, 2), 0.5)
    far = torch.ones(1, 1, 2, 2)
    x = torch.cat([typical, far])
    nll = score_images(model, x, "nll")
    bpd = score_images(model, x, "bpd")
    assert nll[0] == pytest.approx(2 * math.log(2 * math.pi))  # -log N(0; 0, I_4)
    assert nll[1] > nll[0]  # the far image is more anomalous
    assert np.allclose(bpd, nll / (4 * math.log(2)))


def test_batching_does_not_change_scores():
    model = _Gaussian((1, 3, 3))
    x = torch.rand(10, 1, 3, 3)
    assert np.allclose(
        score_images(model, x, "nll", batch_size=3), score_images(model, x, "nll", batch_size=100)
    )


def test_model_without_likelihood_is_refused():
    with pytest.raises(
        CapabilityError,
        match="task 'anomaly' cannot use model 'test-gan'.*BOUND or EXACT; it has NONE",
    ):
        score_images(_Gan((1, 2, 2)), torch.zeros(1, 1, 2, 2))


def test_unknown_score_lists_valid_scores():
    with pytest.raises(UnknownNameError, match="valid scores: bpd, nll"):
        score_images(_Gaussian((1, 2, 2)), torch.zeros(1, 1, 2, 2), "entropy")
