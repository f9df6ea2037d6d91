"""PixelCNN sampling: the windowed sampler against full-image forward passes, side by side.

    .venv/bin/python benchmarks/pixelcnn_sampling.py [--n 64] [--shapes 1x16x16 1x28x28]

Both samplers draw the same values from the same generator (the script checks the samples are
identical); only the work per step differs. The default-config PixelCNN is untrained: the cost
of a forward pass does not depend on the weights. Prints a Markdown table and saves it with a
CSV under ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from genmodels.pixelcnn import PixelCNN

RESULTS = Path(__file__).parent / "results"


@torch.no_grad()
def full_pass_sample(model: PixelCNN, n: int, generator: torch.Generator) -> torch.Tensor:
    """The reference sampler: one forward pass over the whole image per value."""
    c, h, w = model.image_shape
    x = torch.zeros(n, c, h, w)
    for row in range(h):
        for col in range(w):
            for ch in range(c):
                probs = F.softmax(model.net(x)[:, ch, :, row, col], dim=1)
                level = torch.multinomial(probs, 1, generator=generator).squeeze(1)
                x[:, ch, row, col] = level.to(x) / (model.levels - 1)
    return x


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
        full, t_full = _timed(
            partial(full_pass_sample, model, args.n, torch.Generator().manual_seed(1))
        )
        windowed, t_win = _timed(
            partial(model.sample, args.n, generator=torch.Generator().manual_seed(1))
        )
        rows.append(
            {
                "shape": text,
                "samples": args.n,
                "full-pass s": round(t_full, 2),
                "windowed s": round(t_win, 2),
                "speed-up": round(t_full / t_win, 2),
                "window (rows x cols, max)": f"{min(shape[1], model.net.reach + 1)}x"
                f"{min(shape[2], 2 * model.net.reach + 1)}",
                "identical samples": bool(torch.equal(full, windowed)),
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
