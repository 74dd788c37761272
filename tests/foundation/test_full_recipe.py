"""The full-scale recipe is valid and says what the papers say."""

from __future__ import annotations

import yaml

from corpus.app.recipe import Recipe
from tests.conftest import REPO, run_cli


def test_full_scale_recipe_validates_with_the_papers_settings() -> None:
    raw = yaml.safe_load((REPO / "recipes" / "deepseek-coder-v2.yaml").read_text())
    recipe = Recipe.model_validate(raw)
    assert recipe.mix is not None and recipe.mix.total_tokens == 6_000_000_000_000
    assert {g: m.share for g, m in recipe.mix.groups.items()} == {"code": 0.6, "math": 0.1, "text": 0.3}
    assert recipe.mix.groups["code"].fim is not None and recipe.mix.groups["code"].fim.rate == 0.5
    assert recipe.dedup is not None and (recipe.dedup.threshold, recipe.dedup.ngram) == (0.7, 5)
    assert recipe.sources.github.curation.search is None  # 10^8 repositories: GH Archive lists them
    assert str(recipe.sources.github.curation.gharchive.created_before) == "2023-11-01"
    web = recipe.recall.commoncrawl
    assert web.iterations == 3 and recipe.recall.github.iterations == 2
    ft = web.fasttext
    assert (ft.dim, ft.lr, ft.word_ngrams, ft.min_count, ft.epoch) == (256, 0.1, 3, 3, 3)
    assert web.discovery.domain_threshold == 0.10


def test_full_scale_recipe_names_its_missing_inputs() -> None:
    proc = run_cli("build", str(REPO / "recipes" / "deepseek-coder-v2.yaml"), "--dry-run")
    assert proc.returncode == 2
    assert "input not found" in proc.stderr or "no file matches" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
