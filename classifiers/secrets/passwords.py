"""Passwords: assigned in code and config, inside connection strings and DSNs, and in URLs.

Three shapes:

- `scheme://user:password@host` (HTTP basic auth, database DSNs, AMQP/Redis URLs): the password
  between `:` and `@`;
- a name containing `password`/`passwd`/`passphrase` given a value (`password = "..."`,
  `DB_PASSWORD=...`, `password: ...`, `"password": "..."`, `<password>...</password>`,
  `Password=...;` in a connection string), and `Pwd=` in connection strings;
- nothing else: a bare word is never guessed to be a password.

What keeps ordinary code out: a quoted value must look like a literal password (no spaces, not a
placeholder or a word like `required`); an unquoted value counts in config files (`.env`, INI,
YAML, properties, where values are literals) but in code only when it cannot be an expression
(`password = get_password()`, `password: str`, `password = self.password` are names, not values).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from classifiers.secrets.allow import is_placeholder
from classifiers.secrets.findings import Finding

#: file names and extensions whose unquoted values are literals
CONFIG_SUFFIXES = (
    ".env",
    ".ini",
    ".cfg",
    ".conf",
    ".config",
    ".properties",
    ".yaml",
    ".yml",
    ".toml",
    ".npmrc",
    ".pypirc",
    ".netrc",
    ".envrc",
    "dockerfile",
    ".tf",
    ".tfvars",
)

_URL = re.compile(r"://([^\s:/?#@'\"<>\[\]{}()\\]{1,128}):([^\s/?#@'\"<>\\]{1,256})@[A-Za-z0-9_\[]")
# matched on lower-cased text (same length as the text when the caller uses it)
# a quote may be escaped (`\"`), as in JSON strings holding code and in notebooks
_ASSIGNED = re.compile(
    r"pass(?:word|wd|phrase)([\w.\-]*)\\?[\"']?\]?(?:\s*:\s*[a-z_][\w.\[\]|]*(?=\s*=))?\s*(?:=>|:=|=|:)[ \t]*"
    r"(?:\\?\"([^\"\\\r\n]{1,200})\\?\"|\\?'([^'\\\r\n]{1,200})\\?'|([^\s\"',;#&<>\\)\]}]{1,200}))"
)
_XML = re.compile(r"<pass(?:word|wd)>([^<\r\n]{1,200})</pass")
_PWD = re.compile(r"pwd\s*=\s*([^\s;\"'&<>]{1,128})(?=[;\"'\s]|$)")
_NAME_START = re.compile(r"[\w.\-]*$")
_EXPRESSION = re.compile(r"^[A-Za-z_][\w]*(?:[.\[\]][\w\"'\]]*)*$|[()]")
#: names that hold something about a password, not the password
_NOT_VALUE_NAMES = (
    "hash",
    "field",
    "length",
    "len",
    "min",
    "max",
    "policy",
    "prompt",
    "label",
    "placeholder",
    "hint",
    "regex",
    "pattern",
    "reset",
    "file",
    "path",
    "type",
    "input",
    "column",
    "param",
    "name",
    "confirm",
    "env",
    "var",
    "key",
    "help",
    "message",
    "msg",
    "text",
    "url",
    "auth",
    "_id",
    "enabled",
    "required",
    "changed",
    "expir",
    "salt",
    "store",
    "manager",
)


def is_config_file(path: str) -> bool:
    name = path.rsplit("/", 1)[-1].lower()
    return name.startswith(".env") or name.endswith(CONFIG_SUFFIXES)


def _literal(value: str, quoted: bool, config: bool) -> bool:
    if len(value) < 4 or " " in value or is_placeholder(value):
        return False
    if quoted:
        return True
    if value[0] in "=!<>.\\/&|+*-" or value.endswith(("(", ",")):
        return False
    return config or not _EXPRESSION.search(value)


def find_passwords(text: str, lower: str, path: str = "") -> Iterator[Finding]:
    """`lower` is `text.lower()` (the same length), where the case-free rules run."""
    if "@" in text:
        for m in _URL.finditer(text):
            user, password = m.group(1), m.group(2)
            if password != user and not is_placeholder(password) and len(password) >= 3:
                yield Finding(m.start(2), m.end(2), "basic_auth_password", "passwords:url")
    if "pass" in lower:
        config = is_config_file(path)
        for m in _ASSIGNED.finditer(lower):
            name = (
                _NAME_START.search(lower, max(0, m.start() - 40), m.start()).group()
                + lower[m.start() : m.end(1)]
            )
            if any(w in name for w in _NOT_VALUE_NAMES):
                continue
            g = 2 if m.group(2) is not None else 3 if m.group(3) is not None else 4
            value = text[m.start(g) : m.end(g)]
            if _literal(value, g != 4, config):
                yield Finding(m.start(g), m.end(g), "password", "passwords:assignment")
        for m in _XML.finditer(lower):
            value = text[m.start(1) : m.end(1)]
            if _literal(value, True, True):
                yield Finding(m.start(1), m.end(1), "password", "passwords:xml")
    if "pwd" in lower:
        for m in _PWD.finditer(lower):
            if m.start() and (lower[m.start() - 1].isalnum() or lower[m.start() - 1] in "_."):
                continue
            value = text[m.start(1) : m.end(1)]
            if _literal(value, False, False):
                yield Finding(m.start(1), m.end(1), "password", "passwords:connection_string")
