"""`coderforge shards inspect|verify`: the shard folder from the terminal."""

from __future__ import annotations

from typing import Annotated

import typer

from corpus.shards.inspect import inspect_shards
from corpus.shards.verify import verify_shards

shards_app = typer.Typer(help="Inspect and verify Megatron shards written by a build.", no_args_is_help=True)


@shards_app.command("inspect")
def inspect_command(
    path: Annotated[str, typer.Argument(help="build output, or its mix/shards folder")],
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Tokens, sequences, realised vs planned mix, epochs, FIM and languages of a shard folder."""

    inspect_shards(path, as_json=as_json)


@shards_app.command("verify")
def verify_command(
    path: Annotated[str, typer.Argument(help="build output (with manifest.json), or its mix/shards folder")],
    no_megatron: Annotated[
        bool, typer.Option("--no-megatron", help="skip opening each shard with megatron-core")
    ] = False,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick",
            help="skip reading the .bin bytes (no sha256, EOS or vocabulary scan): sizes, indexes and "
            "twins only, so a byte changed in place passes",
        ),
    ] = False,
) -> None:
    """Check every shard against manifest.json (sha256, sizes, no file missing or extra) and itself
    (index, EOS, vocabulary, twins, blend); exit 1 on a problem, 2 without a complete manifest."""

    report = verify_shards(path, use_megatron=not no_megatron, quick=quick)
    how = "megatron-core IndexedDataset and our reader" if report["megatron_checked"] else "our reader"
    hashed = "sizes only, no checksums (--quick)" if report["quick"] else "sha256 against manifest.json"
    print(
        f"{report['folder']}: {report['shards']} shards, {report['sequences']:,} sequences, "
        f"{report['tokens']:,} tokens, checked with {how}, {hashed}"
    )
    for problem in report["problems"]:
        print(f"problem: {problem}")
    if report["problems"]:
        # SystemExit rather than typer.Exit: the entry point runs click with standalone_mode=False,
        # where typer.Exit's code is returned and dropped instead of becoming the exit status
        raise SystemExit(1)
    print("ok")


def register(app: typer.Typer) -> None:
    app.add_typer(shards_app, name="shards")
