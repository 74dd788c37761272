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
from dataclasses import dataclass

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


def private_key(head: bytes) -> str | None:
    """Which kind of private key the bytes hold, or None; two substring probes for most files."""
    if b"PRIVATE KEY" in head:
        m = _PRIVATE_ARMOUR.search(head)
        if m:
            line = m.group(0).split(b"\n", 1)[0].strip().strip(b"- ").decode("ascii", "replace")
            return f"{line.removeprefix('BEGIN ')} block"
    if b"PuTTY-User-Key-File-" in head and b"Private-Lines:" in head and _PUTTY.search(head):
        return "PuTTY private key file"
    return None


def _pem_or_public(head: bytes) -> tuple[str, str] | None:
    """Certificates and public keys when they make up the file (at least half its non-blank bytes)."""
    pem, ssh = b"-----BEGIN " in head, b"AAAA" in head
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
    return any(h in low for h in _LICENSE_HINTS)


def license_phrase(text: str) -> str | None:
    """The licence whose phrase opens the text (first 4 KiB), or None."""
    folded = _SPACE.sub(" ", text[:4096]).casefold()
    for name, phrase in LICENSE_PHRASES:
        if phrase in folded:
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
_NOT_LETTER = re.compile(r"[^A-Za-z ]")
_CALL = re.compile(r"[A-Za-z0-9_]\((?!s\))")
_CODE_END = (";", "{", "}", "[", "(", "\\", "=>", "->", ":=")
_OPERATORS = re.compile(
    r"==|!=|&&|\|\||\+=|-=|->|=>|::|:=|</|/>|\s=\s|\w\.\w+\(|\$\{?[A-Za-z_]|^\s*@\w+(?:\(|\.|$)"
)

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


def _classify_line(line: str) -> tuple[bool, bool]:
    """(code, prose) for one line, its end already stripped."""
    bare = _URL_OR_MAIL.sub(" ", line) if ("@" in line or "://" in line) else line
    m = _MARKER.match(bare)
    if m:
        bare = bare[m.end() :]
        if not bare:
            return False, False
    if "(c)" in bare or "(C)" in bare:
        bare = bare.replace("(c)", "").replace("(C)", "")
    raw = bare.encode("utf-8", "surrogatepass")
    syms = len(raw) - len(raw.translate(None, _CODE_BYTES))
    if (
        syms >= 2
        or bare.endswith(_CODE_END)
        or ("(" in bare and _CALL.search(bare))
        or _OPERATORS.search(bare)
    ):
        # a long sentence with a bracket or a semicolon in it is still a sentence
        if syms <= 1 and len(_WORD.findall(bare)) >= 8 and not _OPERATORS.search(bare):
            return False, True
        return True, False
    if syms <= 1 and len(_WORD.findall(bare)) >= 5:
        size = len(bare.strip())
        if size - len(_NOT_LETTER.findall(bare.strip())) >= 0.85 * size:
            return False, True
    return False, False


def line_stats(text: str) -> LineStats:
    """One pass over the first ``SCAN_LINES`` non-blank lines of the first ``SCAN_BYTES`` of `text`."""
    st = LineStats()
    counts: dict[str, dict[int, int]] = {d: {} for d in _DELIMS}
    for raw in text[:SCAN_BYTES].split("\n"):
        line = raw.rstrip()
        if not line.strip():
            continue
        st.lines += 1
        st.chars += len(line)
        code, prose = _classify_line(line)
        st.code += code
        st.prose += prose
        head = line[:40]
        if _TIMESTAMP.match(head):
            st.log += 1
        if _HEXDUMP.match(line):
            st.hexdump += 1
        if len(line) >= 60 and _BASE64_LINE.match(line):
            st.base64 += len(line)
        raw = line.encode("utf-8", "surrogatepass")
        digits = len(raw) - len(raw.translate(None, b"0123456789"))
        if digits >= 4 and digits * 3 >= len(line) - line.count(" "):
            fields = line.split()
            nums = sum(1 for f in fields if _NUMBER.fullmatch(f.strip("|,;()[]")))
            if nums >= 2 and nums * 3 >= len(fields):
                st.numeric += 1
        for d in _DELIMS:
            n = line.count(d)
            if n:
                counts[d][n] = counts[d].get(n, 0) + 1
        if st.lines >= SCAN_LINES:
            break
    if st.lines >= 5:
        for d in _DELIMS:
            if counts[d]:
                n, hits = max(counts[d].items(), key=lambda kv: kv[1])
                if hits >= 0.8 * st.lines:
                    st.delimited = f"{d!r} x{n}"
                    break
    return st


# -- the decision ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NotCode:
    """A non-code kind and why."""

    label: str
    reason: str


def classify(
    base: str, head: bytes, text: str | None, stats: LineStats | None, *, nameless: bool
) -> NotCode | None:
    """The non-code kind of a file called `base` (its first bytes `head`, decoded `text`), or None.

    `nameless`: the name gives no candidate at all (or only a weak extension); then the content
    kinds that a telling name would make doubtful (data, program output, prose) are looked for too.
    `stats` is ``line_stats(text)`` when the caller already has it; `text` is decoded from `head`
    only when a check needs it (most named files are decided by byte probes alone).
    """
    key = private_key(head)
    if key:
        return NotCode(PRIVATE_KEY, key)
    pem = _pem_or_public(head)
    if pem:
        return NotCode(*pem)
    if text is None and (nameless or LICENSE_NAME.match(base) or _license_hint(head)):
        text = decode_prefix(head, TEXT_CHARS)
    if LICENSE_NAME.match(base):
        assert text is not None
        stats = stats or line_stats(text)
        found = license_phrase(text)
        if found:
            return NotCode(LICENSE, f"licence file name, {found} licence text")
        if not stats.code_like:
            return NotCode(LICENSE, "licence file name, not code")
    ext = _last_extension(base)
    if ext in OUTPUT_EXTENSIONS and not LICENSE_NAME.match(base):
        return NotCode(OUTPUT, f"output file extension {ext}")
    found = license_phrase(text) if text is not None and _license_hint(head) else None
    if found:
        stats = stats or line_stats(text)
        if stats.code_share < 0.3:
            return NotCode(LICENSE, f"{found} licence text")
    if not nameless or text is None:
        return None
    stats = stats or line_stats(text)
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
    if stats.code_share < 0.3 and stats.prose >= 3 and stats.prose >= 0.5 * n:
        return NotCode(TEXT, f"prose: {stats.describe()}")
    return None
