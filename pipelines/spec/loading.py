"""Reading pipeline specs: a YAML file or a bundled spec's name, a preset, ``key=value``
overrides, validation into :class:`~pipelines.spec.pipeline.PipelineSpec`, and error messages that
name every bad key and what is allowed there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from pipelines.errors import SpecError
from pipelines.spec.pipeline import PipelineSpec
from tasks.registry import all_tasks

SPEC_DIR = Path(__file__).parents[1] / "specs"


class _DuplicateKeyError(yaml.YAMLError):
    def __init__(self, key: object, line: int, first: int) -> None:
        super().__init__(
            f"key '{key}' appears twice (first on line {first}); YAML keeps only the last"
        )
        self.line = line


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key that appears twice in one mapping (plain YAML keeps the
    last silently, so half a spec would be ignored)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise _DuplicateKeyError(key, line, seen[key])
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def resolve_spec_path(spec: str | Path) -> Path:
    """A spec is a YAML path or the name of a bundled spec (``anomaly-detect``)."""
    path = Path(spec)
    if path.is_file():
        return path
    bundled = SPEC_DIR / f"{spec}.yaml"
    if bundled.is_file():
        return bundled
    names = sorted(p.stem for p in SPEC_DIR.glob("*.yaml"))
    raise SpecError(f"spec '{spec}' not found: not a file, nor a bundled spec ({', '.join(names)})")


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.max_epochs=3"`` -> ``(["train", "max_epochs"], 3)``; values are parsed as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise SpecError(f"override '{text}' must look like key.subkey=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise SpecError(f"override '{text}': value is not valid YAML ({err})") from None
    return key.strip().split("."), value


def _set_key(tree: dict[str, Any], keys: list[str], value: Any, origin: str) -> None:
    node = tree
    for k in keys[:-1]:
        child = node.setdefault(k, {})
        if not isinstance(child, dict):
            raise SpecError(f"{origin}: '{k}' is not a section")
        node = child
    node[keys[-1]] = value


def apply_overrides(tree: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for text in overrides:
        keys, value = parse_override(text)
        _set_key(tree, keys, value, f"override '{text}'")
    return tree


def apply_preset(tree: dict[str, Any], presets: Any, preset: str, path: Path) -> dict[str, Any]:
    """Apply the spec's ``presets.<preset>`` mapping of dotted keys to values."""
    if not isinstance(presets, dict) or not all(isinstance(v, dict) for v in presets.values()):
        raise SpecError(f"{path}: 'presets' must map preset names to {{dotted.key: value}}")
    if preset not in presets:
        raise SpecError(
            f"{path}: no preset '{preset}'; presets: {', '.join(sorted(presets)) or 'none'}"
        )
    for dotted, value in presets[preset].items():
        _set_key(tree, str(dotted).split("."), value, f"preset '{preset}' key '{dotted}'")
    return tree


def load_spec(
    spec: str | Path, overrides: list[str] | None = None, preset: str | None = None
) -> PipelineSpec:
    """Read a spec, apply a preset (the spec's ``presets`` section, e.g. ``tiny``) and then the
    overrides, and validate. Raises :class:`SpecError` with every problem found."""
    path = resolve_spec_path(spec)
    text = path.read_text()
    try:
        tree = yaml.load(text, Loader=_UniqueKeyLoader)
    except _DuplicateKeyError as err:
        raise SpecError(f"{path}:{err.line}: {err}") from None
    except yaml.YAMLError as err:
        raise SpecError(f"{path}: not valid YAML ({err})") from None
    if tree is None:
        raise SpecError(
            f"{path}: the spec is empty; a spec names at least its task (copy a bundled one from "
            f"{SPEC_DIR})"
        )
    if not isinstance(tree, dict):
        raise SpecError(f"{path}: a spec must be a mapping of sections, got {type(tree).__name__}")
    tree.setdefault("name", path.stem)
    presets = tree.pop("presets", {})
    if preset is not None:
        tree = apply_preset(tree, presets, preset, path)
    tree = apply_overrides(tree, overrides or [])
    try:
        return PipelineSpec.from_tree(tree)
    except ValidationError as err:
        raise SpecError(f"{path}: invalid spec\n" + format_errors(err)) from None


def _fields_at(loc: tuple[Any, ...], task: str | None) -> list[str]:
    model: Any = PipelineSpec
    sections = {name: t.spec for name, t in all_tasks().items()}
    for part in loc:
        if model is PipelineSpec and part == "task" and task in sections:
            model = sections[task]
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = field.annotation
    return list(getattr(model, "model_fields", {}))


def format_errors(err: ValidationError) -> str:
    """One line per problem: ``key: what is wrong``."""
    lines = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"])
        task = None
        if len(loc) > 1 and loc[0] == "task" and loc[1] in all_tasks():
            task, loc = str(loc[1]), (loc[0], *loc[2:])  # drop the union's tag from the key
        key = ".".join(str(p) for p in loc) or "(top level)"
        if e["type"] == "extra_forbidden":
            allowed = _fields_at(loc[:-1], task)
            lines.append(f"  {key}: unknown key; allowed keys here: {', '.join(allowed)}")
        else:
            msg = e["msg"].removeprefix("Value error, ")
            got = "" if e["type"] == "value_error" else f" (got {e.get('input')!r})"
            lines.append(f"  {key}: {msg}{got}")
    return "\n".join(lines)
