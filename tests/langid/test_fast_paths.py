"""The fast paths of language identification give exactly what their plain definitions give.

Each fast version (tokens for the model, line statistics, the operator test, licence phrases, the
alternatives of a heuristic searched one by one) is checked against the straightforward version
it replaced, written out here, on every file of the pinned real-code corpus and on seeded random
texts made of the characters the definitions treat specially.
"""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

import pytest

from classifiers.langid import not_code
from classifiers.langid.not_code import LICENSE_PHRASES, LineStats, license_phrase, line_stats
from classifiers.langid.rules import HeuristicRule, load_table, top_level_branches
from classifiers.langid.sniff import decode
from classifiers.langid.tokens import KEEP_IDENTIFIER, MAX_TOKENS, MODEL_BYTES, _converted, code_tokens
from tests.langid.conftest import real_code_files

# -- the plain definitions -------------------------------------------------------------------------

_TOKEN = re.compile(r"\n|[A-Za-z_$][A-Za-z0-9_$]{0,30}|[0-9]+(?:\.[0-9]+)?|[^\sA-Za-z0-9_$]{1,3}")


def reference_tokens(text: str, limit: int = MAX_TOKENS, keep_identifier: int | None = None) -> list[str]:
    keep = KEEP_IDENTIFIER if keep_identifier is None else keep_identifier
    out: list[str] = []
    line_start = True
    for tok in _TOKEN.findall(text[:MODEL_BYTES]):
        if tok == "\n":
            line_start = True
            continue
        if line_start:
            out.append("¶")
            line_start = False
        out.append(_converted(tok, keep))
        if len(out) >= limit:
            break
    return out


def reference_line_kind(line: str) -> tuple[bool, bool]:
    nc = not_code
    lisp = nc._LISP_FORM.match(line) and line.count("(") + line.count(")") >= 2
    if lisp and len(nc._WORD.findall(line)) < 8:
        return True, False
    bare = nc._URL_OR_MAIL.sub(" ", line) if ("@" in line or "://" in line) else line
    m = nc._MARKER.match(bare)
    if m:
        bare = bare[m.end() :]
        if not bare:
            return False, False
    if "(c)" in bare or "(C)" in bare:
        bare = bare.replace("(c)", "").replace("(C)", "")
    syms = sum(1 for ch in bare if ch in nc._CODE_CHARS)
    if (
        syms >= 2
        or bare.endswith(nc._CODE_END)
        or ("(" in bare and nc._CALL.search(bare))
        or nc._OPERATORS.search(bare)
    ):
        if syms <= 1 and len(nc._WORD.findall(bare)) >= 8 and not nc._OPERATORS.search(bare):
            return False, True
        return True, False
    if syms <= 1 and len(nc._WORD.findall(bare)) >= 5:
        size = len(bare.strip())
        if size - len(nc._NOT_LETTER.findall(bare.strip())) >= 0.85 * size:
            return False, True
    return False, False


def reference_line_stats(text: str) -> LineStats:
    nc = not_code
    st = LineStats()
    counts: dict[str, dict[int, int]] = {d: {} for d in nc._DELIMS}
    for raw in text[: nc.SCAN_BYTES].split("\n"):
        line = raw.rstrip()
        if not line.strip():
            continue
        st.lines += 1
        st.chars += len(line)
        code, prose = reference_line_kind(line)
        st.code += code
        st.prose += prose
        st.log += nc._TIMESTAMP.match(line[:40]) is not None
        st.hexdump += nc._HEXDUMP.match(line) is not None
        if len(line) >= 60 and nc._BASE64_LINE.match(line):
            st.base64 += len(line)
        digits = sum(1 for ch in line if ch in "0123456789")
        if digits >= 4 and digits * 3 >= len(line) - line.count(" "):
            fields = line.split()
            nums = sum(1 for f in fields if nc._NUMBER.fullmatch(f.strip("|,;()[]")))
            if nums >= 2 and nums * 3 >= len(fields):
                st.numeric += 1
        for d in nc._DELIMS:
            n = line.count(d)
            if n:
                counts[d][n] = counts[d].get(n, 0) + 1
        if st.lines >= nc.SCAN_LINES:
            break
    if st.lines >= 5:
        for d in nc._DELIMS:
            if counts[d]:
                n, hits = max(counts[d].items(), key=lambda kv: kv[1])
                if hits >= 0.8 * st.lines:
                    st.delimited = f"{d!r} x{n}"
                    break
    return st


