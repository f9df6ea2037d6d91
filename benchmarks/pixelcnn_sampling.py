"""PixelCNN sampling: the activation cache against the windowed sampler, side by side.

    .venv/bin/python benchmarks/pixelcnn_sampling.py [--n 64] [--shapes 1x16x16 1x28x28]

``PixelCNN.sample`` keeps every layer's activations and computes one column per drawn value;
``PixelCNN.sample_windowed`` (the sampler it replaced) convolves the window each value's pixel
sees. Both draw from the same generator, and the script checks the samples are identical; only
the work per step differs. The default-config PixelCNN is untrained: the cost of a step does not
depend on the weights. Prints a Markdown table and saves it with a CSV under
``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pandas as pd
import torch

from genmodels.pixelcnn import PixelCNN

RESULTS = Path(__file__).parent / "results"


def _timed(fn: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--shapes", nargs="+", default=["1x16x16", "1x28x28"])
    args = parser.parse_args()

    rows = []
    for text in args.shapes:
        shape = tuple(int(v) for v in text.split("x"))
        torch.manual_seed(0)
        model = PixelCNN(shape).eval()  # type: ignore[arg-type]
        windowed, t_win = _timed(
            partial(model.sample_windowed, args.n, generator=torch.Generator().manual_seed(1))
        )
        cached, t_cached = _timed(
            partial(model.sample, args.n, generator=torch.Generator().manual_seed(1))
        )
        rows.append(
            {
                "shape": text,
                "samples": args.n,
                "windowed s": round(t_win, 2),
                "cached s": round(t_cached, 2),
                "speed-up": round(t_win / t_cached, 2),
                "target": ">= 10 at 28x28",
                "identical samples": bool(torch.equal(windowed, cached)),
                "threads": torch.get_num_threads(),
            }
        )
        print(rows[-1], flush=True)

    table = pd.DataFrame(rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    command = "benchmarks/pixelcnn_sampling.py " + " ".join(
        ["--n", str(args.n), "--shapes", *args.shapes]
    )
    table.to_csv(RESULTS / "pixelcnn-sampling.csv", index=False)
    markdown = table.to_markdown(index=False)
    (RESULTS / "pixelcnn-sampling.md").write_text(f"`{command}`\n\n{markdown}\n")
    print(markdown)


if __name__ == "__main__":
    main()
