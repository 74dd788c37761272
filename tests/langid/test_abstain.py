"""Non-code files get no language: keys, certificates, licences, program output, data, prose.

Keys and certificates are made here with the `cryptography` package (real keys, not look-alikes);
licence texts are the published licence files of the installed packages; code that merely
contains such things (a licence header, a PEM string in a test) keeps its language.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from classifiers.langid import detect
from classifiers.langid.not_code import KINDS, LineStats, line_stats
from corpus.github.repo_reader import GithubRepoReader
from tests.github.fake_github import make_tarball

SITE = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"

crypto = pytest.importorskip("cryptography")
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _private_keys() -> dict[str, bytes]:
    key = _rsa()
    enc = serialization.BestAvailableEncryption(b"secret")
    none = serialization.NoEncryption()
    pem, ssh = serialization.Encoding.PEM, serialization.PrivateFormat
    return {
        "pkcs1": key.private_bytes(pem, ssh.TraditionalOpenSSL, none),
        "pkcs8": key.private_bytes(pem, ssh.PKCS8, none),
        "encrypted": key.private_bytes(pem, ssh.PKCS8, enc),
        "ec": ec.generate_private_key(ec.SECP256R1()).private_bytes(pem, ssh.TraditionalOpenSSL, none),
        "openssh": ed25519.Ed25519PrivateKey.generate().private_bytes(pem, ssh.OpenSSH, none),
    }


def _certificate(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example.org")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def keys() -> dict[str, bytes]:
    return _private_keys()


@pytest.mark.parametrize("kind", ["pkcs1", "pkcs8", "encrypted", "ec", "openssh"])
@pytest.mark.parametrize("name", ["server.key", "id_rsa", "key.pem", "", "secret.txt", "deploy.asc"])
def test_private_keys_are_never_code(keys, kind, name):
    d = detect(name, keys[kind])
    assert (d.language, d.label, d.how) == (None, "Private Key", "content-kind"), d
    assert "PRIVATE KEY" in d.reason


def test_a_private_key_inside_a_config_file_without_a_telling_name(keys):
    content = b"# deploy settings\nhost=example.org\n\n" + keys["pkcs1"] + b"\nuser=deploy\n"
    assert detect("deploy.conf", content).label == "Private Key"


def test_certificates_requests_and_public_keys():
    key = _rsa()
    cert = _certificate(key)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "a")]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    pub = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    ssh_pub = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    )
    assert detect("server.crt", cert).label == "Certificate"
    assert detect("", cert + cert).label == "Certificate"
    assert detect("req.csr", csr).label == "Certificate"
    assert detect("key.pem", pub).label == "Public Key"
    assert detect("id_ed25519.pub", ssh_pub + b" me@host\n").label == "Public Key"
    assert detect("authorized_keys", ssh_pub + b"\n" + ssh_pub + b"\n").label == "Public Key"


def test_code_that_embeds_a_key_keeps_its_language(keys):
    py = (
        b'import ssl\n\nKEY = """\\\n'
        + keys["pkcs8"]
        + b'"""\n\n\ndef load():\n    return ssl.create_default_context()\n'
    )
    assert detect("tests/test_tls.py", py).language == "Python"
    c = (
        b'static const char *key =\n"'
        + keys["pkcs1"].replace(b"\n", b'\\n"\n"')
        + b'";\nint main(void) { return 0; }\n'
    )
    assert detect("key.c", c).language == "C"


def _licence_files() -> list[Path]:
    found = sorted(SITE.glob("*.dist-info/LICEN[CS]E*")) + sorted(
        SITE.glob("*.dist-info/licenses/LICEN[CS]E*")
    )
    return [p for p in found if p.is_file()][:40]


def test_installed_licence_files_are_licences():
    files = _licence_files()
    if not files:
        pytest.skip("no licence files among the installed packages")
    for path in files:
        d = detect(path.name, path.read_bytes())
        assert (d.language, d.label, d.how) == (None, "License", "content-kind"), (path, d)
        for other in ("LICENCE", "COPYING", "LICENSE-MIT", "license.md", "NOTICE", "UNLICENSE"):
            assert detect(other, path.read_bytes()).label == "License", (path, other)


