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
            what += f" (got {first['input']!r})"
    more = f" (and {len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return f"{loc}: {what}{more}" if source is None else f"{source}: {loc}: {what}{more}"


def validate(model: type[M], raw: Any, source: str | None, key_prefix: str = "") -> M:
    """`model.model_validate(raw)`, with a user's mistake raised as a one-line `UserError`."""
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        raise UserError(error_line(source, e, key_prefix)) from None


def load_yaml(path: str | Path, what: str = "recipe") -> Any:
    """The parsed content of a YAML file; a missing, unreadable or malformed file is a `UserError`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: {what} not found")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
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
