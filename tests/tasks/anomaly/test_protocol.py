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


def test_all_classes_normal_leaves_no_anomalies_which_is_allowed_but_known(tiny_images):
    splits = {"train": tiny_images, "val": tiny_images, "test": tiny_images}
    data = one_class_split(splits, [0, 1])
    assert not data.test_is_anomaly.any() and not data.test_has_both
    with pytest.raises(DataError, match="select_by=score needs anomalous images in the test"):
        data.require_test_anomalous("task.select_by=score")
    with pytest.raises(DataError, match="holds no images of the normal classes"):
        one_class_split({**splits, "test": tiny_images.subset(np.arange(20))}, [1])


def test_unlabelled_images_are_all_normal(tiny_images):
    from genmodels.data.imageset import ImageSet

    unlabelled = ImageSet(tiny_images.images, None, levels=tiny_images.levels)
    data = one_class_split({"train": unlabelled, "val": unlabelled, "test": unlabelled}, [0])
    assert len(data.train) == len(data.val) == len(data.test) == 40
    assert not data.test_is_anomaly.any() and data.val_anomalous is None
    # labelled test images beside unlabelled training ones keep their own labels
    mixed = one_class_split({"train": unlabelled, "val": unlabelled, "test": tiny_images}, [0])
    assert mixed.test_is_anomaly.sum() == 20 and len(mixed.train) == 40
    with pytest.raises(DataError, match="name one normal class"):
        one_class_split({"train": unlabelled, "val": unlabelled, "test": unlabelled}, [0, 1])


def test_validation_anomalies_are_kept_apart_for_selection(tiny_images):
    splits = {"train": tiny_images, "val": tiny_images, "test": tiny_images}
    data = one_class_split(splits, [1])
    assert data.val_anomalous is not None
    assert set(data.val_anomalous.labels.tolist()) == {0} and len(data.val_anomalous) == 20
    assert data.require_val_anomalous("selection") is data.val_anomalous


def test_a_validation_split_of_normal_images_only_has_no_anomalies_to_select_with(tiny_images):
    normal_val = tiny_images.subset(np.arange(20))  # label 0 only
    data = one_class_split({"train": tiny_images, "val": normal_val, "test": tiny_images}, [0])
    assert data.val_anomalous is None
    with pytest.raises(DataError, match=r"task.select_by=validation needs anomalous .* \[0\]"):
        data.require_val_anomalous("task.select_by=validation")