def reference_license_phrase(text: str) -> str | None:
    folded = re.sub(r"\s+", " ", text[:4096]).casefold()
    return next((name for name, phrase in LICENSE_PHRASES if phrase in folded), None)


def reference_pem_or_public(head: bytes) -> tuple[str, str] | None:
    nc = not_code
    pem, ssh = b"-----BEGIN " in head, b"AAAA" in head
    if not (pem or ssh):
        return None
    solid = len(head) - sum(head.count(c) for c in b" \t\r\n")
    if solid <= 0:
        return None
    if pem:
        covered, labels = 0, []
        for m in nc._PEM_BLOCK.finditer(head):
            block = m.group(0)
            covered += len(block) - sum(block.count(c) for c in b" \t\r\n")
            labels.append(m.group(1).decode("ascii"))
        if labels and covered * 2 >= solid:
            shown = ", ".join(dict.fromkeys(labels))
            if any(lab.encode().endswith(nc._CERT_LABELS) for lab in labels):
                return nc.CERTIFICATE, f"PEM blocks: {shown}"
            return nc.PUBLIC_KEY, f"PEM blocks: {shown}"
    if ssh:
        lines = nc._SSH_PUBLIC.findall(head)
        if lines and sum(len(x) for x in lines) * 2 >= solid:
            return nc.PUBLIC_KEY, f"{len(lines)} OpenSSH public key line(s)"
    return None


def reference_matches(rule: HeuristicRule, text: str) -> bool:
    if rule.pattern is not None and rule.pattern.search(text, timeout=5) is None:
        return False
    if rule.negative is not None and rule.negative.search(text, timeout=5) is not None:
        return False
    return all(reference_matches(r, text) for r in rule.all_of)


# -- data ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_texts() -> list[tuple[str, str]]:
    """(path, decoded head) of every text file of the real-code corpus."""
    heads = ((name, data[: 64 * 1024]) for name, data in real_code_files())
    return [(name, decode(head)) for name, head in heads if b"\x00" not in head[:8000]]


def _random_texts(alphabet: list[str], count: int, longest: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, longest))) for _ in range(count)]


_LINE_PIECES = [
    *"ab1_.+-@<>:/ \t{}[];=()$#*%|&!^~`\\",
    *("://", "x@y.z", "a.b(", "(c)", "-- ", "1. ", "// ", "/* ", "the ", "Word ", "is ", "INFO "),
    *("2024-01-02 12:00 ", "AAAA0f", "\n", "\n\n", "é", "\u2028", "\x1c"),
]


# -- the checks ------------------------------------------------------------------------------------


def test_tokens_agree(real_texts: list[tuple[str, str]]) -> None:
    for _, text in real_texts:
        assert code_tokens(text) == reference_tokens(text)
    odd = _random_texts([*_LINE_PIECES, "¶", "\r", " \n  "], 1500, 60, seed=1)
    for text in odd + [text for _, text in real_texts[::25]]:
        for limit in (0, 1, 2, 7, 40):
            for keep in (None, 0, 3):
                assert code_tokens(text, limit, keep) == reference_tokens(text, limit, keep), (
                    text[:80],
                    limit,
                )


def test_line_stats_agree(real_texts: list[tuple[str, str]]) -> None:
    for _, text in real_texts:
        assert line_stats(text) == reference_line_stats(text)
    for text in _random_texts(_LINE_PIECES, 1500, 200, seed=2):
        assert line_stats(text) == reference_line_stats(text), text


def test_operator_probe_agrees(real_texts: list[tuple[str, str]]) -> None:
    lines = [line for _, text in real_texts[::3] for line in text[:6144].split("\n")]
    lines += _random_texts([c for c in _LINE_PIECES if "\n" not in c], 20000, 12, seed=3)
    for line in lines:
        assert not_code._has_operator(line) == (not_code._OPERATORS.search(line) is not None), line