def test_licence_texts_without_a_name_are_never_code():
    files = _licence_files()
    if not files:
        pytest.skip("no licence files among the installed packages")
    labels = [detect("", p.read_bytes()) for p in files]
    assert all(d.language is None for d in labels), [d for d in labels if d.language]
    assert sum(d.label == "License" for d in labels) >= 0.8 * len(labels)


def test_code_with_a_licence_header_keeps_its_language():
    # real files of installed packages that open with a licence notice
    for rel, lang in [
        ("cryptography/__init__.py", "Python"),
        ("requests/__init__.py", "Python"),
        ("attr/__init__.py", "Python"),
    ]:
        path = SITE / rel
        if path.exists():
            content = path.read_bytes()
            assert detect(path.name, content).language == lang
    header = (
        b'# Licensed under the Apache License, Version 2.0 (the "License");\n'
        b"# you may not use this file except in compliance with the License.\n"
        b"# http://www.apache.org/licenses/LICENSE-2.0\n\n"
    )
    body = b"import os\n\n\ndef main(argv):\n    for a in argv:\n        print(os.path.abspath(a))\n    return 0\n"
    assert detect("tool.py", header + body).language == "Python"
    assert detect("", header + body * 3).label != "License"


@pytest.mark.parametrize(
    ("name", "content", "label"),
    [
        ("run.output", b"val x = 1\nres0: Int = 1\n", "Program Output"),
        ("test_parse.expected", b"def f():\n    return 1\n", "Program Output"),
        ("build.log", b"[INFO] building\n[INFO] done\n", "Program Output"),
        (
            "",
            b"2024-01-02 10:00:01,123 INFO server: started on :8080\n"
            b"2024-01-02 10:00:02,456 WARNING db: slow query (1.2 s)\n"
            b"2024-01-02 10:00:03,789 ERROR api: request failed {id=42}\n",
            "Program Output",
        ),
        (
            "results",
            b"============================= test session starts ==============================\n"
            b"collected 3 items\n\ntests/test_a.py ...                                  [100%]\n\n"
            b"============================== 3 passed in 0.12s ===============================\n",
            "Program Output",
        ),
        (
            "bench_summary",
            b"benchmark            mean      stddev    ops/s\n"
            b"parse_small          1.203     0.012     831.2\n"
            b"parse_large         10.554     0.201      94.7\n"
            b"serialize            0.331     0.004    3021.1\n",
            "Program Output",
        ),
        ("scores", b"id,name,score\n1,ann,3.5\n2,bob,4.0\n3,cy,2.5\n4,di,5.0\n5,ed,1.0\n", "Data"),
        (
            "dump",
            b"00000000: 7f45 4c46 0201 0100 0000 0000 0000 0000  .ELF............\n"
            b"00000010: 0300 3e00 0100 0000 6061 0000 0000 0000  ..>.....`a......\n"
            b"00000020: 4000 0000 0000 0000 38e2 0100 0000 0000  @.......8.......\n",
            "Data",
        ),
        (
            "blob",
            (b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAx\n") * 20,
            "Data",
        ),
        (
            "NOTES",
            b"This project started as a weekend experiment and grew from there.\n"
            b"Most of the design follows the paper we read in the spring, with a few changes.\n"
            b"The second half of this document explains why we chose a different cache policy.\n"
            b"If you have questions, please open a discussion rather than sending an e-mail.\n",
            "Text",
        ),
    ],
)
def test_outputs_data_and_prose(name, content, label):
    d = detect(name, content)
    assert (d.language, d.label, d.how) == (None, label, "content-kind"), d


def test_prose_without_a_name_never_goes_to_the_model():
    prose = b"The quick brown fox jumps over the lazy dog, and then it runs away into the woods.\n" * 5
    d = detect("", prose)
    assert d.language is None and d.label in KINDS | {None}


def test_model_only_answers_need_code_like_content():
    d = detect("", b"Thanks to everyone who helped.\nAnn Lee\nBob Stone\nCy Young\n")
    assert d.language is None
    st = line_stats("def f(x):\n    return g(x) + 1\n\nclass A:\n    y = f(2)\n")
    assert isinstance(st, LineStats) and st.code_like


# -- shebangs and names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["install.txt", "INSTALL", "setup.sample", "deploy.in", "run.tmpl", "hook.dist", "LICENSE"]
)
def test_a_shebang_outranks_a_name_that_is_not_a_programming_language(name):
    d = detect(name, b'#!/bin/bash\nset -euo pipefail\nfor f in *.txt; do echo "$f"; done\n')
    assert (d.language, d.how) == ("Shell", "shebang"), d


