"""Secrets and personal data: one `secrets` stage per source the recipe's `secrets:` section
scans (GitHub and text by default), over that source's latest documents: after language and file
rules, repository samples and recall, before deduplication, so no later stage (and no shard) ever
holds a credential."""

from __future__ import annotations

from classifiers.secrets.step import SecretsFilter
from corpus.app.recipe import Recipe
from corpus.core.stage import Stage, document_stage, latest


def secrets_stages(recipe: Recipe, output: str, previous: list[Stage]) -> list[Stage]:
    cfg = recipe.secrets
    pii = [name for name, on in (("e-mails", cfg.pii.emails), ("IP addresses", cfg.pii.ips)) if on]
    what = "redact credentials" + (f" and {', '.join(pii)}" if pii else "")
    if cfg.drop_key_files:
        what += "; drop private key and certificate files"
    stages: list[Stage] = []
    for source in cfg.sources():
        before = latest(previous, source)
        if before is None:
            continue
        stages.append(
            document_stage(
                source, "secrets", output, before.folder, [SecretsFilter(cfg)], recipe.executor.tasks, what
            )
        )
    return stages
