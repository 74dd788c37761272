"""Training the content model on a real folder: weak labels from names, a real fastText model."""

from __future__ import annotations

import shutil
import sysconfig
from pathlib import Path

import pytest

from classifiers.langid import detect
from classifiers.langid.model import load_model
from classifiers.langid.training import CorpusStats, TrainConfig, labelled_files, train_model, training_lines

C_FILE = b"""#include <stdio.h>
#include <stdlib.h>

static int add(int a, int b) { return a + b; }

int main(int argc, char **argv) {
    int total = 0;
    for (int i = 1; i < argc; i++) {
        total = add(total, atoi(argv[i]));
    }
    printf("%d\\n", total);
    return EXIT_SUCCESS;
}
"""

SHELL_FILE = b"""#!/bin/sh
set -eu
for f in "$@"; do
    if [ -f "$f" ]; then
        echo "file: $f"
    else
        echo "missing: $f" >&2
        exit 1
    fi
done
"""


def _corpus(root: Path) -> Path:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    py = root / "py"
    py.mkdir(parents=True)
    for name in ["textwrap.py", "shlex.py", "bisect.py", "heapq.py", "fnmatch.py", "glob.py"]:
        if (stdlib / name).exists():
            shutil.copy(stdlib / name, py / name)
    other = root / "other"
    other.mkdir()
    for i in range(6):
        (other / f"tool{i}.c").write_bytes(C_FILE.replace(b"total", f"total{i}".encode()))
        (other / f"run{i}").write_bytes(SHELL_FILE.replace(b"file:", f"file{i}:".encode()))
        (other / f"NOTES{i}").write_bytes(f"note {i}\n".encode())  # no telling name: not a label
    return root


@pytest.mark.slow
def test_train_on_names_then_identify_without_names(tmp_path):
    root = _corpus(tmp_path / "corpus")
    cfg = TrainConfig(epoch=15, dim=16, bucket=20_000, min_count=1, cutoff=10_000)
    stats = CorpusStats()
    by_label = labelled_files([root], folder_labels=False, cfg=cfg, stats=stats)
    assert set(by_label) == {"Python", "C", "Shell"}
    assert stats.skipped["name does not decide"] >= 6  # the NOTES files
    lines = training_lines(by_label, cfg, stats)
    out1 = train_model(lines, tmp_path / "m1.ftz", cfg)
    out2 = train_model(training_lines(by_label, cfg, CorpusStats()), tmp_path / "m2.ftz", cfg)
    assert out1.read_bytes() == out2.read_bytes(), "same corpus and seed must give the same model"
    model = load_model(str(out1))
    assert set(model.labels) == {"Python", "C", "Shell"}
    d = detect("", C_FILE.replace(b"add", b"sum2"), model=model)
    assert (d.language, d.how) == ("C", "model")
    d = detect("", b"import os\n\ndef main():\n    for x in range(3):\n        print(x)\n", model=model)
    assert d.language == "Python"


def test_labelled_folders_take_labels_from_folder_names(tmp_path):
    (tmp_path / "cpp").mkdir()
    (tmp_path / "cpp" / "sample.txt").write_bytes(b"int main() { return 0; }\n")
    (tmp_path / "Perl 6").mkdir()
    (tmp_path / "Perl 6" / "x").write_bytes(b"say 'hi';\n")
    (tmp_path / "no-such-language").mkdir()
    (tmp_path / "no-such-language" / "a.py").write_bytes(b"print(1)\n")
    stats = CorpusStats()
    by_label = labelled_files([tmp_path], folder_labels=True, cfg=TrainConfig(), stats=stats)
    assert sorted(by_label) == ["C++", "Perl 6"]
    assert stats.skipped["folder names no language"] == 1
