"""The comments of the bundled specs that list a key's allowed values list exactly the values the
code allows (data sets, models, the Literal choices of the sections), so they cannot go stale."""

from __future__ import annotations

import re
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import pytest
from pydantic import BaseModel

from genmodels.data.catalog import DATASETS
from genmodels.registry import list_models
from pipelines.spec.loading import SPEC_DIR, load_spec
from pipelines.spec.pipeline import PipelineSpec
from tasks.registry import get_task

KEY = re.compile(r"^(?P<indent> *)(?P<key>[\w-]+):(?P<rest>[^#]*)(#(?P<comment>.*))?$")
COMMENT_ONLY = re.compile(r"^ +#(?P<comment>.*)$")
TOKEN = r"[\w.+-]+(?: \([^)]*\))?"
ALTERNATIVES = re.compile(rf"{TOKEN}(?:\s*\|\s*{TOKEN})+")


def listed_alternatives(text: str) -> dict[str, list[str]]:
    """``{dotted key: [values]}`` for every key whose comment (with the comment-only lines that
    continue it) holds an ``a | b | c`` list."""
    found: dict[str, list[str]] = {}
    path: list[tuple[int, str]] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = KEY.match(line)
        if not m:
            continue
        indent = len(m["indent"])
        path = [(d, k) for d, k in path if d < indent] + [(indent, m["key"])]
        comment = m["comment"] or ""
        for follow in lines[i + 1 :]:
            c = COMMENT_ONLY.match(follow)
            if not c or not comment:
                break
            comment += " " + c["comment"]
        run = ALTERNATIVES.search(comment)
        if run:
            values = [
                re.sub(r" \(.*\)", "", v).strip().rstrip(".,;:") for v in run.group(0).split("|")
            ]
            found[".".join(k for _, k in path)] = values
    return found


def _literal_values(annotation: Any) -> set[str]:
    if get_origin(annotation) is Literal:
        return {str(a) for a in get_args(annotation)}
    if get_origin(annotation) in (list, Union, types.UnionType):
        return set().union(*(_literal_values(a) for a in get_args(annotation)))
    return set()


def allowed_values(key: str, task: str) -> set[str]:
    if key == "data.name":
        return set(DATASETS)
    if key == "model.name":
        return {m.name for m in list_models()}
    model: Any = PipelineSpec
    annotation: Any = None
    for part in key.split("."):
        if model is PipelineSpec and part == "task":
            model = get_task(task).spec
            continue
        annotation = model.model_fields[part].annotation
        inner = [a for a in (annotation, *get_args(annotation)) if isinstance(a, type)]
        model = next((a for a in inner if issubclass(a, BaseModel)), None)
    return _literal_values(annotation)


SPECS = sorted(SPEC_DIR.glob("*.yaml"))


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_listed_values_are_exactly_the_allowed_ones(path: Path):
    task = load_spec(path).task.name
    for key, listed in listed_alternatives(path.read_text()).items():
        allowed = allowed_values(key, task)
        assert allowed, f"{path.name}: {key} lists values but takes any"
        assert set(listed) == allowed, f"{path.name}: {key} lists {listed}, allowed {allowed}"


def test_the_comment_reader_finds_lists_across_lines_and_misses_nothing_stale():
    text = (
        "task:\n"
        "  score: bpd      # the primary:\n"
        "                  # nll | bpd |\n"
        "                  # layout (coarse)\n"
        "  compressor: png # png | zlib, for the complexity score\n"
        "  select_by: auto # auto | score. score: the primary is `score`\n"
        "data:\n"
        "  name: digits    # no list here\n"
    )
    assert listed_alternatives(text) == {
        "task.score": ["nll", "bpd", "layout"],
        "task.compressor": ["png", "zlib"],
        "task.select_by": ["auto", "score"],
    }
    assert allowed_values("task.compressor", "anomaly") == {"png", "zlib", "jpeg2000"}
