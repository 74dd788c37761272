"""The iterative recall loop of DeepSeekMath / DeepSeek-Coder-V2, with automatic prefix discovery.

Per target (code, math) and iteration:

1. train fastText on the seed (positives) against random pool pages (negatives);
2. score every page of the pool; recall the top-scored pages up to the token budget;
3. domain table: each domain's pages, recalled pages and recalled share; domains above the
   threshold (default 10%) are target domains;
4. inside target domains, discover URL path prefixes whose recalled share is high (the paper did
   this by hand); the pages under them that were *not* recalled join the seed and leave the negatives;
5. stop after N iterations, or when an iteration's recall is almost all pages already recalled
   before (DeepSeekMath saw 98% at its fourth).

Everything an iteration decides is written to `<out>/<target>/iter_<n>/`: the model, the score of
every page (a Dolma-style attribute file keyed by document id), the thresholds, the domain table,
the discovered prefixes and the seed additions, plus `summary.json`; `<out>/loop.json` gathers
the counts of all iterations for `coderforge inspect` and the notebook.

The pool is held in memory (ids, URLs, split lines): fine for one machine's share of a crawl
(tens of millions of pages with ~2 kB lines need tens of GB). With `tasks: N` the recipe plans the
loop as parallel stages instead (`classifiers.recall.staged`): pages are scored in N tasks and
only ids and numbers reach the one task that ranks them, which calls the same `rank_iteration`.
"""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import numpy as np

from classifiers.recall.config import RecallConfig, TargetConfig
from classifiers.recall.model import RecallModel
from classifiers.recall.seeds import read_texts_and_groups
from classifiers.recall.split import Splitter, fasttext_lines
from classifiers.recall.tuning import Choice, fit_recall_model
from corpus.commoncrawl.urls import domain_of, path_prefixes
from corpus.core.atomic import atomic_write_text

if TYPE_CHECKING:
    import polars as pl

log = logging.getLogger(__name__)


@dataclass
class Pool:
    """The pages the loop ranks: parallel arrays, one entry per page."""

    ids: list[str]
    domains: list[str]
    paths: list[str]
    lines: list[str]
    tokens: np.ndarray
    urls: list[str]

    def __len__(self) -> int:
        return len(self.ids)


def locate(unit: str, metadata: dict) -> tuple[str, str, str]:
    """(domain, path, url) of a document: host and URL path for web pages, repository and file
    path for GitHub files (the paper ran the same loop over GitHub with repositories as domains)."""
    if unit == "github":
        repo = str(metadata.get("repo") or "")
        path = "/" + str(metadata.get("path") or "").lstrip("/")
        return repo, path, f"{repo}{path}"
    url = str(metadata.get("url") or "")
    try:
        path = urlsplit(url).path or "/"
    except ValueError:
        path = "/"
    return str(metadata.get("domain") or domain_of(url)), path, url


def build_pool(
    ids: Sequence[str],
    texts: Sequence[str],
    metadata: Sequence[dict],
    unit: str,
    splitter: Splitter,
    progress: Callable[[int], None] | None = None,
) -> Pool:
    """Split every page once; the lines are reused by every iteration (only the model changes)."""
    domains, paths, urls = [], [], []
    for meta in metadata:
        d, p, u = locate(unit, meta)
        domains.append(d)
        paths.append(p)
        urls.append(u)
    lines: list[str] = []
    batch = 2048
    for i in range(0, len(texts), batch):
        lines.extend(fasttext_lines(splitter, texts[i : i + batch]))
        if progress:
            progress(min(batch, len(texts) - i))
    tokens = np.fromiter(
        (line.count(" ") + 1 if line else 0 for line in lines), dtype=np.int64, count=len(lines)
    )
    # the classifier reads a page's head only; the budget counts the whole page, extrapolated
    limit = getattr(splitter, "max_chars", None)
    if limit:
        for i, text in enumerate(texts):
            if len(text) > limit:
                tokens[i] = round(int(tokens[i]) * len(text) / limit)
    return Pool(list(ids), domains, paths, lines, tokens, urls)


@dataclass
class IterationResult:
    target: str
    iteration: int
    model_path: str
    seed_positives: int
    seed_negatives: int
    recalled: int
    recalled_tokens: int
    new: int
    new_share: float
    score_cutoff: float
    budget_tokens: int
    min_score: float
    domain_threshold: float
    target_domains: list[str]
    prefixes: list[str]
    seed_additions: int
    stop_reason: str = ""
    #: how the model was trained: epoch, lr, mode, held-out AP and F1, the calibrated threshold
    training: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class TargetResult:
    target: str
    scores: np.ndarray
    recalled: np.ndarray
    iterations: list[IterationResult] = field(default_factory=list)


