"""User-facing errors.

Anything the user can fix (a recipe key, a missing file, an unwritable output) is raised as
`UserError`; the CLI prints its one-line message and exits with code 2 instead of a traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input; the message is one line that names the key or path."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class BuildError(Exception):
    """A build that could not finish for a reason outside the recipe (a task failed, the disk is
    full, another build holds the output); the message is one line and says where to look."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))
