import numpy as np
import pytest

from genmodels.errors import DataError
from tasks.anomaly.protocol import one_class_split


def test_generator_sees_only_normal_classes(tiny_images):
    splits = {"train": tiny_images, "val": tiny_images, "test": tiny_images}
    data = one_class_split(splits, [1])
    assert set(data.train.labels.tolist()) == {1} and set(data.val.labels.tolist()) == {1}
    assert len(data.test) == 40
    assert np.array_equal(data.test_is_anomaly, tiny_images.labels.numpy() != 1)


def test_unknown_normal_class_is_refused(tiny_images):
    splits = {"train": tiny_images, "val": tiny_images, "test": tiny_images}
    with pytest.raises(DataError, match=r"labels present: \[0, 1\]"):
        one_class_split(splits, [7])


def test_all_classes_normal_leaves_no_anomalies(tiny_images):
    splits = {"train": tiny_images, "val": tiny_images, "test": tiny_images}
    with pytest.raises(DataError, match="both normal and anomalous"):
        one_class_split(splits, [0, 1])
