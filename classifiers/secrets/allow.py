"""Values that look like secrets but are not: documentation examples, placeholders, templates.

Shared by every detector so that `AKIAIOSFODNN7EXAMPLE` (AWS's documented example key id), a
`password: changeme` in a README and a `token = "${GITHUB_TOKEN}"` in a workflow are treated alike.
The checks are on the candidate value only and cost nothing unless a rule already matched.
"""

from __future__ import annotations

import re

from detect_secrets.filters.heuristic import is_potential_uuid, is_sequential_string, is_templated_secret

#: substrings (of the lower-cased value) that mark a placeholder or documentation value
PLACEHOLDER_WORDS = (
    "example",
    "xxxx",
    "your",
    "changeme",
    "change_me",
    "change-me",
    "dummy",
    "placeholder",
    "redacted",
    "sample",
    "fake",
    "insert",
    "replace",
    "secret_here",
    "_here",
    "-here",
    "todo",
    "fixme",
    "notreal",
    "not_real",
    "not-a-real",
)

#: whole values (lower-cased) that are words, not secrets
PLACEHOLDER_VALUES = frozenset(
    {
        "password",
        "passwd",
        "pass",
        "pwd",
        "secret",
        "token",
        "test",
        "testing",
        "none",
        "null",
        "nil",
        "true",
        "false",
        "undefined",
        "empty",
        "required",
        "optional",
        "str",
        "string",
        "bytes",
        "int",
        "admin",
        "root",
        "user",
        "username",
        "guest",
        "default",
        "hidden",
        "masked",
        "unknown",
        "foobar",
        "foo",
        "bar",
        "baz",
        "qwerty",
        "letmein",
        "123456",
        "12345678",
        "abc123",
        "postgres",
        "mysql",
    }
)

#: documentation values by their publishers, matched exactly
DOCUMENTED_EXAMPLES = frozenset(
    {
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        # the token on jwt.io and in most JWT tutorials
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0Ij"
        "oxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    }
)

#: runs of one character (`xxxxx`, `00000`, `*****`): masks and fill, not secrets
_REPEATED = re.compile(r"(.)\1{4,}")
_TEMPLATE_MARKS = ("${", "{{", "%(", "%s", "<", ">", "$(", "#{", "***", "...")


def is_placeholder(value: str) -> bool:
    """True for a value that documents a secret rather than being one."""
    if not value or value in DOCUMENTED_EXAMPLES:
        return True
    low = value.lower()
    if low in PLACEHOLDER_VALUES or any(w in low for w in PLACEHOLDER_WORDS):
        return True
    if any(m in value for m in _TEMPLATE_MARKS) or value[0] in "${[(@":
        return True
    return bool(_REPEATED.search(value)) or is_templated_secret(value)


def is_structured_noise(value: str) -> bool:
    """UUIDs and alphabet runs (`ABCDEFGH...`, `0123456789`): high entropy by the numbers, but
    never a credential. detect-secrets' heuristics, applied to our candidates."""
    return is_potential_uuid(value) or is_sequential_string(value)
