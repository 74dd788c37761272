"""Families of languages that the content model confuses with each other.

Each family shares most of its surface: parentheses and `def`-forms for the Lisps, `::` and
`where` for the ML/Haskell line, `do ... end` for Ruby and its descendants, braces and `;` for
the C and Java lines. The first-stage model (token bigrams, long identifiers reduced to their
shape) names the family well and the member badly: on held-out real programs its worst errors
were PureScript, Idris and Elm read as Haskell, Racket and LFE as Scheme or Common Lisp, Crystal
for Ruby, Odin for Go, Chapel for Zig, Dart for Java and TypeScript for JavaScript. Within a
family the second stage (``family_model``) decides, with features chosen to tell members apart.

A language is in one family at most. Names are the 338 list's.
"""

from __future__ import annotations

FAMILIES: dict[str, tuple[str, ...]] = {
    "lisp": ("Common Lisp", "Emacs Lisp", "Scheme", "Racket", "Clojure", "LFE", "Hy", "Fennel"),
    "ml": ("Haskell", "PureScript", "Elm", "Idris", "Agda", "OCaml", "F#", "Standard ML", "Lean"),
    "ruby": ("Ruby", "Crystal", "Elixir"),
    "script": ("JavaScript", "TypeScript", "CoffeeScript", "MoonScript", "ActionScript", "Lua"),
    "systems": ("C", "C++", "Objective-C", "Go", "Odin", "Zig", "Chapel", "Rust", "Pony"),
    "managed": ("Java", "C#", "Dart", "Kotlin", "Scala", "Groovy", "Haxe", "Vala", "Swift", "Ceylon", "Gosu"),
    "pascal": ("Pascal", "Ada", "Modula-2"),
    "perl": ("Perl", "Perl 6"),
    "fortran": ("Fortran", "Fortran Fixed Form"),
    "hdl": ("Verilog", "SystemVerilog", "VHDL"),
}

_FAMILY_OF: dict[str, str] = {lang: fam for fam, members in FAMILIES.items() for lang in members}


def family_of(label: str) -> str | None:
    return _FAMILY_OF.get(label)


def members(family: str) -> tuple[str, ...]:
    return FAMILIES[family]


def family_labels() -> frozenset[str]:
    return frozenset(_FAMILY_OF)
