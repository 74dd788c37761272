"""Extensions the generated rules do not know, on real files: the table in `extensions` decides them.

Real files: the MIPS (``.mips``) and Turbo Assembler (``.tasm``) examples of a pinned Pygments
release (`extension_samples`), the linker scripts GNU ld installs (``ldscripts/*.x*``, when
binutils is installed), Flow declarations and ``PKG-INFO`` files of the pinned real-code corpus.
Synthetic only for the shader suffixes, which no pinned release carries.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from classifiers.langid import detect
from classifiers.langid.extensions import EXTRA_EXTENSIONS
from classifiers.langid.rules import DATA_FILE, load_table
from tests.langid import extension_samples
from tests.langid.conftest import real_code_files

LD_SCRIPTS = Path("/usr/lib/x86_64-linux-gnu/ldscripts")


@pytest.fixture(scope="module")
def pygments_examples() -> dict[str, bytes]:
    sdist = extension_samples.cached_sdist()
    if sdist is None:
        pytest.skip("the pinned Pygments sdist is missing: run `python -m tests.langid.extension_samples`")
    return extension_samples.examples(sdist)


@pytest.fixture(scope="module")
def corpus_files() -> dict[str, bytes]:
    """The real-code corpus files these tests look at (Flow declarations, PKG-INFO)."""
    return dict(real_code_files(lambda name: name.endswith((".js.flow", "/PKG-INFO"))))


def test_every_entry_names_a_listed_language_and_never_overrides_the_generated_rules() -> None:
    generated: dict[str, set[str]] = {}
    for label, entry in json.loads(DATA_FILE.read_text(encoding="utf-8"))["labels"].items():
        for ext in entry["extensions"]:
            generated.setdefault(ext, set()).add(label)
    table = load_table()
    for ext, labels in EXTRA_EXTENSIONS.items():
        assert ext == ext.lower() and ext.startswith("."), ext
        assert all(label in table.listed for label in labels), (ext, labels)
        expected = tuple(sorted(generated[ext])) if ext in generated else labels
        assert table.by_extension[ext] == expected, ext


def test_gnu_assembler_for_mips_is_gas(pygments_examples: dict[str, bytes]) -> None:
    content = pygments_examples["tests/examplefiles/mips/function_with_stack.mips"]
    assert b".globl" in content and b"$a0" in content  # GNU as directives, MIPS registers
    found = detect("examplefiles/mips/function_with_stack.mips", content)
    assert (found.language, found.how) == ("GAS", "extension")
    # the same program under GCC's name for preprocessed assembler
    assert detect("arch/mips/kernel/entry.sx", content).language == "GAS"


def test_turbo_assembler_is_assembly(pygments_examples: dict[str, bytes]) -> None:
    found = detect(
        "examplefiles/tasm/example.tasm", pygments_examples["tests/examplefiles/tasm/example.tasm"]
    )
    assert (found.language, found.how) == ("Assembly", "extension")


def test_installed_ld_scripts_are_linker_scripts() -> None:
    if not LD_SCRIPTS.is_dir():
        pytest.skip(f"{LD_SCRIPTS}: binutils is not installed")
    seen = set()
    for path in sorted(LD_SCRIPTS.iterdir()):
        ext = path.suffix.lower()
        if ext in EXTRA_EXTENSIONS or ext == ".x":
            found = detect(f"ldscripts/{path.name}", path.read_bytes())
            assert found.language == "Linker Script", (path.name, found)
            seen.add(ext)
    assert {".xe", ".xr", ".xbn", ".xn", ".xu"} <= seen


def test_flow_declarations_are_javascript(corpus_files: dict[str, bytes]) -> None:
    flows = {name: data for name, data in corpus_files.items() if name.endswith(".js.flow")}
    assert len(flows) == 2
    for name, data in flows.items():
        assert data.startswith(b"// @flow")
        assert detect(name, data).language == "JavaScript"


@pytest.mark.parametrize("name", ["shaders/reduce.comp", "rt/closest.rgen", "rt/sphere.rint"])
def test_shader_stage_suffixes_are_glsl(name: str) -> None:
    shader = b"#version 460\nlayout(local_size_x = 64) in;\nvoid main() {\n  uint i = gl_GlobalInvocationID.x;\n}\n"
    assert detect(name, shader).language == "GLSL"


def test_package_metadata_is_labelled_by_its_description_type(corpus_files: dict[str, bytes]) -> None:
    infos = {name: data for name, data in corpus_files.items() if name.endswith("/PKG-INFO")}
    assert len(infos) == 24
    for name, data in infos.items():
        found = detect(name, data)
        assert (found.language, found.how) == (None, "filename"), name
        if b"Description-Content-Type: text/markdown" in data:
            assert found.label == "Markdown"
        elif b"Description-Content-Type: text/x-rst" in data:
            assert found.label == "reStructuredText"
    # a file only named like it is decided as before, by its content
    other = detect("PKG-INFO", b"def f():\n    return g(x) + 1\n")
    assert other.how != "filename"
