"""Hostile paths given to the CLI: devices, FIFOs, symlinks out of the tree, huge files.

Every command runs in a fresh process, as a user runs it, under a wall-clock timeout (a FIFO that
is opened blocks forever) and a cap on the child's address space (`/dev/zero` read whole grows
until the OOM killer comes): a regression fails here instead of hanging or exhausting the machine.
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
from pathlib import Path

import pytest

from corpus.core.errors import UserError
from corpus.core.user_files import NotRegularFile, check_input_file, read_head, walk_user_paths
from tests.conftest import one_line_error as error_line
from tests.conftest import run_cli

#: the child's address space cap: the CLI with the content model needs well under 1 GiB
ADDRESS_SPACE = 4 << 30
#: a run that takes longer than this has blocked on something it should not have opened
TIMEOUT = 60


def one_line_error(proc: subprocess.CompletedProcess, *words: str) -> None:
    """These commands print nothing but the error: it is all of stderr."""
    error_line(proc, *words, alone=True)


def _cap_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def cli(*args: str) -> subprocess.CompletedProcess:
    """`coderforge ARGS` under the timeout and the address-space cap."""
    return run_cli(*args, timeout=TIMEOUT, preexec_fn=_cap_address_space)


def identified(proc: subprocess.CompletedProcess) -> dict[str, list[str]]:
    """name -> [language, how] from `langid` output, with every line checked for its three fields."""
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stdout.splitlines()
    assert all(len(line.split("\t")) == 3 for line in lines), lines
    return {Path(line.split("\t")[0]).name: line.split("\t")[1:] for line in lines}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A folder of ordinary source files, as `langid` has always been given."""
    root = tmp_path / "tree"
    (root / "src").mkdir(parents=True)
    (root / "a.py").write_bytes(b"print(1)\n")
    (root / "Makefile").write_bytes(b"all:\n\techo\n")
    (root / "src" / "x.h").write_bytes(b"#include <map>\nnamespace n { class A {}; }\n")
    (root / "blob.bin").write_bytes(b"\x00\x01\x02")
    return root


# --- langid: ordinary input is identified as before ------------------------------------------


def test_normal_file_and_folder_are_identified_as_before(tree: Path) -> None:
    got = identified(cli("langid", str(tree), "--no-model"))
    assert got["a.py"] == ["Python", "extension"]
    assert got["Makefile"] == ["Makefile", "filename"]
    assert got["x.h"] == ["C++", "heuristic"]
    assert got["blob.bin"][0] == "-" and "binary" in got["blob.bin"][1]
    single = cli("langid", str(tree / "a.py"), "--no-model")
    assert single.stdout == f"{tree / 'a.py'}\tPython\textension\n"
    assert single.stderr == ""


# --- langid: /dev/zero -------------------------------------------------------------------------


def test_symlink_to_dev_zero_named_directly_is_a_one_line_error(tmp_path: Path) -> None:
    link = tmp_path / "zero.py"
    link.symlink_to("/dev/zero")
    proc = cli("langid", str(link))
    one_line_error(proc, str(link), "character device")
    assert proc.stdout == ""


def test_dev_zero_itself_named_directly_is_a_one_line_error() -> None:
    one_line_error(cli("langid", "/dev/zero", "--no-model"), "/dev/zero", "character device")


def test_symlink_to_dev_zero_in_a_folder_is_skipped_and_reported(tree: Path) -> None:
    (tree / "zero.py").symlink_to("/dev/zero")
    proc = cli("langid", str(tree))  # with the content model, as a user runs it
    got = identified(proc)
    assert "zero.py" not in got and got["a.py"] == ["Python", "extension"]
    assert "skipped 1 entries" in proc.stderr and "symlink outside the folder: 1" in proc.stderr
    listed = cli("langid", str(tree), "--no-model", "--verbose")
    assert f"skipped {tree / 'zero.py'}: symlink to /dev/zero, outside {tree}" in listed.stderr


def test_a_huge_file_is_read_only_up_to_the_cap(tree: Path) -> None:
    """16 GiB (sparse) behind a 4 GiB address-space cap: reading it whole cannot even start."""
    big = tree / "big.py"
    big.write_bytes(b"import os\n" * 10_000)
    os.truncate(big, 16 << 30)
    got = identified(cli("langid", str(tree)))
    assert got["big.py"] == ["Python", "extension"]
    assert identified(cli("langid", str(big), "--no-model", "--max-bytes", "100"))["big.py"][0] == "Python"


def test_max_bytes_must_be_positive(tree: Path) -> None:
    one_line_error(cli("langid", str(tree), "--max-bytes", "0"), "--max-bytes")


# --- langid: FIFOs, sockets and symlinks -------------------------------------------------------


def test_fifo_named_directly_is_a_one_line_error_not_a_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.py"
    os.mkfifo(fifo)
    one_line_error(cli("langid", str(fifo)), str(fifo), "FIFO")
    link = tmp_path / "link.py"
    link.symlink_to(fifo)
    one_line_error(cli("langid", str(link), "--no-model"), str(link), "symlink to a FIFO")


def test_fifo_and_socket_in_a_folder_are_skipped_not_opened(tree: Path) -> None:
    os.mkfifo(tree / "pipe.py")
    (tree / "to-pipe.py").symlink_to("pipe.py")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tree / "sock.py"))
        proc = cli("langid", str(tree), "--no-model", "--verbose")
    finally:
        sock.close()
    got = identified(proc)
    assert got["a.py"] == ["Python", "extension"]
    assert not {"pipe.py", "to-pipe.py", "sock.py"} & set(got)
    assert f"skipped {tree / 'pipe.py'}: a FIFO (named pipe)" in proc.stderr
    assert f"skipped {tree / 'to-pipe.py'}: symlink to pipe.py, a FIFO (named pipe)" in proc.stderr
    assert f"skipped {tree / 'sock.py'}: a socket" in proc.stderr
    assert "skipped 3 entries" in proc.stderr


