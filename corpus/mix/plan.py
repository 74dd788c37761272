"""The mix plan: how many times each document is written so that groups meet their token shares.

Each group g has `available` tokens (its documents' tokens, plus one EOS each, plus the expected
FIM sentinels). With a total budget T, the group's target is share_g × T, met by
`floor(target / available)` whole epochs plus a partial epoch: the group's documents ordered by a
seeded hash of their ids, taken while the running token count stays closest to the remainder.
Ordering by a hash of the id (not by position) makes the choice independent of how inputs were
split into files and tasks. Without a budget, T is the largest total no group must repeat for.

That largest total is set by one group (the limiting group: fewest tokens for its share), and
every other group is down-sampled to it. Shares alone cannot show how much was thrown away, so
the plan reports, per group and in all, the tokens available, the tokens used (each document
once) and the epochs, and `check_used_share` stops a build whose plan would use less than
`mix.min_used_share` of the available tokens unless `mix.allow_shrink` says that is wanted.

The plan counts tokens of the plain text; FIM splits a word or two per document, so the realised
counts (measured exactly when the shards are written) differ slightly and are reported beside it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from corpus.core.errors import UserError
from corpus.mix.config import MixSettings
from corpus.mix.fim import stable_hash64


@dataclass
class GroupPlan:
    share: float
    documents: int
    available_tokens: int
    target_tokens: int
    planned_tokens: int
    full_epochs: int
    partial_documents: int
    epochs: float
    #: tokens of the documents written at least once, each counted once (<= available_tokens)
    used_tokens: int = 0
    #: used_tokens / available_tokens: the part of the group that reaches the shards at all
    used_share: float = 0.0


def mix_order_key(seed: int, group: str, doc_id: str) -> int:
    """Where a document stands in its group's seeded order (the partial epoch takes a prefix)."""
    return stable_hash64(seed, "mix", group, doc_id)


def group_targets(available: dict[str, float], settings: MixSettings) -> tuple[dict[str, float], float]:
    """Each group's share (renormalised over the groups that have documents, where the settings
    allow it) and the total budget: the given `total_tokens`, or the largest total no group must
    repeat for. `available` is each group's tokens (its documents' costs summed)."""
    shares = {name: g.share for name, g in settings.groups.items()}
    available = {g: available.get(g, 0.0) for g in shares}
    missing = [g for g, s in shares.items() if s > 0 and available[g] <= 0]
    if missing:
        if settings.missing_groups == "error" or len(missing) == len([s for s in shares.values() if s > 0]):
            raise UserError(
                f"mix.groups: {', '.join(missing)} has a share but no documents map to it "
                "(fix the group's match, or set mix.missing_groups: renormalize)"
            )
        kept = {g: s for g, s in shares.items() if g not in missing}
        norm = sum(kept.values())
        shares = {g: (kept.get(g, 0.0) / norm) for g in shares}

    if settings.total_tokens is not None:
        total = float(settings.total_tokens)
    else:
        total = min(available[g] / s for g, s in shares.items() if s > 0)
    return shares, total


def whole_epochs(target: float, available: float) -> tuple[int, float]:
    """Whole epochs of a group and the tokens its partial epoch must still take."""
    full = math.floor(target / available + 1e-12)
    return full, target - full * available


def group_plan(
    share: float,
    n: int,
    available: float,
    target: float,
    full: int,
    partial_documents: int,
    partial_tokens: float,
) -> GroupPlan:
    """A group's plan from its whole epochs and what its partial epoch took."""
    planned = full * available + partial_tokens
    used = available if full >= 1 else partial_tokens
    return GroupPlan(
        share=share,
        documents=n,
        available_tokens=round(available),
        target_tokens=round(target),
        planned_tokens=round(planned),
        full_epochs=full,
        partial_documents=partial_documents,
        epochs=planned / available,
        used_tokens=round(used),
        used_share=used / available,
    )


def plan_copies(
    ids_by_group: dict[str, list[str] | np.ndarray],
    costs_by_group: dict[str, np.ndarray],
    settings: MixSettings,
    seed: int,
) -> tuple[dict[str, GroupPlan], dict[str, np.ndarray], int]:
    """Copies per document for every group, the per-group plan, and the total planned budget.

    `ids_by_group` holds each group's document ids, or their `mix_order_key`s already computed
    (a uint64 array: the build computes them in the parallel count stage, so the plan holds
    numbers, not strings). `costs_by_group` holds each document's tokens as its first copy is
    written (FIM and EOS included), so a group taken at most once is planned exactly.
    """
    costs = {g: np.asarray(costs_by_group.get(g, np.zeros(0)), dtype=np.float64) for g in settings.groups}
    available = {g: float(c.sum()) for g, c in costs.items()}
    shares, total = group_targets(available, settings)

    plans: dict[str, GroupPlan] = {}
    copies: dict[str, np.ndarray] = {}
    for g, share in shares.items():
        cost = costs[g]
        n = cost.size
        target = share * total
        if n == 0 or share <= 0:
            copies[g] = np.zeros(n, dtype=np.int32)
            plans[g] = GroupPlan(share, n, round(available[g]), 0, 0, 0, 0, 0.0)
            continue
        full, remainder = whole_epochs(target, available[g])
        keys = ids_by_group[g]
        if not isinstance(keys, np.ndarray):
            keys = np.fromiter((mix_order_key(seed, g, i) for i in keys), dtype=np.uint64, count=n)
        order = np.argsort(keys, kind="stable")
        picked = _partial_epoch(cost[order], remainder)
        c = np.full(n, full, dtype=np.int32)
        c[order[picked]] += 1
        copies[g] = c
        partial = float(cost[order[picked]].sum())
        plans[g] = group_plan(share, n, available[g], target, full, int(picked.size), partial)
    return plans, copies, round(total)


