"""`coderforge recall train|score|loop`, `coderforge decontam` and (from the Common Crawl package)
`coderforge extract`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from classifiers.decontam.benchmarks import BenchmarkSet, DecontamConfig
from classifiers.decontam.step import build_index
from classifiers.recall.config import RecallConfig, TuningConfig
from classifiers.recall.loop import RecallLoop, build_pool
from classifiers.recall.model import FastTextParams
from classifiers.recall.seeds import iter_records, read_texts_and_groups
from classifiers.recall.split import BpeSplitter, fasttext_lines, make_splitter, train_bpe
from classifiers.recall.stages import loop_summary
from classifiers.recall.steps import make_loop_splitter, score_jsonl
from classifiers.recall.tuning import fit_recall_model
from corpus.core.atomic import atomic_open
from corpus.core.errors import UserError
from corpus.core.strict import load_yaml, validate
from corpus.core.user_files import check_input_file

recall_app = typer.Typer(help="fastText recall of code/math pages: train, score, run the iterative loop.")


def _tokenizer_beside(model: Path) -> Path:
    return model.with_name(model.stem + ".tokenizer.json")


@recall_app.command("train")
def train_command(
    positives: Annotated[list[str], typer.Option(help="seed pages (JSONL/Parquet with text); repeatable")],
    negatives: Annotated[
        list[str], typer.Option(help="negative pages (JSONL/Parquet with text); repeatable")
    ],
    out: Annotated[Path, typer.Option(help="model path (.ftz when quantised, .bin otherwise)")],
    tokenizer: Annotated[
        Path | None, typer.Option(help="tokenizer.json for the BPE split; default: train one on the inputs")
    ] = None,
    split: Annotated[str, typer.Option(help="bpe or whitespace")] = "bpe",
    vocab_size: Annotated[int, typer.Option(help="vocabulary of a BPE trained here")] = 32_000,
    text_key: Annotated[str, typer.Option(help="record key holding the text")] = "text",
    dim: int = 256,
    lr: Annotated[
        float | None,
        typer.Option(
            help="learning rate; default: chosen on held-out seeds (the paper's 0.1 from 50k positives)"
        ),
    ] = None,
    word_ngrams: int = 3,
    min_count: int = 3,
    epoch: Annotated[
        int | None,
        typer.Option(help="epochs; default: chosen on held-out seeds (the paper's 3 from 50k positives)"),
    ] = None,
    bucket: int = 200_000,
    quantize: Annotated[bool, typer.Option("--quantize/--no-quantize")] = False,
    seed: int = 0,
    tune: Annotated[
        bool,
        typer.Option(
            "--tune/--no-tune",
            help="hold out part of the inputs to choose epoch/lr and the threshold; --no-tune: the paper's settings, threshold 0.5",
        ),
    ] = True,
    holdout_share: Annotated[float, typer.Option(help="share of positives and negatives held out")] = 0.2,
    paper_from: Annotated[
        int, typer.Option(help="positives from which the paper's epoch/lr are used without a grid")
    ] = 50_000,
) -> None:
    """Train one binary recall model.

    The paper's settings (dim 256, lr 0.1, wordNgrams 3, minCount 3, epoch 3) assume ~500k seed
    pages. Below --paper-from positives, epoch and lr are chosen by average precision on a
    held-out part of the inputs (grouped by URL host or `package`/`repo` key), the decision
    threshold is calibrated there (F1-max), and the model is retrained on everything. --epoch and
    --lr, when given, are used exactly.
    """
    for path in [*positives, *negatives]:
        if "://" not in path:
            check_input_file(path)

    start = time.perf_counter()
    pos, pos_groups = read_texts_and_groups(positives, text_key)
    neg, neg_groups = read_texts_and_groups(negatives, text_key)
    if not 0 < holdout_share < 1:
        raise UserError(f"--holdout-share: must be between 0 and 1 (got {holdout_share})")
    if paper_from < 1:
        raise UserError(f"--paper-from: must be at least 1 (got {paper_from})")
    if split == "bpe" and tokenizer is None:
        splitter = train_bpe(pos + neg, vocab_size)
    else:
        splitter = make_splitter(split, str(tokenizer) if tokenizer else None)
    given = {"epoch": epoch, "lr": lr}
    try:
        params = FastTextParams(
            dim=dim,
            word_ngrams=word_ngrams,
            min_count=min_count,
            bucket=bucket,
            quantize=quantize,
            seed=seed,
            **{k: v for k, v in given.items() if v is not None},
        )
    except ValidationError as err:
        first = err.errors()[0]
        raise UserError(f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']}") from None
    if quantize:
        typer.echo("training, then quantising (at dim 256 about two minutes on one core)", err=True)
    tuning = TuningConfig(enabled=tune, holdout_share=holdout_share, paper_from=paper_from)
    path, choice = fit_recall_model(
        fasttext_lines(splitter, pos),
        fasttext_lines(splitter, neg),
        out,
        params,
        given={k for k, v in given.items() if v is not None},
        tuning=tuning,
        positive_groups=pos_groups,
        negative_groups=neg_groups,
        report=lambda msg: typer.echo(msg, err=True),
    )
    if isinstance(splitter, BpeSplitter):
        splitter.save(_tokenizer_beside(path))
    meta = {
        "split": split,
        "tokenizer": str(_tokenizer_beside(path)) if split == "bpe" else None,
        **params.model_dump(),
        "epoch": choice.epoch,
        "lr": choice.lr,
        "threshold": choice.decision_threshold,
        "training": choice.as_dict(),
    }
    with atomic_open(str(path.with_name(path.stem + ".json")), "w", encoding="utf-8") as f:
        f.write(json.dumps(meta, indent=2, sort_keys=True))
    typer.echo(
        f"trained on {len(pos)} positives / {len(neg)} negatives ({split} split) in "
        f"{time.perf_counter() - start:.1f}s -> {path}; {choice.summary()}",
        err=True,
    )


@recall_app.command("score")
def score_command(
    model: Annotated[list[Path], typer.Option(help="model file; repeat as NAME=PATH for several targets")],
    src: Annotated[Path, typer.Argument(help="JSONL with a text field ('-' for stdin)")],
    dst: Annotated[Path, typer.Argument(help="JSONL out: the same records with `scores` ('-' for stdout)")],
    tokenizer: Annotated[
        Path | None, typer.Option(help="default: the tokenizer saved beside the model")
    ] = None,
    text_key: str = "text",
) -> None:
    """Score every record of SRC with one or more recall models."""
    if str(src) != "-":
        check_input_file(src)

    models: dict[str, str] = {}
    for spec in model:
        name, sep, path = str(spec).partition("=")
        if not sep:
            name, path = Path(name).stem, name
        models[name] = path
    first = Path(next(iter(models.values())))
    meta_path = first.with_name(first.stem + ".json")
    split = json.loads(meta_path.read_text()).get("split", "bpe") if meta_path.is_file() else "bpe"
    tok = tokenizer or (_tokenizer_beside(first) if split == "bpe" else None)
    if split == "bpe" and (tok is None or not Path(tok).is_file()):
        raise UserError(f"{first}: BPE-split model needs its tokenizer; pass --tokenizer")
    splitter = make_splitter(split, str(tok) if tok else None)
    start = time.perf_counter()
    fin = sys.stdin if str(src) == "-" else None
    if fin is None and not src.is_file():
        raise UserError(f"{src}: input JSONL not found")
    with fin or open(src, encoding="utf-8") as f_in:
        if str(dst) == "-":
            n = score_jsonl(models, splitter, f_in, sys.stdout, text_key)
        else:
            with atomic_open(str(dst), "w", encoding="utf-8") as f_out:
                n = score_jsonl(models, splitter, f_in, f_out, text_key)
    seconds = time.perf_counter() - start
    typer.echo(f"scored {n} records in {seconds:.1f}s ({n / max(seconds, 1e-9):.0f}/s)", err=True)


@recall_app.command("loop")
def loop_command(
    config: Annotated[Path, typer.Option(help="YAML with the recall section (targets, discovery, ...)")],
    pages: Annotated[list[str], typer.Option(help="JSONL from `coderforge extract`, or a stage folder")],
    out: Annotated[Path, typer.Option(help="folder for every iteration's model, tables and scores")],
) -> None:
    """Run the iterative recall loop over PAGES; print each iteration's domains and prefixes."""
    for src in pages:
        if "://" not in src:
            check_input_file(src)
    raw = load_yaml(config, "recall config") or {}
    raw = raw.get("recall", raw) if isinstance(raw, dict) else raw
    cfg = validate(RecallConfig, raw, str(config))
    ids, texts, metas = [], [], []
    for src in pages:
        files = sorted(str(p) for p in Path(src).glob("data/*.parquet")) if Path(src).is_dir() else [src]
        if not files:
            raise UserError(f"{src}: folder has no data/*.parquet")
        for path in files:
            for where, rec in iter_records(path):
                meta = json.loads(rec["metadata"]) if isinstance(rec.get("metadata"), str) else rec
                if not isinstance(rec.get("text"), str):
                    raise UserError(f"{where}: record has no text")
                ids.append(str(rec.get("id") or where))
                texts.append(rec["text"])
                metas.append(meta)
    start = time.perf_counter()
    splitter = make_loop_splitter(cfg, texts, out)
    pool = build_pool(ids, texts, metas, cfg.unit, splitter)
    results = RecallLoop(
        cfg, splitter, out, base=config.parent, report=lambda m: typer.echo(m, err=True)
    ).run(pool)
    for name, r in results.items():
        typer.echo(
            f"{name}: {int(r.recalled.sum())} of {len(pool)} pages recalled after {len(r.iterations)} iterations"
        )
    typer.echo(f"loop finished in {time.perf_counter() - start:.1f}s -> {out}/loop.json", err=True)


