"""A model file that is missing, not a torch file, or a torch file of something else gets an
error that names the file and the problem."""

from __future__ import annotations

import pytest
import torch

from genmodels.errors import DataError
from genmodels.persistence import load_model


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match=r"nope\.pt: model file not found"):
        load_model(tmp_path / "nope.pt")


def test_a_file_that_is_not_a_torch_file_is_refused(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("not weights")
    with pytest.raises(DataError, match=r"notes\.pt: not a priorworks model file"):
        load_model(path)


@pytest.mark.parametrize(
    ("payload", "missing"),
    [
        ({"weights": torch.zeros(2)}, "name, hparams, state_dict"),
        ({"name": "realnvp", "state_dict": {}}, "hparams"),
        (torch.zeros(3), "name, hparams, state_dict"),
    ],
)
def test_a_torch_file_of_something_else_says_what_is_missing(tmp_path, payload, missing):
    path = tmp_path / "other.pt"
    torch.save(payload, path)
    with pytest.raises(DataError, match=rf"other\.pt: not a priorworks model file \(no {missing};"):
        load_model(path)
