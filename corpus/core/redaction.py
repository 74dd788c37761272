"""The placeholder tokens that stand in for redacted secrets and personal data.

They live in the base layer because two components need the same strings: the secrets classifier
writes them into documents, and the mix tokenizer adds them to the vocabulary so each one is a
single id rather than a handful of punctuation and letter tokens the model would learn to imitate.
Neither component may import the other (see the import contracts in pyproject.toml).

One token per kind of value, not per provider: the model learns that a credential goes here, never
which vendor's format it had. The names follow the convention of earlier code corpora (`<KEY>`,
`<PASSWORD>`, `<EMAIL>`, `<IP_ADDRESS>`), so prompts written for those models read the same.
"""

from __future__ import annotations

#: API keys, access tokens, signing secrets, webhook paths, high-entropy credentials
KEY = "<KEY>"
#: passwords: in config files, connection strings, DSNs and `scheme://user:password@host` URLs
PASSWORD = "<PASSWORD>"
#: a whole PEM / OpenSSH / PGP / PuTTY private key block
PRIVATE_KEY = "<PRIVATE_KEY>"
EMAIL = "<EMAIL>"
IP_ADDRESS = "<IP_ADDRESS>"

#: every placeholder, in the order the tokenizer adds them (after the special tokens, so adding
#: them never moves the ids of BOS, EOS or the FIM sentinels)
PLACEHOLDERS: tuple[str, ...] = (KEY, PASSWORD, PRIVATE_KEY, EMAIL, IP_ADDRESS)
