"""Real photos colorized by a conditional flow trained on small images, against doing nothing.

    .venv/bin/python benchmarks/colorize_photos.py --model RUN_OR_FILE
        [--sides 32 64 128 256] [--samples 8] [--mean-samples 16] [--out colorize-photos]

The colour photos bundled with scikit-image (none of them seen by any model here: natural
photos, a micrograph, a fundus image, a telescope field) are written as PNG files, made gray and
colorized at their own size by ``priorworks colorize`` (:func:`pipelines.tracking.colorizing.
colorize_path`) once per working chroma side; each estimate is measured against the photo's
true colours, next to the gray image itself. Tables (per photo and side; per side: mean PSNR
gain over gray with a t-interval over photos, photos improved, seconds) are saved under
``benchmarks/results/<out>*`` with the command that made them.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path

import pandas as pd
from PIL import Image
from skimage import data as skdata

if __package__ in (None, ""):  # run as a script: this repository's benchmarks, not a namesake
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # installed in site-packages
from pipelines.cli import quiet_libraries
from pipelines.tracking.colorizing import colorize_path
from tasks.stats import mean_ci

PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "immunohistochemistry",
    "hubble_deep_field",
    "retina",
)
RESULTS = Path(__file__).resolve().parent / "results"


def write_photos(folder: Path) -> None:
    for name in PHOTOS:
        Image.fromarray(getattr(skdata, name)()).save(folder / f"{name}.png")


def summarize(long: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for side, group in long.groupby("chroma_side", sort=False):
        gain = group["psnr"] - group["psnr_gray"]
        rows.append(
            {
                "chroma_side": side,
                "photos": len(group),
                "psnr": group["psnr"].mean(),
                "psnr_gray": group["psnr_gray"].mean(),
                **{f"gain_{k}": v for k, v in mean_ci(gain.to_numpy()).items()},
                "improved": int((gain > 0).sum()),
                "best_of_k_gain": (group["best_of_k_psnr"] - group["psnr_gray"]).mean(),
                "seconds_per_photo": group["seconds"].mean(),
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a colorize run id or a flow file")
    parser.add_argument("--sides", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--mean-samples", type=int, default=16)
    parser.add_argument("--out", default="colorize-photos")
    args = parser.parse_args(argv)
    quiet_libraries()
    frames = []
    with tempfile.TemporaryDirectory() as tmp:
        photos = Path(tmp) / "photos"
        photos.mkdir()
        write_photos(photos)
        for side in args.sides:
            summary = colorize_path(
                args.model, photos, Path(tmp) / f"side{side}", args.samples, args.mean_samples, side
            )
            frames.append(summary.table.assign(chroma_side=side))
            print(f"chroma side {side}: {summary.images} photos colorized")
    long = pd.concat(frames, ignore_index=True)
    table = summarize(long)
    command = "benchmarks/colorize_photos.py " + shlex.join(argv or sys.argv[1:])
    RESULTS.mkdir(exist_ok=True)
    long.to_csv(RESULTS / f"{args.out}.csv", index=False)
    table.to_csv(RESULTS / f"{args.out}-summary.csv", index=False)
    text = f"`{command}`\n\n" + table.to_markdown(index=False, floatfmt=".3f") + "\n\n"
    text += long.to_markdown(index=False, floatfmt=".2f") + "\n"
    (RESULTS / f"{args.out}.md").write_text(text)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(long.to_string(index=False))
        print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
