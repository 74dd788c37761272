"""Inputs that break naive identifiers: each gets an answer or an explicit unknown, fast, no crash."""

from __future__ import annotations

import time

import pytest

from classifiers.langid import detect, identify


def test_empty_file_with_a_telling_name():
    d = detect("main.py", b"")
    assert d.language == "Python"
    assert "empty" in d.reason


def test_empty_file_without_a_telling_name():
    d = detect("README", b"")
    assert d.language is None
    assert d.how == "unknown"
    assert "empty" in d.reason


def test_empty_file_with_an_ambiguous_name():
    d = detect("x.h", b"")
    assert d.language is None and "empty" in d.reason


@pytest.mark.parametrize("name", ["image.png", "lib.so", "main.c", "noname"])
def test_binary_content_is_unknown(name):
    content = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
    d = detect(name, content)
    assert d.language is None
    assert d.how == "unknown"
    assert "binary" in d.reason


def test_invalid_utf8_is_decoded_with_replacement():
    content = b"#include <stdio.h>\n/* \xff\xfe\xc3\x28 latin-1: caf\xe9 */\nint main(void) { return 0; }\n"
    assert identify("main.c", content) == "C"
    d = detect("a.h", content)
    assert d.language in {"C", "C++", "Objective-C"}
    d = detect("", content)
    assert d.how in {"model", "unknown"}


def test_invalid_utf8_only():
    d = detect("blob", bytes([0xFF, 0xFE, 0xFD]) * 1000)
    assert d.how in {"model", "unknown"}


@pytest.mark.parametrize("name", ["big.js", "big.h", "big", "big.m"])
def test_ten_megabyte_single_line_in_bounded_time(name):
    content = b"var a=" + b"1+" * (5 * 1024 * 1024) + b"1;"
    assert len(content) > 10_000_000
    start = time.perf_counter()
    d = detect(name, content)
    elapsed = time.perf_counter() - start
    assert elapsed < 3.0, f"{name}: {elapsed:.2f}s"
    assert d.how in {"extension", "heuristic", "model", "unknown"}
    if name == "big.js":
        assert d.language == "JavaScript"


def test_misleading_shebang_does_not_override_a_deciding_extension():
    # the classic trampoline: a shell shebang that re-executes the file with Python
    content = b"#!/bin/sh\n''''exec python3 \"$0\" \"$@\" # '''\nimport sys\nprint(sys.argv)\n"
    d = detect("tool.py", content)
    assert d.language == "Python"
    assert d.how == "extension"
    assert "shebang names sh" in d.reason


def test_shebang_of_another_language_is_reported_not_followed():
    d = detect("build.sh", b"#!/usr/bin/env python3\nprint('not shell')\n")
    assert (d.language, d.how) == ("Shell", "extension")
    assert "python3" in d.reason


def test_shebang_decides_a_nameless_script():
    d = detect("tool", b"#!/usr/bin/env -S python3.11 -u\nprint(1)\n")
    assert (d.language, d.how) == ("Python", "shebang")


def test_shebang_of_an_unknown_interpreter_is_ignored():
    d = detect("tool", b"#!/opt/bin/not-a-language --flag\nhello world\n")
    assert d.how in {"model", "unknown"}


def test_shebang_narrows_an_ambiguous_extension():
    d = detect("index.cgi", b'#!/usr/bin/perl\nprint "Content-type: text/html\\n\\n";\n')
    assert (d.language, d.how) == ("Perl", "shebang")


def test_shebang_that_contradicts_an_ambiguous_extension_leaves_its_candidates():
    d = detect("x.h", b"#!/usr/bin/python\n#include <vector>\nclass A {};\n")
    assert d.language in {"C", "C++", "Objective-C"}


def test_modeline_overrides_the_extension():
    d = detect("notes.txt", b"# vim: set ft=python:\nprint(1)\n")
    assert (d.language, d.how) == ("Python", "modeline")


def test_modeline_naming_an_unknown_mode_is_ignored():
    d = detect("a.py", b"# -*- mode: no-such-mode -*-\nprint(1)\n")
    assert (d.language, d.how) == ("Python", "extension")


def test_path_and_windows_path_are_reduced_to_the_base_name():
    assert identify("src/a/b/Makefile", b"all:\n") == "Makefile"
    assert identify("C:\\src\\main.rs", b"fn main() {}\n") == "Rust"


def test_utf8_bom_is_ignored():
    assert identify("run", b"\xef\xbb\xbf#!/bin/bash\necho hi\n") == "Shell"


def test_no_name_and_no_tokens_is_unknown():
    d = detect("", b"   \n\n\t\n")
    assert d.language is None and d.how == "unknown"


def test_same_input_same_answer():
    content = b"#include <vector>\nint main() { std::vector<int> v; }\n"
    assert {detect("x", content) for _ in range(5)} == {detect("x", content)}


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("scene.gd", b"a" + b" " * 65535),  # linguist's .gd patterns backtrack on long blank runs
        ("macros.inc", b".x\n" * 22000),
        ("grammar.g", b"a" + b" " * 65535),
    ],
)
def test_heuristics_that_backtrack_badly_are_cut_off(name, content):
    start = time.perf_counter()
    d = detect(name, content)
    assert time.perf_counter() - start < 2.0
    assert d.how in {"heuristic", "model", "extension", "unknown"}


def test_path_objects_are_accepted(tmp_path):
    p = tmp_path / "main.go"
    p.write_text("package main\n")
    assert identify(p, p.read_bytes()) == "Go"
