"""Files that are not code at all: keys, certificates, licence texts, program output, data, prose.

A language identifier that must always name a language turns such files into code: a PEM private
key tokenises like a shell here-document, a licence like a template, a test-runner log like Scala.
On real repositories that put secrets and licence texts into code shards. This module names what a
file is instead, so that ``detect`` can abstain (``language=None``) with a kind and a reason.

It is only asked about files whose name does not decide a programming language and that carry no
shebang naming a known interpreter (see ``identify.detect``): a ``.py`` test that embeds a PEM key
in a string stays Python, and so does a script with a licence header. Checks run cheapest first:
a private key costs two byte searches, file-name kinds a dictionary lookup; only files without a
telling name pay a scan of their first lines (``LineStats``), the same scan that decides whether
the content model may be asked at all (``LineStats.code_like``).

Kinds (the ``label`` of the resulting detection):

- ``Private Key``: a PEM (PKCS#1/#8, EC, DSA, encrypted), OpenSSH, PGP, SSH2 or PuTTY private key
  anywhere in the file; callers drop these whatever else they keep.
- ``Certificate`` / ``Public Key``: content that is PEM blocks (certificates, CRLs, requests,
  public keys, PGP public blocks) or OpenSSH public-key lines.
- ``License``: a licence file by name (LICENSE, LICENCE, COPYING, NOTICE, UNLICENSE, COPYRIGHT,
  with suffixes such as ``-MIT`` or ``.txt``) that is not code-like, or prose that opens with one
  of the well-known licences' own phrases.
- ``Program Output``: output-file extensions (``.out``, ``.log``, ``.expected``...), or content
  whose lines are mostly timestamped log lines, a test runner's summary, or a table of numbers.
- ``Data``: delimited rows (CSV/TSV-like), hex dumps, long base64 blobs.
- ``Text``: prose, for files without a telling name.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from itertools import repeat

from classifiers.langid.sniff import decode_prefix

PRIVATE_KEY = "Private Key"
CERTIFICATE = "Certificate"
PUBLIC_KEY = "Public Key"
LICENSE = "License"
OUTPUT = "Program Output"
DATA = "Data"
TEXT = "Text"

#: every label this module gives, so callers can tell a non-code answer from a language
KINDS = frozenset({PRIVATE_KEY, CERTIFICATE, PUBLIC_KEY, LICENSE, OUTPUT, DATA, TEXT})

#: the part of a file the line-based checks read; enough lines to judge, cheap on large files
SCAN_BYTES = 6 * 1024
SCAN_LINES = 80
#: every check here reads at most this many characters of a file's text (``SCAN_BYTES`` of it for
#: the line checks, 4 KiB for licence phrases), so a caller may pass just these
TEXT_CHARS = SCAN_BYTES
#: what is read of a file past a leading comment block (`Scan.body_code_like`): licence headers
#: and file descriptions run to a few KiB, so the code after them starts within this
BODY_CHARS = 24 * 1024

# -- keys and certificates -------------------------------------------------------------------------

#: the armour line of a private key, in the PEM/OpenSSH ("-----BEGIN ...-----"), PGP
#: ("... PRIVATE KEY BLOCK") and SSH2 ("---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----") forms,
#: followed within a few lines (encrypted PEM keys put "Proc-Type:" and "DEK-Info:" headers and
#: a blank line first) by a base64 body (so a sentence or a regex naming the marker is not
#: a key); PuTTY keys are recognised by their header and "Private-Lines:" field
_PRIVATE_ARMOUR = re.compile(
    rb"^[ \t]*-{4,5} ?BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)? ?-{4,5}[ \t]*\r?\n"
    rb"(?:[^\n]{0,200}\n){0,6}?[ \t]*[A-Za-z0-9+/=]{40,}[ \t]*\r?$",
    re.M,
)
_PUTTY = re.compile(rb"^PuTTY-User-Key-File-\d+: ", re.M)
_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\s.*?(?:-----END \1-----|\Z)",
    re.S,
)
_SSH_PUBLIC = re.compile(
    rb"^(?:[\w,=\"-]+ )?(?:ssh-(?:rsa|dss|ed25519|ed448)|ecdsa-sha2-nistp\d+|sk-\S+@openssh\.com) "
    rb"AAAA[A-Za-z0-9+/=]{20,}(?: [^\n]*)?$",
    re.M,
)
_CERT_LABELS = (b"CERTIFICATE", b"X509 CRL", b"CERTIFICATE REQUEST", b"TRUSTED CERTIFICATE", b"PKCS7")


def private_key(head: bytes, armour: bool | None = None) -> str | None:
    """Which kind of private key the bytes hold, or None; two substring probes for most files.

    `armour`: whether ``BEGIN `` is in `head`, when the caller has looked (every armour line
    holds it), so that files without one skip the search for ``PRIVATE KEY``."""
    if (armour is None or armour) and b"PRIVATE KEY" in head:
        m = _PRIVATE_ARMOUR.search(head)
        if m:
            line = m.group(0).split(b"\n", 1)[0].strip().strip(b"- ").decode("ascii", "replace")
            return f"{line.removeprefix('BEGIN ')} block"
    if b"PuTTY-User-Key-File-" in head and b"Private-Lines:" in head and _PUTTY.search(head):
        return "PuTTY private key file"
    return None


def _pem_or_public(head: bytes, armour: bool = True) -> tuple[str, str] | None:
    """Certificates and public keys when they make up the file (at least half its non-blank bytes);
    `armour` False when ``BEGIN `` is known not to be in `head`."""
    pem = armour and b"-----BEGIN " in head
    # every OpenSSH public-key line holds a key type literal and a base64 body starting AAAA
    ssh = b"AAAA" in head and (b"ssh-" in head or b"ecdsa-sha2-" in head or b"@openssh.com" in head)
    if not (pem or ssh):
        return None
    solid = len(head) - sum(head.count(c) for c in b" \t\r\n")
    if solid <= 0:
        return None
    if pem:
        covered, labels = 0, []
        for m in _PEM_BLOCK.finditer(head):
            block = m.group(0)
            covered += len(block) - sum(block.count(c) for c in b" \t\r\n")
            labels.append(m.group(1).decode("ascii"))
        if labels and covered * 2 >= solid:
            shown = ", ".join(dict.fromkeys(labels))
            if any(lab.encode().endswith(_CERT_LABELS) for lab in labels):
                return CERTIFICATE, f"PEM blocks: {shown}"
            return PUBLIC_KEY, f"PEM blocks: {shown}"
    if ssh:
        lines = _SSH_PUBLIC.findall(head)
        if lines and sum(len(x) for x in lines) * 2 >= solid:
            return PUBLIC_KEY, f"{len(lines)} OpenSSH public key line(s)"
    return None


# -- names -------------------------------------------------------------------------------------------

#: base names of licence files, any case, with an optional suffix (LICENSE-MIT, COPYING.LESSER,
#: LICENCE.txt, NOTICE.md, third-party-notices.txt)
LICENSE_NAME = re.compile(
    r"^(?:un)?licen[cs]es?(?:[-_.].*)?$|^(?:copying|copyright|copyleft|notice|eula|patents)(?:[-_.].*)?$"
    r"|^third[-_ ]?party[-_ ]?(?:notices?|licen[cs]es?)(?:[-_.].*)?$",
    re.I,
)
#: extensions of captured program output, logs and the golden files tests compare output with
OUTPUT_EXTENSIONS = frozenset(
    {".out", ".output", ".log", ".logs", ".stdout", ".stderr", ".expected", ".actual", ".golden"}
    | {".result", ".results", ".trace"}
)


#: name endings of tools' outputs that are not extensions (coverage.py's annotated copies of
#: source files, `module.py,cover`)
OUTPUT_SUFFIXES = (",cover",)


def is_license_name(base: str) -> bool:
    return LICENSE_NAME.match(base) is not None


def _last_extension(base: str) -> str:
    dot = base.rfind(".")
    return base[dot:].lower() if dot > 0 else ""


# -- licence phrases ---------------------------------------------------------------------------------

#: phrases of the well-known licences' own texts (whitespace collapsed, case folded); any one, in
#: the first few kilobytes of prose, makes the file a licence text
LICENSE_PHRASES: tuple[tuple[str, str], ...] = (
    ("MIT", "permission is hereby granted, free of charge, to any person obtaining"),
    ("MIT", 'the software is provided "as is", without warranty of any kind'),
    ("BSD", "redistribution and use in source and binary forms, with or without modification"),
    ("Apache-2.0", "apache license version 2.0"),
    ("Apache-2.0", "licensed under the apache license, version 2.0"),
    ("Apache-2.0", "terms and conditions for use, reproduction, and distribution"),
    ("GPL", "gnu general public license"),
    ("LGPL", "gnu lesser general public license"),
    ("LGPL", "gnu library general public license"),
    ("AGPL", "gnu affero general public license"),
    ("GPL", "this program is free software; you can redistribute it and/or modify"),
    ("GPL", "this library is free software; you can redistribute it and/or modify"),
    ("MPL", "mozilla public license"),
    ("ISC", "permission to use, copy, modify, and/or distribute this software for any purpose"),
    ("ISC", "permission to use, copy, modify, and distribute this software"),
    ("Unlicense", "this is free and unencumbered software released into the public domain"),
    ("CC", "creative commons"),
    ("EPL", "eclipse public license"),
    ("BSL-1.0", "boost software license"),
    ("Artistic", "the artistic license"),
    ("Zlib", "this software is provided 'as-is', without any express or implied warranty"),
    ("PSF", "python software foundation license"),
    ("CDDL", "common development and distribution license"),
    ("EUPL", "european union public licence"),
    ("WTFPL", "do what the fuck you want to public license"),
    ("AFL", "academic free license"),
    ("OFL", "sil open font license"),
)
_SPACE = re.compile(r"\s+")
#: byte probes (on the lower-cased first 4 KiB) one of which every licence phrase above passes, so
#: most files skip the folding
_LICENSE_HINTS = (
    b"license",
    b"licence",
    b"permission",
    b"redistribution",
    b"public domain",
    b"creative commons",
)


def _license_hint(head: bytes) -> bool:
    low = head[:4096].lower()
    # `any(h in low for h in _LICENSE_HINTS)`, written out: it runs for most files
    return (
        b"license" in low
        or b"licence" in low
        or b"permission" in low
        or b"redistribution" in low
        or b"public domain" in low
        or b"creative commons" in low
    )


#: words of the phrases that documentation uses too, and so select few texts
_COMMON_WORDS = frozenset(
    {"license", "licensed", "licence", "software", "general", "public", "library", "distribution"}
    | {"version", "permission", "provided", "program", "free", "this", "the", "what", "want", "open"}
)


def _phrase_word(phrase: str) -> str:
    words = [w.strip(",.;'\"") for w in phrase.split()]
    return max((w for w in words if w not in _COMMON_WORDS), key=len, default=max(words, key=len))


#: one word of each phrase, its longest uncommon one, and the phrase as a pattern with any white
#: space between its words: a phrase is in the folded text exactly where its pattern matches the
#: case-folded text, and only where its word is there too, so most texts search no pattern at all
_PHRASE_WORDS = tuple(_phrase_word(phrase) for _, phrase in LICENSE_PHRASES)
_PHRASE_PATTERNS = tuple(
    re.compile(r"\s+".join(map(re.escape, phrase.split(" ")))) for _, phrase in LICENSE_PHRASES
)


def license_phrase(text: str) -> str | None:
    """The licence whose phrase opens the text (first 4 KiB), or None."""
    low = text[:4096].casefold()
    for (name, _), word, pattern in zip(LICENSE_PHRASES, _PHRASE_WORDS, _PHRASE_PATTERNS, strict=True):
        if word in low and pattern.search(low):
            return name
    return None


# -- line statistics ---------------------------------------------------------------------------------

_URL_OR_MAIL = re.compile(r"\w+://\S+|<?[\w.+-]+@[\w-]+\.[\w.-]+>?")
#: a comment marker or list bullet opening a line: what follows it is judged, not the marker
_MARKER = re.compile(r"^\s*(?:/\*+|\*+/?|//+|#+|--|;+|%+|>+|-(?=\s)|\d{1,2}\.(?=\s))\s*")
#: characters that are common in code and rare in prose (brackets, ``*`` and ``/`` are both, so left out)
_CODE_CHARS = frozenset("{}[];=<>+&|!$@\\^~`")
_WORD = re.compile(r"[A-Za-z][a-z']+|[A-Z]{2,}")
#: code characters as bytes: bytes.translate(None, these) deletes them in C, ten times faster than
#: str.translate, and the length difference is their count
_CODE_BYTES = "".join(sorted(_CODE_CHARS)).encode()
#: the code characters that `_URL_OR_MAIL`'s address branch and `_MARKER` never remove
_FIRM_CODE_BYTES = "".join(sorted(_CODE_CHARS - set(";<>+@"))).encode()
_NOT_LETTER = re.compile(r"[^A-Za-z ]")
_CALL = re.compile(r"[A-Za-z0-9_]\((?!s\))")
_CODE_END = (";", "{", "}", "[", "(", "\\", "=>", "->", ":=")
#: a Lisp form: an opening parenthesis and a lower-case head symbol or operator, as in
#: `(defun name (x)` or `(let ((a 1))`; prose in brackets starts with a capital or a number
_LISP_FORM = re.compile(r"\s*\((?:[a-z][-a-z0-9*!?<>=/+:.]*|[-+*/<>=]=?)[\s()]")
_OPERATORS = re.compile(
    r"==|!=|&&|\|\||\+=|-=|->|=>|::|:=|</|/>|\s=\s|\w\.\w+\(|\$\{?[A-Za-z_]|^\s*@\w+(?:\(|\.|$)"
)
#: `_OPERATORS` cut into the parts that share a character every match of them contains, each
#: searched only when that character is in the line: one pattern that starts with ``\w`` and
#: ``\s`` branches is tried at every position, the parts are tried where they can match
_SYMBOL_OPERATORS = re.compile(r"==|!=|&&|\|\||\+=|-=|->|=>|::|:=|</|/>|\s=\s")
_METHOD_CALL = re.compile(r"\w\.\w+\(")
_VARIABLE = re.compile(r"\$\{?[A-Za-z_]")
_DECORATOR = re.compile(r"\s*@\w+(?:\(|\.|$)")


def _has_operator(line: str) -> bool:
    """``_OPERATORS.search(line) is not None``, for a line without line breaks."""
    if (
        "=" in line
        or "&&" in line
        or "||" in line
        or "->" in line
        or "::" in line
        or "</" in line
        or "/>" in line
    ) and _SYMBOL_OPERATORS.search(line):
        return True
    if "(" in line and "." in line and _METHOD_CALL.search(line):
        return True
    if "$" in line and _VARIABLE.search(line):
        return True
    return "@" in line and _DECORATOR.match(line) is not None


_TIMESTAMP = re.compile(
    r"^\s*[\[(]?(?:\d{4}-\d\d-\d\d[T ]\d\d:\d\d|\d{4}/\d\d/\d\d \d\d:\d\d|\d\d:\d\d:\d\d[.,]\d"
    r"|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|[IWEF]\d{4} \d\d:\d\d:\d\d)"
    r"|^\s*\[?(?:INFO|WARN|WARNING|ERROR|DEBUG|TRACE|FATAL|CRITICAL|NOTICE)\s*[\]:|]"
)
_RUNNER = re.compile(
    r"^=+ .*\b\d+ (?:passed|failed|errors?|skipped)\b.* in [\d.]+s|^Ran \d+ tests? in [\d.]+s"
    r"|^(?:OK|FAILED) \((?:failures|errors|skipped)=|^Tests run: \d+, Failures: \d+"
    r"|^\d+ (?:examples?|tests?|specs?|assertions?), \d+ failures?|^test result: (?:ok|FAILED)\. \d+ passed"
    r"|^(?:PASS|FAIL|ok)\s+\S+\s+[\d.]+s$|^(?:PASSED|FAILED|ERROR): \S+|^\d+ tests? (?:passed|failed)"
    r"|^\d+ (?:passed|failed|errors?|skipped|deselected|warnings?)\b(?:, \d+ \w+)* in [\d.]+s"
    r"|^Traceback \(most recent call last\):$",
    re.M,
)
_NUMBER = re.compile(r"[-+]?(?:\d+[.,]?\d*|\.\d+)(?:[eE][-+]?\d+)?%?")
_HEXDUMP = re.compile(r"^[0-9a-fA-F]{4,16}[:\s]\s*(?:[0-9a-fA-F]{2,8}\s+){4,}|^:[0-9A-F]{10,}$")
_BASE64_LINE = re.compile(r"^[A-Za-z0-9+/=_-]{60,}$")
_DELIMS = (",", "\t", ";", "|")


@dataclass
class LineStats:
    """What the first lines of a file look like, from one pass over them.

    A line is *code* when it carries what prose rarely does: two or more of ``{}[];=<>+&|!$@\\^~```
    (after URLs and e-mail addresses are removed), a call ``name(``, an operator (``==``, ``->``,
    ``::``, `` = ``, ``.method(``, ``$var``, ``@decorator``) or a code line ending (``;`` ``{``
    ``}`` ``(`` ``[`` ``\\`` ``=>``), unless it is a sentence of eight or more words with at most
    one such character. A line is *prose* when it has five or more words, at most one code
    character, and letters and spaces make up 85% of it. A leading comment marker or list bullet
    is skipped first, so a licence in a comment block reads as prose. Short lines of bare words
    and numbers are neither. ``code_share`` is code / (code + prose) lines.
    """

    lines: int = 0  # non-blank lines looked at
    code: int = 0
    prose: int = 0
    log: int = 0  # lines opening with a timestamp or a log level
    numeric: int = 0  # lines that are mostly numbers in two or more fields
    hexdump: int = 0
    base64: int = 0  # characters in lines that are one long base64 run
    chars: int = 0  # non-blank characters looked at
    delimited: str = ""  # the delimiter shared by nearly all lines, with its count per line

    @property
    def code_share(self) -> float:
        both = self.code + self.prose
        return self.code / both if both else 0.0

    @property
    def code_like(self) -> bool:
        """Whether the content model may be asked: at least one code line, and at least as many
        code lines as prose lines. Measured by benchmarks/bench_langid_calibrate.py (see
        ``identify.MIN_CONFIDENCE``)."""
        return self.code >= 1 and self.code_share >= 0.5 and self.code >= 0.15 * self.lines

    def describe(self) -> str:
        return f"{self.code} code-like and {self.prose} prose lines of {self.lines}"


_NEITHER, _CODE, _PROSE = 0, 1, 2


def _line_kind(line: str) -> int:
    """``_CODE``, ``_PROSE`` or ``_NEITHER`` for one line, its end already stripped."""
    # two code characters that neither an address nor a comment marker can remove make the line
    # code whatever else is removed below; most code lines end here, and long minified lines skip
    # the address search, which is slow on them. A URL may hold any character, but only within
    # the run of non-space characters that holds its `://`; e-mail addresses hold none of these.
    kept = line if "://" not in line else " ".join(w for w in line.split() if "://" not in w)
    raw = kept.encode("utf-8", "surrogatepass")
    if len(raw) - len(raw.translate(None, _FIRM_CODE_BYTES)) >= 2:
        return _CODE
    if (
        "(" in line
        and _LISP_FORM.match(line)
        and line.count("(") + line.count(")") >= 2
        and len(_WORD.findall(line)) < 8
    ):
        return _CODE
    bare = _URL_OR_MAIL.sub(" ", line) if ("@" in line or "://" in line) else line
    m = _MARKER.match(bare)
    if m:
        bare = bare[m.end() :]
        if not bare:
            return _NEITHER
    if "(c)" in bare or "(C)" in bare:
        bare = bare.replace("(c)", "").replace("(C)", "")
    raw = bare.encode("utf-8", "surrogatepass")
    syms = len(raw) - len(raw.translate(None, _CODE_BYTES))
    if syms >= 2:
        return _CODE
    if bare.endswith(_CODE_END) or ("(" in bare and _CALL.search(bare)):
        # a long sentence with a bracket or a semicolon in it is still a sentence
        if len(_WORD.findall(bare)) >= 8 and not _has_operator(bare):
            return _PROSE
        return _CODE
    if _has_operator(bare):
        return _CODE
    if len(_WORD.findall(bare)) >= 5:
        stripped = bare.strip()
        size = len(stripped)
        if size - len(_NOT_LETTER.findall(stripped)) >= 0.85 * size:
            return _PROSE
    return _NEITHER


