"""The colorization task's figure: gray input, truth, each arm's estimate, and the posterior
samples and per-pixel uncertainty of the arms that sample."""

from __future__ import annotations

from typing import TYPE_CHECKING

from matplotlib.figure import Figure

from tasks.plots import column_grid

if TYPE_CHECKING:  # the experiment imports this module to draw its result
    from tasks.colorize.experiment import ColorizeResult


def colorization_grid(result: ColorizeResult, rows: int) -> Figure:
    """``rows`` test images, one column per input, arm, sample and uncertainty map."""
    columns = {"gray": result.gray[:rows].numpy(), "truth": result.truth[:rows].numpy()}
    for arm, out in result.outputs.items():
        columns[arm] = out.estimate[:rows].numpy()
    heat = []
    for arm in ("model", "conditional", "conditional-pixelcnn"):
        sampled = result.outputs.get(arm)
        if sampled is None or sampled.samples is None:
            continue
        for k in range(min(3, sampled.samples.rgb.shape[0])):
            columns[f"{arm} sample {k + 1}"] = sampled.samples.rgb[k, :rows].numpy()
        columns[f"{arm} uncertainty"] = sampled.samples.uncertainty[:rows].numpy()
        heat.append(f"{arm} uncertainty")
    return column_grid(columns, "colorization", heat=tuple(heat))
