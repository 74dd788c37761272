"""The recipe section `secrets:`: which sources are scanned, and for what."""

from __future__ import annotations

from pydantic import Field

from corpus.core.strict import StrictModel


class PiiConfig(StrictModel):
    emails: bool = Field(True, description="replace e-mail addresses by <EMAIL> (documentation ones stay)")
    ips: bool = Field(
        True, description="replace public IP addresses by <IP_ADDRESS> (private, doc ranges stay)"
    )


class SecretsConfig(StrictModel):
    """The recipe's `secrets:` section; on by default for GitHub and text sources."""

    enabled: bool = Field(True, description="scan documents for secrets and personal data")
    github: bool = True
    text: bool = True
    commoncrawl: bool = Field(False, description="web pages rarely hold credentials; scanning costs a stage")
    pii: PiiConfig = Field(default_factory=PiiConfig)
    drop_key_files: bool = Field(
        True, description="drop documents that are nothing but private keys or certificates (else redact)"
    )
    warn_share: float = Field(
        0.02,
        ge=0,
        le=1,
        description="the build warns when more than this share of a source's documents held a credential",
    )

    def sources(self) -> list[str]:
        """The sources this section scans, in the recipe's source order."""
        if not self.enabled:
            return []
        return [s for s in ("github", "commoncrawl", "text") if getattr(self, s)]
