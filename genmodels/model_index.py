"""What the zoo holds, readable without importing torch: a JSON index beside this file.

``priorworks models`` only needs names, declared capabilities and parameter counts, but reading
them from the classes imports torch and Lightning (~5 s). The index is written from the live
registry (``python -m genmodels.model_index``, or ``make model-index``) and a test fails when
it no longer matches the classes, so it cannot drift silently.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

INDEX_PATH = Path(__file__).with_name("model_index.json")
INDEX_SHAPE = (1, 28, 28)  # the image shape the parameter counts are given for


@dataclass(frozen=True)
class RegisteredModel:
    """What a model class declares (``genmodels.registry.list_models`` reads it from them)."""

    name: str
    family: str
    likelihood: str
    capabilities: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class ModelInfo(RegisteredModel):
    params: int  # learned numbers at the default config for INDEX_SHAPE images


def read_index(path: Path = INDEX_PATH) -> list[ModelInfo]:
    """The committed index, sorted by name; a missing or malformed file names itself."""
    try:
        rows = json.loads(path.read_text())["models"]
        return [ModelInfo(**{**row, "capabilities": tuple(row["capabilities"])}) for row in rows]
    except (OSError, KeyError, TypeError, ValueError) as err:
        raise RuntimeError(
            f"model index {path} is unreadable ({err}); rebuild it with `make model-index`"
        ) from err


def build_index() -> list[ModelInfo]:
    """The index as the registered classes declare it today (imports every family)."""
    from genmodels.registry import count_parameters, list_models

    return [
        ModelInfo(**asdict(info), params=count_parameters(info.name, INDEX_SHAPE))
        for info in list_models()
    ]


def index_text(models: list[ModelInfo]) -> str:
    return json.dumps({"models": [asdict(m) for m in models]}, indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="write (or --check) genmodels/model_index.json")
    parser.add_argument("--check", action="store_true", help="exit 1 if the index is stale")
    args = parser.parse_args(argv)
    text = index_text(build_index())
    if args.check:
        stale = not INDEX_PATH.exists() or INDEX_PATH.read_text() != text
        print(f"{INDEX_PATH}: {'stale; run make model-index' if stale else 'up to date'}")
        return int(stale)
    INDEX_PATH.write_text(text)
    print(f"wrote {INDEX_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
