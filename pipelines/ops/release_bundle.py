"""Write a release bundle: a versioned folder and one archive, never half-written.

``<root>/<name>-v<N>/`` holds ``images.npz`` (uint8 images and labels) or ``images/*.png``,
``labels.csv``, ``datasheet.json`` and ``DATASHEET.md``; ``<root>/<name>-v<N>.tar.gz`` holds the
same folder. Everything is written under a hidden temporary name and renamed at the end, so a
crash leaves no folder that looks like a release.
"""

from __future__ import annotations

import json
import re
import shutil
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image
from torch import Tensor


def next_version(root: Path, name: str) -> int:
    pattern = re.compile(rf"^{re.escape(name)}-v(\d+)$")
    found = [int(m.group(1)) for p in root.glob(f"{name}-v*") if (m := pattern.match(p.name))]
    return max(found, default=0) + 1


def _uint8(images: Tensor) -> np.ndarray:
    """``(N, C, H, W)`` in [0, 1] -> ``(N, H, W, C)`` uint8 (channel-last, as image files)."""
    arr = (images.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()
    return arr


def write_bundle(
    root: Path,
    name: str,
    version: int,
    images: Tensor,
    labels: Tensor,
    class_names: tuple[str, ...],
    datasheet: dict[str, Any],
    markdown: str,
    image_format: str = "npz",
) -> tuple[Path, Path]:
    """Write the folder and the archive; return both paths."""
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{name}-v{version}"
    archive = root / f"{name}-v{version}.tar.gz"
    if final.exists() or archive.exists():
        raise FileExistsError(f"{final} already exists; releases are never overwritten")
    partial = root / f".{name}-v{version}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        pixels = _uint8(images)
        names = [class_names[i] if i < len(class_names) else str(i) for i in labels.tolist()]
        if image_format == "png":
            (partial / "images").mkdir()
            files = [f"images/{i:06d}.png" for i in range(len(pixels))]
            for path, img in zip(files, pixels, strict=True):
                Image.fromarray(img.squeeze(-1) if img.shape[-1] == 1 else img).save(partial / path)
        else:
            np.savez_compressed(partial / "images.npz", images=pixels, labels=labels.numpy())
            files = [f"images.npz[{i}]" for i in range(len(pixels))]
        table = pd.DataFrame({"image": files, "label": labels.numpy(), "class_name": names})
        table.to_csv(partial / "labels.csv", index=False)
        (partial / "datasheet.json").write_text(json.dumps(datasheet, indent=2, sort_keys=True))
        (partial / "DATASHEET.md").write_text(markdown)
        tmp_archive = root / f".{name}-v{version}.tar.gz.partial"
        with tarfile.open(tmp_archive, "w:gz") as tar:
            tar.add(partial, arcname=final.name)
        partial.rename(final)
        tmp_archive.rename(archive)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        (root / f".{name}-v{version}.tar.gz.partial").unlink(missing_ok=True)
        raise
    return final, archive
