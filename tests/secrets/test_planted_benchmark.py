"""The planted benchmark: over 300 secrets of more than 20 kinds written into real source files of
several languages, `.env` files, notebooks and JSON credentials, plus hard negatives; and the
unplanted real files, which must come out unchanged.

Recall is counted as the share of planted secrets whose bytes are gone from the stage's output;
the stronger assertion, that none survives, is what a corpus needs.
"""

from __future__ import annotations

from collections import Counter

import pytest
from datatrove.data import Document

from classifiers.secrets.config import SecretsConfig
from classifiers.secrets.scanner import Detectors, scan
from classifiers.secrets.step import SecretsFilter
from tests.secrets.corpus_files import read, selection
from tests.secrets.generate import Keys
from tests.secrets.plant import PlantedFile, plant

SEED = 20240601
PER_KIND = 12


def run_step(
    files: list[tuple[str, str]], config: SecretsConfig | None = None
) -> tuple[dict[str, str], SecretsFilter]:
    """The secrets step over (path, text) documents: the surviving texts by document id."""
    step = SecretsFilter(config or SecretsConfig())
    docs = [Document(text=t, id=f"d{i}", metadata={"path": p}) for i, (p, t) in enumerate(files)]
    return {d.id: d.text for d in step.process(iter(docs), 0, 1)}, step


@pytest.fixture(scope="module")
def hosts() -> list[tuple[str, str]]:
    picked = [
        p
        for p in selection(400, (".py", ".h", ".hpp", ".cpp", ".yaml", ".json"))
        if p.stat().st_size < 60_000
    ]
    return [(str(p), read(p)) for p in picked[:80]]


@pytest.fixture(scope="module")
def planted(hosts) -> list[PlantedFile]:
    return plant(hosts, PER_KIND, SEED, Keys())


@pytest.fixture(scope="module")
def stage_run(planted) -> tuple[dict[str, str], SecretsFilter]:
    return run_step([(f.path, f.text) for f in planted], SecretsConfig(warn_share=1.0))


def test_every_planted_secret_is_gone_and_recall_is_reported(planted, stage_run):
    out, step = stage_run
    total, found = Counter(), Counter()
    survivors = []
    for i, f in enumerate(planted):
        text = out.get(f"d{i}", "")
        for s in f.secrets:
            total[s.kind] += 1
            if s.value in text:
                survivors.append((s.kind, f.path))
            else:
                found[s.kind] += 1
    n = sum(total.values())
    recall = sum(found.values()) / n
    print(f"\nplanted secrets: {n} of {len(total)} kinds in {len(planted)} files; recall {recall:.2%}")
    for kind in sorted(total):
        print(f"  {kind:24s} {found[kind]:3d}/{total[kind]}")
    print(f"  redactions by kind: {dict(sorted(step._counts.kinds.items()))}")
    print(f"  dropped files: {dict(step._counts.dropped)}")
    assert n >= 300 and len(total) >= 20
    assert recall >= 0.99
    assert not survivors, survivors[:10]


def test_planted_files_keep_everything_but_the_secret(planted, stage_run):
    """Only the secrets change: the host file's own lines are all still there."""
    out, _ = stage_run
    for i, f in enumerate(planted[:200]):
        if f.path.endswith((".pem", ".json", ".ipynb", ".env")):
            continue
        kept = out[f"d{i}"]
        assert "<KEY>" in kept or "<PASSWORD>" in kept or "<PRIVATE_KEY>" in kept, f.path
        assert len(kept.splitlines()) >= len(f.text.splitlines()) - 40  # a key block is one line now


def test_key_files_are_dropped_and_keys_in_code_redacted(planted, stage_run):
    out, step = stage_run
    dropped = {f"d{i}" for i, f in enumerate(planted)} - set(out)
    assert {planted[int(d[1:])].path.split("/")[0] for d in dropped} == {"keys"}
    assert step._counts.dropped["private_key"] == PER_KIND
    assert all(reason in ("private_key", "certificate") for _, reason, _ in step._drops)


