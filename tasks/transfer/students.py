"""Kernel-machine students (scikit-learn) learning from pixels.

- ``svc``: an RBF support vector classifier on hard labels;
- ``kernel-ridge``: RBF kernel ridge regression on soft labels (class probabilities), predicting
  the arg-max;
- ``nystroem``: Nystroem RBF features and a ridge regression on soft labels, for transfer sets
  too large for an exact kernel.
"""

from __future__ import annotations

from typing import Literal, Protocol, get_args

import numpy as np
from sklearn.kernel_approximation import Nystroem
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC

StudentName = Literal["svc", "kernel-ridge", "nystroem"]
STUDENT_NAMES: tuple[StudentName, ...] = get_args(StudentName)


class Student(Protocol):
    name: str

    def fit(self, x: np.ndarray, soft: np.ndarray) -> Student: ...

    def predict(self, x: np.ndarray) -> np.ndarray: ...


def _gamma(x: np.ndarray) -> float:
    """scikit-learn's ``gamma='scale'``: 1 / (D * var(x)), fixed from the data a student fits."""
    var = float(x.var())
    return 1.0 / (x.shape[1] * var) if var > 0 else 1.0


class SVCStudent:
    """RBF SVC on the arg-max of the soft labels."""

    name = "svc"

    def __init__(self, c: float = 10.0) -> None:
        self.model = SVC(C=c, kernel="rbf", gamma="scale")

    def fit(self, x: np.ndarray, soft: np.ndarray) -> SVCStudent:
        self.model.fit(x, soft.argmax(1))
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict(x))


class RidgeStudent:
    """Kernel ridge regression of the class probabilities; predicts their arg-max."""

    name = "kernel-ridge"

    def __init__(self, alpha: float = 0.1) -> None:
        self.alpha = alpha
        self.model: KernelRidge | None = None

    def fit(self, x: np.ndarray, soft: np.ndarray) -> RidgeStudent:
        self.model = KernelRidge(alpha=self.alpha, kernel="rbf", gamma=_gamma(x)).fit(x, soft)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("fit the student first")
        return np.asarray(self.model.predict(x)).argmax(1)


class NystroemStudent:
    """Nystroem RBF features (``components`` landmarks) and ridge regression on soft labels."""

    name = "nystroem"

    def __init__(self, components: int = 1000, alpha: float = 0.1, seed: int = 0) -> None:
        self.components, self.alpha, self.seed = components, alpha, seed
        self.model = None

    def fit(self, x: np.ndarray, soft: np.ndarray) -> NystroemStudent:
        features = Nystroem(
            kernel="rbf",
            gamma=_gamma(x),
            n_components=min(self.components, len(x)),
            random_state=self.seed,
        )
        self.model = make_pipeline(features, Ridge(alpha=self.alpha)).fit(x, soft)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("fit the student first")
        return np.asarray(self.model.predict(x)).argmax(1)


def make_student(name: str, seed: int = 0) -> Student:
    if name == "svc":
        return SVCStudent()
    if name == "kernel-ridge":
        return RidgeStudent()
    if name == "nystroem":
        return NystroemStudent(seed=seed)
    raise ValueError(f"unknown student '{name}'; students are {', '.join(STUDENT_NAMES)}")
