"""`coderforge langid PATH...` and `coderforge langid train` through the real CLI entry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from corpus.app.cli import main


def _write(root: Path, files: dict[str, bytes]) -> None:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content)


def test_identify_prints_path_language_how(tmp_path, capsys):
    _write(
        tmp_path,
        {
            "a.py": b"print(1)\n",
            "Makefile": b"all:\n\techo\n",
            "x.h": b"#include <map>\nnamespace n { class A {}; }\n",
            "blob.bin": b"\x00\x01\x02",
            "notes.yml": b"a: 1\n",
        },
    )
    assert main(["langid", str(tmp_path), "--no-model"]) == 0
    lines = capsys.readouterr().out.splitlines()
    got = {Path(line.split("\t")[0]).name: line.split("\t")[1:] for line in lines}
    assert got["a.py"] == ["Python", "extension"]
    assert got["Makefile"] == ["Makefile", "filename"]
    assert got["x.h"] == ["C++", "heuristic"]
    assert got["blob.bin"][0] == "-" and "binary" in got["blob.bin"][1]
    assert got["notes.yml"][0] == "-" and "YAML" in got["notes.yml"][1]
    assert all(len(line.split("\t")) == 3 for line in lines)


def test_missing_path_is_a_one_line_error(tmp_path, capsys):
    assert main(["langid", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "Traceback" not in err


def test_train_without_folders_is_a_user_error(capsys):
    assert main(["langid", "train"]) == 2
    assert "FOLDER" in capsys.readouterr().err


def test_train_on_a_file_is_a_user_error(tmp_path, capsys):
    f = tmp_path / "f.py"
    f.write_text("x = 1\n")
    assert main(["langid", "train", str(f)]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_console_script_runs(tmp_path):
    (tmp_path / "m.go").write_text("package main\nfunc main() {}\n")
    exe = Path(sys.executable).with_name("coderforge")
    if not exe.exists():
        pytest.skip("console script not installed")
    out = subprocess.run(
        [str(exe), "langid", str(tmp_path / "m.go")], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().endswith("\tGo\textension")


@pytest.mark.slow
def test_train_command_writes_a_model_that_identify_uses(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    _write(
        corpus,
        {
            **{
                f"src/m{i}.py": f"import os\n\ndef f{i}(x):\n    return os.path.join(x, 'a')\n".encode()
                for i in range(8)
            },
            **{
                f"src/m{i}.c": f"#include <stdio.h>\nint f{i}(int x) {{ return x * 2; }}\n".encode()
                for i in range(8)
            },
        },
    )
    model = tmp_path / "m.ftz"
    assert main(["langid", "train", str(corpus), "--out", str(model), "--epoch", "5", "--dim", "16"]) == 0
    assert model.is_file()
    nameless = tmp_path / "nameless"
    nameless.write_bytes(b"#include <stdio.h>\nint g(int y) { return y * 2; }\n")
    assert main(["langid", str(nameless), "--model", str(model)]) == 0
    out = capsys.readouterr().out.strip().split("\t")
    assert out[1] == "C" and out[2].startswith("model ")


@pytest.mark.slow
def test_train_families_then_identify_with_that_family_model(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    ruby = "class Shelf{i}\n  attr_reader :items\n  def initialize(items)\n    @items = items\n  end\nend\n"
    elixir = "defmodule Shelf{i} do\n  def items(%{{items: items}}), do: items\n  def add(s, x), do: [x | s]\nend\n"
    _write(
        corpus,
        {
            **{f"lib/s{i}.rb": ruby.format(i=i).encode() for i in range(16)},
            **{f"lib/s{i}.ex": elixir.format(i=i).encode() for i in range(16)},
            **{f"lib/s{i}.py": f"def items{i}(s):\n    return s.items\n".encode() for i in range(16)},
        },
    )
    fam = tmp_path / "f.ftz"
    args = ["langid", "train", "--families", str(corpus), "--out", str(fam), "--epoch", "5", "--dim", "8"]
    assert main(args) == 0
    assert "2 labels" in capsys.readouterr().err.replace("\n", " ")  # Python has no family
    nameless = tmp_path / "nameless"
    nameless.write_bytes(b"defmodule Cart do\n  def total(%{lines: ls}), do: Enum.sum(ls)\nend\n")
    assert main(["langid", str(nameless), "--family-model", str(fam)]) == 0
    assert capsys.readouterr().out.count("\t") == 2
    assert main(["langid", str(nameless), "--family-model", str(tmp_path / "missing.ftz")]) == 2
    assert "no such model file" in capsys.readouterr().err
    few = tmp_path / "few"
    _write(few, {f"s{i}.rb": ruby.format(i=i).encode() for i in range(3)})
    assert main(["langid", "train", "--families", str(few), "--out", str(tmp_path / "g.ftz")]) == 2
    assert "15 files or more" in capsys.readouterr().err
