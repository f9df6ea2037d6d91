import math

import numpy as np
import pytest
import torch

from genmodels.contract import Capability, GenerativeModel, Likelihood
from genmodels.data.imageset import ImageSet
from genmodels.errors import CapabilityError, UnknownNameError
from tasks.anomaly.background import background_data
from tasks.anomaly.complexity import code_length_bits
from tasks.anomaly.scores import (
    BackgroundTypicality,
    Ensemble,
    Evidence,
    Typicality,
    gather_evidence,
    make_score,
    score_images,
)


class _Gaussian(GenerativeModel):
    """Isotropic Gaussian around 0.5 with unit std: log p known in closed form."""

    name = "test-gaussian"
    likelihood = Likelihood.EXACT
    capabilities = frozenset({Capability.SAMPLE})

    def log_prob(self, x):
        d = self.num_dims
        return -0.5 * ((x - 0.5) ** 2).flatten(1).sum(1) - 0.5 * d * math.log(2 * math.pi)


class _Uniform(GenerativeModel):
    """Every image equally likely: ``log p = -D log(levels)``."""

    name = "test-uniform"
    likelihood = Likelihood.EXACT
    capabilities = frozenset({Capability.SAMPLE})

    def log_prob(self, x):
        return torch.full((x.shape[0],), -self.num_dims * math.log(self.levels))


class _Narrow(_Gaussian):
    """Gaussian around 0.5 with std 0.1: sharper than :class:`_Gaussian`."""

    name = "test-narrow"

    def log_prob(self, x):
        d, s = self.num_dims, 0.1
        z = ((x - 0.5) / s) ** 2
        return -0.5 * z.flatten(1).sum(1) - d * math.log(s) - 0.5 * d * math.log(2 * math.pi)


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
    with pytest.raises(
        UnknownNameError, match="valid scores: background-typicality, bpd, complexity, ensemble"
    ):
        score_images(_Gaussian((1, 2, 2)), torch.zeros(1, 1, 2, 2), "entropy")


def _flat_and_noise(side: int = 64) -> torch.Tensor:
    flat = torch.full((1, 1, side, side), 0.5)
    g = torch.Generator().manual_seed(0)
    noise = torch.randint(0, 256, (1, 1, side, side), generator=g).float() / 255
    return torch.cat([flat, noise])


@pytest.mark.parametrize(
    ("compressor", "overhead"),
    # JPEG 2000 has a ~200-byte header and its wavelet expands white noise by ~16%
    [("png", 0.05), ("zlib", 0.05), ("jpeg2000", 0.2)],
)
def test_code_length_is_short_for_a_flat_image_and_near_8_bits_per_pixel_for_noise(
    compressor, overhead
):
    flat, noise = code_length_bits(_flat_and_noise(), 256, compressor)
    d = 64 * 64
    assert flat < 1.5 * overhead * 8 * d  # a constant image compresses to almost nothing
    # uniform bytes are incompressible: a lossy coder would go below 8 bits per pixel
    assert 8 * d <= noise < (1 + overhead) * 8 * d


def test_complexity_flags_the_simple_image_a_likelihood_prefers_and_uses_bits():
    # A uniform model gives both images the same likelihood, D*8 bits. The complexity score
    # subtracts the code length: for incompressible noise it is about 0 (only the container's
    # overhead, < 5% of the image's bits); nats or bits/dim on either side would be far off.
    x = _flat_and_noise()
    model = _Uniform((1, 64, 64), levels=256)
    flat, noise = score_images(model, x, "complexity")
    d = 64 * 64
    assert -0.05 * 8 * d < noise <= 0
    assert flat > 0.9 * 8 * d  # the flat image: the model wastes 8 bits/pixel on it
    assert flat > noise


def test_complexity_corrects_the_likelihood_trap():
    # The N(0.5, I) model gives the flat image (its mode) the *highest* likelihood, so the raw nll
    # calls it the most normal; against the compressor the flat image is the anomaly.
    x = _flat_and_noise()
    model = _Gaussian((1, 64, 64), levels=256)
    nll = score_images(model, x, "nll")
    complexity = score_images(model, x, "complexity")
    assert nll[0] < nll[1]
    assert complexity[0] > complexity[1]


def test_likelihood_ratio_is_zero_against_itself_and_signed_by_which_model_explains_better():
    model, background = _Narrow((1, 2, 2)), _Gaussian((1, 2, 2))
    centre = torch.full((1, 1, 2, 2), 0.5)
    edge = torch.ones(1, 1, 2, 2)
    x = torch.cat([centre, edge])
    same = score_images(model, x, "likelihood-ratio", background=_Narrow((1, 2, 2)))
    assert np.allclose(same, 0.0)
    ratio = score_images(model, x, "likelihood-ratio", background=background)
    # at the centre the sharp model beats the broad background (normal, negative score);
    # at the edge the broad background wins (anomalous, positive score)
    assert ratio[0] < 0 < ratio[1]
    # in bits: log2 of the density ratio at the centre, by hand
    d, s = 4, 0.1
    assert ratio[0] == pytest.approx(d * math.log2(s))


