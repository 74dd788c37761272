"""The mix plan: shares by tokens, whole plus partial epochs, budgets, and missing groups."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from corpus.core.errors import UserError
from corpus.mix.config import MixGroup, MixSettings
from corpus.mix.plan import plan_copies


def _corpus(seed: int = 0):
    rng = np.random.default_rng(seed)
    sizes = {"code": 4000, "math": 300, "text": 1500}
    ids = {g: [f"{g}:{i}" for i in range(n)] for g, n in sizes.items()}
    costs = {g: rng.integers(20, 3000, size=n).astype(np.float64) for g, n in sizes.items()}
    return ids, costs


def _shares(copies, costs):
    tokens = {g: float((copies[g] * costs[g]).sum()) for g in copies}
    total = sum(tokens.values())
    return {g: t / total for g, t in tokens.items()}


def test_default_plan_meets_60_10_30_without_repeating():
    ids, costs = _corpus()
    plans, copies, total = plan_copies(ids, costs, MixSettings(), seed=1)
    shares = _shares(copies, costs)
    for g, target in {"code": 0.6, "math": 0.1, "text": 0.3}.items():
        assert abs(shares[g] - target) < 1e-3, (g, shares[g])
    # the scarcest group relative to its share (math) is used exactly once, the others down-sampled
    assert plans["math"].epochs == pytest.approx(1.0)
    assert all(c.max() <= 1 for c in copies.values())
    assert total == pytest.approx(costs["math"].sum() / 0.1, rel=1e-9)


def test_budget_larger_than_the_data_repeats_whole_epochs_plus_a_partial_one():
    ids, costs = _corpus()
    budget = int(costs["math"].sum() / 0.1 * 2.5)
    plans, copies, _ = plan_copies(ids, costs, MixSettings(total_tokens=budget), seed=1)
    assert plans["math"].full_epochs == 2
    assert set(np.unique(copies["math"])) == {2, 3}
    assert plans["math"].epochs == pytest.approx(2.5, abs=0.01)
    planned = sum(float((copies[g] * costs[g]).sum()) for g in copies)
    assert planned == pytest.approx(budget, rel=1e-3)
    shares = _shares(copies, costs)
    assert abs(shares["code"] - 0.6) < 1e-3 and abs(shares["text"] - 0.3) < 1e-3


def test_plan_is_deterministic_and_independent_of_input_order():
    ids, costs = _corpus()
    _, a, _ = plan_copies(ids, costs, MixSettings(), seed=9)
    order = {g: np.random.default_rng(1).permutation(len(ids[g])) for g in ids}
    shuffled_ids = {g: [ids[g][i] for i in order[g]] for g in ids}
    shuffled_costs = {g: costs[g][order[g]] for g in ids}
    _, b, _ = plan_copies(shuffled_ids, shuffled_costs, MixSettings(), seed=9)
    for g in ids:
        assert (b[g] == a[g][order[g]]).all()
    _, c, _ = plan_copies(ids, costs, MixSettings(), seed=10)
    assert any((c[g] != a[g]).any() for g in ids)


def test_partial_epoch_is_close_even_with_large_documents():
    # 40 text documents bind the budget (~20k tokens); code documents are 0.2-20k tokens each, so a
    # plain hash-ordered prefix would miss its target by thousands of tokens (several points)
    ids = {"code": [f"c{i}" for i in range(300)], "text": [f"t{i}" for i in range(40)]}
    rng = np.random.default_rng(3)
    costs = {
        "code": rng.integers(200, 20_000, 300).astype(float),
        "text": rng.integers(100, 900, 40).astype(float),
    }
    settings = MixSettings(groups={"code": MixGroup(share=0.5), "text": MixGroup(share=0.5)})
    _, copies, _ = plan_copies(ids, costs, settings, seed=0)
    assert abs(_shares(copies, costs)["text"] - 0.5) < 0.005


def test_a_demo_sized_mix_still_meets_its_shares():
    """A few thousand tokens, where one document is several points of the mix."""
    rng = np.random.default_rng(11)
    for trial in range(20):
        ids = {"code": [f"c{i}" for i in range(19)], "text": [f"t{i}" for i in range(20)]}
        costs = {
            "code": rng.integers(25, 800, 19).astype(float),
            "text": rng.integers(40, 150, 20).astype(float),
        }
        settings = MixSettings(groups={"code": MixGroup(share=0.6), "text": MixGroup(share=0.4)})
        _, copies, _ = plan_copies(ids, costs, settings, seed=trial)
        assert abs(_shares(copies, costs)["code"] - 0.6) < 0.005, trial


def test_a_group_without_documents_is_an_error_or_renormalised():
    ids, costs = _corpus()
    del ids["math"], costs["math"]
    with pytest.raises(UserError, match="math has a share but no documents"):
        plan_copies(ids, costs, MixSettings(), seed=0)
    plans, copies, _ = plan_copies(ids, costs, MixSettings(missing_groups="renormalize"), seed=0)
    shares = _shares({g: copies[g] for g in ("code", "text")}, costs)
    assert abs(shares["code"] - 0.6 / 0.9) < 1e-3
    assert plans["math"].documents == 0


def test_zero_share_group_gets_no_copies():
    ids, costs = _corpus()
    settings = MixSettings(
        groups={"code": MixGroup(share=0.7), "math": MixGroup(share=0.0), "text": MixGroup(share=0.3)}
    )
    _, copies, _ = plan_copies(ids, costs, settings, seed=0)
    assert copies["math"].sum() == 0


@pytest.mark.parametrize(
    "groups, message",
    [
        ({"code": {"share": 0.6}, "text": {"share": 0.3}}, "add up to 1.0"),
        ({"code": {"share": 1.0, "fim": {"rate": 1.5}}}, "less than or equal to 1"),
        ({"co/de": {"share": 1.0}}, "plain folder name"),
        ({"code": {"share": 1.0, "weight": 2}}, "Extra inputs"),
    ],
)
def test_settings_are_strict(groups, message):
    with pytest.raises(ValidationError, match=message):
        MixSettings.model_validate({"groups": groups})
