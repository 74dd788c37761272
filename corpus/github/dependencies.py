"""Dependencies between the files of one repository, and the order DeepSeek-Coder puts them in.

Following DeepSeek-Coder V1 §2.2, dependencies are found with regular expressions, and each name is
resolved to a file of the same repository the way its language finds it, because an edge to the
wrong file puts a file before the file it really imports:

- Python (`import`, `from ... import`): relative imports from the importing file's package;
  absolute names first in the importer's folder when that folder is not a package (it is
  `sys.path[0]` for its scripts and tests), then under the package roots (the repository root,
  `src/`, folders named by pyproject.toml, setup.cfg or setup.py), then under any other folder that
  holds a top-level package (closest to the importer first); only then, for files written without
  explicit relative imports, the importer's own package (Python 2's implicit relative import) and,
  for dotted names, any file whose path ends in the name. So a test fixture
  `tests/apps/flask.py` never stands in for `src/flask/__init__.py` outside its own folder.
  Imports under `if TYPE_CHECKING:` and inside string literals (docstring examples) are no edges:
  they never run, and counting them closes cycles that do not exist.
- Java (`import`, by declared package and class, else by path suffix) and references to a type of
  the file's own package, which need no import: a file naming `Foo` depends on its package's
  `Foo.java`.
- C# (`using`) and references to a type declared in the file's namespace or an enclosing one;
  a `using` depends on the files declaring the types it brings in that the file names, or on every
  file of the namespace when it names none of them.
- C and C++ (`#include`): the including file's folder, then the repository's include directories
  (folders named include, inc or src, and the root; the one nearest the including file first),
  then any file whose path ends in the included path.
- Beyond the paper: relative `import`/`require` specifiers (JavaScript, TypeScript) and import
  paths (Go, matched to the repository's package folders by their longest tail of at least two
  parts).

Anything that resolves to no file (the standard library, other packages) is not an edge.

Ordering (the paper's Algorithm 1): within each connected component of the dependency graph,
repeatedly place the unplaced file with the *lowest* in-degree (the number of its not-yet-placed
in-repository dependencies) — so a cycle never blocks — and ties are broken by a seeded key:
ascending `sha256(f"{seed}:{repo}:{path}")`. Only *ready* files are candidates: a file is ready
once every file it imports outside its own strongly connected component (its import cycle) is
placed. On an acyclic graph every file of in-degree 0 is ready, so this is exactly the paper's
order; with cycles, the paper's rule alone would place a file that waits on a cycle before the
cycle's files (its in-degree of 1 beats theirs), and readiness prevents that: no file comes before
a file it imports unless both are in one cycle (`forward_edges` lists the exceptions, and
`coderforge github order-check` reports them for a build). The same seed gives the same order; a
different seed permutes only files that tie.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import posixpath
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator

#: the languages the paper builds repository-level samples for
SAMPLE_LANGUAGES = ("Python", "Java", "C#", "C", "C++")
#: languages beyond the paper's that can be joined too (opt-in through the recipe)
EXTRA_LANGUAGES = ("JavaScript", "TypeScript", "Go")
#: languages whose files may depend on each other (C and C++ share headers, JS and TS modules)
FAMILY = {
    "Python": "python",
    "Java": "java",
    "C#": "csharp",
    "C": "c",
    "C++": "c",
    "JavaScript": "js",
    "TypeScript": "js",
    "Go": "go",
}
COMMENT_PREFIX = {"python": "#", "java": "//", "csharp": "//", "c": "//", "js": "//", "go": "//"}

_EXTENSIONS = {
    ".py": "Python",
    ".java": "Java",
    ".cs": "C#",
    ".c": "C",
    ".h": "C",
    ".cc": "C++",
    ".cpp": "C++",
    ".cxx": "C++",
    ".c++": "C++",
    ".hh": "C++",
    ".hpp": "C++",
    ".hxx": "C++",
    ".h++": "C++",
    ".ipp": "C++",
    ".inl": "C++",
    ".tcc": "C++",
    ".js": "JavaScript",
    ".mjs": "JavaScript",
    ".cjs": "JavaScript",
    ".jsx": "JavaScript",
    ".ts": "TypeScript",
    ".tsx": "TypeScript",
    ".mts": "TypeScript",
    ".cts": "TypeScript",
    ".go": "Go",
}

# Statement patterns, matched at the start of a line (see `_statements`)
_PY_IMPORT = re.compile(r"[ \t]*import[ \t]+([^\n#;]+)")
_PY_FROM = re.compile(r"[ \t]*from[ \t]+(\.*)([\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#;]+)")
_JAVA_IMPORT = re.compile(r"[ \t]*import[ \t]+(?:static[ \t]+)?([\w.]+?)(\.\*)?[ \t]*;")
_CS_USING = re.compile(
    r"[ \t]*(?:global[ \t]+)?using[ \t]+(?:static[ \t]+)?(?:\w+[ \t]*=[ \t]*)?([\w.]+)[ \t]*;"
)
_CS_NAMESPACE = re.compile(r"[ \t]*namespace[ \t]+([\w.]+)")
_C_INCLUDE = re.compile(r"[ \t]*#[ \t]*include[ \t]*[\"<]([^\">\n]+)[\">]")
# JavaScript/TypeScript: relative module specifiers after from / import / require( / import(
_JS_SPECIFIER = re.compile(
    r"""(?:\bfrom|\bimport|\brequire[ \t]*\(|\bimport[ \t]*\()[ \t]*['"](\.{1,2}/[^'"\n]*)['"]"""
)
_JS_EXTENSIONS = (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")
# Go: import "path" and the lines of an import ( ... ) block
_GO_IMPORT_BLOCK = re.compile(r"^import[ \t]*\(([^)]*)\)", re.M)
_GO_IMPORT_LINE = re.compile(r"^import[ \t]+(?:[\w.]+[ \t]+)?\"([^\"\n]+)\"", re.M)
_GO_QUOTED = re.compile(r"\"([^\"\n]+)\"")


def _statements(text: str, keyword: str, *patterns: re.Pattern[str]) -> Iterator[re.Match[str]]:
    """Matches of `patterns` at the start of every line that contains `keyword`.

    Equivalent to a multi-line `^...` search, but the lines are found with `str.find` (a fast C
    scan) instead of trying the regular expression at every character, which is ~20x faster on
    real code where only a few lines import anything."""
    pos = text.find(keyword)
    while pos >= 0:
        start = text.rfind("\n", 0, pos) + 1
        for pattern in patterns:
            m = pattern.match(text, start)
            if m:
                yield m
        end = text.find("\n", pos)
        if end < 0:
            return
        pos = text.find(keyword, end)


def sample_language(path: str, language: str | None) -> str | None:
    """The repository-level language of a file, or None. A tag from language identification wins;
    the extension decides only for files without one."""
    if language:
        return language if language in FAMILY else None
    return _EXTENSIONS.get(posixpath.splitext(path)[1].lower())


def _common_prefix_len(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a.split("/")[:-1], b.split("/")[:-1], strict=False):
        if x != y:
            break
        n += 1
    return n


def _closest(hits: Iterable[str], importer: str) -> list[str]:
    """The hits sharing the longest folder prefix with the importer (all of them on a tie)."""
    hits = sorted(set(hits))
    if len(hits) <= 1:
        return hits
    best = max(_common_prefix_len(p, importer) for p in hits)
    return [p for p in hits if _common_prefix_len(p, importer) == best]


class _SuffixIndex:
    """Files by every dotted suffix of their module name (`a.b.c` -> `c`, `b.c`, `a.b.c`)."""

    def __init__(self) -> None:
        self.by_name: dict[str, list[str]] = defaultdict(list)

    def add(self, parts: list[str], path: str) -> None:
        for k in range(1, len(parts) + 1):
            self.by_name[".".join(parts[-k:])].append(path)

    def find(self, name: str, importer: str) -> list[str]:
        return _closest((p for p in self.by_name.get(name, ()) if p != importer), importer)


def _ignored_spans(text: str, strings: re.Pattern[str], quotes: str) -> list[tuple[int, int]]:
    """(start, end) of every literal that spans lines (a docstring, a text block): a statement
    inside one is text, not code. Comments are matched too, only so that a quote in a comment
    does not open a string."""
    return [m.span() for m in strings.finditer(text) if m.group()[0] in quotes and "\n" in m.group()]


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, disjoint spans covering the same characters (a TYPE_CHECKING block holds strings)."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _inside(spans: list[tuple[int, int]], pos: int) -> bool:
    """Whether `pos` lies in one of the sorted, disjoint `spans`."""
    i = bisect.bisect_right(spans, (pos, 1 << 62)) - 1
    return i >= 0 and spans[i][0] <= pos < spans[i][1]


# Python: comments and string literals, in the order the tokenizer tries them
_PY_LITERALS = re.compile(
    r"#[^\n]*"
    r'|"""[^"\\]*(?:(?:\\[\s\S]|"(?!""))[^"\\]*)*(?:"""|\Z)'
    r"|'''[^'\\]*(?:(?:\\[\s\S]|'(?!''))[^'\\]*)*(?:'''|\Z)"
    r'|"[^"\\\n]*(?:\\[\s\S][^"\\\n]*)*"?'
    r"|'[^'\\\n]*(?:\\[\s\S][^'\\\n]*)*'?"
)
_PY_TYPE_CHECKING = re.compile(
    r"([ \t]*)if[ \t]+(?:[A-Za-z_]\w*\.)*TYPE_CHECKING[ \t]*:[ \t]*(?:#[^\n]*)?$", re.M
)
_PY_COMMENT = re.compile(r"#[^\n]*")
_PY_ABSOLUTE_IMPORT = re.compile(r"^[ \t]*from[ \t]+__future__[ \t]+import[^\n]*\babsolute_import\b", re.M)
# where a project says its packages live: {"": "src"} (setup.py, pyproject), `package_dir = =src`
# (setup.cfg), `where = src` / `where = ["src"]`, find_packages("src"), poetry's `from = "src"`, and
# hatch's `packages = ["src/name"]`
_PY_CONFIG_ROOTS = (
    re.compile(r"""package[-_]dir\s*[=:]\s*\{\s*(?:""|'')\s*[=:]\s*["']([^"'\n]*)["']"""),
    re.compile(r"^[ \t]*package_dir[ \t]*=[ \t]*\n?[ \t]*=[ \t]*([^\s#]+)", re.M),
    re.compile(r"""^[ \t]*where[ \t]*=[ \t]*\[?[ \t]*["']?([\w./-]+)""", re.M),
    re.compile(r"""find_(?:namespace_)?packages\(\s*(?:where\s*=\s*)?["']([^"'\n]+)["']"""),
    re.compile(r"""\bfrom\s*=\s*["']([^"'\n]+)["']"""),
    re.compile(r"""^[ \t]*packages[ \t]*=[ \t]*\[[ \t]*["']([\w.-]+(?:/[\w.-]+)*)/[\w.-]+["']""", re.M),
)
_PY_CONFIG_FILES = ("pyproject.toml", "setup.cfg", "setup.py")


def is_python_config(path: str) -> bool:
    """Whether a file may say where a Python project's packages live."""
    return posixpath.basename(path) in _PY_CONFIG_FILES


def _type_checking_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of the bodies of `if TYPE_CHECKING:` blocks: imports there only feed the
    type checker and are never executed (an `else:` branch, which runs, ends the body)."""
    spans = []
    for m in _statements(text, "TYPE_CHECKING", _PY_TYPE_CHECKING):
        indent = len(m.group(1))
        start = end = m.end()
        for line in re.finditer(r"\n([ \t]*)([^\n]*)", text[start:]):
            body = line.group(2)
            if body and not body.startswith("#") and len(line.group(1)) <= indent:
                break
            end = start + line.end()
        spans.append((start, end))
    return spans


def _python_config_roots(configs: dict[str, str]) -> set[str]:
    """The package folders a project's configuration names, relative to the repository."""
    roots: set[str] = set()
    for path, text in configs.items():
        here = posixpath.dirname(path)
        for pattern in _PY_CONFIG_ROOTS:
            for m in pattern.finditer(text):
                root = posixpath.normpath(posixpath.join(here, m.group(1).strip().strip("/")))
                if root == ".":
                    root = ""
                if not root.startswith(".."):
                    roots.add(root)
    return roots


class _PythonModules:
    """The repository's modules by dotted path, and where absolute imports start from."""

    def __init__(self, paths: Iterable[str], configs: dict[str, str]) -> None:
        self.modules: dict[str, str] = {}  # "src/flask/app" -> "src/flask/app.py"
        packages: set[str] = set()
        for path in sorted(paths):
            stem = posixpath.splitext(path)[0]
            if posixpath.basename(stem) == "__init__":
                folder = posixpath.dirname(stem)
                packages.add(folder)
                self.modules[folder] = path  # a package wins over a module of the same name
            else:
                self.modules.setdefault(stem, path)
        self.packages = packages
        self.suffixes = _SuffixIndex()
        for stem, path in self.modules.items():
            if stem:
                self.suffixes.add(stem.split("/"), path)
        holders = {posixpath.dirname(p) for p in packages if p and posixpath.dirname(p) not in packages}
        #: the repository root, src/ and the configured folders: where the project's own
        #: packages are, so a same-named module elsewhere never shadows them
        self.primary = sorted({"", "src", *_python_config_roots(configs)})
        #: other folders holding a top-level package (test apps, examples, monorepo members), by
        #: the names found directly in them: a name is looked up only where it can be
        self.secondary: dict[str, list[str]] = defaultdict(list)
        others = holders - set(self.primary)
        for stem in self.modules:
            if posixpath.dirname(stem) in others:
                self.secondary[posixpath.basename(stem)].append(posixpath.dirname(stem))

    def at(self, folder: str, name: str) -> str | None:
        """The file of module `name` when `folder` is on the import path."""
        return self.modules.get(posixpath.join(folder, name.replace(".", "/")))

    def absolute(self, name: str, importer: str, implicit: bool) -> list[str]:
        """The files an absolute import of `name` loads, searched in the interpreter's order:
        the importer's folder when it is a script folder (sys.path[0]), the project's package
        roots, other package roots, then the guesses (own package, dotted-name suffix)."""
        here = posixpath.dirname(importer)
        if here not in self.packages:
            hit = self.at(here, name)
            if hit and hit != importer:
                return [hit]
        for roots in (self.primary, self.secondary.get(name.split(".", 1)[0], ())):
            hits = [h for r in roots if (h := self.at(r, name)) and h != importer]
            if hits:
                return _closest(hits, importer)
        if implicit and here in self.packages:
            hit = self.at(here, name)
            if hit and hit != importer:
                return [hit]
        if "." in name:  # a dotted name is specific enough to find wherever sys.path was pointed
            return self.suffixes.find(name, importer)
        return []

    def relative(self, dots: int, module: str, importer: str) -> str | None:
        """The module path (folders joined by "/") that `from <dots><module> import ...` names in
        the importer's package, or None when the dots climb above the repository."""
        package = posixpath.dirname(importer).split("/") if posixpath.dirname(importer) else []
        up = dots - 1
        if up > len(package):
            return None
        base = "/".join(package[: len(package) - up])
        return "/".join(p for p in (base, module.replace(".", "/")) if p)


def _python_edges(files: dict[str, str], configs: dict[str, str]) -> dict[str, set[str]]:
    configs = {**{p: t for p, t in files.items() if is_python_config(p)}, **configs}
    mods = _PythonModules(files, configs)
    deps: dict[str, set[str]] = {}
    for path, text in files.items():
        skip = _type_checking_spans(text) if "TYPE_CHECKING" in text else []
        if '"""' in text or "'''" in text:
            skip += _ignored_spans(text, _PY_LITERALS, "\"'")
        skip = _merged(skip)
        froms = [m for m in _statements(text, "import", _PY_FROM) if not _inside(skip, m.start())]
        # code that writes explicit relative imports, or asks for absolute ones, was written for
        # Python 3's rules: a bare name never means a module of its own package
        implicit = not any(m.group(1) for m in froms) and not (
            "absolute_import" in text and _PY_ABSOLUTE_IMPORT.search(text)
        )
        found: set[str] = set()
        for m in _statements(text, "import", _PY_IMPORT):
            if _inside(skip, m.start()):
                continue
            for part in m.group(1).split(","):
                words = part.split()
                if words:
                    found.update(mods.absolute(words[0].rstrip("\\"), path, implicit))
        for m in froms:
            dots, module = m.group(1), m.group(2)
            listed = _PY_COMMENT.sub("", m.group(3)).strip("()").replace("\n", " ")
            names = [n.split()[0] for n in listed.split(",") if n.split()]
            names = [n for n in names if n == "*" or n.isidentifier()]
            if dots:
                base = mods.relative(len(dots), module, path)
                if base is None:
                    continue
                whole = mods.modules.get(base)
                for n in names:
                    sub = mods.modules.get(f"{base}/{n}" if base else n) if n != "*" else None
                    hit = sub or whole
                    if hit and hit != path:
                        found.add(hit)
            elif module:
                whole_hits: list[str] | None = None
                for n in names:
                    subs = mods.absolute(f"{module}.{n}", path, implicit) if n != "*" else []
                    if not subs:  # a name defined in the module itself, not a submodule
                        if whole_hits is None:
                            whole_hits = mods.absolute(module, path, implicit)
                        subs = whole_hits
                    found.update(subs)
        found.discard(path)
        deps[path] = found
    return deps


# Java and C#: comments, string and character literals (text blocks and verbatim strings too)
_JAVA_LITERALS = re.compile(
    r"//[^\n]*|/\*[\s\S]*?(?:\*/|\Z)"
    r'|"""[\s\S]*?(?:"""|\Z)'
    r'|"[^"\\\n]*(?:\\.[^"\\\n]*)*"?'
    r"|'[^'\\\n]*(?:\\.[^'\\\n]*)*'?"
)
_CS_LITERALS = re.compile(
    r"//[^\n]*|/\*[\s\S]*?(?:\*/|\Z)"
    r'|"""[\s\S]*?(?:"""|\Z)'
    r'|@"(?:[^"]|"")*"?'
    r'|"[^"\\\n]*(?:\\.[^"\\\n]*)*"?'
    r"|'[^'\\\n]*(?:\\.[^'\\\n]*)*'?"
)
_IDENTIFIER = re.compile(r"[A-Za-z_$][\w$]*")
_JAVA_PACKAGE = re.compile(r"^[ \t]*package[ \t]+([\w.]+)[ \t]*;", re.M)
_CS_TYPE = re.compile(
    r"\b(?:class|struct|interface|enum|record(?:[ \t]+(?:class|struct))?)[ \t]+([A-Za-z_]\w*)"
)
# what can follow `class`/`struct` without naming a type (generic constraints)
_CS_NOT_TYPES = frozenset({"where", "new", "class", "struct"})


def _code_only(text: str, literals: re.Pattern[str]) -> str:
    """The text with comments and literals blanked: names there are no references."""
    return literals.sub(" ", text)


def _java_edges(files: dict[str, str]) -> dict[str, set[str]]:
    classes = _SuffixIndex()
    packages = _SuffixIndex()
    code: dict[str, str] = {}
    package_of: dict[str, str] = {}
    by_package: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path, text in files.items():
        parts = path.rsplit(".", 1)[0].split("/")
        classes.add(parts, path)
        packages.add(parts[:-1], path)
        code[path] = _code_only(text, _JAVA_LITERALS)
        m = _JAVA_PACKAGE.search(code[path])
        # the default package is per folder: unrelated scripts share no package
        package_of[path] = m.group(1) if m else f"/{posixpath.dirname(path)}"
        by_package[package_of[path]][parts[-1]].append(path)
    deps: dict[str, set[str]] = {}
    for path, text in files.items():
        found: set[str] = set()
        names = set(_IDENTIFIER.findall(code[path]))
        for m in _statements(text, "import", _JAVA_IMPORT):
            name, star = m.group(1), m.group(2)
            if star and name in by_package:
                types = by_package[name]
                used = [p for t in names & types.keys() for p in types[t]]
                hits = used or [p for ps in types.values() for p in ps]
            elif star:
                hits = packages.find(name, path) or classes.find(name, path)
            else:
                package, _, cls = name.rpartition(".")
                outer, _, outer_cls = package.rpartition(".")
                # a class of a package; else a static member or nested type of one
                hits = (
                    _closest(by_package.get(package, {}).get(cls, ()), path)
                    or _closest(by_package.get(outer, {}).get(outer_cls, ()), path)
                    or classes.find(name, path)
                    or classes.find(package, path)
                )
            found.update(hits)
        # a type of the same package needs no import: naming it is the dependency
        same = by_package[package_of[path]]
        for t in names & same.keys():
            found.update(_closest((p for p in same[t] if p != path), path))
        found.discard(path)
        deps[path] = found
    return deps


def _csharp_edges(files: dict[str, str]) -> dict[str, set[str]]:
    declares: dict[str, set[str]] = defaultdict(set)
    # namespace -> type name -> the files declaring it (partial types live in several)
    types: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    namespaces: dict[str, list[str]] = {}
    code: dict[str, str] = {}
    for path, text in files.items():
        code[path] = _code_only(text, _CS_LITERALS)
        namespaces[path] = [m.group(1) for m in _statements(code[path], "namespace", _CS_NAMESPACE)] or [""]
        declared = {m.group(1) for m in _CS_TYPE.finditer(code[path])} - _CS_NOT_TYPES
        for ns in namespaces[path]:
            declares[ns].add(path)
            for t in declared:
                types[ns][t].add(path)
    deps: dict[str, set[str]] = {}
    for path, text in files.items():
        found: set[str] = set()
        names = set(_IDENTIFIER.findall(code[path]))
        # a file sees the types of its namespace, of every enclosing one and of the global one
        visible = {""}
        for ns in namespaces[path]:
            parts = ns.split(".") if ns else []
            visible.update(".".join(parts[:k]) for k in range(1, len(parts) + 1))
        for ns in visible:
            for t in names & types[ns].keys():
                found.update(types[ns][t])
        for m in _statements(text, "using", _CS_USING):
            name = m.group(1)
            ns = name if name in declares else name.rsplit(".", 1)[0]
            used = [p for t in names & types[ns].keys() for p in types[ns][t]] if ns in types else []
            found.update(used or declares.get(ns) or ())
        found.discard(path)
        deps[path] = found
    return deps


def _c_edges(files: dict[str, str]) -> dict[str, set[str]]:
    by_suffix: dict[str, list[str]] = defaultdict(list)
    folders: set[str] = {""}
    for path in files:
        parts = path.split("/")
        for k in range(1, len(parts) + 1):
            by_suffix["/".join(parts[-k:])].append(path)
        for k in range(1, len(parts)):
            folders.add("/".join(parts[:k]))
    # where a build's -I flags usually point: include/, inc/, src/ (at any depth) and the root
    include_dirs = {f for f in folders if f == "" or posixpath.basename(f) in ("include", "inc", "src")}
    deps: dict[str, set[str]] = {}
    for path, text in files.items():
        found: set[str] = set()
        here = posixpath.dirname(path)
        for m in _statements(text, "include", _C_INCLUDE):
            inc = m.group(1).strip()
            local = posixpath.normpath(posixpath.join(here, inc))
            if local in files and local != path:
                found.add(local)
                continue
            name = posixpath.normpath(inc)
            tails = [p for p in by_suffix.get(name.lstrip("./"), ()) if p != path]
            # the files that are `name` inside an include directory; else any file ending in it
            hits = [p for p in tails if p == name or p[: -len(name) - 1] in include_dirs]
            found.update(_closest(hits or tails, path))
        deps[path] = found
    return deps


def _lines_containing(text: str, keyword: str) -> Iterator[tuple[int, int]]:
    """(start, end) of every line that contains `keyword`, found with `str.find`."""
    pos = text.find(keyword)
    while pos >= 0:
        start = text.rfind("\n", 0, pos) + 1
        end = text.find("\n", pos)
        if end < 0:
            yield start, len(text)
            return
        yield start, end
        pos = text.find(keyword, end)


def _js_edges(files: dict[str, str]) -> dict[str, set[str]]:
    deps: dict[str, set[str]] = {}
    for path, text in files.items():
        found: set[str] = set()
        here = posixpath.dirname(path)
        for start, end in _lines_containing(text, "./"):  # every relative specifier has one
            for m in _JS_SPECIFIER.finditer(text, start, end):
                base = posixpath.normpath(posixpath.join(here, m.group(1)))
                stem = (
                    base[: -len(posixpath.splitext(base)[1])]
                    if base.endswith((".js", ".jsx", ".mjs"))
                    else None
                )
                candidates = [base, *(base + e for e in _JS_EXTENSIONS)]
                candidates += [f"{base}/index{e}" for e in _JS_EXTENSIONS]
                if stem:  # TypeScript's ESM style: "./a.js" names the source file a.ts
                    candidates += [stem + e for e in _JS_EXTENSIONS]
                hit = next((c for c in candidates if c in files and c != path), None)
                if hit:
                    found.add(hit)
        deps[path] = found
    return deps


def _go_edges(files: dict[str, str]) -> dict[str, set[str]]:
    by_dir: dict[str, list[str]] = defaultdict(list)
    for path in files:
        by_dir[posixpath.dirname(path)].append(path)
    suffixes: dict[str, list[str]] = defaultdict(list)  # "a/b" -> folders ending in a/b
    for folder in by_dir:
        parts = folder.split("/") if folder else []
        for k in range(1, len(parts) + 1):
            suffixes["/".join(parts[-k:])].append(folder)
    deps: dict[str, set[str]] = {}
    for path, text in files.items():
        found: set[str] = set()
        imports = [m.group(1) for m in _GO_IMPORT_LINE.finditer(text)]
        for block in _GO_IMPORT_BLOCK.finditer(text):
            imports += _GO_QUOTED.findall(block.group(1))
        for spec in imports:
            parts = spec.split("/")
            # the longest tail of the import path that names a folder here (two parts at least,
            # so that "strings" or "io" never binds to a folder of the same name)
            for k in range(len(parts), 1, -1):
                folders = suffixes.get("/".join(parts[-k:]))
                if folders:
                    for folder in folders:
                        found.update(p for p in by_dir[folder] if p != path)
                    break
        deps[path] = found
    return deps


_EDGES = {
    "java": _java_edges,
    "csharp": _csharp_edges,
    "c": _c_edges,
    "js": _js_edges,
    "go": _go_edges,
}


def dependencies(
    family: str, files: dict[str, str], configs: dict[str, str] | None = None
) -> dict[str, set[str]]:
    """For each path, the paths of the same repository (and language family) it depends on.

    `configs` holds other files of the repository that say where its Python packages live
    (pyproject.toml, setup.cfg; path -> text); setup.py files among `files` are read too."""
    if family == "python":
        return _python_edges(files, configs or {})
    return _EDGES[family](files)


def components(paths: Iterable[str], deps: dict[str, set[str]]) -> list[list[str]]:
    """Connected components (ignoring edge direction), each sorted, ordered by their first path."""
    parent = {p: p for p in paths}

    def root(p: str) -> str:
        while parent[p] != p:
            parent[p] = parent[parent[p]]
            p = parent[p]
        return p

    for a, targets in deps.items():
        for b in targets:
            ra, rb = root(a), root(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, list[str]] = defaultdict(list)
    for p in sorted(parent):
        groups[root(p)].append(p)
    return sorted(groups.values(), key=lambda g: g[0])


def strongly_connected(paths: Iterable[str], deps: dict[str, set[str]]) -> dict[str, str]:
    """The strongly connected component (import cycle) of every path, named by one of its paths:
    two paths share the name exactly when each reaches the other through imports. Tarjan's algorithm,
    iterative, so a long import chain cannot exhaust the recursion limit."""
    nodes = list(paths)
    members = set(nodes)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    scc: dict[str, str] = {}
    for start in nodes:
        if start in index:
            continue
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        work = [(start, iter(sorted(deps.get(start, set()) & members)))]
        while work:
            v, targets = work[-1]
            for w in targets:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(deps.get(w, set()) & members))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    u = work[-1][0]
                    low[u] = min(low[u], low[v])
                if low[v] == index[v]:
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        scc[w] = v
                        if w == v:
                            break
    return scc


