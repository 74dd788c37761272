"""Secrets and personal data: found in documents, replaced by placeholder tokens, key files dropped.

Modules: `patterns` (provider token formats), `anchors` (which rules can match a text at all),
`keys` (private key blocks, key and certificate files), `passwords` (assignments, connection
strings, URLs), `entropy` (random-looking values under secret-ish names), `pii` (e-mail and IP
addresses), `scanner` (all of them, overlaps resolved), `redact`, `report` (side files and the build
warning), `step` (the datatrove stage), `config`.

What detect-secrets (Yelp, https://github.com/Yelp/detect-secrets) gives us, and what not. Its
heuristic filters are used as they are, on our candidates only: `is_potential_uuid`,
`is_sequential_string` and `is_templated_secret` (see `allow.py`). Its scanner is not used in the
stage: it runs every plugin's regexes line by line with per-line filter chains, about 0.2–0.5 MiB/s
per core on real code (`benchmarks/bench_secrets.py`), two orders of magnitude below what a corpus
stage needs. On top of it this package adds:

- speed: a rule's regex runs only on texts holding one of the literals its matches must contain,
  found for all rules at once by a few fast passes (`anchors`), and names are matched on one
  lower-cased copy of the text, so a clean file costs a few fast scans (35–60 MiB/s per core with
  e-mails and IPs);
- formats it lacks or that changed: GitHub fine-grained `github_pat_`, GitLab `glpat-`, Anthropic,
  OpenAI project keys, Hugging Face, PyPI macaroons, Google API keys and OAuth secrets, Azure SAS
  signatures and connection strings, Slack webhooks, GCP service-account JSON, PuTTY keys;
- whole key and certificate files recognised and dropped; key blocks (also `\\n`-escaped in JSON,
  or concatenated over lines in C) replaced whole, not line by line;
- passwords in connection strings, DSNs and URLs, and in config files vs code (names, not values);
- entropy thresholds by alphabet and length, hash/lockfile/test-vector/placeholder controls;
- e-mail and IP redaction that keeps documentation domains and address ranges;
- redaction with placeholder tokens and a record per redaction that never holds the value.
"""
