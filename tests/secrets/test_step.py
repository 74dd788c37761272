"""The step on its own: repository samples handled file by file, offsets kept consistent, story
records and counts, the configuration switches."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow.parquet as pq
from datatrove.data import Document

from classifiers.secrets.config import SecretsConfig
from classifiers.secrets.report import read_counts, secrets_warning
from classifiers.secrets.step import SecretsFilter
from corpus.core.schema import make_document
from corpus.github.samples import build_sample, split_sample
from tests.secrets.generate import GENERATORS, Keys

RNG = random.Random(11)
TOKEN = GENERATORS["github_token"][1](RNG)
KEY = Keys().private_key(random.Random(2))


def _file(path: str, text: str) -> Document:
    return make_document(
        f"github:acme/app/{path}", text, "github", "code", "Python", path=path, repo="acme/app"
    )


def _sample() -> Document:
    files = [
        _file("app/a.py", f'TOKEN = "{TOKEN}"\nprint("a")\n'),
        _file("app/key_data.py", KEY),  # no trailing newline: the sample adds one
        _file("app/c.py", "import app.a\nMAIL = 'ops@acme-corp.io'\n"),
    ]
    return build_sample("acme/app", "python", files, 0, "code", {"repo": "acme/app"})


def _run(docs: list[Document], tmp_path: Path | None = None, **cfg) -> tuple[list[Document], SecretsFilter]:
    step = SecretsFilter(SecretsConfig(**cfg))
    if tmp_path is not None:
        step.bind_stage(str(tmp_path), "github/secrets")
    return list(step.run(iter(docs), 0, 1)), step


def test_a_sample_loses_its_key_file_and_its_secrets_but_still_splits_into_files(tmp_path: Path):
    out, _ = _run([_sample()], tmp_path)
    [doc] = out
    files = dict(split_sample(doc))
    assert list(files) == ["app/a.py", "app/c.py"]
    assert files["app/a.py"] == 'TOKEN = "<KEY>"\nprint("a")\n'
    assert files["app/c.py"] == "import app.a\nMAIL = '<EMAIL>'\n"
    assert doc.metadata["secret_files_removed"] == ["app/key_data.py"]
    assert doc.metadata["redacted"] == {"email": 1, "github_token": 1, "private_key": 1}
    assert TOKEN not in doc.text and KEY.splitlines()[1] not in doc.text
    drops = pq.read_table(tmp_path / "drops" / "secrets" / "00000.parquet").to_pylist()
    assert [(d["id"], d["reason"]) for d in drops] == [("github:acme/app/app/key_data.py", "private_key")]
    rows = pq.read_table(tmp_path / "redactions" / "00000.parquet").to_pylist()
    assert {(r["id"], r["kind"], r["start"], r["end"]) for r in rows} >= {
        ("github:acme/app/app/a.py", "github_token", 9, 9 + len(TOKEN))
    }
    counts = read_counts(str(tmp_path))
    assert counts.documents == 1 and counts.with_credentials == 1 and counts.dropped["private_key"] == 1
    assert secrets_warning(str(tmp_path), "github/secrets", 0.5) is not None  # 1 of 1 documents
    assert secrets_warning(str(tmp_path), "github/secrets", 1.0) is None


def test_switches_keep_personal_data_and_key_files_when_asked():
    doc = Document(text=KEY + "\n", id="k", metadata={"path": "id_rsa"})
    mail = Document(text="write to ops@acme-corp.io from 34.117.59.81\n", id="m", metadata={})
    out, step = _run([doc, mail], drop_key_files=False, pii={"emails": False, "ips": False})
    assert [d.id for d in out] == ["k", "m"]
    assert out[0].text == "<PRIVATE_KEY>\n"
    assert out[1].text == "write to ops@acme-corp.io from 34.117.59.81\n"
    assert not step._drops


def test_clean_documents_pass_untouched():
    text = "def add(a, b):\n    return a + b\n"
    out, step = _run([Document(text=text, id="x", metadata={"path": "x.py"})])
    assert out[0].text == text and "redacted" not in out[0].metadata
    assert step._counts.redacted_documents == 0


def test_a_password_variable_passed_along_is_not_a_password() -> None:
    """Found in flask's tutorial: `data={'username': username, 'password': password}` names a
    variable; the closing brace is not part of a value either."""
    from classifiers.secrets.passwords import find_passwords

    for path in ("docs/tutorial/tests.rst", "tests/test_auth.py"):
        text = "client.post('/auth/login', data={'username': username, 'password': password})"
        assert list(find_passwords(text, text.lower(), path)) == []
    text = 'db: {"password": hunter22}'
    found = list(find_passwords(text, text.lower(), "config.yaml"))
    assert [text[f.start : f.end] for f in found] == ["hunter22"]