def test_likelihood_ratio_without_a_background_is_refused():
    with pytest.raises(ValueError, match="needs a background model"):
        score_images(_Gaussian((1, 2, 2)), torch.zeros(1, 1, 2, 2), "likelihood-ratio")


def test_typicality_flags_the_too_likely_mode_that_the_nll_calls_most_normal():
    # In 64 dimensions, samples of N(0.5, I) have nll about D/2 nats above the mode's: the mode
    # is not typical. Two-sided typicality scores it far above a fresh sample.
    model = _Gaussian((1, 8, 8))
    g = torch.Generator().manual_seed(0)
    reference = gather_evidence(model, 0.5 + torch.randn(500, 1, 8, 8, generator=g), None, 256)
    fresh = 0.5 + torch.randn(1, 1, 8, 8, generator=g)
    x = torch.cat([torch.full((1, 1, 8, 8), 0.5), fresh])
    nll = score_images(model, x, "nll")
    typ = score_images(model, x, "typicality", reference=reference)
    assert nll[0] < nll[1]
    assert typ[0] > typ[1]
    # in bits: the mode sits D/2 nats = 32 / ln 2 bits below the typical code length
    assert typ[0] == pytest.approx(32 / math.log(2), rel=0.1)


def test_scores_with_state_refuse_to_run_unfit():
    model = _Gaussian((1, 2, 2))
    with pytest.raises(ValueError, match="needs normal reference images"):
        score_images(model, torch.zeros(1, 1, 2, 2), "typicality")
    ev = gather_evidence(model, torch.zeros(1, 1, 2, 2), None)
    with pytest.raises(ValueError, match="not fit"):
        Typicality()(ev)


def test_ensemble_is_standardized_on_the_reference_and_its_state_round_trips():
    model = _Gaussian((1, 8, 8), levels=256)
    g = torch.Generator().manual_seed(1)
    ref_images = (0.5 + 0.1 * torch.randn(200, 1, 8, 8, generator=g)).clamp(0, 1)
    reference = gather_evidence(model, ref_images)
    ensemble = Ensemble().fit(reference)
    on_reference = ensemble(reference)
    assert abs(on_reference.mean()) < 1e-9  # mean of z-scores on the data they came from
    test = gather_evidence(model, torch.rand(20, 1, 8, 8, generator=g))
    restored = Ensemble().load_state(ensemble.state())
    assert np.allclose(restored(test), ensemble(test))
    assert set(ensemble.parts) == {"complexity", "typicality"}  # no background, no ratio


def test_evidence_subset_keeps_rows_aligned():
    ev = Evidence(np.arange(4.0), np.arange(4.0) * 10, None, 4)
    sub = ev.subset(np.array([3, 1]))
    assert sub.nll_bits.tolist() == [3.0, 1.0] and sub.code_bits.tolist() == [30.0, 10.0]
    assert make_score("complexity")(sub).tolist() == [-27.0, -9.0]


def test_background_perturbation_replaces_the_requested_share_with_valid_levels():
    x = torch.full((200, 1, 8, 8), 0.5)  # 0.5 is not a level of a 4-level grid
    data = ImageSet(x, torch.zeros(200, dtype=torch.long), levels=4)
    bg = background_data(data, rate=0.2, seed=0, copies=2)
    assert bg.images.shape == (400, 1, 8, 8) and bg.labels.shape == (400,)
    changed = bg.images != 0.5
    assert changed.float().mean().item() == pytest.approx(0.2, abs=0.01)
    levels = torch.unique(bg.images[changed]) * 3
    assert torch.allclose(levels, levels.round()) and len(levels) == 4
    with pytest.raises(ValueError, match="mutation rate"):
        background_data(data, rate=1.5, seed=0)


def test_background_typicality_measures_the_background_code_length_two_sided():
    # The model's code length is the same everywhere; only the background's differs, so a score
    # that read the wrong code length would be constant.
    ones = np.ones(4)
    reference = Evidence(100 * ones[:2], None, np.array([90.0, 110.0]), num_dims=10)
    score = BackgroundTypicality().fit(reference)
    test = Evidence(100 * ones, None, np.array([100.0, 70.0, 130.0, 101.0]), num_dims=10)
    assert np.allclose(score(test), [0.0, 30.0, 30.0, 1.0])  # bits, too short = too long
    assert BackgroundTypicality().load_state(score.state())(test).tolist() == score(test).tolist()
    with pytest.raises(ValueError, match="needs a background model"):
        score(Evidence(100 * ones, None, None, num_dims=10))
    with pytest.raises(ValueError, match="scored by a background model"):
        BackgroundTypicality().fit(Evidence(100 * ones, None, None, num_dims=10))
