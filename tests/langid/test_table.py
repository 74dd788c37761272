"""The language table: the 338 names, a rule for each, and a file that `identify` maps to each."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifiers.langid import detect, identify, language_names
from classifiers.langid.generate_rules import ruby_to_python
from classifiers.langid.rules import load_table
from tests.langid.samples import CONTENT_SAMPLES

SHARED_NAMES = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "deepseek_coder_v2_languages.txt"
)


def _shared_names() -> list[str]:
    if not SHARED_NAMES.exists():
        pytest.skip(f"{SHARED_NAMES} not present")
    return [line.strip() for line in SHARED_NAMES.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_names_match_the_paper_list():
    assert language_names() == _shared_names()
    assert len(language_names()) == 338


def test_every_name_has_a_rule():
    table = load_table()
    for name in table.names:
        e = table.labels[name]
        assert e["in_list"]
        rules = e["extensions"] + e["filenames"] + e["patterns"] + e["interpreters"]
        modeline = [a for a in e["aliases"] if table.by_alias.get(a) == name]
        assert rules or modeline, f"{name}: no name, interpreter or modeline rule"


def _name_sample(name: str) -> str | None:
    """A file name that the table gives to `name` alone, if there is one."""
    table = load_table()
    e = table.labels[name]
    for filename in e["filenames"]:
        if table.by_name(filename)[0] == (name,):
            return filename
    for ext in e["extensions"]:
        if table.by_name("sample" + ext)[0] == (name,):
            return "sample" + ext
    return None


def test_every_name_has_a_sample_identify_maps_to_it():
    missing = []
    for name in language_names():
        filename = _name_sample(name)
        if filename is not None:
            got = identify(filename, b"x = 1\n")
            assert got == name, f"{filename}: {got} != {name}"
            continue
        if name not in CONTENT_SAMPLES:
            missing.append(name)
            continue
        filename, content = CONTENT_SAMPLES[name]
        d = detect(filename, content)
        assert d.language == name, f"{name}: {filename} -> {d}"
    assert not missing, f"names without a sample: {missing}"


def test_content_samples_are_decided_by_rules_not_the_model():
    for name, (filename, content) in CONTENT_SAMPLES.items():
        d = detect(filename, content, model=None)
        assert d.language == name, f"{name}: {d}"
        assert d.how in {"heuristic", "modeline", "shebang", "filename", "extension"}


@pytest.mark.parametrize(
    ("filename", "content", "language"),
    [
        ("a.jade", b"p hi\n", "Jade"),
        ("a.pug", b"p hi\n", "Pug"),
        ("x.bro", b"event bro_init() {}\n", "Bro"),
        ("x.zeek", b"event zeek_init() {}\n", "Zeek"),
        ("boot.nasm", b"mov ax, 1\n", "NASM"),
        ("old.f", b"      PROGRAM X\n      END\n", "Fortran Fixed Form"),
        ("new.f90", b"program x\nend program x\n", "Fortran"),
        ("Dockerfile", b"FROM debian\n", "Dockerfile"),
        ("web.docker", b"FROM debian\n", "Docker"),
        ("App.jsx", b"const A = () => <div/>;\n", "JSX"),
        ("sketch.ino", b"void setup() {}\nvoid loop() {}\n", "Arduino"),
        ("grammar.p6", b"grammar G { token TOP { <foo> } }\n", "Perl 6"),
        ("cfg.nim", b"echo 1\n", "Nimrod"),
        ("page.rhtml", b"<%= 1 %>\n", "RHTML"),
        ("page.html.erb", b"<%= 1 %>\n", "HTML ERB"),
    ],
)
def test_paper_names_that_linguist_merges_stay_apart(filename, content, language):
    assert identify(filename, content) == language


@pytest.mark.parametrize(
    ("filename", "content", "language"),
    [
        ("a.h", b"#include <vector>\nclass A { public: int x; };\n", "C++"),
        ("a.h", b"#import <Foundation/Foundation.h>\n@interface A : NSObject\n@end\n", "Objective-C"),
        ("a.pl", b"use strict;\nmy $x = 1;\nprint $x;\n", "Perl"),
        ("a.pl", b":- module(a, [f/1]).\nf(X) :- X > 1.\n", None),  # Prolog: outside the list
        ("a.ts", b"let x: number = 1;\nexport function f(): void {}\n", "TypeScript"),
        ("a.ts", b'<?xml version="1.0"?>\n<!DOCTYPE TS>\n<TS version="2.1"></TS>\n', "XML"),
        ("a.inc", b"<?php\necho 1;\n", "PHP"),
        ("a.v", b"module top(input clk);\nalways @(posedge clk) begin end\nendmodule\n", "Verilog"),
        ("a.cls", b"\\NeedsTeXFormat{LaTeX2e}\n\\ProvidesClass{my}\n", "TeX"),
    ],
)
def test_ambiguous_extensions_use_linguist_heuristics(filename, content, language):
    d = detect(filename, content, model=None)
    assert d.language == language, d
    assert d.how == "heuristic"


def test_files_outside_the_list_are_named_with_a_reason():
    d = detect("config.yml", b"a: 1\nb: [2, 3]\n")
    assert d.language is None
    assert d.label == "YAML"
    assert "not one of the 338" in d.reason


@pytest.mark.parametrize(
    ("ruby", "python"),
    [
        (r"\h+", "[0-9a-fA-F]+"),
        (r"(?<name>a)\k<name>", "(?P<name>a)(?P=name)"),
        (r"(?m)a.b", "(?s:a.b)"),
        (r"x(?i)abc", "x(?i:abc)"),
        (r"[[:alpha:]]\z", r"[a-zA-Z]\Z"),
        (r"(?i:ab)", "(?i:ab)"),
    ],
)
def test_ruby_patterns_are_translated(ruby, python):
    assert ruby_to_python(ruby) == python
