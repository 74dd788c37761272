"""One training rank, as torchrun starts it: `python -m trainer.worker RECIPE [options]`.

torchrun supplies RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT; this module only turns
its arguments into a `LaunchRequest` and runs it, printing user mistakes as one line (exit 2).
"""

from __future__ import annotations

import argparse
import os
import sys

from corpus.core.atomic import atomic_write_text
from corpus.core.errors import UserError
from trainer.distributed import shutdown
from trainer.launch import LaunchRequest, run_in_process


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.worker")
    parser.add_argument("recipe")
    parser.add_argument("--stage", default="pretrain")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--no-resume", dest="resume", action="store_false")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--result", default=None)
    parser.add_argument("--init-from", dest="init_from", default=None)
    parser.add_argument("--init-state", dest="init_state", default="weights")
    args = parser.parse_args(argv)
    req = LaunchRequest(
        args.recipe,
        args.stage,
        args.overrides,
        args.resume,
        args.steps,
        args.result,
        init_from=args.init_from,
        init_state=args.init_state,
    )
    try:
        run_in_process(req)
    except UserError as e:
        if os.environ.get("RANK", "0") == "0":  # every rank reads the same recipe: say it once
            if args.result:
                atomic_write_text(args.result + ".error", str(e))  # the launcher re-raises it
            else:
                print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    finally:
        shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