def test_real_clean_files_are_left_alone():
    """No secret in torch's and megatron's own sources: at most 0.1% of the files may change."""
    files = selection(2500)
    changed, pii_changed = [], 0
    for p in files:
        text = read(p)
        if scan(text, str(p), Detectors(secrets=True, emails=False, ips=False)):
            changed.append(str(p))
        pii_changed += bool(scan(text, str(p), Detectors(secrets=False)))
    share = len(changed) / len(files)
    print(
        f"\nclean real files: {len(files)}; changed by secret detectors: {len(changed)} ({share:.3%}); "
        f"with e-mail/IP redactions (real author and team addresses): {pii_changed}"
    )
    assert share <= 0.001, changed


HARD_NEGATIVES = {
    "requirements.txt": "torch==2.3.0 \\\n    --hash=sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n",
    "package-lock.json": '{"node_modules/left-pad": {"version": "1.3.0", "integrity": "sha512-'
    + "XI5MPzVNApjAyhQzphX8BkmKsKUxD4LdyK24iZeQ9Xtl7k4L1L+Lia4nQ6h2T6j+f7xTmI3Jp9Y2+C3H+sgjJ8Q=="
    + '",'
    ' "resolved": "https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz"}}\n',
    "yarn.lock": 'left-pad@^1.3.0:\n  version "1.3.0"\n  integrity sha1-W4o6d2Xf4AEmHd6RVYnngvjJTR4=\n  '
    "checksum: 3d8aa5b1f1d6a1c5e0b1f3e8a1cdd1c57a3e1f8b2c9d0e4f5a6b7c8d9e0f1a2b\n",
    "uuids.py": 'SESSION_ID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"\ntoken_id = "c9bf9e57-1685-4c89-bafb-ff5af830be8a"\n',
    "git.py": 'COMMIT = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"\nsha1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"\n'
    'md5sum = "d41d8cd98f00b204e9800998ecf8427e"\n',
    "image.html": '<img src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==">\n',
    "test_aes.py": 'key = bytes.fromhex("000102030405060708090a0b0c0d0e0f")\nsecret_key = "000102030405060708090a0b0c0d0e0f"\n'
    'expected = "69c4e0d86a7b0430d8cdb78070b4c55a"\nnonce = "cafebabefacedbaddecaf888"\n',
    "aws_docs.md": "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n"
    "export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
    "jwt_docs.md": "Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9l"
    "IiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c\n",
    "config.yaml": "password: changeme\napi_key: your-api-key\ntoken: ${GITHUB_TOKEN}\nsecret: <SECRET>\n"
    "client_secret: xxxxxxxxxxxxxxxxxxxxxxxx\nstripe_key: sk_test_placeholder\n",
    "settings.py": 'PASSWORD = os.environ["DB_PASSWORD"]\npassword = get_password()\npassword: str = ""\n'
    'api_key = settings.API_KEY\nSECRET_KEY = env("SECRET_KEY")\ntokenizer_type = "GPT2BPETokenizer"\n'
    'password_hash = "pbkdf2_sha256$260000$abc"\nif password == confirm_password:\n    pass\n',
    "key_docs.md": "A key file looks like:\n\n-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----\n",
    "contacts.md": "Mail noreply@github.com, 12345+octocat@users.noreply.github.com or admin@example.com.\n"
    "Servers: 10.0.0.1, 172.16.4.2, 192.168.1.20, 127.0.0.1, 0.0.0.0, 255.255.255.255, 192.0.2.10, "
    "198.51.100.7, 203.0.113.99, 2001:db8::1, ::1\nRequires version 1.2.3.4 or v2.0.1.3.\n",
    "matmul.py": "y = x@w.T + b\nz = q@k.mT\nicon = 'logo@2x.png'\nfrom pkg@1.2.3 import x\n",
}


def test_hard_negatives_stay_unchanged():
    for path, text in HARD_NEGATIVES.items():
        assert scan(text, path) == [], (path, [(f.kind, text[f.start : f.end]) for f in scan(text, path)])
