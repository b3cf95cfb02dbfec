"""What every ``brahmi`` sub-command shares: the error-to-exit-code mapping, the consoles,
the exit codes and opening a :class:`~brahmi.service.Brahmi`.

Every command maps Brahmi's errors the same way (see :func:`handle_errors`): invalid input
exits 2, anything else Brahmi refuses exits 1, each with a readable message on stderr.
Heavy modules (the service, settings) are imported late so ``--help`` stays fast.
"""

from __future__ import annotations

import functools
import gc
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from brahmi import errors

if TYPE_CHECKING:
    from brahmi.config import Settings
    from brahmi.service import Brahmi

P = ParamSpec("P")
R = TypeVar("R")

#: Exit code for input Brahmi rejects (an invalid plan or batch).
EXIT_INVALID = 2
#: Exit code for work that did not complete, or an operation refused.
EXIT_FAILED = 1
_INVALID_INPUT = (
    errors.InvalidBatch,
    errors.InvalidPlan,
    errors.InvalidSkill,
    errors.InvalidMessage,
)

#: Wide enough for the task table when output goes to a file or a pipe.
PIPE_WIDTH = 160
stdout = Console(soft_wrap=False, width=None if sys.stdout.isatty() else PIPE_WIDTH)
stderr = Console(stderr=True, soft_wrap=True)  # never break a path or id across lines


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn :class:`~brahmi.errors.BrahmiError` into a message and an exit code.

    With ``--json`` in effect (a ``json_output`` keyword set to True), the error is printed
    to stdout as ``error.to_dict()`` so scripts can read it.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except errors.BrahmiError as exc:
            code = EXIT_INVALID if isinstance(exc, _INVALID_INPUT) else EXIT_FAILED
            if kwargs.get("json_output"):
                print(json.dumps(error_json(exc), indent=2))
            else:
                stderr.print(
                    f"[bold red]error[/] [dim]({exc.code})[/]: {exc.message}", highlight=False
                )
            raise typer.Exit(code) from None

    return wrapper


def error_json(exc: errors.BrahmiError) -> dict[str, Any]:
    """The JSON printed for an error under ``--json``."""
    if isinstance(exc, errors.InvalidBatch):
        return {
            "valid": False,
            "problems": [p.to_dict() for p in exc.problems],
            "warnings": [w.to_dict() for w in exc.warnings],
        }
    return exc.to_dict()


def open_brahmi(settings: Settings | None = None) -> Brahmi:
    """A :class:`~brahmi.service.Brahmi` for one command (imported late: ``--help`` stays fast)."""
    from brahmi.config import load_settings
    from brahmi.service import Brahmi

    freeze_startup()  # the service's imports (SQLAlchemy, the store) are done
    return Brahmi(settings or load_settings())


class _Process:
    #: True once the ``brahmi`` command's entry point called :func:`freeze_startup` (not
    #: so when a test drives the app in process: its objects must stay collectable).
    is_the_command = False


def freeze_startup(*, whole_process: bool = False) -> None:
    """Leave every object alive now out of the cyclic garbage collector's scans
    (``gc.freeze``), when this process is the ``brahmi`` command.

    Start-up creates some 70,000 objects that live as long as the command: modules,
    classes, functions, Typer's, Rich's and SQLAlchemy's constructs. The collector went
    through all of them at each full collection while later imports ran, and once more
    when the interpreter exits: ~20 ms of ``brahmi --help`` and ~70 ms of
    ``brahmi tasks list``. The collector still runs, over what is created afterwards.

    Args:
        whole_process: Given by the entry point (:func:`brahmi.cli.app.main`): from then
            on, calls freeze; before it (the app driven in process), they do nothing.
    """
    if whole_process:
        _Process.is_the_command = True
    if _Process.is_the_command:
        gc.freeze()


__all__ = [
    "EXIT_FAILED",
    "EXIT_INVALID",
    "PIPE_WIDTH",
    "error_json",
    "freeze_startup",
    "handle_errors",
    "open_brahmi",
    "stderr",
    "stdout",
]