def _classify_line(line: str) -> tuple[bool, bool]:
    """(code, prose) for one line, its end already stripped."""
    kind = _line_kind(line)
    return kind == _CODE, kind == _PROSE


def _numeric(line: str) -> bool:
    """Mostly numbers, in two or more fields (a row of a table of results)."""
    raw = line.encode("utf-8", "surrogatepass")
    digits = len(raw) - len(raw.translate(None, b"0123456789"))
    if digits >= 4 and digits * 3 >= len(line) - line.count(" "):
        fields = line.split()
        nums = sum(1 for f in fields if _NUMBER.fullmatch(f.strip("|,;()[]")))
        return nums >= 2 and nums * 3 >= len(fields)
    return False


def line_stats(text: str) -> LineStats:
    """One pass over the first ``SCAN_LINES`` non-blank lines of the first ``SCAN_BYTES`` of `text`.

    Each statistic is one ``map`` of a compiled pattern or a string method over the list of lines
    (C loops), rather than a Python loop doing every check per line; only the code/prose test is
    a Python function per line.
    """
    # a line with anything left after its trailing white space is removed is not blank
    lines = [line for line in map(str.rstrip, text[:SCAN_BYTES].split("\n")) if line]
    del lines[SCAN_LINES:]
    n = len(lines)
    st = LineStats(lines=n, chars=sum(map(len, lines)))
    if not n:
        return st
    kinds = list(map(_line_kind, lines))
    st.code, st.prose = kinds.count(_CODE), kinds.count(_PROSE)
    st.log = n - list(map(_TIMESTAMP.match, [line[:40] for line in lines])).count(None)
    st.hexdump = n - list(map(_HEXDUMP.match, lines)).count(None)
    st.base64 = sum(len(line) for line in lines if len(line) >= 60 and _BASE64_LINE.match(line))
    st.numeric = sum(map(_numeric, lines))
    if n >= 5:
        for d in _DELIMS:
            counts = Counter(filter(None, map(str.count, lines, repeat(d))))
            if counts:
                # the first count seen wins a tie, as in a count-by-count pass
                per_line, hits = max(counts.items(), key=lambda kv: kv[1])
                if hits >= 0.8 * n:
                    st.delimited = f"{d!r} x{per_line}"
                    break
    return st