def test_a_shebang_outranks_a_data_format_name():
    d = detect("tool.yml", b"#!/usr/bin/env python3\nimport sys\nprint(sys.argv)\n")
    assert (d.language, d.how) == ("Python", "shebang")


def test_a_programming_language_extension_still_outranks_a_shebang():
    # decided here against linguist's order: a .py that starts #!/bin/sh is a trampoline
    d = detect("tool.py", b"#!/bin/sh\n''''exec python3 \"$0\" \"$@\" # '''\nimport sys\n")
    assert (d.language, d.how) == ("Python", "extension")
    assert "shebang names sh" in d.reason


def test_compound_extensions_with_a_weak_suffix_keep_their_rule():
    assert detect("sample.js.in", b"var x = 1;\n").language == "JavaScript MozPreproc"


# -- the GitHub reader -------------------------------------------------------------------------------


def _repo(tmp_path: Path, keys: dict[str, bytes]) -> tuple[Path, dict[str, str]]:
    licence = _licence_files()
    mit = (
        licence[0].read_text(errors="replace")
        if licence
        else "Permission is hereby granted, free of charge, to any person obtaining a copy\n"
    )
    files = {
        "src/app.py": "import os\n\n\ndef main():\n    return os.getcwd()\n",
        "deploy/id_rsa": keys["pkcs1"].decode(),
        "deploy/server.crt": _certificate(_rsa()).decode(),
        "LICENSE": mit,
    }
    tar = tmp_path / "r.tar.gz"
    tar.write_bytes(make_tarball("o-r-1", files))
    return tar, files


def _read(tmp_path: Path, tar: Path, not_code: str) -> tuple[dict[str, dict], list[dict]]:
    import pyarrow.parquet as pq

    reader = GithubRepoReader([{"name": "o/r", "archive": str(tar)}], not_code=not_code)
    stage = tmp_path / f"stage-{not_code}"
    reader.bind_stage(str(stage), "github/documents")
    docs = {d.metadata["path"]: d.metadata for d in reader.run(None, 0, 1)}
    drops = [row for f in sorted(stage.rglob("*.parquet")) for row in pq.read_table(f).to_pylist()]
    return docs, drops


def test_reader_keeps_only_code_and_drops_keys(tmp_path, keys):
    tar, _ = _repo(tmp_path, keys)
    docs, drops = _read(tmp_path, tar, "drop")
    assert sorted(docs) == ["src/app.py"]
    assert docs["src/app.py"]["language"] == "Python"
    reasons = {row["id"].removeprefix("github:o/r/"): (row["reason"], row["detail"]) for row in drops}
    assert reasons["deploy/id_rsa"][0] == "private_key"
    assert reasons["deploy/server.crt"][0] == "not_code" and reasons["deploy/server.crt"][1].startswith(
        "Certificate"
    )
    assert reasons["LICENSE"][0] == "not_code" and reasons["LICENSE"][1].startswith("License")


def test_reader_routes_non_code_to_text_but_never_a_key(tmp_path, keys):
    tar, _ = _repo(tmp_path, keys)
    docs, drops = _read(tmp_path, tar, "text")
    assert sorted(docs) == ["LICENSE", "deploy/server.crt", "src/app.py"]
    assert docs["LICENSE"]["kind"] == "text" and docs["LICENSE"]["language"] is None
    assert docs["src/app.py"]["kind"] == "code"
    assert [row["reason"] for row in drops if row["id"].endswith("id_rsa")] == ["private_key"]
