"""Through `coderforge build`: a GitHub repository with planted secrets, from tarball to Megatron
shards. No planted secret may be in the final shards (the decoded `.bin` tokens and the Parquet
twins), the placeholders must be, the key file is a story drop, and `coderforge inspect` counts
the redactions by kind. `coderforge secrets scan` finds the same planted secrets in the files."""

from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl
import pytest

from corpus.core.redaction import PLACEHOLDERS
from corpus.mix.config import TokenizerSettings
from corpus.mix.tokenizer import load_tokenizer
from corpus.shards.megatron import MegatronShardReader
from tests.conftest import run_cli
from tests.github.fake_github import make_tarball
from tests.secrets.generate import GENERATORS, Keys

RNG = random.Random(7)
TOKENS = {
    kind: GENERATORS[kind][1](RNG)
    for kind in ("github_token", "aws_access_key_id", "stripe_key", "slack_token")
}
PASSWORD = GENERATORS["password"][1](RNG)
SECRET = GENERATORS["high_entropy_secret"][1](RNG)
KEYS = Keys()
KEY = KEYS.private_key(random.Random(3))
EMBEDDED_KEY = KEYS.private_key(random.Random(4))
TEXT_KEY = KEYS.private_key(random.Random(5))
EMAIL = "maria.lopez@acme-payments.com"

FILES = {
    "billing/client.py": (
        '"""Billing client."""\nimport os\n\n'
        f'GITHUB_TOKEN = "{TOKENS["github_token"]}"\n'
        f'AWS_ACCESS_KEY_ID = "{TOKENS["aws_access_key_id"]}"\n'
        f'client_secret = "{SECRET}"\n'
        f"# maintainer: {EMAIL}\n\n\n"
        "def charge(amount: int) -> dict:\n"
        f'    return {{"key": "{TOKENS["stripe_key"]}", "amount": amount}}\n'
    ),
    "billing/db.py": (
        "from billing.client import charge\n\n"
        f'DSN = "postgresql://billing:{PASSWORD}@db.acme-payments.com:5432/billing"\n\n\n'
        "def connect():\n    return charge(0)\n"
    ),
    "billing/notify.py": (
        "import json\n\n\n"
        "def notify(text: str) -> str:\n"
        f'    token = "{TOKENS["slack_token"]}"\n'
        "    return json.dumps({'token': token, 'text': text})\n"
    ),
    "keys/deploy_key.pem": KEY + "\n",  # the GitHub reader's language step drops key files itself
    "billing/tls_fixture.py": f'"""TLS test fixture."""\n\nSERVER_KEY = """{EMBEDDED_KEY}\n"""\n',
    "README.md": "# billing\n\nA small billing service used to test secret redaction end to end.\n",
}
#: text documents: a pasted key (the secrets stage drops it) and a note with a password and address
TEXT_DOCS = [
    {"id": "note-1", "text": TEXT_KEY + "\n"},
    {
        "id": "note-2",
        "text": f"Deployment notes. The staging database password: {PASSWORD}x and the on-call engineer is "
        f"{EMAIL}; the box answers on 34.117.59.81.\n" * 3,
    },
]
PLANTED = [
    *TOKENS.values(),
    PASSWORD,
    SECRET,
    EMAIL,
    "34.117.59.81",
    *(max(k.splitlines(), key=len) for k in (KEY, EMBEDDED_KEY, TEXT_KEY)),
]


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("secrets-build")
    (root / "billing.tar.gz").write_bytes(make_tarball("acme-billing-1", FILES))
    (root / "notes.jsonl").write_text("".join(json.dumps(d) + "\n" for d in TEXT_DOCS))
    (root / "recipe.yaml").write_text(
        "name: secrets-e2e\nseed: 5\n"
        "executor: {tasks: 1, workers: 1}\n"
        "sources:\n  github:\n    repos:\n"
        "      - {name: acme/billing, archive: billing.tar.gz, stars: 10, created_at: 2022-01-01, license: MIT}\n"
        "  text: {paths: [notes.jsonl]}\n"
        "mix:\n  targets: {code: 0.7, text: 0.3}\n  allow_shrink: true\n"
        "tokenizer: {vocab_size: 400, sample_documents: 50}\n"
    )
    out = root / "out"
    run_cli("build", str(root / "recipe.yaml"), "--output", str(out), check=True, timeout=300)
    return out