# -- a leading comment block ---------------------------------------------------------------------

#: a whole-line comment: the common markers, and fixed-form Fortran's `C`, `c`, `*` or `!` in
#: the first column
_COMMENT_LINE = re.compile(
    r"\s*(?:;|#(?!\s*(?:include|import|define|undef|if|ifdef|ifndef|elif|else|endif|pragma|error)\b)"
    r"|//|--|%|\*|!|')|[Cc*](?:[\s*=-]|$)|REM\b|\"\s"
)
_BLOCKS = (("/*", "*/"), ("(*", "*)"), ("{-", "-}"), ("#|", "|#"), ('"""', '"""'), ("'''", "'''"))
_BLOCKS += (("=begin", "=end"), ("--[[", "]]"), ("<!--", "-->"), ("%{", "%}"))


def header_end(text: str) -> int:
    """Where the file's leading comments end: the offset of its first line that is neither blank
    nor a comment (line comments, or a block comment opened at a line's start)."""
    return _comment_walk(text, stop_at_code=True)[0]


def code_lines(text: str, limit: int = SCAN_BYTES) -> str:
    """The lines of `text` that are neither blank nor comments, up to `limit` characters: what
    is left to judge in a file whose code is documented line by line."""
    return _comment_walk(text, stop_at_code=False, limit=limit)[1]


