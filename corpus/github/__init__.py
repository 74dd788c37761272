"""Code from GitHub, the DeepSeek-Coder way.

- `search`, `repo_lists`: which repositories (REST search with a creation cutoff, list files);
- `fetch`: getting them onto disk (shallow clone or tarball; cached, capped, nothing runs);
- `repo_reader`: walking them into one document per file (symlinks, unsafe members, binary, LFS,
  vendored/generated/minified by `linguist` data, language tags, license from `licenses`);
- `file_rules`: the DeepSeek-Coder file rules, each drop recorded with its rule;
- `licenses`, `license_policy`: each repository's SPDX licence from its licence files, and the
  recipe's allow/deny filter (`curation.licenses`);
- `dependencies`, `samples`: dependency-ordered repository-level samples, split back losslessly;
- `stages`, `config`: the build stages and the recipe section `sources.github.curation`;
- `commands`: `coderforge github search | walk | split`.
"""
