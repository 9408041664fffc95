"""How both command lines (``edgefleet``, ``edgefleet-agent``) end: every failure is one line on stderr,
``error (<kind>): <what was wrong>``, and the documented exit code (``EXIT_CODES``), whatever the terminal's
width, and without reading the message as rich markup (it holds users' paths and bytes of their files)."""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import typer
import typer.main
from rich.console import Console
from rich.text import Text

from edgefleet.core.errors import EXIT_CODES, EdgefleetError, ErrorCode, bug_message, one_line

__all__ = ["error_line", "print_error", "run_cli"]

#: click's base exception; typer vendors click from 0.2x, and typer.BadParameter is one in every version.
_CLICK_ERROR: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def error_line(kind: str, message: str) -> Text:
    """``error (<kind>): <message>`` as one line: the message's own line breaks become `` | ``."""
    return Text.assemble(("error", "bold red"), f" ({kind}): {one_line(message)}")


def print_error(kind: str, message: str) -> None:
    """One line on stderr: never wrapped, never markup."""
    Console(stderr=True, emoji=False).print(error_line(kind, message), highlight=False, soft_wrap=True)


def _usage_error(exc: Exception) -> NoReturn:
    """click's usage errors (unknown option, missing argument, bad value) in the one-line form, exit 2."""
    ctx = getattr(exc, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    message = getattr(exc, "format_message", lambda: str(exc))().rstrip(".")
    print_error(ErrorCode.INVALID_ARGUMENT.value, f"{message}{hint}")
    sys.exit(EXIT_CODES[ErrorCode.INVALID_ARGUMENT])


def run_cli(app: typer.Typer, prog_name: str) -> NoReturn:
    """Run a typer app so that every failure is one line: edgefleet's errors, click's usage errors (rich
    would draw the usage, a hint and a boxed message) and anything unexpected (a bug: ``EDGEFLEET_DEBUG=1``
    shows its traceback)."""
    command = typer.main.get_command(app)
    try:
        code = command.main(prog_name=prog_name, standalone_mode=False)
    except _CLICK_ERROR as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # the help was printed: as typer does
            sys.exit(EXIT_CODES[ErrorCode.INVALID_ARGUMENT])
        _usage_error(exc)
    except typer.Abort:
        print_error("aborted", "stopped by the user")
        sys.exit(130)
    except BrokenPipeError:  # the reader went away (`| head`): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except EdgefleetError as exc:  # raised outside a command's own handler
        print_error(exc.code.value, exc.message)
        sys.exit(exc.exit_code)
    except Exception as exc:
        if os.environ.get("EDGEFLEET_DEBUG"):
            raise
        print_error(ErrorCode.INTERNAL.value, bug_message(exc))
        sys.exit(EXIT_CODES[ErrorCode.INTERNAL])
    sys.exit(code if isinstance(code, int) else 0)