def _comment_walk(text: str, stop_at_code: bool, limit: int = SCAN_BYTES) -> tuple[int, str]:
    pos, n = 0, len(text)
    closing: str | None = None
    kept: list[str] = []
    size = 0
    while pos < n:
        nl = text.find("\n", pos)
        end = n if nl < 0 else nl + 1
        line = text[pos:end]
        if closing is not None:
            if closing in line:
                closing = None
            pos = end
            continue
        s = line.strip()
        if not s:
            pos = end
            continue
        block = next(((o, c) for o, c in _BLOCKS if s.startswith(o)), None)
        if block is not None:
            if block[1] not in s[len(block[0]) :]:
                closing = block[1]
            pos = end
            continue
        if _COMMENT_LINE.match(line):
            pos = end
            continue
        if stop_at_code:
            break
        kept.append(line)
        size += len(line)
        pos = end
        if size >= limit:
            break
    return pos, "".join(kept)


# -- the decision ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NotCode:
    """A non-code kind and why."""

    label: str
    reason: str


class Scan:
    """A file's head with its decoded text and line statistics, each computed once, when a check
    first needs it: most files are decided by byte probes (a private key, a PEM block, a licence
    name) and never pay for the decoding or the line pass."""

    __slots__ = ("_body", "_stats", "_text", "chars", "head")

    def __init__(self, head: bytes, chars: int = TEXT_CHARS) -> None:
        self.head = head
        self.chars = max(chars, TEXT_CHARS)
        self._text: str | None = None
        self._stats: LineStats | None = None
        self._body: tuple[str, LineStats] | None = None

    @property
    def text(self) -> str:
        """At least the first ``chars`` characters of the decoded head (``sniff.decode_prefix``)."""
        if self._text is None:
            self._text = decode_prefix(self.head, self.chars)
        return self._text

    @property
    def stats(self) -> LineStats:
        if self._stats is None:
            self._stats = line_stats(self.text)
        return self._stats

    def _body_scan(self) -> tuple[str, LineStats]:
        """The text after the leading comment block (licence header, file description), and the
        line statistics of the file's lines that are not comments. Files in the Lisps, Fortran
        and most library code open with tens of lines of comments and document their code line
        by line, which reads as prose."""
        if self._body is None:
            text = decode_prefix(self.head, BODY_CHARS)
            start = header_end(text)
            body = text[start:] if 0 < start < len(text) else ""
            code = code_lines(text)
            self._body = (body, line_stats(code) if code else LineStats())
        return self._body

    @property
    def body_code_like(self) -> bool:
        """Whether the code after the leading comment block looks like code (see `_body_scan`)."""
        return self._body_scan()[1].code_like

    def model_text(self, chars: int) -> str:
        """What a content model should read when the head is mostly comments: the first KiB of
        the comments (their syntax tells a family), then the code after them."""
        body = self._body_scan()[0]
        return (self.text[:1024] + "\n" + body)[:chars] if body else self.text[:chars]


