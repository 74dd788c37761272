"""The `coderforge` command line.

Each command module under `corpus/app/commands/` adds its commands through `register(app)`; only
`train` defers torch and megatron-core (the `train` extra) until it runs. User mistakes surface as
one line on stderr and exit code 2 (`UserError`); a build that cannot finish (a failed task, a full
disk, an output held by another build) as one line and exit code 1 (`BuildError`, `OSError`).
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading

import click
import typer
import typer._click.exceptions as typer_click

from corpus.app.commands import (
    build,
    checkpoint,
    commoncrawl,
    dedup,
    estimate,
    github,
    langid,
    recall,
    secrets,
    shards,
    train,
)
from corpus.core.errors import BuildError, UserError

app = typer.Typer(
    name="coderforge",
    help="Build the DeepSeek-Coder-V2 corpus and train a DeepSeek-V2 MoE on it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: modules that add commands to `app`, each through `register(app: typer.Typer) -> None`
COMMAND_MODULES = (
    build,
    github,
    commoncrawl,
    dedup,
    langid,
    train,
    checkpoint,
    recall,
    shards,
    secrets,
    estimate,
)


def _register_all() -> None:
    for module in COMMAND_MODULES:
        module.register(app)


def _os_error_line(e: OSError) -> str:
    """`No space left on device: /out/x.parquet`: what the OS said, and about which path."""
    what = e.strerror or e.__class__.__name__
    where = ": ".join(str(f) for f in (e.filename, e.filename2) if f is not None)
    return f"{what}: {where}" if where else what


INTERRUPTED = 130
INTERRUPTED_LINE = "interrupted: re-run the same command to resume"


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM (a scheduler, `kill`) stops a build the way Ctrl-C does: workers ended, resumable."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    _register_all()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        rc = app(args=argv, standalone_mode=False)  # typer.Exit(code) comes back as its code
    except (UserError, BuildError) as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except OSError as e:  # disk full, permission denied, name too long: the OS's words and the path
        print(f"error: {_os_error_line(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(INTERRUPTED_LINE, file=sys.stderr)
        return INTERRUPTED
    except SystemExit as e:  # typer's own exits (--help, usage errors)
        return int(e.code or 0)
    except Exception as e:  # usage errors arrive here with standalone_mode=False
        # typer carries its own copy of click: a bad option value may come from either
        if isinstance(e, click.exceptions.ClickException | typer_click.ClickException):
            e.show()
            return 2
        if isinstance(e, click.exceptions.Abort):
            return 1
        raise
    if rc == INTERRUPTED:  # typer turns KeyboardInterrupt into this exit code itself
        print(INTERRUPTED_LINE, file=sys.stderr)
    return rc if isinstance(rc, int) else 0


def exit_now(code: int) -> None:
    """Leave without running native libraries' exit-time destructors.

    With pyarrow, polars and memory-mapped shards all loaded, a C++ thread pool torn down at
    interpreter exit occasionally aborts the process ("terminate called without an active
    exception") after the command has finished and printed its result: an exit code of -6 for
    work that succeeded. The exit handlers still run (they end helper processes, such as a spawned
    pool's workers, that would otherwise outlive the command and hold its output pipes).
    """
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run() -> None:  # pragma: no cover - console entry
    exit_now(main())


if __name__ == "__main__":  # pragma: no cover
    exit_now(main(sys.argv[1:]))
