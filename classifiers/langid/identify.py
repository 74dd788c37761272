"""Deciding a file's language from its name and bytes, or saying that it is not code.

The order follows linguist's strategies (modeline, file name, shebang, extension), with one
deliberate change: a name that decides a programming language (every candidate is one of the 338)
wins over a shebang that disagrees with it. A ``.py`` file starting ``#!/bin/sh`` is the classic
``exec python`` trampoline and a ``.c`` file never becomes Python because of its first line; the
disagreement is kept in ``reason``. A shebang naming a known interpreter does win over every other
name: no extension, a weak one (``.txt``, ``.in``, ``.sample``, ``.dist``...), or a name whose
candidates are not programming languages (Text, Markdown, YAML...). Where a deciding name leaves
several candidates, a shebang narrows them, then linguist's content heuristics, then the content
model chooses among what is left.

A file whose name does not decide a programming language and that has no such shebang is first
checked for being no code at all (``not_code``: private keys, certificates, licences, program
output, data, prose): then ``language`` is None, ``label`` the kind and ``how`` "content-kind".
A file that no rule names is decided by the model alone, only when its content looks like code
(``not_code.LineStats.code_like``) and the model is confident enough (``MIN_CONFIDENCE``);
otherwise the answer is an explicit unknown with the reason.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass

from classifiers.langid.families import family_of
from classifiers.langid.family_model import FamilyModel, load_family_model
from classifiers.langid.model import ContentModel, load_model
from classifiers.langid.not_code import Scan, classify, is_license_name
from classifiers.langid.package_metadata import description_label
from classifiers.langid.rules import LanguageTable, load_table
from classifiers.langid.sniff import (
    HEAD_BYTES,
    decode,
    interpreter_variants,
    is_binary,
    modeline,
    shebang_interpreter,
)
from classifiers.langid.tokens import MODEL_BYTES

#: below this probability a model-only answer (no name rule, shebang or modeline decides; the content
#: passed the code-likeness test of ``not_code.LineStats``) is reported as unknown. Calibrated by
#: benchmarks/bench_langid_calibrate.py on held-out files (gson, flask, requests, redis at their
#: mirrored HEAD, plus pyarrow, IPython, botocore and torch ATen sources from the installed
#: packages; 909 code files in 20 languages, each capped at 150, and 150 licences, keys and program
#: outputs), names stripped:
#:
#: ====  ========  =======  =========  ==============================================
#: min   answered  strict   coverage   lenient (Cython->Python, CUDA->C++, C<->C++ ok)
#: ====  ========  =======  =========  ==============================================
#: 0.15  676       86.4%    74.4%      95.4%
#: 0.50  643       88.8%    70.7%      97.2%
#: 0.90  494       91.3%    54.3%      98.6%
#: ====  ========  =======  =========  ==============================================
#:
#: No threshold reaches 95% strict precision: 61 of the 92 wrong answers at 0.15 are .pyx files
#: that are plain Python and .cu files that are C++, which no confidence separates. Without those
#: pairs 0.5 gives 97.2% (macro precision over answered labels 67.5% vs 49.8% at 0.15) for 3.7
#: points of coverage. Of the 150 non-code files 144 are recognised as such and 1 reaches the model;
#: 30 of the 909 code files (3.3%, mostly short Python modules) are taken for non-code.
MIN_CONFIDENCE = 0.5
#: the model-only bar for a file whose extension no rule knows, or whose name is a prose one
#: (MIN_CONFIDENCE is for content without a name or extension): on the real-code corpus (tests/realdata) the answers below it were source maps,
#: coverage annotations, requirement lists and templates (PureScript, Sage, Isabelle, G-Code,
#: Handlebars), while those above it were real code (Python tokenizer inputs, XML diagrams)
MIN_CONFIDENCE_NAMED = 0.95
#: prior weight of a label outside the 338 in a model-only answer. The model's training labels come
#: from sample collections that over-represent rare languages, while the files this tool sees are
#: drawn to be in the list; a language outside it must be clearly more likely to win. Measured on
#: files nobody here wrote (benchmarks/bench_langid_accuracy.py): 0.3 raises accuracy on the 338
#: by ~1.5 points and leaves overall accuracy level.
OUTSIDE_LIST_WEIGHT = 0.3
#: documentation formats and how a file in one opens (a `#!` line, blank lines, then a command)
_DOC_FORMATS = {"POD": re.compile(rb"\A(?:#![^\n]*\n)?\s*=[a-z]")}
#: time budget of linguist's content heuristics for one file (some patterns backtrack badly)
HEURISTIC_SECONDS = 0.2
_USE_DEFAULT = object()
#: extensions that say how a file is used, not what it is written in (``run.sh.in``, ``conf.sample``):
#: a name ending in one decides nothing, and a shebang or the content does
_WEAK_SUFFIXES = frozenset(
    {"txt", "text", "in", "tmpl", "template", "sample", "example", "dist", "default", "orig"}
    | {"bak", "old", "new", "local", "disabled", "off"}
)
#: names of prose files, whatever follows them
_PROSE_NAME = re.compile(
    r"(?i)^(?:readme|changes|changelog|history|news|authors|contributors|install|todo|pkg-info)\b"
)
#: weak suffixes of plain text: the name keeps its meaning unless a shebang says otherwise
_TEXT_SUFFIXES = frozenset({".txt", ".text"})
#: markup labels a licence text is often written in
_MARKUP = frozenset({"HTML", "XML", "TeX"})


@dataclass(frozen=True)
class Detection:
    """What was decided and how. `language` is one of the 338 names or None."""

    language: str | None
    label: str | None  # what was recognised, possibly a language outside the list (YAML, Markdown)
    how: str  # filename | extension | shebang | modeline | heuristic | model | content-kind | unknown
    confidence: float = 1.0
    reason: str = ""

    def describe(self) -> str:
        text = f"model {self.confidence:.2f}" if self.how == "model" else self.how
        if self.reason:
            text += f" ({self.reason})"
        return text


#: bound on the per-table memos below (names matched by a glob are as many as the files)
_MEMO_SIZE = 10_000


def _memo(table: LanguageTable, name: str) -> dict:
    """A dict kept on `table` (the answers depend on it), emptied when it grows past the bound."""
    memo = table.__dict__.get(name)
    if memo is None or len(memo) > _MEMO_SIZE:
        memo = table.__dict__[name] = {}
    return memo


def _answer(table: LanguageTable, label: str, how: str, confidence: float = 1.0, note: str = "") -> Detection:
    # a Detection is immutable: the common answers (a language, how, no note) are made once
    key = (label, how, confidence, note)
    answers = _memo(table, "_answers")
    found = answers.get(key)
    if found is None:
        if table.in_list(label):
            found = Detection(label, label, how, confidence, note)
        else:
            reason = f"{label} is not one of the 338 languages"
            found = Detection(None, label, how, confidence, f"{reason}; {note}" if note else reason)
        if not note and confidence == 1.0:
            answers[key] = found
    return found


def _named(base: str) -> bool:
    """A name that no rule knows but that says something: an extension (`.map`, `.pth`) or a
    prose name (`README`). Model-only answers for such files need `MIN_CONFIDENCE_NAMED`, and
    their content is judged by its first lines only (no looking past a comment header)."""
    return bool(base) and ("." in base.strip(".") or _PROSE_NAME.match(base) is not None)


def _unknown(reason: str, label: str | None = None) -> Detection:
    return Detection(None, label, "unknown", 0.0, reason)


def _by_interpreter(table: LanguageTable, interp: str) -> tuple[str, ...]:
    for variant in interpreter_variants(interp):
        found = table.by_interpreter.get(variant, ())
        if found:
            return found
    return ()


def _decisive(table: LanguageTable, base: str, cands: tuple[str, ...], how: str, key: str) -> bool:
    """Whether the name decides a programming language: every candidate is one of the 338 names,
    the extension is not a weak one (``.txt``, ``.in``, ``.sample``...), and a licence file name
    does not merely carry a markup extension (``LICENSE.html`` is a licence, not a web page)."""
    memo = _memo(table, "_decisive")
    found = memo.get((cands, how, key))
    if found is None:
        listed = bool(cands) and all(c in table.listed for c in cands)
        weak = how == "extension" and key.lstrip(".") in _WEAK_SUFFIXES
        found = memo[(cands, how, key)] = (listed and not weak, set(cands) <= _MARKUP)
    decisive, markup = found
    return decisive and not (markup and is_license_name(base))


def detect(
    name: str | os.PathLike[str],
    content: bytes,
    *,
    model: ContentModel | object | None = _USE_DEFAULT,
    table: LanguageTable | None = None,
    family: FamilyModel | object | None = _USE_DEFAULT,
) -> Detection:
    """Decide the language of a file called `name` (a path or base name) holding `content`.

    `family` is the second-stage model for content-only answers (``family_model``): the shipped
    one by default, None for the first stage alone."""
    table = table or load_table()
    name = os.fspath(name) if name else ""
    if model is _USE_DEFAULT:
        model = load_model()
    base = os.path.basename(name.replace("\\", "/")) if name else ""
    head = content[:HEAD_BYTES]
    cands, how, key = table.by_name(base) if base else ((), "", "")
    by_extension = how == "extension"  # heuristics are keyed by extension, even after a shebang narrows

    if not content:
        if len(cands) == 1:
            return _answer(table, cands[0], how, note="empty file")
        return _unknown("empty file" + (f"; name fits {len(cands)} languages" if cands else ""))
    if is_binary(head):
        return _unknown("binary content (NUL bytes in the first 8000)", cands[0] if len(cands) == 1 else None)

    mode = modeline(head)
    if mode and mode in table.by_alias:
        return _answer(table, table.by_alias[mode], "modeline")

    described = description_label(base, head)
    if described is not None:
        return _answer(
            table, described, "filename", note="package metadata (PKG-INFO); its description's format"
        )

    decisive = _decisive(table, base, cands, how, key)
    if decisive and len(cands) == 1:
        note = ""
        if head.startswith(b"#!"):
            interp = shebang_interpreter(decode(head[:512]))
            named = _by_interpreter(table, interp) if interp else ()
            if named and cands[0] not in named:
                note = f"shebang names {interp} ({'/'.join(named)}); the {how} decides"
        return _answer(table, cands[0], how, note=note)

    interp = shebang_interpreter(decode(head[:512])) if head.startswith((b"#!", b"\xef\xbb\xbf#!")) else None
    by_shebang = _by_interpreter(table, interp) if interp else ()
    if by_shebang and not decisive:
        # a script whose name says nothing about a programming language (no name, a weak
        # extension, Text, data formats): the interpreter it names decides
        outranked = f"shebang names {interp}; outranks the {how} ({'/'.join(cands)})" if cands else ""
        cands, how, by_extension = by_shebang, "shebang", False
        if len(cands) == 1:
            return _answer(table, cands[0], how, note=outranked)
    elif by_shebang:
        narrowed = tuple(c for c in cands if c in by_shebang)
        if narrowed:
            cands, how = narrowed, "shebang"
            if len(cands) == 1:
                return _answer(table, cands[0], how)

    scan = Scan(head, MODEL_BYTES)
    weak = how == "extension" and key.lstrip(".") in _WEAK_SUFFIXES
    if weak and how != "shebang":
        # `run.sh.in`, `conf.py.sample`: the name under the weak suffix decides when it can
        inner = base[: -len(key)] if base.lower().endswith(key.lower()) else ""
        inner_cands, inner_how, _ = table.by_name(inner) if "." in inner.strip(".") else ((), "", "")
        if len(inner_cands) == 1 and _decisive(table, inner, inner_cands, inner_how, ""):
            return _answer(table, inner_cands[0], inner_how, note=f"name under the {key} suffix")
        if key.lower() in _TEXT_SUFFIXES and not head.startswith(b"#!"):
            # notes, requirement lists and templates that look like code are still text files;
            # only a shebang makes a `.txt` a script
            kind = classify(base, scan, nameless=True)
            if kind is not None:
                return Detection(None, kind.label, "content-kind", 1.0, kind.reason)
            return _answer(table, cands[0], how) if len(cands) == 1 else _unknown(f"{key} file")
    if not decisive and how != "shebang":
        nameless = not cands or weak
        if nameless:
            cands, how = (), ""
        kind = classify(base, scan, nameless=nameless, past_header=not _named(base))
        if kind is not None:
            return Detection(None, kind.label, "content-kind", 1.0, kind.reason)
        if len(cands) == 1:
            return _answer(table, cands[0], how)

    note = ""
    if len(cands) > 1:
        # a documentation format shares its interpreter with its language (linguist gives POD
        # the interpreter perl): a script is that format only when it opens as one
        kept = tuple(c for c in cands if c not in _DOC_FORMATS or _DOC_FORMATS[c].match(head))
        if kept and kept != cands:
            cands = kept
            if len(cands) == 1:
                return _answer(table, cands[0], how)
    heuristics = table.heuristics_for(key) if len(cands) > 1 and by_extension else ()
    # the heuristics read the whole head; the line checks and the model only its first characters
    text = decode(head) if heuristics else scan.text
    if len(cands) > 1 and by_extension:
        deadline = time.monotonic() + HEURISTIC_SECONDS
        try:
            for rule in heuristics:
                if rule.matches(text, deadline):
                    hits = tuple(label for label in rule.labels if label in cands)
                    if len(hits) == 1:
                        return _answer(table, hits[0], "heuristic")
                    if hits:
                        cands = hits
                    break
        except TimeoutError:
            note = f"heuristics for {key} ran out of time"

    if model is None or not isinstance(model, ContentModel):
        if cands:
            first = table.order(cands, key)[0]
            why = f"no content model; first of {len(cands)} candidates"
            return _answer(table, first, how, 0.0, f"{note}; {why}" if note else why)
        return _unknown("no name rule matched and no content model is loaded")

    if cands:
        best = model.best(text, cands)
        if best is None:
            first = table.order(cands, key)[0]
            return _answer(
                table, first, how, 0.0, f"model knows none of {len(cands)} candidates; first taken"
            )
        return _answer(table, best[0], "model", best[1], note)

    stats = scan.stats
    named = _named(base)
    if not stats.code_like:
        if named or not scan.body_code_like:
            return _unknown(f"no name rule matched; content does not look like code ({stats.describe()})")
        text = scan.model_text(MODEL_BYTES)  # a long comment header: the code after it decides
    listed = table.listed

    def prior(label: str) -> float:
        return 1.0 if label in listed else OUTSIDE_LIST_WEIGHT

    weighted = model.weighted(text, prior)  # what `model.best` ranks, kept for the second stage
    if not weighted:
        return _unknown("no name rule matched and no code tokens to classify")
    label = max(weighted, key=weighted.__getitem__)
    conf = weighted[label]
    if family is _USE_DEFAULT:
        family = load_family_model()
    if isinstance(family, FamilyModel) and family_of(label) is not None:
        floor = MIN_CONFIDENCE_NAMED if named else MIN_CONFIDENCE
        decided = family.decide(weighted, text, floor=floor)
        if decided is not None:
            if decided[0] != label:
                note = f"{family_of(label)} family: the second stage prefers it to {label}"
            label, conf = decided
    if conf < MIN_CONFIDENCE:
        return _unknown(f"no name rule matched; model unsure (best {label} at {conf:.2f})", label)
    if named and conf < MIN_CONFIDENCE_NAMED:
        # an extension that no rule knows (`.map`, `.pth`, `,cover` outputs) or a prose name
        # (`README`) is rarely code in a language the name would not give away; the model must be
        # close to certain there
        return _unknown(f"no name rule matched; model not sure enough (best {label} at {conf:.2f})", label)
    return _answer(table, label, "model", conf, note)


def identify(name: str | os.PathLike[str], content: bytes) -> str | None:
    """One of the 338 language names for this file, or None (see `detect` for why)."""
    return detect(name, content).language
