"""`coderforge langid PATH...` and `coderforge langid train FOLDER...`.

``langid`` is a group whose default command identifies files, so the common case needs no
sub-command word; ``train`` is the one named sub-command.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console
from typer.core import TyperGroup

from classifiers.langid.family_model import load_family_model
from classifiers.langid.identify import detect
from classifiers.langid.model import load_model
from classifiers.langid.sniff import HEAD_BYTES
from classifiers.langid.training import (
    CorpusStats,
    TrainConfig,
    family_config,
    labelled_files,
    train_model,
    training_lines,
)
from corpus.core.errors import UserError
from corpus.core.user_files import read_head, walk_user_paths


class _DefaultToIdentify(TyperGroup):
    """Arguments that are not a sub-command name go to `identify`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["identify", *args]
        return super().parse_args(ctx, args)


langid_app = typer.Typer(
    cls=_DefaultToIdentify,
    help="Identify the 338 languages: `coderforge langid PATH...`, or retrain with `langid train`.",
    no_args_is_help=True,
    add_completion=False,
)


@langid_app.command("identify")
def identify_command(
    paths: Annotated[list[Path], typer.Argument(help="files or folders (walked recursively)")],
    model: Annotated[Path | None, typer.Option(help="a fastText model other than the shipped one")] = None,
    no_model: Annotated[bool, typer.Option("--no-model", help="rules only, no content model")] = False,
    family_model: Annotated[
        Path | None,
        typer.Option(
            help="a second-stage family model other than the shipped one (`langid train --families`)"
        ),
    ] = None,
    no_family: Annotated[
        bool, typer.Option("--no-family", help="the first-stage content model alone, no family stage")
    ] = False,
    max_bytes: Annotated[
        int,
        typer.Option(
            help=f"read at most this many bytes of each file (the identifier looks at its first {HEAD_BYTES:,})",
        ),
    ] = HEAD_BYTES,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="list each skipped entry on stderr, not just the count")
    ] = False,
) -> None:
    """Print `path<TAB>language<TAB>how` per file; language is `-` when unknown, and `how` says why.

    Only regular files are read, and only their first --max-bytes. In a folder, FIFOs, devices,
    sockets and symlinks that lead out of the folder are skipped and counted on stderr; named
    directly, a FIFO, device or socket (or a missing path) is an error before anything is read.
    """

    if max_bytes < 1:
        raise UserError(f"--max-bytes: must be at least 1 (got {max_bytes})")
    files = walk_user_paths(paths)  # checks every given path now, before the model loads
    chosen = None
    if not no_model:
        if model is not None and not model.is_file():
            raise UserError(f"--model {model}: no such model file")
        chosen = load_model(str(model) if model else None)
    family = None
    if not no_model and not no_family:
        if family_model is not None and not family_model.is_file():
            raise UserError(f"--family-model {family_model}: no such model file")
        family = load_family_model(str(family_model) if family_model else None)
    out = sys.stdout
    skipped: Counter[str] = Counter()
    for found in files:
        if found.skipped is not None:
            skipped[found.skipped.reason] += 1
            if verbose:
                print(f"skipped {found.path}: {found.skipped.detail}", file=sys.stderr)
            continue
        path = found.path
        try:
            content = read_head(path, max_bytes)
        except OSError as e:
            out.write(f"{path}\t-\tunknown (unreadable: {e.strerror})\n")
            continue
        d = detect(str(path), content, model=chosen, family=family)
        out.write(f"{path}\t{d.language or '-'}\t{d.describe()}\n")
    if skipped:
        out.flush()
        reasons = ", ".join(f"{reason}: {n}" for reason, n in sorted(skipped.items()))
        hint = "" if verbose else "; --verbose lists them"
        print(f"skipped {sum(skipped.values())} entries, not read ({reasons}){hint}", file=sys.stderr)


@langid_app.command("train")
def train_command(
    folders: Annotated[
        list[Path] | None, typer.Argument(help="folders whose file names give the labels")
    ] = None,  # type: ignore[assignment]
    labelled: Annotated[
        list[Path] | None,
        typer.Option("--labelled", help="a folder laid out as LABEL/files (repeatable)"),
    ] = None,
    out: Annotated[Path, typer.Option(help="where to write the model")] = Path("langid.ftz"),
    epoch: Annotated[int, typer.Option(help="training epochs")] = 20,
    dim: Annotated[int, typer.Option(help="embedding size")] = 64,
    max_files_per_label: Annotated[int, typer.Option(help="cap per language")] = 300,
    seed: Annotated[int, typer.Option(help="random seed (same corpus + seed = same model)")] = 0,
    no_quantize: Annotated[bool, typer.Option("--no-quantize", help="keep the full-size model")] = False,
    families: Annotated[
        bool,
        typer.Option(
            "--families",
            help="train the second-stage family model (family members only, trait tokens, "
            "character n-grams) instead of the first-stage model",
        ),
    ] = False,
) -> None:
    """Train the content model on FOLDERS (labels from file names) and --labelled folders (from folder names).

    To replace the shipped models, pass --out classifiers/langid/data/langid.ftz, or with
    --families, --out classifiers/langid/data/langid-families.ftz.
    """

    folders = list(folders or [])
    labelled = list(labelled or [])
    for p in [*folders, *labelled]:
        if not p.is_dir():
            raise UserError(f"{p}: not a folder")
    if not folders and not labelled:
        raise UserError("langid train: give at least one FOLDER or --labelled FOLDER")
    if families:
        cfg = family_config(max_files_per_label=max_files_per_label, seed=seed, quantize=not no_quantize)
        if epoch != 20:
            cfg.epoch = epoch
        if dim != 64:
            cfg.dim = dim
    else:
        cfg = TrainConfig(
            epoch=epoch, dim=dim, max_files_per_label=max_files_per_label, seed=seed, quantize=not no_quantize
        )
    console = Console(stderr=True)
    stats = CorpusStats()
    by_label: dict = {}
    with console.status("collecting labelled files") as status:
        for roots, folder_labels in ((labelled, True), (folders, False)):
            for root in roots:
                status.update(f"collecting labelled files under {root}")
                part = labelled_files([root], folder_labels, cfg, stats)
                for label, files in part.items():
                    room = cfg.max_files_per_label - len(by_label.setdefault(label, []))
                    by_label[label].extend(files[: max(room, 0)])
    by_label = {k: v for k, v in by_label.items() if v}
    if not by_label:
        raise UserError("langid train: no file under the given folders has a name that decides its language")
    lines = training_lines(by_label, cfg, stats)
    if not lines:
        if cfg.family:
            raise UserError(
                "langid train --families: no language of a family (classifiers/langid/families.py) has "
                f"{cfg.min_family_files} files or more under the given folders"
            )
        raise UserError("langid train: the labelled files hold no code tokens to learn from")
    with console.status(f"training on {len(lines):,} examples of {len(by_label)} labels"):
        path = train_model(lines, out, cfg)
    skipped = ", ".join(f"{k}: {v:,}" for k, v in stats.skipped.most_common())
    trained = len({line.split(" ", 1)[0] for line in lines})
    console.print(
        f"[green]model[/] {path} ({path.stat().st_size / 1e6:.1f} MB): {trained} labels, "
        f"{stats.labelled:,} files of {stats.files_seen:,} seen, {len(lines):,} examples; skipped {skipped or 'none'}"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(langid_app, name="langid")
