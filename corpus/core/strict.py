"""The one strict config base, and the one way a config file becomes a validated model.

Every config section of every package derives from `StrictModel`: an unknown key is an error, never
a silently ignored typo, and assignments are validated too (recipes are resolved in place after
loading). Loading goes through `load_yaml` and `validate`, so every recipe, training recipe and
standalone config file reports a mistake the same way: one line naming the file, the dotted key and
what is wrong — pydantic's multi-line report is for developers, not for a user fixing a recipe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from corpus.core.errors import UserError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def error_line(source: str | None, err: ValidationError, key_prefix: str = "") -> str:
    """`source: dotted.key: what is wrong`, for the first error (and how many more there are).

    With no `source` the values came from command-line options: `--the-option: what is wrong`.
    """
    first = err.errors()[0]
    if source is None:
        loc = "--" + ("-".join(str(p) for p in first["loc"]).replace("_", "-") or "options")
    else:
        loc = key_prefix + ".".join(str(p) for p in first["loc"]) or "(top level)"
    kind = first["type"]
    if kind == "extra_forbidden":
        what = "unknown key"
    elif kind == "missing":
        what = "required key is missing"
    else:
        what = first["msg"]
        if "input" in first and kind not in ("value_error", "assertion_error"):
            what += f" (got {_short_repr(first['input'])})"
    more = f" (and {len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return f"{loc}: {what}{more}" if source is None else f"{source}: {loc}: {what}{more}"


def _short_repr(value: Any, limit: int = 80) -> str:
    """A value as the user wrote it, cut short: a section pasted in the wrong place can be huge."""
    if isinstance(value, dict | list) and len(value) > 8:
        return f"a {type(value).__name__} of {len(value)} items"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validate(model: type[M], raw: Any, source: str | None, key_prefix: str = "") -> M:
    """`model.model_validate(raw)`, with a user's mistake raised as a one-line `UserError`."""
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        raise UserError(error_line(source, e, key_prefix)) from None


#: values a YAML file may expand to through its aliases (a few-hundred-byte "billion laughs"
#: file expands to 10^9; a real recipe to a few thousand)
MAX_YAML_VALUES = 1_000_000


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last one
    silently) and a document whose aliases expand it beyond `MAX_YAML_VALUES` values."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen and key_node.tag != "tag:yaml.org,2002:merge":
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice in one mapping", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _StrictLoader.construct_mapping)


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many values `node` stands for once every alias is expanded (shared nodes counted once
    per use, computed once each)."""
    known = memo.get(id(node))
    if known is not None:
        return known
    memo[id(node)] = 1  # a recursive alias counts once instead of looping
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(child, memo) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    else:
        size = 1
    memo[id(node)] = min(size, MAX_YAML_VALUES + 1)
    return memo[id(node)]


def parse_yaml(text: str, source: str) -> Any:
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}) > MAX_YAML_VALUES:
            raise UserError(f"{source}: aliases expand it to more than {MAX_YAML_VALUES:,} values; refusing")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load_yaml(path: str | Path, what: str = "recipe") -> Any:
    """The parsed content of a YAML file; a missing, unreadable or malformed file is a `UserError`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: {what} not found")
    try:
        return parse_yaml(path.read_text(encoding="utf-8"), str(path))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise UserError(f"{path}:{where}: not valid YAML ({getattr(e, 'problem', None) or e})") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None


def load_yaml_mapping(path: str | Path, what: str = "recipe") -> dict[str, Any]:
    raw = load_yaml(path, what)
    if not isinstance(raw, dict):
        raise UserError(f"{path}: a {what} must be a YAML mapping at the top level")
    return raw


def set_dotted(raw: dict[str, Any], key: str, value: Any, source: str) -> None:
    """Set `a.b.c` in a loaded mapping (a command-line override), creating sections on the way."""
    *parents, leaf = key.split(".")
    node: Any = raw
    for part in parents:
        if not isinstance(node, dict):
            raise UserError(f"{source}: cannot set {key}: {part!r} is not a section")
        node = node.setdefault(part, {})
    if not isinstance(node, dict):
        raise UserError(f"{source}: cannot set {key}: {parents[-1]!r} is not a section")
    node[leaf] = value
