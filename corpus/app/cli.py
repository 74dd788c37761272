"""The `coderforge` command line.

Each package contributes its own commands through a `register(app)` function listed in
`_COMMAND_MODULES`, so that the corpus CLI does not import torch or fastText until a command needs
them. User mistakes surface as one line on stderr and exit code 2 (see `corpus.core.errors.UserError`).
"""

from __future__ import annotations

import importlib
import sys

import click
import typer

from corpus.core.errors import UserError

app = typer.Typer(
    name="coderforge",
    help="Build the DeepSeek-Coder-V2 corpus and train a DeepSeek-V2 MoE on it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Modules that add commands to `app`; each defines `register(app: typer.Typer) -> None`.
_COMMAND_MODULES: list[str] = [
    "corpus.app.commands.build",
    "corpus.app.commands.github",
    "corpus.app.commands.commoncrawl",
    "corpus.app.commands.dedup",
    "corpus.app.commands.langid",
    "corpus.app.commands.train",
    "corpus.app.commands.recall",
    "corpus.app.commands.shards",
]


def _register_all() -> None:
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(app)


def main(argv: list[str] | None = None) -> int:
    _register_all()
    try:
        rc = app(args=argv, standalone_mode=False)  # typer.Exit(code) comes back as its code
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted: re-run the same command to resume", file=sys.stderr)
        return 130
    except SystemExit as e:  # typer's own exits (--help, usage errors)
        return int(e.code or 0)
    except Exception as e:  # click usage errors arrive here with standalone_mode=False
        if isinstance(e, click.exceptions.ClickException):
            e.show()
            return 2
        if isinstance(e, click.exceptions.Abort):
            return 1
        raise
    return rc if isinstance(rc, int) else 0


def run() -> None:  # pragma: no cover - console entry
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
