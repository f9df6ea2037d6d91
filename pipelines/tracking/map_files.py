"""Anomaly maps written beside the scores: ``priorworks score --maps DIR``.

One file per input image: a PNG for images, npz rows and DICOM slices (the map stretched to
0-255 within the image, brighter = more anomalous), and for a NIfTI input one NIfTI volume of the
delivered map's values, unstretched, in the input's own geometry (every slice's map resized back
to the slice's size, stacked along the last axis, with the input's affine). The folder is filled
under a temporary name and renamed at the end, so a failed run leaves no half-written maps.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from genmodels.data.medical import NIFTI_SUFFIXES
from pipelines.tracking.staged_folder import StagedFolder


def _safe_name(image_id: str) -> str:
    """A file name from an input id (``scans/a.png``, ``x.npz[test]:3``, ``ct.nii.gz#12``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", image_id).strip("_") or "image"


def _is_nifti(image_id: str) -> bool:
    return image_id.split("#", 1)[0].lower().endswith(NIFTI_SUFFIXES)


class MapWriter:
    """Collects maps chunk by chunk and writes them into ``folder`` on :meth:`finish`."""

    def __init__(self, folder: str | Path, inputs: str | Path) -> None:
        self.folder, self.inputs = Path(folder), Path(inputs)
        self._staged = StagedFolder(self.folder, "--maps")
        self._tmp = self._staged.tmp
        self._volumes: dict[str, dict[int, np.ndarray]] = defaultdict(dict)
        self.written = 0

    def add(self, ids: tuple[str, ...], maps: np.ndarray) -> None:
        """Maps ``(N, H, W)`` of the images with these ids."""
        for image_id, heat in zip(ids, maps, strict=True):
            if _is_nifti(image_id):
                file, _, index = image_id.partition("#")
                self._volumes[file][int(index or 0)] = heat
                continue
            span = float(heat.max() - heat.min())
            scaled = (heat - heat.min()) / span if span > 0 else np.zeros_like(heat)
            pixels = np.round(scaled * 255).astype(np.uint8)
            Image.fromarray(pixels).save(self._tmp / f"{_safe_name(image_id)}.png")
            self.written += 1

    def _source(self, file: str) -> Path:
        return self.inputs if self.inputs.is_file() else self.inputs / file

    def finish(self) -> Path:
        """Write the NIfTI volumes and move the folder into place."""
        import nibabel as nib

        for file, slices in self._volumes.items():
            source: Any = nib.load(str(self._source(file)))  # a NIfTI image: shape and affine
            shape = tuple(source.shape)
            in_plane = shape[:2]
            resized = [
                F.interpolate(
                    torch.from_numpy(slices[k]).double()[None, None], size=in_plane,
                    mode="bilinear", align_corners=False,
                )[0, 0].numpy()
                for k in sorted(slices)
            ]  # fmt: skip
            volume = np.stack(resized, axis=-1) if len(shape) == 3 else resized[0]
            name = _safe_name(Path(file).name.split(".nii")[0]) + "_map.nii.gz"
            nib.save(nib.Nifti1Image(volume.astype(np.float32), source.affine), self._tmp / name)
            self.written += 1
        return self._staged.commit()

    def abandon(self) -> None:
        self._staged.abandon()
