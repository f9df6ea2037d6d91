"""Train a zoo model into a model file on any machine, with the zoo and the data layer only (no
MLflow, no spec): for a GPU box that lacks the tracking stack. Load the file in a pipeline with
``model.weights``; use the spec's data, split fractions and split seed so the test split is the
one the pipeline carves (the script prints a hash of it to compare).

    python benchmarks/train_model_file.py --data cifar10 --path train_jpg.tar.gz \\
        --val-fraction 0.05 --test-fraction 0.05 --split-seed 0 \\
        --model realnvp --params '{"num_scales": 2, "hidden_channels": 48, "num_blocks": 2,
        "couplings_per_scale": 3, "lr": 0.001}' --minutes 7.2 --accelerator gpu --out flow.pt

Prints the data sizes, the epochs run, the best validation bits/dim and the test bits/dim of the
images and of their gray versions (the likelihood trap colorization meets).

``--model colorize-conditional`` trains the colorize task's conditional flow of chroma given gray
instead (``--params``: the keys of ``task.conditional``, e.g. ``{"hidden_channels": 32}``); load
the file with ``task.conditional.weights`` and the same architecture keys. It prints the test
bits/dim of the true chroma given gray.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time

import torch
from pytorch_lightning.callbacks import Callback, Timer

from genmodels.data import carve_splits, load_dataset
from genmodels.data.imageset import ImageSet, luma
from genmodels.persistence import save_model
from genmodels.registry import get_model_class
from genmodels.training import TrainConfig, fit_model
from tasks.colorize.chroma_flow import ConditionalSpec, fit_conditional, save_conditional
from tasks.colorize.regressor import RegressorSpec


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--path")
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument("--test-fraction", type=float, default=0.3)
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--max-images", type=int, help="cap every split, as data.max_images does")
    p.add_argument("--model", default="realnvp")
    p.add_argument("--params", default="{}", help="constructor arguments as JSON")
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--minutes", type=float, help="stop training after this wall time")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--patience", type=int, default=6)
    p.add_argument("--accelerator", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="the model file to write")
    args = p.parse_args(argv)

    t0 = time.perf_counter()
    splits = carve_splits(
        load_dataset(args.data, args.path),
        args.val_fraction,
        args.test_fraction,
        args.split_seed,
        args.max_images,
    )
    train, val, test = splits["train"], splits["val"], splits["test"]
    digest = hashlib.sha256(test.images.numpy().tobytes()).hexdigest()[:16]
    print(f"train {len(train)}, val {len(val)}, test {len(test)} (hash {digest})", flush=True)

    if args.model == "colorize-conditional":
        _train_conditional(args, train, val, test)
        return
    model = get_model_class(args.model)(train.image_shape, train.levels, **json.loads(args.params))
    config = TrainConfig(
        max_epochs=args.epochs,
        batch_size=args.batch_size,
        patience=args.patience,
        accelerator=args.accelerator,
    )
    timer: list[Callback] = [Timer(duration={"minutes": args.minutes})] if args.minutes else []
    fit = fit_model(model, train, val, config, seed=args.seed, callbacks=timer)
    model = model.cpu().eval()
    save_model(model, args.out)
    print(f"{fit.epochs} epochs, best val bits/dim {fit.best_score:.4f}, wrote {args.out}")
    if train.image_shape[0] != 3:
        return
    with torch.no_grad():
        x = test.images[:500]
        gray = torch.round(luma(x).expand(-1, 3, -1, -1) * (train.levels - 1))
        gray = gray / (train.levels - 1)
        print(
            f"test bits/dim: images {model.bits_per_dim(x).mean():.3f}, "
            f"their gray versions {model.bits_per_dim(gray).mean():.3f}; "
            f"{time.perf_counter() - t0:.0f} s in all"
        )


def _train_conditional(
    args: argparse.Namespace, train: ImageSet, val: ImageSet, test: ImageSet
) -> None:
    if args.minutes:
        raise SystemExit("--minutes applies to zoo models; cap the conditional flow with --epochs")
    config = ConditionalSpec(
        max_epochs=args.epochs,
        batch_size=args.batch_size,
        patience=args.patience,
        **json.loads(args.params),
    )
    # a residual flow's forecast trains under the same epoch cap
    forecast = RegressorSpec(
        max_epochs=args.epochs, batch_size=args.batch_size, patience=args.patience
    )
    t0 = time.perf_counter()
    module, grid = fit_conditional(train.images, val.images, config, args.seed, mean=forecast)
    save_conditional(module, args.out)
    kept = grid[grid["kept"]]
    best = kept.loc[kept["chosen_for_estimate"], "psnr_of_mean"].iloc[0]
    with torch.no_grad():
        bits = module.bits_per_dim(test.images[:500], dequantize=False).mean()
    print(
        f"wrote {args.out}: {'residual' if module.config.residual else 'plain'} flow "
        f"(validation PSNR of the estimate {best:.2f} dB; temperatures: draws "
        f"{module.temperature:g}, estimate {module.estimate_temperature:g}); test bits/dim of "
        f"the true chroma given gray {bits:.3f}; {time.perf_counter() - t0:.0f} s"
    )


if __name__ == "__main__":
    main()