def classify(base: str, scan: Scan, *, nameless: bool, past_header: bool = False) -> NotCode | None:
    """The non-code kind of a file called `base` whose head `scan` holds, or None.

    `nameless`: the name gives no candidate at all (or only a weak extension); then the content
    kinds that a telling name would make doubtful (data, program output, prose) are looked for too.
    `past_header`: a file with no name to go by (no extension, not a prose name) whose first lines
    are a licence or a description in comments is judged by the code after them as well.
    The text is decoded and its lines scanned only when a check needs them (most named files are
    decided by byte probes alone).
    """
    head = scan.head
    armour = b"BEGIN " in head  # in every PEM, PGP and SSH2 armour line: one search for three
    key = private_key(head, armour)
    if key:
        return NotCode(PRIVATE_KEY, key)
    pem = _pem_or_public(head, armour)
    if pem:
        return NotCode(*pem)
    licence_name = LICENSE_NAME.match(base) is not None
    if licence_name:
        found = license_phrase(scan.text)
        if found:
            return NotCode(LICENSE, f"licence file name, {found} licence text")
        if not scan.stats.code_like:
            return NotCode(LICENSE, "licence file name, not code")
    ext = _last_extension(base)
    if ext in OUTPUT_EXTENSIONS and not licence_name:
        return NotCode(OUTPUT, f"output file extension {ext}")
    if base.endswith(OUTPUT_SUFFIXES):
        return NotCode(OUTPUT, f"output file name ending {base[base.rfind(',') :]}")
    found = license_phrase(scan.text) if _license_hint(head) else None
    if found and scan.stats.code_share < 0.3 and not (nameless and past_header and scan.body_code_like):
        return NotCode(LICENSE, f"{found} licence text")
    if not nameless:
        return None
    text, stats = scan.text, scan.stats
    n = stats.lines
    if not n:
        return None
    if stats.base64 >= 0.6 * stats.chars and stats.chars >= 240:
        return NotCode(DATA, "base64 blob")
    if stats.hexdump >= 0.6 * n:
        return NotCode(DATA, "hex dump")
    if stats.log >= 0.5 * n and stats.log >= 2:
        return NotCode(OUTPUT, f"{stats.log} of {n} lines are log lines")
    m = _RUNNER.search(text[:SCAN_BYTES])
    if m:
        return NotCode(OUTPUT, f"test runner output: {m.group(0).strip()[:60]}")
    if stats.numeric >= 0.6 * n and n >= 3 and stats.code_share < 0.5:
        return NotCode(OUTPUT, f"table of numbers ({stats.numeric} of {n} lines)")
    if stats.delimited and n >= 5 and stats.code_share < 0.5:
        return NotCode(DATA, f"delimited rows ({stats.delimited} on most lines)")
    prose = stats.code_share < 0.3 and stats.prose >= 3 and stats.prose >= 0.5 * n
    if prose and not (past_header and scan.body_code_like):
        return NotCode(TEXT, f"prose: {stats.describe()}")
    return None
