"""Private keys and certificates: PEM blocks (PKCS#1/#8, EC, DSA, encrypted), OpenSSH and PGP
private key blocks, PuTTY `.ppk` files, and a GCP service account's `"private_key"`.

Two outcomes. A file that *is* keys or certificates (`id_rsa`, `server.pem`, a CA bundle, a
PKCS#12 dump with its `Bag Attributes`) has nothing in it worth training on once the key is gone,
so the whole document is dropped (`file_kind`). A key block inside code or config (a test fixture,
a JSON credential with `\\n` escapes, a string concatenated over lines) is replaced by one
`<PRIVATE_KEY>` placeholder from its BEGIN line to its END line. Certificates are public: inside a
file they stay, only certificate-only files are dropped as noise.

A block must carry a real body (64+ base64 characters) so that documentation showing the shape of
a key (`-----BEGIN RSA PRIVATE KEY-----\\n...\\n-----END RSA PRIVATE KEY-----`) is kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from classifiers.secrets.findings import Finding

#: how far after a BEGIN line its END line is looked for (a 16384-bit RSA key is about 13 KB)
MAX_BLOCK_CHARS = 32_768
MIN_BODY_B64 = 64

_BEGIN = re.compile(r"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----")
_PUTTY = re.compile(
    rf"PuTTY-User-Key-File-\d+: [^\r\n]*[\s\S]{{0,{MAX_BLOCK_CHARS}}}?Private-MAC: [0-9a-fA-F]+"
)
_ANY_BLOCK = re.compile(rf"-----BEGIN ([A-Z0-9 ]+)-----[\s\S]{{0,{MAX_BLOCK_CHARS}}}?-----END \1-----")
_B64 = re.compile(r"[A-Za-z0-9+/=]{16,}")
#: a truncated block (no END line): the base64 lines, quotes and escapes after its BEGIN line
_BODY_RUN = re.compile(r"(?:[\s\"'+,\\n]*[A-Za-z0-9+/=]{16,})+")
_GCP_FIELD = re.compile(r"""["']private_key["']\s*:\s*["']$""")
#: lines a key file may carry besides its blocks (openssl's PKCS#12 and x509 dumps)
_FILE_CHATTER = re.compile(
    r"^\s*(?:Bag Attributes|Key Attributes|[A-Za-z ]+:\s.*|subject=.*|issuer=.*|#.*|<No Attributes>)\s*$",
    re.MULTILINE,
)


def _body_chars(block: str) -> int:
    return sum(len(m) for m in _B64.findall(block.replace("\\n", "\n")))


def find_private_keys(text: str) -> Iterator[Finding]:
    if "-----BEGIN" in text:
        for m in _BEGIN.finditer(text):
            end_line = f"-----END {m.group(1)}-----"
            end = text.find(end_line, m.end(), m.end() + MAX_BLOCK_CHARS)
            if end >= 0:
                stop = end + len(end_line)
            else:
                run = _BODY_RUN.match(text, m.end())
                stop = run.end() if run else m.end()
            if _body_chars(text[m.end() : stop]) < MIN_BODY_B64:
                continue
            gcp = _GCP_FIELD.search(text[max(0, m.start() - 40) : m.start()])
            kind = "gcp_service_account" if gcp else "private_key"
            yield Finding(m.start(), stop, kind, "keys:pem")
    if "PuTTY-User-Key-File-" in text:
        for m in _PUTTY.finditer(text):
            yield Finding(m.start(), m.end(), "private_key", "keys:putty")


def file_kind(text: str) -> str | None:
    """`private_key` or `certificate` when the text is nothing but key/certificate blocks (and the
    attribute lines tools print around them); None otherwise."""
    if "-----BEGIN" not in text and "PuTTY-User-Key-File-" not in text:
        return None
    labels = [m.group(1) for m in _ANY_BLOCK.finditer(text)]
    rest = _ANY_BLOCK.sub("", text)
    putty = _PUTTY.search(rest)
    if putty:
        rest = rest[: putty.start()] + rest[putty.end() :]
    rest = _FILE_CHATTER.sub("", rest).strip()
    if rest:
        return None
    if putty or any("PRIVATE KEY" in label for label in labels):
        return "private_key"
    if any("CERTIFICATE" in label for label in labels):
        return "certificate"
    return None
