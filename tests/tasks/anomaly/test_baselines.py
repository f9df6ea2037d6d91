import numpy as np
import pytest
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
