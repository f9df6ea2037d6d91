"""Every kernel student learns a problem an RBF kernel separates and a linear rule cannot; the
soft-label students follow the soft labels' arg-max."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.transfer.students import STUDENT_NAMES, make_student


def _rings(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Class 0 inside radius 1, class 1 on a ring at radius 2: no line separates them."""
    labels = rng.integers(0, 2, n)
    radius = np.where(labels == 0, rng.uniform(0.0, 1.0, n), rng.uniform(1.8, 2.2, n))
    angle = rng.uniform(0, 2 * np.pi, n)
    points = np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1)
    return points, labels


@pytest.mark.parametrize("name", STUDENT_NAMES)
def test_each_student_learns_a_problem_only_a_kernel_separates(name):
    rng = np.random.default_rng(0)
    x, y = _rings(400, rng)
    x_test, y_test = _rings(400, rng)
    soft = np.eye(2)[y] * 0.8 + 0.1  # soft labels whose arg-max is the class
    student = make_student(name, seed=0).fit(x, soft)
    assert student.name == name
    assert (student.predict(x_test) == y_test).mean() > 0.95
    # a linear rule is near chance here, so the kernel is doing the work
    w = np.linalg.lstsq(np.c_[x, np.ones(len(x))], soft, rcond=None)[0]
    linear = (np.c_[x_test, np.ones(len(x_test))] @ w).argmax(1)
    assert (linear == y_test).mean() < 0.7


@pytest.mark.parametrize("name", ["kernel-ridge", "nystroem"])
def test_soft_label_students_refuse_to_predict_before_fitting(name):
    with pytest.raises(RuntimeError, match="fit the student first"):
        make_student(name).predict(np.zeros((1, 2)))


def test_nystroem_uses_at_most_as_many_landmarks_as_images():
    rng = np.random.default_rng(1)
    x, y = _rings(50, rng)
    student = make_student("nystroem").fit(x, np.eye(2)[y])
    assert student.model[0].n_components == 50  # default 1000 capped at the 50 images


def test_unknown_student_names_the_valid_ones():
    with pytest.raises(ValueError, match="svc, kernel-ridge, nystroem"):
        make_student("knn")
