"""Secrets in their real formats, from a seeded RNG: the right prefixes, lengths and alphabets,
the checksums where a format has one (GitHub and npm tokens end in a base62 CRC32, PGP armor in a
CRC24 line, JWTs carry a real HMAC signature), and real private keys and certificates made with
`cryptography`. Nothing here is a credential for any service."""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import hmac
import json
import random
import string
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"


@dataclass(frozen=True)
class Planted:
    kind: str
    #: the secret itself (what must not survive)
    value: str
    #: a name it is naturally assigned to
    name: str
    #: True when the value is a block (a key) to embed as a multi-line string
    block: bool = False


def rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def base62(n: int, width: int) -> str:
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = B62[r] + out
    return out.rjust(width, "0")


def checksummed(rng: random.Random, prefix: str) -> str:
    """GitHub's (and npm's) token layout: 30 random base62 characters and their CRC32 in 6 more."""
    body = rand(rng, ALNUM, 30)
    return f"{prefix}{body}{base62(binascii.crc32(body.encode()), 6)}"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def crc24(data: bytes) -> int:
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def pgp_private_block(rng: random.Random) -> str:
    data = rng.randbytes(rng.randint(300, 500))
    body = base64.b64encode(data).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    check = base64.b64encode(crc24(data).to_bytes(3, "big")).decode()
    return "\n".join(
        [
            "-----BEGIN PGP PRIVATE KEY BLOCK-----",
            "",
            *lines,
            f"={check}",
            "-----END PGP PRIVATE KEY BLOCK-----",
        ]
    )


def putty_block(rng: random.Random) -> str:
    public = base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + rng.randbytes(32)).decode()
    private = base64.b64encode(b"\x00\x00\x00\x20" + rng.randbytes(32)).decode()
    mac = rng.randbytes(32).hex()
    return (
        "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: deploy@build\n"
        f"Public-Lines: 2\n{public[:64]}\n{public[64:]}\nPrivate-Lines: 1\n{private}\nPrivate-MAC: {mac}"
    )


def _pem(key, fmt) -> str:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode().strip()


class Keys:
    """Real keys, made once per test session (RSA generation is the slow part)."""

    def __init__(self) -> None:
        self.rsa = [rsa.generate_private_key(public_exponent=65537, key_size=1024) for _ in range(3)]

    def private_key(self, rng: random.Random) -> str:
        choice = rng.randrange(5)
        if choice == 0:
            return _pem(rng.choice(self.rsa), serialization.PrivateFormat.TraditionalOpenSSL)
        if choice == 1:
            return _pem(ec.generate_private_key(ec.SECP256R1()), serialization.PrivateFormat.PKCS8)
        if choice == 2:
            return _pem(ed25519.Ed25519PrivateKey.generate(), serialization.PrivateFormat.OpenSSH)
        if choice == 3:
            key = ec.generate_private_key(ec.SECP384R1())
            enc = serialization.BestAvailableEncryption(rand(rng, ALNUM, 12).encode())
            return (
                key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
                .decode()
                .strip()
            )
        return pgp_private_block(rng) if rng.random() < 0.5 else putty_block(rng)

    def certificate(self) -> str:
        key = self.rsa[0]
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "build.internal")])
        start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(1000)
            .not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=365))
            .sign(key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM).decode().strip()

    def gcp_service_account(self, rng: random.Random) -> str:
        pem = _pem(rng.choice(self.rsa), serialization.PrivateFormat.PKCS8) + "\n"
        return json.dumps(
            {
                "type": "service_account",
                "project_id": f"proj-{rand(rng, string.ascii_lowercase, 6)}",
                "private_key_id": rng.randbytes(20).hex(),
                "private_key": pem,
                "client_email": "builder@proj.iam.gserviceaccount.com",
                "client_id": str(rng.randrange(10**20, 10**21)),
                "token_uri": "https://oauth2.googleapis.com/token",
            },
            indent=2,
        )


def jwt(rng: random.Random) -> str:
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {
        "sub": str(rng.randrange(10**9)),
        "name": rand(rng, string.ascii_lowercase, 8),
        "iat": 1700000000,
    }
    payload = b64url(json.dumps(claims).encode())
    sig = hmac.new(rng.randbytes(32), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(sig)}"