def test_no_planted_secret_reaches_the_shards(build: Path):
    manifest = json.loads((build / "manifest.json").read_text())
    tok = load_tokenizer(str(build / "mix/tokenizer/tokenizer.json"), TokenizerSettings())
    decoded, twins = [], []
    for shard in manifest["shards"]:
        reader = MegatronShardReader(str(build / shard["prefix"]))
        decoded += [tok.decode(reader[i]) for i in range(len(reader))]
        twins += pl.read_parquet(build / (shard["prefix"] + ".parquet"))["text"].to_list()
    text = "\n".join(decoded + twins)
    assert decoded and twins
    for secret in PLANTED:
        assert secret not in text
    for placeholder in ("<KEY>", "<PASSWORD>", "<EMAIL>", "<PRIVATE_KEY>", "<IP_ADDRESS>"):
        assert placeholder in text
    ids = {tok.tokenizer.token_to_id(p) for p in PLACEHOLDERS}
    assert None not in ids and any(set(reader[i].tolist()) & ids for i in range(len(reader)))


def test_the_story_records_kinds_and_offsets_never_values(build: Path):
    rows = pl.read_parquet(build / "github" / "secrets" / "redactions").to_dicts()
    kinds = {r["kind"] for r in rows}
    assert kinds >= {"github_token", "aws_access_key_id", "stripe_key", "slack_token", "basic_auth_password"}
    assert {"private_key", "high_entropy_secret", "email"} <= kinds
    assert all(0 <= r["start"] < r["end"] for r in rows)
    text_stage = build / "text" / "secrets"
    drops = pl.read_parquet(text_stage / "drops").to_dicts()
    assert [(d["id"], d["reason"]) for d in drops] == [("text:note-1", "private_key")]
    text_rows = pl.read_parquet(text_stage / "redactions").to_dicts()
    assert {r["kind"] for r in text_rows} == {"password", "email", "ip_address"}
    stored = "".join(
        p.read_text(errors="replace") if p.suffix == ".json" else p.read_bytes().decode("latin-1")
        for p in build.rglob("*")
        if p.is_file() and ("/redactions/" in str(p) or "/drops/" in str(p) or "/secrets/secrets/" in str(p))
    )
    for secret in PLANTED:
        assert secret not in stored
    summary = json.loads(run_cli("inspect", str(build), "--json", check=True).stdout)
    counted = {(r["stage"], r["kind"]) for r in summary["redactions"]}
    assert {("github/secrets", "github_token"), ("text/secrets", "password")} <= counted
    assert {"stage": "text/secrets:secrets", "reason": "private_key", "count": 1} in summary["drops"]


def test_scan_command_reports_masked_findings_and_exit_codes(tmp_path: Path):
    for name, text in FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    proc = run_cli("secrets", "scan", str(tmp_path), "--json")
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert report["by_kind"]["private_key"] == 2 and report["by_kind"]["github_token"] == 1
    for secret in PLANTED:
        assert secret not in proc.stdout
    plain = run_cli("secrets", "scan", str(tmp_path / "billing" / "client.py"))
    assert plain.returncode == 1 and "client.py:4:" in plain.stdout and "github_token" in plain.stdout
    (tmp_path / "clean.py").write_text("print('hello')\n")
    assert run_cli("secrets", "scan", str(tmp_path / "clean.py")).returncode == 0
    assert run_cli("secrets", "scan", str(tmp_path / "missing")).returncode == 2