def test_symlink_out_of_the_folder_is_not_followed(tmp_path: Path, tree: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text("password = 1\n")
    (tree / "leak.py").symlink_to(outside / "secret.py")
    (tree / "leakdir").symlink_to(outside)
    (tree / "up").symlink_to("..")
    proc = cli("langid", str(tree), "--no-model", "--verbose")
    got = identified(proc)
    assert "leak.py" not in got and "secret.py" not in got
    assert "symlink outside the folder: 3" in proc.stderr
    assert f"skipped {tree / 'leak.py'}: symlink to {outside / 'secret.py'}, outside {tree}" in proc.stderr


def test_symlinks_inside_the_folder_are_followed_and_loops_end(tree: Path) -> None:
    (tree / "alias.py").symlink_to("a.py")
    (tree / "src" / "again").symlink_to("..")  # a loop back to the root
    (tree / "lib").symlink_to("src")
    proc = cli("langid", str(tree), "--no-model")
    lines = identified(proc)
    assert lines["alias.py"] == ["Python", "extension"]
    paths = [line.split("\t")[0] for line in proc.stdout.splitlines()]
    # each folder is walked once, under its real name; the links to folders are only noted
    assert str(tree / "src" / "x.h") in paths and len(paths) == len(set(paths)) == 5
    assert "folder already walked: 2" in proc.stderr


def test_missing_path_is_a_one_line_error(tmp_path: Path) -> None:
    one_line_error(cli("langid", str(tmp_path / "nope")), "nope", "no such file or folder")
    broken = tmp_path / "broken.py"
    broken.symlink_to(tmp_path / "nowhere")
    one_line_error(cli("langid", str(broken)), "broken.py", "does not exist")


def test_langid_train_does_not_open_a_fifo_in_its_folder(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    os.mkfifo(corpus / "script")  # no extension: the walker probes it for a shebang
    (corpus / "dev").symlink_to("/dev/zero")
    proc = cli("langid", "train", str(corpus), "--out", str(tmp_path / "m.ftz"))
    one_line_error(proc, "no file under the given folders")


# --- the other commands: a FIFO input path is refused before anything opens it ----------------


@pytest.mark.parametrize(
    "args",
    [
        ["extract", "{fifo}", "{out}/o.jsonl"],
        ["dedup", "{fifo}", "{out}/o.jsonl"],
        ["decontam", "{fifo}", "{out}/o.jsonl"],
        ["decontam", "{out}/missing.jsonl", "{out}/o.jsonl", "--benchmark", "b={fifo}:text"],
        ["recall", "score", "--model", "{out}/m.ftz", "{fifo}", "{out}/o.jsonl"],
        ["recall", "train", "--positives", "{fifo}", "--negatives", "{fifo}", "--out", "{out}/m.ftz"],
        ["recall", "loop", "--config", "{out}/c.yaml", "--pages", "{fifo}", "--out", "{out}/loop"],
        ["github", "walk", "{fifo}"],
    ],
    ids=lambda args: " ".join(a for a in args if not a.startswith(("{", "-", "b="))),
)
def test_fifo_input_is_a_one_line_error(tmp_path: Path, args: list[str]) -> None:
    fifo = tmp_path / "in.jsonl"
    os.mkfifo(fifo)
    proc = cli(*(a.format(fifo=fifo, out=tmp_path) for a in args))
    one_line_error(proc, str(fifo), "FIFO")


def test_symlink_to_a_device_as_input_is_a_one_line_error(tmp_path: Path) -> None:
    link = tmp_path / "in.jsonl"
    link.symlink_to("/dev/zero")
    one_line_error(cli("dedup", str(link), str(tmp_path / "o.jsonl")), str(link), "character device")
    one_line_error(cli("extract", str(link), str(tmp_path / "o.jsonl")), str(link), "character device")


# --- the helpers themselves --------------------------------------------------------------------


def test_read_head_never_reads_past_its_limit(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"abcdef")
    os.truncate(f, 1 << 40)  # a 1 TiB sparse file
    assert read_head(f, 3) == b"abc"
    assert len(read_head(f, 3 << 20)) == 3 << 20
    assert read_head(f, 0) == b""


def test_read_head_refuses_without_opening(tmp_path: Path) -> None:
    fifo = tmp_path / "p"
    os.mkfifo(fifo)  # an open for reading would block: the refusal proves it was not opened
    with pytest.raises(NotRegularFile, match="FIFO"):
        read_head(fifo, 10)
    with pytest.raises(NotRegularFile, match="character device"):
        read_head("/dev/zero", 10)
    with pytest.raises(NotRegularFile, match="folder"):
        read_head(tmp_path, 10)


def test_check_input_file_leaves_missing_paths_and_folders_to_the_command(tmp_path: Path) -> None:
    assert check_input_file(tmp_path / "missing") == tmp_path / "missing"
    assert check_input_file(tmp_path) == tmp_path
    os.mkfifo(tmp_path / "p")
    with pytest.raises(UserError, match="FIFO"):
        check_input_file(tmp_path / "p")


def test_walk_is_checked_before_it_starts(tmp_path: Path) -> None:
    (tmp_path / "ok.py").write_text("x = 1\n")
    with pytest.raises(UserError, match="character device"):
        walk_user_paths([tmp_path / "ok.py", Path("/dev/null")])
    assert [f.path for f in walk_user_paths([tmp_path])] == [tmp_path / "ok.py"]