def recall_by_budget(scores: np.ndarray, tokens: np.ndarray, budget: int, min_score: float) -> np.ndarray:
    """Mask of the top-scored pages whose tokens fit the budget (ties broken by pool order).

    A page that would overflow the budget is skipped but smaller later pages may still fit, so the
    budget is used up rather than stopping at the first large page.
    """
    order = np.argsort(-scores, kind="stable")
    mask = np.zeros(len(scores), dtype=bool)
    used = 0
    for i in order:
        if scores[i] < min_score:
            break
        t = int(tokens[i])
        if used + t > budget:
            continue
        mask[i] = True
        used += t
        if used >= budget:
            break
    return mask


def domain_table(pool: Pool, recalled: np.ndarray, scores: np.ndarray, cfg: RecallConfig) -> pl.DataFrame:
    import polars as pl  # polars costs 0.4 s to import; only these paths need it

    df = pl.DataFrame({"domain": pool.domains, "recalled": recalled, "score": scores, "tokens": pool.tokens})
    table = (
        df.group_by("domain")
        .agg(
            pl.len().alias("pages"),
            pl.col("recalled").sum().alias("recalled"),
            pl.col("score").mean().alias("mean_score"),
            pl.col("tokens").filter(pl.col("recalled")).sum().alias("recalled_tokens"),
        )
        .with_columns((pl.col("recalled") / pl.col("pages")).alias("recalled_share"))
        .with_columns(
            (
                (pl.col("recalled_share") > cfg.discovery.domain_threshold)
                & (pl.col("pages") >= cfg.discovery.min_domain_pages)
            ).alias("target_domain")
        )
        .sort(["recalled_share", "pages", "domain"], descending=[True, True, False])
    )
    return table


def discover_prefixes(
    pool: Pool, recalled: np.ndarray, target_domains: set[str], cfg: RecallConfig
) -> pl.DataFrame:
    """Directory prefixes inside target domains whose recalled share passes the recipe's rule."""
    import polars as pl  # polars costs 0.4 s to import; only these paths need it

    d = cfg.discovery
    pages: dict[tuple[str, str], int] = defaultdict(int)
    hits: dict[tuple[str, str], int] = defaultdict(int)
    for i, domain in enumerate(pool.domains):
        if domain not in target_domains:
            continue
        for prefix in path_prefixes(pool.paths[i], d.max_prefix_depth):
            pages[(domain, prefix)] += 1
            hits[(domain, prefix)] += int(recalled[i])
    qualified = sorted(
        key for key, n in pages.items() if n >= d.min_prefix_pages and hits[key] / n >= d.min_prefix_share
    )
    kept: list[tuple[str, str]] = []
    for domain, prefix in qualified:  # sorted, so an ancestor comes before its descendants
        if not any(dom == domain and prefix.startswith(p) for dom, p in kept):
            kept.append((domain, prefix))
    rows = [
        {
            "domain": dom,
            "prefix": p,
            "pages": pages[(dom, p)],
            "recalled": hits[(dom, p)],
            "recalled_share": hits[(dom, p)] / pages[(dom, p)],
        }
        for dom, p in kept
    ]
    schema = {
        "domain": pl.String,
        "prefix": pl.String,
        "pages": pl.Int64,
        "recalled": pl.Int64,
        "recalled_share": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema)


def _under(pool: Pool, prefixes: pl.DataFrame) -> np.ndarray:
    by_domain: dict[str, list[str]] = defaultdict(list)
    for dom, p in zip(prefixes["domain"], prefixes["prefix"], strict=True):
        by_domain[dom].append(p)
    mask = np.zeros(len(pool), dtype=bool)
    for i, dom in enumerate(pool.domains):
        if dom in by_domain and any(pool.paths[i].startswith(p) for p in by_domain[dom]):
            mask[i] = True
    return mask