@recall_app.command("show")
def show_command(
    folder: Annotated[Path, typer.Argument(help="a loop's --out folder, or a recall stage folder")],
    target: Annotated[str | None, typer.Option(help="also print this target's domain table")] = None,
    iteration: Annotated[int, typer.Option(help="which iteration's domain table")] = 1,
    top: Annotated[int, typer.Option(help="domain table rows")] = 10,
) -> None:
    """Print every iteration's counts, cutoffs and discovered prefixes (and one domain table)."""

    try:
        rows = loop_summary(folder)
    except FileNotFoundError:
        raise UserError(f"{folder}: no loop.json (not a recall loop output)") from None
    console = Console()
    table = Table(title=f"recall loop: {folder}", title_justify="left")
    for col in (
        "target",
        "iter",
        "seed",
        "recalled",
        "new",
        "new share",
        "cutoff",
        "domains",
        "prefixes",
        "+seed",
        "trained",
        "AP",
        "F1",
        "threshold",
        "stop",
    ):
        table.add_column(col)

    def num(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    for r in rows:
        table.add_row(
            r["target"], str(r["iteration"]), str(r["seed_positives"]), str(r["recalled"]), str(r["new"]),
            f"{r['new_share']:.0%}", f"{r['score_cutoff']:.3f}", str(r["target_domains"]), r["prefixes"],
            str(r["seed_additions"]), r["settings"], num(r["heldout_ap"]), num(r["heldout_f1"]),
            num(r["threshold"]), r["stop_reason"],
        )  # fmt: skip
    console.print(table)
    if target:
        base = folder if (folder / "loop.json").is_file() else folder / "iterations"
        path = base / target / f"iter_{iteration}" / "domains.parquet"
        if not path.is_file():
            raise UserError(f"{path}: no such iteration or target")
        import polars as pl  # polars costs 0.4 s to import; only these paths need it

        with pl.Config(tbl_rows=top, tbl_width_chars=120):
            console.print(f"domain table, {target} iteration {iteration}:")
            print(pl.read_parquet(path).head(top))


def decontam_command(
    src: Annotated[Path, typer.Argument(help="JSONL with a text field")],
    dst: Annotated[Path, typer.Argument(help="JSONL of the records that pass")],
    drops: Annotated[
        Path | None, typer.Option(help="JSONL of dropped records' ids, benchmark and n-gram")
    ] = None,
    benchmark: Annotated[
        list[str] | None, typer.Option(help="NAME=PATH:FIELD[,FIELD] of a JSONL/Parquet test set; repeatable")
    ] = None,
    no_humaneval: Annotated[
        bool, typer.Option("--no-humaneval", help="leave out built-in HumanEval")
    ] = False,
    text_key: str = "text",
    n: int = 10,
) -> None:
    """Drop records sharing an N-gram (or an exact short string) with benchmark test data."""
    check_input_file(src)

    sets = []
    for spec in benchmark or []:
        name, _, rest = spec.partition("=")
        path, _, fields = rest.rpartition(":")
        if not (name and path and fields):
            raise UserError(f"--benchmark {spec!r}: expected NAME=PATH:FIELD[,FIELD]")
        if "://" not in path:
            check_input_file(path)
        sets.append(BenchmarkSet(name=name, paths=[path], fields=fields.split(",")))
    cfg = DecontamConfig(builtin=[] if no_humaneval else ["humaneval"], sets=sets, n=n)
    index = build_index(cfg)
    if not src.is_file():
        raise UserError(f"{src}: input JSONL not found")
    kept = dropped = 0
    with (
        open(src, encoding="utf-8") as f_in,
        atomic_open(str(dst), "w", encoding="utf-8") as f_out,
        atomic_open(str(drops or dst.with_suffix(".drops.jsonl")), "w", encoding="utf-8") as f_drop,
    ):
        for line_no, line in enumerate(f_in, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                text = rec[text_key]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise UserError(
                    f"{src}:{line_no}: expected a JSON object with a string {text_key!r}"
                ) from None
            match = index.find(text)
            if match is None:
                f_out.write(line if line.endswith("\n") else line + "\n")
                kept += 1
            else:
                dropped += 1
                f_drop.write(
                    json.dumps({"line": line_no, "id": rec.get("id"), **match.__dict__}, ensure_ascii=False)
                    + "\n"
                )
    typer.echo(f"kept {kept}, dropped {dropped} ({len(index)} benchmark n-grams indexed)", err=True)


def register(app: typer.Typer) -> None:

    app.add_typer(recall_app, name="recall")
    app.command("decontam")(decontam_command)
