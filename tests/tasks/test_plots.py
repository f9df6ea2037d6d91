"""The shared figures: image grids drawn as one picture, with blank gaps between the images."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from tasks.plots import column_grid, image_grid, tile


def test_tile_puts_each_image_in_its_cell_and_leaves_the_gaps_blank():
    images = np.arange(5 * 3 * 2 * 2, dtype=float).reshape(5, 3, 2, 2)
    out = tile(images, ncols=3, pad=1)
    assert out.shape == (2 * 3 - 1, 3 * 3 - 1, 3)
    for i in range(5):
        r, q = divmod(i, 3)
        cell = out[3 * r : 3 * r + 2, 3 * q : 3 * q + 2]
        assert np.array_equal(cell, images[i].transpose(1, 2, 0))
    assert np.isnan(out[2]).all() and np.isnan(out[:, 2]).all()  # the gaps
    assert np.isnan(out[3:, 6:]).all()  # the sixth cell: no image


def test_grids_draw_one_picture_per_axes_with_the_images_in_it():
    gray = np.random.default_rng(0).random((10, 1, 4, 4))
    fig = image_grid(gray, ncols=4, title="t")
    (ax,) = fig.axes
    (drawn,) = ax.get_images()
    assert np.allclose(drawn.get_array().filled(np.nan)[:4, :4], gray[0, 0], equal_nan=True)
    plt.close(fig)
    colour = np.random.default_rng(1).random((3, 3, 4, 4))
    heat = gray[:3] * 5
    fig = column_grid({"colour": colour, "map": heat}, heat=("map",))
    assert [ax.get_title() for ax in fig.axes] == ["colour", "map"]
    rgba = fig.axes[0].get_images()[0].get_array()
    assert np.allclose(rgba[5:9, :, :3], colour[1].transpose(1, 2, 0))  # the second image
    assert (rgba[4, :, 3] == 0).all() and (rgba[:4, :, 3] == 1).all()  # gaps see-through
    drawn = fig.axes[1].get_images()[0]
    assert drawn.get_clim() == (0, float(heat.max()))  # the heat map's own scale
    plt.close(fig)
