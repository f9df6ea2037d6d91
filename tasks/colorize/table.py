"""The colorization experiment's tables: what an arm delivers (:class:`ArmOutput`), its
per-image rows (PSNR, SSIM, colourfulness, the posterior metrics where it samples) and the
summary over images per arm, with PSNR also read over the set, as a median and over the images
that are not gray."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from genmodels.contract import GenerativeModel
from genmodels.data.imageset import on_grid
from tasks.colorize.inference import PosteriorSamples
from tasks.colorize.metrics import (
    best_of_k_psnr,
    colourfulness,
    consistency_error,
    diversity,
    psnr,
    ssim,
)
from tasks.colorize.posterior import chroma_coverage, energy_score
from tasks.stats import mean_ci


@dataclass(frozen=True)
class ArmOutput:
    arm: str
    estimate: Tensor  # (B, 3, H, W): MAP, posterior mean or regression
    samples: PosteriorSamples | None
    seconds: float
    map: Tensor | None = None  # the MAP, only when the estimate is something else
    truth_bpd: Tensor | None = None  # (B,): -log2 p(true chroma | gray) per dim, where normalized


#: a true image less colourful than this (Hasler-Suesstrunk, 0-255 scale) counts as gray
GRAY_COLOURFULNESS = 1.0


def _uncertainty_error_corr(samples: PosteriorSamples, estimate: Tensor, truth: Tensor) -> Tensor:
    """Per image: Pearson correlation over pixels between the samples' spread and the estimate's
    actual error (high when the samples disagree where the estimate is wrong)."""
    u = samples.uncertainty.flatten(1).double()
    e = (estimate - truth).abs().mean(1).flatten(1).double()
    u, e = u - u.mean(1, keepdim=True), e - e.mean(1, keepdim=True)
    denom = (u.norm(dim=1) * e.norm(dim=1)).clamp_min(1e-12)
    return (u * e).sum(1) / denom


def arm_rows(
    out: ArmOutput, gray: Tensor, truth: Tensor, model: GenerativeModel | None, seed: int
) -> pd.DataFrame:
    est = out.estimate
    truth_colour, est_colour = colourfulness(truth).numpy(), colourfulness(est).numpy()
    frame = pd.DataFrame(
        {
            "arm": out.arm,
            "image": np.arange(len(est)),
            "psnr": psnr(est, truth).numpy(),
            "mse": ((est - truth) ** 2).flatten(1).mean(1).double().numpy(),
            "truth_is_gray": (truth_colour < GRAY_COLOURFULNESS).astype(float),
            "ssim": ssim(est, truth).numpy(),
            "colourfulness": est_colour,
            "colourfulness_gap": np.abs(est_colour - truth_colour),
            "consistency": consistency_error(est, gray).numpy(),
            # a proper score of the arm's draws, or of its estimate as a point forecast
            "energy_score": energy_score(
                out.samples.rgb if out.samples is not None else est.unsqueeze(0), truth
            ).numpy(),
        }
    )
    if model is not None:
        with torch.no_grad():
            frame["prior_bpd"] = model.bits_per_dim(on_grid(est, model.levels)).double().numpy()
    if out.samples is not None:
        s = out.samples.rgb
        frame["best_of_k_psnr"] = best_of_k_psnr(s, truth).numpy()
        frame["sample_mean_psnr"] = psnr(s.mean(0), truth).numpy()
        frame["diversity"] = diversity(s).numpy()
        per_sample = colourfulness(s.flatten(0, 1)).view(len(s), -1).numpy()
        frame["sample_colourfulness"] = per_sample.mean(0)
        frame["sample_colourfulness_gap"] = np.abs(per_sample - truth_colour).mean(0)
        frame["uncertainty_error_corr"] = _uncertainty_error_corr(out.samples, est, truth).numpy()
        frame["accept_rate"] = out.samples.accept_rate.mean(0).numpy()
        pit_generator = torch.Generator().manual_seed(seed)
        for level, share in chroma_coverage(s, truth, generator=pit_generator).items():
            frame[f"coverage_{round(level * 100)}"] = share.numpy()
    if out.truth_bpd is not None:
        frame["truth_bpd"] = out.truth_bpd.double().numpy()
    if out.map is not None:
        frame["map_psnr"] = psnr(out.map, truth).numpy()
        frame["map_colourfulness"] = colourfulness(out.map).numpy()
    frame["seconds"] = out.seconds
    return frame


def summarize(per_image: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Mean and t-interval over images of every metric, per arm; and the PSNR read three more
    ways, because a mean of per-image PSNR is fragile (a gray image colorized gray scores the
    100 dB cap): over the whole set from the pooled MSE (``psnr_pooled``), the median over
    images (``psnr_median``), and the mean over the images that are not gray
    (``psnr_colour_images``; ``truth_is_gray`` is the share that are). Colourfulness is also
    read as a ratio to the truth's over the same images, for the estimate
    (``colourfulness_ratio``) and for single draws (``sample_colourfulness_ratio``), where the
    frame has ``truth`` rows."""
    rows = []
    truth_rows = per_image[per_image["arm"] == "truth"]
    truth_colour = truth_rows.set_index("image")["colourfulness"] if len(truth_rows) else None
    skip = ("arm", "image", "seconds", "mse")
    metrics = [c for c in per_image.columns if c not in skip]
    for arm, group in per_image.groupby("arm", sort=False):
        for metric in metrics:
            values = group[metric].dropna()
            if len(values):
                rows.append({"arm": arm, "metric": metric, **mean_ci(values, confidence)})
        pooled = 10 * np.log10(1.0 / max(float(group["mse"].mean()), 1e-10))
        rows.append({"arm": arm, "metric": "psnr_pooled", "mean": min(pooled, 100.0)})
        rows.append({"arm": arm, "metric": "psnr_median", "mean": float(group["psnr"].median())})
        colour = group.loc[group["truth_is_gray"] == 0, "psnr"]
        if len(colour):
            rows.append({"arm": arm, "metric": "psnr_colour_images", **mean_ci(colour, confidence)})
        rows.append({"arm": arm, "metric": "seconds", "mean": float(group["seconds"].iloc[0])})
        if truth_colour is not None and arm != "truth":
            reference = float(truth_colour.loc[group["image"]].mean())
            for column in ("colourfulness", "sample_colourfulness"):
                if column in group and group[column].notna().any() and reference > 0:
                    ratio = float(group[column].mean()) / reference
                    rows.append({"arm": arm, "metric": f"{column}_ratio", "mean": ratio})
    return pd.DataFrame(rows)


def wide_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Arms as rows, metrics as columns (means), for printing."""
    table = summary.pivot(index="arm", columns="metric", values="mean")
    order = [a for a in dict.fromkeys(summary["arm"]) if a in table.index]
    return table.loc[order].reset_index()
