"""A new output folder filled under a temporary name and moved into place only when complete,
so a failed command leaves no half-written results (``score --maps``, ``colorize --out``)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from genmodels.errors import DataError


class StagedFolder:
    """``folder`` must not exist or be empty; files go to :attr:`tmp` until :meth:`commit`."""

    def __init__(self, folder: str | Path, option: str) -> None:
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise DataError(f"{self.folder}: is a file; {option} names a new folder")
        if self.folder.exists() and any(self.folder.iterdir()):
            raise DataError(f"{self.folder}: {option} folder is not empty; name a new one")
        if not self.folder.parent.exists():
            raise DataError(f"{self.folder.parent}: folder for {option} does not exist")
        self.tmp = Path(tempfile.mkdtemp(dir=self.folder.parent, prefix=f".{self.folder.name}."))

    def commit(self) -> Path:
        """Move the filled folder into place."""
        if self.folder.exists():
            self.folder.rmdir()  # empty, checked at the start
        self.tmp.rename(self.folder)
        return self.folder

    def abandon(self) -> None:
        """Remove what was written (nothing, after a commit)."""
        shutil.rmtree(self.tmp, ignore_errors=True)