def password(rng: random.Random) -> str:
    return rand(rng, ALNUM, rng.randint(6, 10)) + rng.choice("!*-_~.") + rand(rng, ALNUM, rng.randint(3, 8))


def _sas(rng: random.Random) -> str:
    return urllib.parse.quote(base64.b64encode(rng.randbytes(32)).decode(), safe="")


#: kind -> (name it is assigned to, value generator)
GENERATORS: dict[str, tuple[str, Callable[[random.Random], str]]] = {
    "aws_access_key_id": (
        "aws_access_key_id",
        lambda r: rng_choice(r, ("AKIA", "ASIA")) + rand(r, string.ascii_uppercase + "234567", 16),
    ),
    "aws_secret_access_key": ("aws_secret_access_key", lambda r: rand(r, B64, 40)),
    "azure_storage_key": (
        "AZURE_STORAGE_CONNECTION_STRING",
        lambda r: base64.b64encode(r.randbytes(64)).decode(),
    ),
    "azure_sas_token": ("sas_url", _sas),
    "github_token": (
        "GITHUB_TOKEN",
        lambda r: checksummed(r, rng_choice(r, ("ghp_", "gho_", "ghs_", "ghu_", "ghr_"))),
    ),
    "github_pat": ("gh_pat", lambda r: f"github_pat_{rand(r, ALNUM, 22)}_{rand(r, ALNUM, 59)}"),
    "gitlab_token": ("GITLAB_TOKEN", lambda r: "glpat-" + rand(r, URLSAFE, 20)),
    "slack_token": (
        "SLACK_BOT_TOKEN",
        lambda r: f"xoxb-{rand(r, string.digits, 12)}-{rand(r, string.digits, 13)}-{rand(r, ALNUM, 24)}",
    ),
    "slack_webhook": (
        "SLACK_WEBHOOK_URL",
        lambda r: (
            f"T{rand(r, string.ascii_uppercase + string.digits, 8)}/B{rand(r, string.ascii_uppercase + string.digits, 10)}/{rand(r, ALNUM, 24)}"
        ),
    ),
    "stripe_key": (
        "STRIPE_SECRET_KEY",
        lambda r: rng_choice(r, ("sk_live_", "rk_live_")) + rand(r, ALNUM, r.choice((24, 99))),
    ),
    "openai_key": (
        "OPENAI_API_KEY",
        lambda r: rng_choice(
            r, (f"sk-proj-{rand(r, URLSAFE, 156)}", f"sk-{rand(r, ALNUM, 20)}T3BlbkFJ{rand(r, ALNUM, 20)}")
        ),
    ),
    "anthropic_key": ("ANTHROPIC_API_KEY", lambda r: f"sk-ant-api03-{rand(r, URLSAFE, 93)}AA"),
    "google_api_key": ("GOOGLE_API_KEY", lambda r: "AIza" + rand(r, URLSAFE, 35)),
    "twilio_api_key": ("twilio_api_key", lambda r: "SK" + rand(r, HEX, 32)),
    "twilio_auth_token": ("TWILIO_AUTH_TOKEN", lambda r: rand(r, HEX, 32)),
    "sendgrid_key": ("SENDGRID_API_KEY", lambda r: f"SG.{rand(r, URLSAFE, 22)}.{rand(r, URLSAFE, 43)}"),
    "mailgun_key": ("MAILGUN_API_KEY", lambda r: "key-" + rand(r, HEX, 32)),
    "npm_token": ("NPM_TOKEN", lambda r: checksummed(r, "npm_")),
    "pypi_token": ("PYPI_TOKEN", lambda r: "pypi-AgEIcHlwaS5vcmc" + b64url(r.randbytes(r.randint(60, 120)))),
    "huggingface_token": ("HF_TOKEN", lambda r: "hf_" + rand(r, string.ascii_letters, 34)),
    "jwt": ("auth_token", jwt),
    "basic_auth_password": ("DATABASE_URL", password),
    "password": ("db_password", password),
    "high_entropy_secret": ("client_secret", lambda r: rand(r, ALNUM, r.randint(24, 40))),
    "hex_secret": ("SECRET_KEY", lambda r: r.randbytes(32).hex()),
}


def rng_choice(rng: random.Random, options: tuple[str, ...]) -> str:
    return rng.choice(options)
