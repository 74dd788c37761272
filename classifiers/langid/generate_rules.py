"""Build ``data/languages.json``, the project's language table, from public rule sources; and the
one translator of GitHub linguist's Ruby regular expressions to Python.

Run at development time, never at import, by the command that writes every file drawn from
linguist (this table and ``corpus/github/data/linguist.json``, from the same checkout):

    python -m corpus.github.generate_linguist --linguist PATH/TO/linguist \
        --names ../shared/data/deepseek_coder_v2_languages.txt

The translator lives here, not beside that command, because the table is below the GitHub walker
in the data flow: ``corpus.github`` may import this package, never the reverse.

Sources (their data, not their code): GitHub linguist's ``lib/linguist/languages.yml`` (extensions,
file names, interpreters, aliases) and ``lib/linguist/heuristics.yml`` (content rules for shared
extensions), plus the file-name patterns of the installed Pygments lexers. The 338 names are joined
to them automatically by name and alias, and through ``aliases.ALIASES`` where that is not enough.
Linguist's regular expressions are Ruby (Onigmo); they are translated to Python ``re`` here and any
that cannot be translated are left out and listed, so the runtime never compiles Ruby syntax.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import warnings
from pathlib import Path
from typing import Any

import pygments
import regex
import yaml
from pygments.lexers import get_all_lexers

from classifiers.langid.aliases import ALIASES

DATA_FILE = Path(__file__).parent / "data" / "languages.json"

_POSIX_CLASSES = {
    "alpha": "a-zA-Z",
    "digit": "0-9",
    "alnum": "a-zA-Z0-9",
    "upper": "A-Z",
    "lower": "a-z",
    "space": r"\s",
    "xdigit": "0-9A-Fa-f",
    "word": r"\w",
    "punct": r"!-/:-@\[-`{-~",
    "blank": r" \t",
    "cntrl": r"\x00-\x1f\x7f",
    "print": r"\x20-\x7e",
}


def ruby_to_python(pattern: str) -> str:
    """Translate one Onigmo pattern to Python ``re`` syntax (compiled with re.MULTILINE).

    Ruby's ``^``/``$`` always match at line breaks (Python's MULTILINE); Ruby's ``m`` flag is
    Python's DOTALL; ``\\h`` is a hex digit; ``\\z`` and ``\\Z`` differ in Python; a global inline
    flag in the middle of a pattern becomes a scoped group, which Python 3.11 requires. Raises
    ValueError for what ``re`` cannot express (Unicode properties, negated POSIX classes).
    """
    out: list[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if nxt == "h":
                out.append("[0-9a-fA-F]")
            elif nxt == "H":
                out.append("[^0-9a-fA-F]")
            elif nxt == "z":
                out.append(r"\Z")
            elif nxt == "Z":
                out.append(r"(?=\n?\Z)")
            elif nxt == "k" and i + 2 < n and pattern[i + 2] == "<":
                end = pattern.index(">", i)
                out.append(f"(?P={pattern[i + 3 : end]})")
                i = end + 1
                continue
            elif nxt in "pP" and i + 2 < n and pattern[i + 2] == "{":
                raise ValueError("unicode property classes are not supported by re")
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if c == "[" and pattern.startswith("[:", i):
            end = pattern.find(":]", i)
            name = pattern[i + 2 : end]
            if end > 0 and name.lstrip("^") in _POSIX_CLASSES:
                if name.startswith("^"):
                    raise ValueError("negated POSIX classes are not supported")
                out.append(_POSIX_CLASSES[name])
                i = end + 2
                continue
        if c == "(" and pattern.startswith("(?<", i) and i + 3 < n and pattern[i + 3] not in "=!":
            out.append("(?P<")
            i += 3
            continue
        if c == "(" and pattern.startswith("(?", i):
            m = re.match(r"\(\?([imx]*)(-[imx]+)?([:)])", pattern[i:])
            if m and (m.group(1) or m.group(2)):
                on = m.group(1).replace("m", "s")
                off = (m.group(2) or "").replace("m", "s")
                if m.group(3) == ":":
                    out.append(f"(?{on}{off}:")
                    i += m.end()
                    continue
                # a global flag switch: scope it over the rest of the enclosing group
                rest_start = i + m.end()
                depth = 0
                j = rest_start
                while j < n:
                    if pattern[j] == "\\":
                        j += 2
                        continue
                    if pattern[j] == "(":
                        depth += 1
                    elif pattern[j] == ")":
                        if depth == 0:
                            break
                        depth -= 1
                    j += 1
                inner = ruby_to_python(pattern[rest_start:j])
                out.append(f"(?{on}{off}:{inner})")
                i = j
                continue
        out.append(c)
        i += 1
    return "".join(out)


def read_linguist_file(linguist: Path, name: str) -> str:
    """``lib/linguist/NAME`` of a linguist checkout, of its ``lib/linguist`` folder itself, or of a
    bare mirror, which has no work tree (read from HEAD)."""
    for path in (linguist / "lib" / "linguist" / name, linguist / name):
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return subprocess.run(
        ["git", "--git-dir", str(linguist), "show", f"HEAD:lib/linguist/{name}"],
        check=True,
        capture_output=True,
        encoding="utf-8",
    ).stdout


def linguist_commit(linguist: Path) -> str:
    """The commit a linguist checkout or mirror is at, or "" when git cannot say."""
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        return subprocess.run(
            ["git", "-C", str(linguist), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    return ""


def _union(patterns: str | list[str]) -> str:
    if isinstance(patterns, str):
        return ruby_to_python(patterns)
    return "|".join(f"(?:{ruby_to_python(p)})" for p in patterns)


def _paper_names(path: Path) -> list[str]:
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(names) != len(set(names)):
        raise SystemExit(f"{path}: duplicate names")
    return names


def _pygments_lexers() -> dict[str, dict[str, Any]]:
    return {
        name: {"aliases": list(aliases), "patterns": list(patterns)}
        for name, aliases, patterns, _mimes in get_all_lexers()
    }


def _join_names(
    paper: list[str], linguist: dict[str, Any], lexers: dict[str, dict[str, Any]]
) -> dict[str, dict[str, list[str]]]:
    """Which linguist languages and Pygments lexers feed each of the paper's names."""
    exact = {n.lower(): n for n in linguist}
    by_alias: dict[str, str] = {}
    for n, d in linguist.items():
        for a in d.get("aliases") or []:
            by_alias.setdefault(a.lower(), n)
    pyg_exact = {n.lower(): n for n in lexers}
    joined: dict[str, dict[str, list[str]]] = {}
    claimed: set[str] = set()
    for p in paper:
        entry = ALIASES.get(p, {})
        lng = list(entry.get("linguist", []))
        if not lng and not entry.get("extensions") and p.lower() in exact:
            lng = [exact[p.lower()]]
        pyg = list(entry.get("pygments", []))
        if not pyg and not entry.get("no_pygments") and p.lower() in pyg_exact:
            pyg = [pyg_exact[p.lower()]]
        joined[p] = {"linguist": lng, "pygments": pyg}
        claimed.update(lng)
    # second pass: names still without a linguist source take one by linguist alias
    for p in paper:
        entry = ALIASES.get(p, {})
        if joined[p]["linguist"] or entry.get("extensions") or entry.get("linguist"):
            continue
        cand = by_alias.get(p.lower())
        if cand and cand not in claimed:
            joined[p]["linguist"] = [cand]
            claimed.add(cand)
    return joined