def _write_parquet(df: pl.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    df.write_parquet(tmp, compression="zstd", statistics=False)
    tmp.replace(path)


def rank_iteration(
    cfg: RecallConfig,
    target: TargetConfig,
    pool: Pool,
    scores: np.ndarray,
    ever: np.ndarray,
    added: np.ndarray,
    it: int,
    budget: int,
    folder: Path,
    *,
    model_path: str,
    seed_positives: int,
    seed_negatives: int,
    choice: Choice | None = None,
) -> tuple[IterationResult, np.ndarray, np.ndarray]:
    """Everything an iteration decides once the pool is scored: recall by budget, the domain table,
    discovered prefixes, seed additions and the stop rule; writes the iteration's files.

    Shared by the single-task loop and the parallel rank stage, so both decide alike. `ever` marks
    pages recalled in earlier iterations, `added` pages that already joined the seed. Returns the
    iteration's summary, its recall mask and the pool indices that join the seed (best score first).
    The score floor is the target's `min_score` when the recipe sets it, else the threshold
    calibrated on held-out seeds (`choice`); the ranking by score is the same either way.
    """
    import polars as pl  # polars costs 0.4 s to import; only these paths need it

    min_score = floor(target, choice)
    recalled = recall_by_budget(scores, pool.tokens, budget, min_score)
    new = recalled & ~ever
    new_share = float(new.sum() / recalled.sum()) if recalled.any() else 0.0
    cutoff = float(scores[recalled].min()) if recalled.any() else 1.0
    domains = domain_table(pool, recalled, scores, cfg)
    targets = set(domains.filter(pl.col("target_domain"))["domain"].to_list())
    prefixes = discover_prefixes(pool, recalled, targets, cfg)
    candidates = np.flatnonzero(_under(pool, prefixes) & ~recalled & ~added)
    candidates = candidates[np.argsort(-scores[candidates], kind="stable")]
    if cfg.discovery.max_seed_additions is not None:
        candidates = candidates[: cfg.discovery.max_seed_additions]
    RecallLoop._write_iteration(folder, pool, scores, recalled, new, domains, prefixes, candidates)
    info = IterationResult(
        target=target.name,
        iteration=it,
        model_path=model_path,
        seed_positives=seed_positives,
        seed_negatives=seed_negatives,
        recalled=int(recalled.sum()),
        recalled_tokens=int(pool.tokens[recalled].sum()),
        new=int(new.sum()),
        new_share=round(new_share, 6),
        score_cutoff=round(cutoff, 6),
        budget_tokens=budget,
        min_score=min_score,
        domain_threshold=cfg.discovery.domain_threshold,
        target_domains=sorted(targets),
        prefixes=[f"{d}{p}" for d, p in zip(prefixes["domain"], prefixes["prefix"], strict=True)],
        seed_additions=len(candidates),
        training=choice.as_dict() if choice is not None else {},
    )
    if it == cfg.iterations:
        info.stop_reason = f"reached {cfg.iterations} iterations"
    elif it > 1 and new_share < cfg.min_new_share:
        info.stop_reason = f"only {new_share:.1%} new (< {cfg.min_new_share:.1%})"
    elif len(candidates) == 0 and it > 1:
        info.stop_reason = "no new seed pages were discovered"
    atomic_write_text(str(folder / "summary.json"), json.dumps(info.as_dict(), indent=2, sort_keys=True))
    return info, recalled, candidates


def floor(target: TargetConfig, choice: Choice | None) -> float:
    """The score under which no page is recalled: the recipe's `min_score` when it names one,
    else the calibrated threshold when the settings were tuned or are the paper's for a large
    seed set, else `min_score`'s default 0.5. Settings given in full are the user's exact run:
    their held-out AP and threshold are reported, the floor stays where it was."""
    if "min_score" in target.model_fields_set or choice is None or not choice.calibrated:
        return target.min_score
    return choice.threshold


def iteration_line(info: IterationResult) -> str:
    """The one-line progress report of an iteration."""
    t = info.training
    trained = ""
    if t:
        ap = "-" if t.get("average_precision") is None else f"{t['average_precision']:.3f}"
        trained = f"; epoch {t['epoch']}, lr {t['lr']:g} ({t['mode']}), held-out AP {ap}, threshold {info.min_score:.3f}"
    return (
        f"{info.target} iteration {info.iteration}: recalled {info.recalled} pages ({info.new} new, "
        f"{info.new_share:.0%}), {len(info.target_domains)} target domains, {len(info.prefixes)} prefixes, "
        f"{info.seed_additions} pages join the seed{trained}"
    )


class RecallLoop:
    """Runs the loop for every target of a `RecallConfig` over one pool."""

    def __init__(
        self,
        cfg: RecallConfig,
        splitter: Splitter,
        out: str | Path,
        base: str | Path = ".",
        report: Callable[[str], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.splitter = splitter
        self.out = Path(out)
        self.base = Path(base)
        self.report = report or (lambda msg: log.info(msg))

    def run(self, pool: Pool) -> dict[str, TargetResult]:
        results = {t.name: self.run_target(pool, t) for t in self.cfg.targets}
        summary = {
            "unit": self.cfg.unit,
            "split": self.splitter.name,
            "pool_pages": len(pool),
            "pool_tokens": int(pool.tokens.sum()),
            "targets": {
                name: {"iterations": [it.as_dict() for it in r.iterations], "recalled": int(r.recalled.sum())}
                for name, r in results.items()
            },
        }
        atomic_write_text(str(self.out / "loop.json"), json.dumps(summary, indent=2, sort_keys=True))
        return results

    def _seed_lines(self, target: TargetConfig, paths: list[str]) -> tuple[list[str], list[str]]:
        texts, groups = read_texts_and_groups([self._resolve(p) for p in paths], target.text_key)
        return fasttext_lines(self.splitter, texts), groups

    def _resolve(self, p: str) -> str:
        return p if "://" in p or Path(p).is_absolute() else str(self.base / p)

    def run_target(self, pool: Pool, target: TargetConfig) -> TargetResult:
        cfg = self.cfg
        rng = np.random.default_rng(cfg.seed)
        positives, positive_groups = self._seed_lines(target, target.positives)
        extra_negatives, extra_groups = (
            self._seed_lines(target, target.negatives) if target.negatives else ([], [])
        )
        n_neg = max(1, math.ceil(cfg.negatives_per_positive * len(positives)) - len(extra_negatives))
        negative_idx = np.sort(rng.permutation(len(pool))[: min(n_neg, len(pool))])
        budget = target.budget_tokens or max(1, int(target.budget_share * int(pool.tokens.sum())))
        added = np.zeros(len(pool), dtype=bool)
        ever = np.zeros(len(pool), dtype=bool)
        result = TargetResult(target.name, np.zeros(len(pool), np.float32), np.zeros(len(pool), bool))
        for it in range(1, cfg.iterations + 1):
            folder = self.out / target.name / f"iter_{it}"
            folder.mkdir(parents=True, exist_ok=True)
            joined = np.flatnonzero(added)
            negs = [i for i in negative_idx if not added[i]]
            pos_lines = positives + [pool.lines[i] for i in joined]
            neg_lines = extra_negatives + [pool.lines[i] for i in negs]
            params = cfg.fasttext.model_copy(update={"seed": cfg.fasttext.seed + it})
            model_path, choice = fit_recall_model(
                pos_lines,
                neg_lines,
                folder / "model",
                params,
                given=set(cfg.fasttext.model_fields_set),
                tuning=cfg.tuning,
                positive_groups=positive_groups + [pool.domains[i] for i in joined],
                negative_groups=extra_groups + [pool.domains[i] for i in negs],
                report=self.report,
            )
            scores = RecallModel(model_path).scores(pool.lines)
            info, recalled, candidates = rank_iteration(
                cfg,
                target,
                pool,
                scores,
                ever,
                added,
                it,
                budget,
                folder,
                model_path=str(model_path),
                seed_positives=len(pos_lines),
                seed_negatives=len(neg_lines),
                choice=choice,
            )
            added[candidates] = True
            ever |= recalled
            result.scores, result.recalled = scores, recalled
            result.iterations.append(info)
            self.report(iteration_line(info))
            if info.stop_reason:
                break
        return result

    @staticmethod
    def _write_iteration(
        folder: Path,
        pool: Pool,
        scores: np.ndarray,
        recalled: np.ndarray,
        new: np.ndarray,
        domains: pl.DataFrame,
        prefixes: pl.DataFrame,
        candidates: np.ndarray,
    ) -> None:
        import polars as pl  # polars costs 0.4 s to import; only these paths need it

        _write_parquet(
            pl.DataFrame(
                {"id": pool.ids, "score": scores, "recalled": recalled, "new": new, "domain": pool.domains}
            ),
            folder / "scores.parquet",
        )
        _write_parquet(domains, folder / "domains.parquet")
        _write_parquet(prefixes, folder / "prefixes.parquet")
        _write_parquet(
            pl.DataFrame(
                {
                    "id": [pool.ids[i] for i in candidates],
                    "url": [pool.urls[i] for i in candidates],
                    "score": scores[candidates] if len(candidates) else np.zeros(0, np.float32),
                },
                schema={"id": pl.String, "url": pl.String, "score": pl.Float32},
            ),
            folder / "seed_additions.parquet",
        )


def assign_groups(results: dict[str, TargetResult], n: int) -> tuple[list[str | None], dict[str, np.ndarray]]:
    """Each recalled page's group: the target that recalled it, the higher score on a tie of targets."""
    names = list(results)
    groups: list[str | None] = [None] * n
    best = np.full(n, -1.0)
    for name in names:
        r = results[name]
        for i in np.flatnonzero(r.recalled):
            if r.scores[i] > best[i]:
                best[i] = r.scores[i]
                groups[i] = name
    return groups, {name: results[name].scores for name in names}