def _partial_epoch(ordered_costs: np.ndarray, remainder: float, swaps: int = 8) -> np.ndarray:
    """Positions (in hash order) of the documents of the partial epoch.

    First fit in hash order: every document that still fits under the remainder is taken. Then a
    few improving moves (take one more document, leave one out, or swap one for another), each the
    one that brings the total closest to the remainder. On a large corpus first fit alone lands
    within a few tokens; on a small one (a demo of a few thousand tokens, where one document is
    several percent of the mix) the moves close most of the gap a plain prefix would leave.
    """
    n = ordered_costs.size
    taken = np.zeros(n, dtype=bool)
    cum = np.cumsum(ordered_costs)
    k = int(np.searchsorted(cum, remainder, side="right"))  # the prefix cum[:k] <= remainder
    taken[:k] = True
    left = float(remainder) - (float(cum[k - 1]) if k else 0.0)
    for i in np.flatnonzero(ordered_costs[k:] <= left) + k:  # hash order; each stays within it
        cost = float(ordered_costs[i])
        if cost <= left:
            taken[i] = True
            left -= cost
    err = -left  # planned minus target: negative = short of the target
    for _ in range(swaps):
        if err == 0:
            break
        inside, outside = np.flatnonzero(taken), np.flatnonzero(~taken)
        best = (abs(err), -1, -1)
        if outside.size:  # take one more: err + b
            j = int(outside[np.argmin(np.abs(err + ordered_costs[outside]))])
            best = min(best, (abs(err + ordered_costs[j]), -1, j))
        if inside.size:  # leave one out: err - a
            i = int(inside[np.argmin(np.abs(err - ordered_costs[inside]))])
            best = min(best, (abs(err - ordered_costs[i]), i, -1))
        if inside.size and outside.size:  # swap: err - a + b, b nearest to a - err
            order = outside[np.argsort(ordered_costs[outside], kind="stable")]
            sorted_out = ordered_costs[order]
            pos = np.searchsorted(sorted_out, ordered_costs[inside] - err)
            for cand in (np.minimum(pos, sorted_out.size - 1), np.maximum(pos - 1, 0)):
                new = np.abs(err - ordered_costs[inside] + sorted_out[cand])
                k = int(np.argmin(new))
                best = min(best, (float(new[k]), int(inside[k]), int(order[cand[k]])))
        if best[0] >= abs(err) - 1e-9:
            break
        _, i, j = best
        if i >= 0:
            taken[i] = False
            err -= float(ordered_costs[i])
        if j >= 0:
            taken[j] = True
            err += float(ordered_costs[j])
    return np.flatnonzero(taken)


def limiting_group(plans: dict[str, GroupPlan]) -> str | None:
    """The group with the fewest available tokens for its share (the first when several tie):
    without a budget it fixes the total and caps every other group; with one, it is the group
    repeated most."""
    ratios = {g: p.available_tokens / p.share for g, p in plans.items() if p.share > 0 and p.available_tokens}
    return min(ratios, key=ratios.__getitem__) if ratios else None


def plan_usage(plans: dict[str, GroupPlan]) -> dict:
    """Tokens available and used over the groups that have a share (a zero-share group is left
    out on purpose, so it never counts as thrown away), and the limiting group."""
    counted = [p for p in plans.values() if p.share > 0]
    available = sum(p.available_tokens for p in counted)
    used = sum(p.used_tokens for p in counted)
    return {
        "available_tokens": available,
        "used_tokens": used,
        "used_share": used / available if available else 0.0,
        "limiting_group": limiting_group(plans),
    }


def check_used_share(plans: dict[str, GroupPlan], settings: MixSettings) -> None:
    """Stop (before any shard is written) when, without a budget, the limiting group would leave
    most of the other groups' tokens out of the mix.

    The message is one line (short enough to survive a task log's one-line summary) that names
    the limiting group and both ways out: a `total_tokens`, for which groups with too few tokens
    are repeated (whole epochs plus a seeded partial one), or `allow_shrink: true`.
    """
    if settings.total_tokens is not None or settings.allow_shrink or settings.min_used_share <= 0:
        return
    usage = plan_usage(plans)
    if not usage["available_tokens"] or usage["used_share"] >= settings.min_used_share:
        return
    g = usage["limiting_group"]
    lim = plans[g]
    raise UserError(
        f"mix: group {g} ({lim.available_tokens:,} tokens at share {lim.share:g}) caps the plan at "
        f"{usage['used_tokens']:,} of the {usage['available_tokens']:,} available tokens "
        f"({100 * usage['used_share']:.3g}%, under mix.min_used_share {settings.min_used_share:g}); "
        "set mix.total_tokens (groups short of it repeat: whole epochs plus a seeded partial one) "
        "or mix.allow_shrink: true"
    )


def plan_to_json(plans: dict[str, GroupPlan], total: int, seed: int, missing: list[str]) -> dict:
    return {
        "seed": seed,
        "total_tokens": total,
        "groups": {g: asdict(p) for g, p in plans.items()},
        "missing_groups": missing,
        **plan_usage(plans),
    }