def build(linguist_dir: Path, names_file: Path, commit: str) -> dict[str, Any]:
    """The table from a linguist checkout at `commit` (see `linguist_commit`) and the name list."""
    languages = yaml.safe_load(read_linguist_file(linguist_dir, "languages.yml"))
    heuristics = yaml.safe_load(read_linguist_file(linguist_dir, "heuristics.yml"))
    lexers = _pygments_lexers()
    paper = _paper_names(names_file)
    joined = _join_names(paper, languages, lexers)

    label_of: dict[str, str] = {}  # linguist language -> our label
    for p, src in joined.items():
        for ln in src["linguist"]:
            label_of[ln] = p
    for ln in languages:
        label_of.setdefault(ln, ln)

    labels: dict[str, dict[str, Any]] = {}

    def entry(label: str) -> dict[str, Any]:
        return labels.setdefault(
            label,
            {
                "in_list": label in joined,
                "linguist": [],
                "pygments": [],
                "extensions": [],
                "filenames": [],
                "patterns": [],
                "interpreters": [],
                "aliases": [],
                "primary_extensions": [],
            },
        )

    for ln, d in languages.items():
        e = entry(label_of[ln])
        e["linguist"].append(ln)
        e["extensions"] += [x.lower() for x in d.get("extensions") or []]
        e["primary_extensions"] += [x.lower() for x in (d.get("extensions") or [])[:1]]
        e["filenames"] += d.get("filenames") or []
        e["interpreters"] += d.get("interpreters") or []
        e["aliases"] += [ln.lower()] + [a.lower() for a in d.get("aliases") or []]

    for p in paper:
        e = entry(p)
        e["aliases"].append(p.lower())
        e["aliases"] += ALIASES.get(p, {}).get("modelines", [])
        for lexer in joined[p]["pygments"]:
            if lexer not in lexers:
                raise SystemExit(f"aliases.py: {p}: no Pygments lexer named {lexer!r}")
            e["pygments"].append(lexer)
            e["aliases"] += [a.lower() for a in lexers[lexer]["aliases"]]
            if joined[p]["linguist"]:
                continue  # linguist's rules are richer; Pygments only names the lexer here
            for pat in lexers[lexer]["patterns"]:
                if re.fullmatch(r"\*\.[A-Za-z0-9_+.-]+", pat):
                    e["extensions"].append(pat[1:].lower())
                elif not any(ch in pat for ch in "*?["):
                    e["filenames"].append(pat)
                else:
                    e["patterns"].append(pat)

    # extension and file-name claims of the alias table are exclusive
    for p, entry_ in ALIASES.items():
        for key in ("extensions", "filenames"):
            for value in entry_.get(key, []):
                for label, e in labels.items():
                    if label != p and value in e[key]:
                        e[key].remove(value)
                if value not in labels[p][key]:
                    labels[p][key].append(value)

    for e in labels.values():
        for key in (
            "linguist",
            "pygments",
            "extensions",
            "filenames",
            "patterns",
            "interpreters",
            "aliases",
            "primary_extensions",
        ):
            e[key] = sorted(set(e[key]))

    named = {k: _union(v) for k, v in (heuristics.get("named_patterns") or {}).items()}
    skipped: list[str] = []

    def rule_json(rule: dict[str, Any]) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        try:
            if "pattern" in rule:
                out["pattern"] = _union(rule["pattern"])
            if "negative_pattern" in rule:
                out["negative_pattern"] = _union(rule["negative_pattern"])
            if "named_pattern" in rule:
                out["pattern"] = named[rule["named_pattern"]]
            for key in ("pattern", "negative_pattern"):
                if key in out:
                    # checked with both engines: `regex` runs them, `re` is the stricter grammar
                    regex.compile(out[key], regex.MULTILINE | regex.VERSION0)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", FutureWarning)
                        re.compile(out[key], re.MULTILINE)
        except (ValueError, re.error, regex.error) as err:
            skipped.append(f"{rule.get('language')}: {err}")
            return None
        if "and" in rule:
            parts = [rule_json(r) for r in rule["and"]]
            if any(p is None for p in parts):
                return None
            out["and"] = parts
        return out

    disambiguations = []
    for block in heuristics["disambiguations"]:
        rules = []
        for rule in block["rules"]:
            lang = rule["language"]
            langs = lang if isinstance(lang, list) else [lang]
            body = rule_json(rule)
            if body is None:
                continue
            body["labels"] = sorted({label_of.get(x, x) for x in langs})
            rules.append(body)
        disambiguations.append({"extensions": [x.lower() for x in block["extensions"]], "rules": rules})

    missing = [
        p
        for p in paper
        if not (
            labels[p]["extensions"]
            or labels[p]["filenames"]
            or labels[p]["patterns"]
            or labels[p]["interpreters"]
        )
    ]
    return {
        "sources": {
            "linguist": f"github-linguist/linguist {commit} lib/linguist/languages.yml, heuristics.yml".strip(),
            "pygments": f"pygments {pygments.__version__} lexer file-name patterns",
        },
        "names": paper,
        "labels": dict(sorted(labels.items())),
        "heuristics": disambiguations,
        "report": {"untranslated_heuristics": skipped, "names_without_name_rule": missing},
    }


def table_text(table: dict[str, Any]) -> str:
    """The table as written to ``data/languages.json``."""
    return json.dumps(table, indent=0, sort_keys=False, ensure_ascii=False) + "\n"


def summary(table: dict[str, Any]) -> str:
    """One line for the person regenerating: sizes, and what could not be carried over."""
    rep = table["report"]
    return (
        f"{len(table['names'])} names, {len(table['labels'])} labels, {len(table['heuristics'])} heuristic blocks; "
        f"{len(rep['untranslated_heuristics'])} untranslated patterns; "
        f"names without a name rule: {rep['names_without_name_rule']}"
    )