def tie_key(seed: int, repo: str, path: str) -> str:
    return hashlib.sha256(f"{seed}:{repo}:{path}".encode()).hexdigest()


def order_component(component: list[str], deps: dict[str, set[str]], seed: int, repo: str) -> list[str]:
    """Lowest-in-degree-first order of one component among the ready files (those whose imports
    outside their own cycle are placed); every file exactly once, even with cycles."""
    members = set(component)
    scc = strongly_connected(component, deps)
    inside = {p: (deps.get(p, set()) & members) - {p} for p in component}
    indegree = {p: len(inside[p]) for p in component}
    # imports outside the file's own cycle that are not placed yet; 0 means ready
    waiting = {p: sum(1 for d in inside[p] if scc[d] != scc[p]) for p in component}
    dependents: dict[str, list[str]] = defaultdict(list)
    for p in component:
        for d in inside[p]:
            dependents[d].append(p)
    keys = {p: tie_key(seed, repo, p) for p in component}
    heap = [(indegree[p], keys[p], p) for p in component if not waiting[p]]
    heapq.heapify(heap)
    placed: set[str] = set()
    order: list[str] = []
    while heap:
        deg, _key, p = heapq.heappop(heap)
        if p in placed or deg != indegree[p]:
            continue  # a stale entry: the file's in-degree dropped since it was pushed
        placed.add(p)
        order.append(p)
        for q in dependents[p]:
            if q in placed:
                continue
            indegree[q] -= 1
            if scc[q] != scc[p]:
                waiting[q] -= 1
            if not waiting[q]:
                heapq.heappush(heap, (indegree[q], keys[q], q))
    return order


def forward_edges(order: list[str], deps: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(file, imported file) for every import of a file that comes later in `order` although the
    two are not in one cycle: what a dependency order must never contain."""
    position = {p: i for i, p in enumerate(order)}
    scc = strongly_connected(order, deps)
    return [
        (p, d)
        for p in order
        for d in sorted(deps.get(p, set()))
        if d in position and position[d] > position[p] and scc[d] != scc[p]
    ]
