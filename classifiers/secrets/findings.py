"""What a detector reports: a kind, a `[start, end)` span of the text, and which rule found it.

A finding covers the secret value only (the token, the password, the key block), never the name it
is assigned to, so redaction keeps `password = "<PASSWORD>"` readable as code. Findings carry
offsets, not text: nothing downstream (story records, the scan command, logs) needs the secret, and
what is not carried cannot leak.
"""

from __future__ import annotations

from dataclasses import dataclass

from corpus.core.redaction import EMAIL, IP_ADDRESS, KEY, PASSWORD, PRIVATE_KEY

#: every kind a detector can report, with the placeholder its value is replaced by
KINDS: dict[str, str] = {
    "private_key": PRIVATE_KEY,
    "gcp_service_account": PRIVATE_KEY,
    "aws_access_key_id": KEY,
    "aws_secret_access_key": KEY,
    "azure_storage_key": KEY,
    "azure_sas_token": KEY,
    "github_token": KEY,
    "gitlab_token": KEY,
    "slack_token": KEY,
    "slack_webhook": KEY,
    "stripe_key": KEY,
    "openai_key": KEY,
    "anthropic_key": KEY,
    "google_api_key": KEY,
    "google_oauth_secret": KEY,
    "twilio_api_key": KEY,
    "twilio_auth_token": KEY,
    "sendgrid_key": KEY,
    "mailgun_key": KEY,
    "npm_token": KEY,
    "pypi_token": KEY,
    "huggingface_token": KEY,
    "jwt": KEY,
    "high_entropy_secret": KEY,
    "basic_auth_password": PASSWORD,
    "password": PASSWORD,
    "email": EMAIL,
    "ip_address": IP_ADDRESS,
}

#: kinds that are personal data rather than credentials (counted apart in reports and warnings)
PII_KINDS = frozenset({"email", "ip_address"})

#: reasons a whole document is dropped rather than redacted: it *is* a key or certificate file
FILE_KINDS = ("private_key", "certificate")


@dataclass(frozen=True, order=True)
class Finding:
    start: int
    end: int
    kind: str
    #: the rule that found it, `module:rule` (e.g. `patterns:github_token`, `entropy:assignment`)
    detector: str

    @property
    def placeholder(self) -> str:
        return KINDS[self.kind]


def mask(value: str) -> str:
    """A value shown without giving it away: a short prefix (the part that names a format, such
    as `ghp_`), then its length."""
    shown = min(4, len(value) // 4)
    return f"{value[:shown]}{'*' * 4}…({len(value)} chars)"
