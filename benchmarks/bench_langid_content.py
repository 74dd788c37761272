"""Content-only language ID on held-out real code, beside magika, first stage alone vs with the
family stage, and accuracy with names given before and after.

    .venv/bin/python benchmarks/bench_langid_content.py                       # the Debian held-out set
    .venv/bin/python benchmarks/bench_langid_content.py --sample-programs PATH  # also sample-programs
    .venv/bin/python benchmarks/bench_langid_content.py --tune                # choose STAGE1_WEIGHT

The test files are the `test` side of `benchmarks/langid_corpus.py`: pinned Debian packages that
no model here was trained on (the family model trains on the `train` side, on linguist's
samples and on a few language projects; the first-stage model on the corpora named in
`classifiers/langid/data/prepare_training_corpus.sh`). Only languages of the 338 with at least
`--min-files` test files are scored; a language's files are capped at 80 per package.

Each file is identified with its name stripped (`detect("", content)`): *strict* counts an
abstention (model unsure, content not code-like) as wrong; *top-1* takes the model's best label
even where `detect` abstains. magika runs on the same bytes (it never abstains). Families are
those of `classifiers/langid/families.py`; a within-family error is a member read as another.

`--tune DIR` scores STAGE1_WEIGHT from 0 to 1 on the family members' files of a LABEL/files
folder that neither model saw: the shipped weight was chosen on TheRenegadeCoder/sample-programs
(laid out by `bench_langid_accuracy.py --sample-programs`), never on the test side here.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.langid_corpus import CorpusError, build_layout
from classifiers.langid.families import FAMILIES, family_of
from classifiers.langid.family_model import STAGE1_WEIGHT, FamilyModel, load_family_model
from classifiers.langid.identify import detect
from classifiers.langid.model import load_model
from classifiers.langid.rules import load_table

MAGIKA_NAMES = {
    "shell": "Shell", "c": "C", "cpp": "C++", "cs": "C#", "javascript": "JavaScript",
    "typescript": "TypeScript", "python": "Python", "ruby": "Ruby", "rust": "Rust", "go": "Go",
    "java": "Java", "kotlin": "Kotlin", "scala": "Scala", "haskell": "Haskell", "ocaml": "OCaml",
    "lisp": "Common Lisp", "clojure": "Clojure", "erlang": "Erlang", "elixir": "Elixir", "lua": "Lua",
    "perl": "Perl", "php": "PHP", "r": "R", "tcl": "Tcl", "vba": "Visual Basic", "groovy": "Groovy",
    "makefile": "Makefile", "objectivec": "Objective-C", "pascal": "Pascal", "fortran": "Fortran",
    "asm": "Assembly", "css": "CSS", "html": "HTML", "xml": "XML", "json": "JSON", "yaml": "YAML",
    "markdown": "Markdown", "scss": "SCSS", "dart": "Dart", "swift": "Swift", "julia": "Julia",
    "vue": "Vue", "sql": "SQL", "powershell": "PowerShell", "batch": "Batchfile", "verilog": "Verilog",
    "vhdl": "VHDL", "latex": "TeX", "zig": "Zig", "solidity": "Solidity", "gradle": "Gradle",
    "haxe": "Haxe", "scheme": "Scheme", "racket": "Racket", "emacslisp": "Emacs Lisp",
    "crystal": "Crystal", "nim": "Nimrod", "groff": "Groff", "coffeescript": "CoffeeScript",
    "cmake": "CMake", "dockerfile": "Dockerfile", "toml": "TOML", "ini": "INI", "proto": "Protocol Buffer",
}  # fmt: skip


def magika_labeller():
    try:
        from magika import Magika  # the comparison only; not a dependency of coderforge
    except ImportError:
        print("magika not installed (pip install magika): its columns are left out")
        return None
    m = Magika()

    def label(content: bytes) -> str:
        out = str(m.identify_bytes(content).output.label)
        return MAGIKA_NAMES.get(out, out)

    return label


def test_files(layout: Path, min_files: int) -> list[tuple[str, Path]]:
    table = load_table()
    out = []
    for d in sorted((layout / "test").iterdir()):
        if not table.in_list(d.name):
            continue
        files = sorted(p for p in d.iterdir() if p.is_file())
        if len(files) >= min_files:
            out.extend((d.name, p) for p in files)
    return out


def answers(content: bytes, name: str, family: FamilyModel | None) -> tuple[str | None, str | None]:
    """(strict answer, top-1 answer) for one file."""
    d = detect(name, content, family=family)
    if d.language is not None:
        return d.language, d.language
    return None, d.label


def _pct(right: int, total: int) -> str:
    return f"{100 * right / total:5.1f}%" if total else "    –"


def evaluate(files: list[tuple[str, Path]], family: FamilyModel | None, with_magika: bool) -> None:
    magika = magika_labeller() if with_magika else None
    cols = ["1st stage strict", "1st stage top-1", "2 stages strict", "2 stages top-1"]
    if magika:
        cols.append("magika")
    right: dict[str, Counter[str]] = {c: Counter() for c in cols}
    named: dict[str, Counter[str]] = {"names, 1st stage": Counter(), "names, 2 stages": Counter()}
    seen: Counter[str] = Counter()
    confusion: dict[str, Counter[tuple[str, str]]] = {"before": Counter(), "after": Counter()}
    timing: Counter[str] = Counter()
    for truth, path in files:
        content = path.read_bytes()
        seen[truth] += 1
        t = time.perf_counter()
        s1, t1 = answers(content, "", None)
        timing["1st"] += time.perf_counter() - t
        t = time.perf_counter()
        s2, t2 = answers(content, "", family)
        timing["2 stages"] += time.perf_counter() - t
        got = {cols[0]: s1, cols[1]: t1, cols[2]: s2, cols[3]: t2}
        if magika:
            t = time.perf_counter()
            got["magika"] = magika(content)
            timing["magika"] += time.perf_counter() - t
        for c, a in got.items():
            right[c][truth] += a == truth
        real_name = path.name.split("__")[-1]
        named["names, 1st stage"][truth] += detect(real_name, content, family=None).language == truth
        named["names, 2 stages"][truth] += detect(real_name, content, family=family).language == truth
        for when, a in (("before", t1), ("after", t2)):
            fam = family_of(truth)
            if a and a != truth and fam is not None and family_of(a) == fam:
                confusion[when][(truth, a)] += 1

    langs = sorted(seen)
    n = sum(seen.values())
    print(f"\n{len(langs)} languages of the 338, {n} held-out files (Debian test packages)\n")
    print(f"| language | files | {' | '.join(cols)} |")
    print("|---|---:|" + "---:|" * len(cols))
    for lang in langs:
        row = " | ".join(_pct(right[c][lang], seen[lang]) for c in cols)
        print(f"| {lang} | {seen[lang]} | {row} |")
    total = " | ".join(f"**{_pct(sum(right[c].values()), n)}**" for c in cols)
    print(f"| **all (micro)** | {n} | {total} |")
    macro = " | ".join(
        f"{100 * sum(right[c][lg] / seen[lg] for lg in langs) / len(langs):5.1f}%" for c in cols
    )
    print(f"| all (macro) | | {macro} |")
    print("\nwith names given (the full decision): " + ", ".join(
        f"{k}: {_pct(sum(v.values()), n).strip()}" for k, v in named.items()
    ))  # fmt: skip
    print("seconds per 1,000 files: " + ", ".join(f"{k} {1000 * v / n:.2f}" for k, v in timing.items()))
    print("\nwithin-family errors, before (1st stage) -> after (2 stages), top-1:")
    for fam, mem in FAMILIES.items():
        pairs = {p for p in confusion["before"] | confusion["after"] if p[0] in mem}
        if not pairs:
            continue
        before = sum(confusion["before"][p] for p in pairs)
        after = sum(confusion["after"][p] for p in pairs)
        worst = sorted(pairs, key=lambda p: -(confusion["before"][p] + confusion["after"][p]))[:6]
        detail = "; ".join(
            f"{a}->{b} {confusion['before'][(a, b)]}->{confusion['after'][(a, b)]}" for a, b in worst
        )
        print(f"  {fam}: {before} -> {after}   ({detail})")


def tune(folder: Path) -> None:
    """Score STAGE1_WEIGHT choices on a LABEL/files folder that no model was trained on."""
    from benchmarks.bench_langid_accuracy import true_label

    fam = load_family_model()
    stage1 = load_model()
    table = load_table()
    assert fam is not None and stage1 is not None
    listed = table.listed
    files = []
    for d in sorted(p for p in folder.iterdir() if p.is_dir()):
        truth = true_label(table, d.name)
        if family_of(truth) is not None:
            files.extend((truth, p) for p in sorted(d.rglob("*")) if p.is_file())
    texts = [(truth, p.read_bytes()[:8192].decode("utf-8", "replace")) for truth, p in files]
    scored = [
        (truth, text, stage1.weighted(text, lambda lab: 1.0 if lab in listed else 0.3))
        for truth, text in texts
    ]
    print(f"{len(scored)} files of family members in {folder}")
    for w in (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0):
        ok = 0
        for truth, text, scores in scored:
            if not scores:
                continue
            got = fam.decide(scores, text, weight=w)
            ok += (got[0] if got else max(scores, key=scores.__getitem__)) == truth
        print(f"  STAGE1_WEIGHT {w:.1f}: top-1 {_pct(ok, len(scored))}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--min-files", type=int, default=40)
    ap.add_argument("--no-magika", action="store_true")
    ap.add_argument("--tune", type=Path, help="a LABEL/files folder to choose STAGE1_WEIGHT on")
    args = ap.parse_args()
    if args.tune:
        tune(args.tune)
        return 0
    try:
        layout = build_layout()
    except CorpusError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    family = load_family_model()
    if family is None:
        print("error: no family model (classifiers/langid/data/langid-families.ftz)", file=sys.stderr)
        return 1
    print(f"family model {family.path}: {len(family.labels)} labels; STAGE1_WEIGHT {STAGE1_WEIGHT}")
    evaluate(test_files(layout, args.min_files), family, not args.no_magika)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
