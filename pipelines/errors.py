"""Errors of the pipeline layer."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

from genmodels.errors import PriorworksError


class SpecError(PriorworksError):
    """A pipeline spec that does not validate: names the key, the problem and the allowed values."""


class StoreError(PriorworksError):
    """The MLflow store a command reads from does not exist."""


def _chain(err: BaseException) -> list[BaseException]:
    """``err`` and the exceptions it was raised from or while handling, outermost first."""
    seen: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def disk_full(err: BaseException, store: Path) -> str | None:
    """What to tell the user when ``err`` (or what caused it) is a full disk: the file it hit,
    the space left there and under the store; None for any other error."""
    full = None
    for link in _chain(err):
        if isinstance(link, OSError) and link.errno == errno.ENOSPC:
            full = Path(link.filename) if link.filename else store
            break
        if "database or disk is full" in str(link) or "No space left on device" in str(link):
            full = store
            break
    if full is None:
        return None
    where = full if full.exists() else next((p for p in full.parents if p.exists()), Path("."))
    free_mb = shutil.disk_usage(where).free / 2**20
    return (
        f"no space left on the device holding {full} ({free_mb:.0f} MB free): free some space "
        "and run the command again (a training interrupted by it resumes from its last "
        "checkpoint; runs recorded before are intact)"
    )


_UNREACHABLE = (
    "Max retries exceeded",
    "Connection refused",
    "Failed to establish a new connection",
)


def server_unreachable(err: BaseException, uri: str) -> str | None:
    """What to tell the user when ``err`` (or what caused it) is the tracking server at ``uri``
    not answering; None for any other error or a store that is not a server."""
    if not uri.startswith(("http://", "https://")):
        return None
    for link in _chain(err):
        text = str(link)
        if any(marker in text for marker in _UNREACHABLE):
            return (
                f"the tracking server {uri} does not answer: start it again (make "
                "tracking-server) and rerun the same command. A training it interrupted "
                "resumes from its last checkpoint; everything recorded before is kept on the "
                "server, where this run stays RUNNING"
            )
    return None