def test_license_phrases_agree(real_texts: list[tuple[str, str]]) -> None:
    rng = random.Random(4)
    texts = [text for _, text in real_texts]
    for _ in range(600):
        _, phrase = rng.choice(LICENSE_PHRASES)
        gap = rng.choice([" ", "\n", "\t ", "  \n# ", "\x1c", " \u2028"])
        words = [w.upper() if rng.random() < 0.3 else w for w in phrase.split()]
        text = "x " * rng.randrange(0, 40) + gap.join(words)
        texts.append(text.replace("i", "\u0130", 1) if rng.random() < 0.2 else text)
    found = 0
    for text in texts:
        got = license_phrase(text)
        assert got == reference_license_phrase(text), text[:120]
        found += got is not None
    assert found > 400


@pytest.mark.parametrize(
    ("pattern", "parts"),
    [
        ("ab|cd", ["ab", "cd"]),
        ("a|b", None),  # read as one character set: nothing to cut
        (r"(?:^\s*x)|(?:y|z)|\|w", [r"(?:^\s*x)", "(?:y|z)", r"\|w"]),
        (r"[|]a|[]|]b|[^|]c", ["[|]a", "[]|]b", "[^|]c"]),
        ("(a|b)", None),  # one group at the top
        ("ab", None),
        ("(?i)a|b", None),  # a global flag
        (r"(a)|\1", None),  # a backreference into another alternative
        ("(?x) a | b", None),
    ],
)
def test_top_level_branches(pattern: str, parts: list[str] | None) -> None:
    assert top_level_branches(pattern) == parts


def test_heuristic_alternatives_agree_with_the_whole_pattern(real_texts: list[tuple[str, str]]) -> None:
    """An alternation matches where one of its alternatives matches, on the real files that the
    heuristics of their own extension, and a sample of the others, are run on."""
    table = load_table()
    rules = [
        (ext, rule)
        for ext in table.heuristic_blocks
        for rule in table.heuristics_for(ext)
        if rule.parts or rule.negative_parts
    ]
    assert rules
    by_ext: dict[str, list[str]] = {}
    for name, text in real_texts:
        by_ext.setdefault(Path(name).suffix.lower(), []).append(text)
    sample = [text for _, text in real_texts[::40]]
    checked = matched = 0
    deadline = time.monotonic() + 60
    for ext, rule in rules:
        for text in by_ext.get(ext, [])[:40] + sample:
            for pattern, parts in ((rule.pattern, rule.parts), (rule.negative, rule.negative_parts)):
                if parts:
                    whole = pattern.search(text, timeout=5) is not None
                    assert any(p.search(text, timeout=5) is not None for p, _ in parts) == whole
                    matched += whole
            assert rule.matches(text, deadline) == reference_matches(rule, text)
            checked += 1
    assert checked > 1000 and matched > 20


def test_key_and_licence_probes_agree(real_texts: list[tuple[str, str]]) -> None:
    body = "AAAAB3NzaC1yc2EAAAADAQABAAABAQC" + "x" * 300
    crafted = [
        f"ssh-rsa {body} me@host\n".encode(),
        f'from="10.0.0.1" ssh-ed25519 {body}\necdsa-sha2-nistp256 {body}\n'.encode(),
        f"sk-ssh-ed25519@openssh.com {body}\n".encode(),
        b"---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\n" + b"A" * 64 + b"\n",
        b"-----BEGIN CERTIFICATE-----\n" + b"MIIB" * 30 + b"\n-----END CERTIFICATE-----\n",
        b"-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n" + b"lQ" * 40 + b"\n",
        b"PuTTY-User-Key-File-3: ssh-rsa\nPrivate-Lines: 14\n",
        b"mappings AAAA,CAAC ssh-agent notes\n" * 40,
    ]
    heads = [text.encode("utf-8", "surrogatepass")[: 64 * 1024] for _, text in real_texts] + crafted
    for head in heads:
        armour = b"BEGIN " in head
        assert not_code.private_key(head, armour) == not_code.private_key(head)
        assert not_code._pem_or_public(head, armour) == reference_pem_or_public(head)
        low = head[:4096].lower()
        assert not_code._license_hint(head) == any(h in low for h in not_code._LICENSE_HINTS)
    assert sum(reference_pem_or_public(h) is not None for h in crafted) >= 4
