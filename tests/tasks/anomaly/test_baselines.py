import numpy as np
import pytest
from scipy.special import logsumexp
from sklearn.metrics import roc_auc_score

from genmodels.errors import UnknownNameError
from tasks.anomaly.baselines import BASELINES, fit_baseline


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baseline_ranks_off_manifold_points_as_anomalous(name):
    rng = np.random.default_rng(0)
    # normal data on a 3-D subspace of R^20; anomalies spread in all directions
    basis = rng.standard_normal((3, 20))
    train = rng.standard_normal((300, 3)) @ basis * 0.3
    normal = rng.standard_normal((100, 3)) @ basis * 0.3
    anomalous = rng.standard_normal((100, 20)) * 1.0
    scorer = fit_baseline(name, train, seed=0)
    s = scorer(np.vstack([normal, anomalous]))
    y = np.r_[np.zeros(100), np.ones(100)]
    assert s.shape == (200,)
    assert roc_auc_score(y, s) > 0.9


def test_unknown_baseline_lists_valid_ones():
    with pytest.raises(UnknownNameError, match="valid baselines: .*kde"):
        fit_baseline("lof", np.zeros((10, 2)))


def test_kde_baseline_is_the_exact_kernel_density_in_high_dimensions():
    # 256-d images in two tight clusters, a bandwidth grid well below their spread: the regime
    # where scikit-learn's default tree bounds return log-densities hundreds of nats off
    rng = np.random.default_rng(0)
    centres = rng.uniform(0, 1, (2, 256))
    train = centres[rng.integers(0, 2, 300)] + 0.1 * rng.standard_normal((300, 256))
    query = np.vstack([centres[rng.integers(0, 2, 20)] + 0.1 * rng.standard_normal((20, 256)),
                       rng.uniform(0, 1, (10, 256))])  # fmt: skip
    scores = fit_baseline("kde", train)(query)
    sq = ((query[:, None, :] - train[None]) ** 2).sum(-1)
    n, d = train.shape
    exact = [  # -log p at every bandwidth of the baseline's grid; it must be one of them
        -(logsumexp(-sq / (2 * h * h), axis=1) - np.log(n) - 0.5 * d * np.log(2 * np.pi * h * h))
        for h in np.logspace(-1.5, 1.0, 12)
    ]
    assert any(np.allclose(scores, e, rtol=1e-9, atol=1e-6) for e in exact)
