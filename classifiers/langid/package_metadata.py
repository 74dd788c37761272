"""Python package metadata (``PKG-INFO``): mail-style headers, then the project's long description.

Every source release and every committed ``*.egg-info`` folder holds one. The content model,
asked about it, reads a README under a block of ``Classifier: ... :: ...`` lines and names
Markdown, reStructuredText, YAML or nothing, depending on the project; its ``Description-Content-Type``
header says which, exactly, and for the price of one search in its first kilobytes instead of
a line scan and the model (about 1 ms a file). The answer is a label outside the 338 names, so
the file counts as text, like any README.
"""

from __future__ import annotations

import re

NAME = "PKG-INFO"
#: the header every version of the core metadata starts with
_FIRST_HEADER = b"Metadata-Version:"
_CONTENT_TYPE = re.compile(rb"^Description-Content-Type:[ \t]*([^\s;]*)", re.I | re.M)
#: MIME type -> label; the specification's default for a missing header is reStructuredText
_LABELS = {b"text/markdown": "Markdown", b"text/x-rst": "reStructuredText", b"text/plain": "Text"}
_DEFAULT = "reStructuredText"
#: where the headers are looked for; they come first and are a few hundred bytes
_HEADER_BYTES = 16 * 1024


def description_label(base: str, head: bytes) -> str | None:
    """The label of a ``PKG-INFO`` file's long description, or None when `base` is another name
    or the content does not start like core metadata (then the usual rules decide)."""
    if base != NAME or not head.lstrip(b"\xef\xbb\xbf").startswith(_FIRST_HEADER):
        return None
    headers = head[:_HEADER_BYTES]
    end = headers.find(b"\n\n")
    if end == -1:
        end = headers.find(b"\r\n\r\n")
    m = _CONTENT_TYPE.search(headers, 0, end if end != -1 else len(headers))
    if m is None:
        return _DEFAULT
    return _LABELS.get(m.group(1).lower(), "Text")
