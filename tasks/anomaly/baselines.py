"""Classical one-class baselines from scikit-learn, scored the same way as the deep models.

Each baseline is fit on flattened normal training images and returns anomaly scores (higher =
more anomalous). Hyper-parameters are chosen on the training data only (cross-validated
likelihood for KDE, BIC for the mixture), never on test labels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KernelDensity
from sklearn.svm import OneClassSVM

from genmodels.errors import UnknownNameError
from tasks.spec import same_names

Scorer = Callable[[np.ndarray], np.ndarray]


def _kde(train: np.ndarray, seed: int) -> Scorer:
    # One leaf that holds every training image: scikit-learn then sums all the kernels in log
    # space, exactly. With its default tree the pruning bounds return densities hundreds of nats
    # off in high dimensions at small bandwidths (scikit-learn issues #7492, #25799; on 16x16 USPS
    # digits it cost this baseline 0.2 AUROC), and the cross-validated bandwidth inherits the error.
    kde = KernelDensity(leaf_size=max(train.shape[0], 40))
    grid = GridSearchCV(kde, {"bandwidth": np.logspace(-1.5, 1.0, 12)}, cv=3)
    best = grid.fit(train).best_estimator_
    return lambda x: -best.score_samples(x)


def _gmm(train: np.ndarray, seed: int) -> Scorer:
    pca = PCA(n_components=min(32, train.shape[0] // 4, train.shape[1]), random_state=seed)
    z = pca.fit_transform(train)
    fits = [
        GaussianMixture(k, covariance_type="full", reg_covar=1e-3, random_state=seed).fit(z)
        for k in (1, 2, 4, 8)
        if k * 4 <= z.shape[0]
    ]
    best = min(fits, key=lambda g: g.bic(z))
    return lambda x: -best.score_samples(pca.transform(x))


def _isolation_forest(train: np.ndarray, seed: int) -> Scorer:
    forest = IsolationForest(n_estimators=200, random_state=seed).fit(train)
    return lambda x: -forest.score_samples(x)


def _ocsvm(train: np.ndarray, seed: int) -> Scorer:
    svm = OneClassSVM(kernel="rbf", gamma="scale", nu=0.1).fit(train)
    return lambda x: -svm.decision_function(x)


def _pca_reconstruction(train: np.ndarray, seed: int) -> Scorer:
    pca = PCA(n_components=0.9, random_state=seed).fit(train)
    return lambda x: ((x - pca.inverse_transform(pca.transform(x))) ** 2).sum(1)


BaselineName = Literal["kde", "gmm", "isolation_forest", "ocsvm", "pca_reconstruction"]
BASELINES: dict[str, Callable[[np.ndarray, int], Scorer]] = {
    "kde": _kde,
    "gmm": _gmm,
    "isolation_forest": _isolation_forest,
    "ocsvm": _ocsvm,
    "pca_reconstruction": _pca_reconstruction,
}


def fit_baseline(name: str, train: np.ndarray, seed: int = 0) -> Scorer:
    """Fit a named baseline on ``train (N, D)`` and return its scoring function."""
    if name not in BASELINES:
        raise UnknownNameError("baseline", name, BASELINES)
    return BASELINES[name](np.asarray(train, dtype=np.float64), seed)


# -- no model at all: the compressor's code length (tasks.anomaly.complexity) ------------------
CodeScorer = Callable[[np.ndarray], np.ndarray]


def _code_bits(train_bits: np.ndarray) -> CodeScorer:
    return lambda bits: np.asarray(bits, dtype=np.float64)  # longer code = more anomalous


def _code_typicality(train_bits: np.ndarray) -> CodeScorer:
    centre = float(np.mean(train_bits))  # two-sided: too simple is as unusual as too complex
    return lambda bits: np.abs(np.asarray(bits, dtype=np.float64) - centre)


CompressorBaselineName = Literal["code_bits", "code_typicality"]
COMPRESSOR_BASELINES: dict[str, Callable[[np.ndarray], CodeScorer]] = {
    "code_bits": _code_bits,
    "code_typicality": _code_typicality,
}
BASELINE_NAMES = same_names(BaselineName, BASELINES, "anomaly baselines")
COMPRESSOR_BASELINE_NAMES = same_names(
    CompressorBaselineName, COMPRESSOR_BASELINES, "compressor baselines"
)


def fit_compressor_baseline(name: str, train_bits: np.ndarray) -> CodeScorer:
    """A detector from code lengths alone, fit on the normal training images' code lengths."""
    if name not in COMPRESSOR_BASELINES:
        raise UnknownNameError("compressor baseline", name, COMPRESSOR_BASELINES)
    return COMPRESSOR_BASELINES[name](np.asarray(train_bits, dtype=np.float64))
