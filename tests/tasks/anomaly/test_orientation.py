"""A baseline takes the form its selection set prefers: as-is, flipped or two-sided."""

import numpy as np
import pytest

from tasks.anomaly.orientation import FORMS, choose_form, orient


def test_forms_are_what_they_say():
    s = np.array([1.0, 3.0, 6.0])
    assert orient("as-is", s, 3.0).tolist() == [1.0, 3.0, 6.0]
    assert orient("flipped", s, 3.0).tolist() == [-1.0, -3.0, -6.0]
    assert orient("two-sided", s, 3.0).tolist() == [2.0, 0.0, 3.0]
    with pytest.raises(ValueError, match="unknown form 'sideways'"):
        orient("sideways", s, 0.0)


@pytest.mark.parametrize(
    ("anomalous", "expected"),
    [
        (np.array([5.0, 6.0, 7.0]), "as-is"),  # anomalies score higher
        (np.array([-7.0, -6.0, -5.0]), "flipped"),  # anomalies score lower (hazier, simpler)
        (np.array([-6.0, 6.0, -7.0, 7.0]), "two-sided"),  # on both sides
    ],
)
def test_the_form_follows_where_the_anomalies_lie(anomalous, expected):
    normal = np.linspace(-1, 1, 21)
    assert choose_form(normal, anomalous, center=0.0) == expected


def test_ties_keep_the_baseline_as_it_is():
    same = np.zeros(5)
    assert choose_form(same, same, 0.0) == FORMS[0] == "as-is"
