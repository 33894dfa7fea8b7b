"""Errors to exit codes, in one place: those of the CLI, and of a plain ``lock`` that the
entry point (``mlenv.uptodate``) ran without click and that loads only this when one escapes.

Exit codes: 0 success; 1 a user error (message and ``hint:`` on stderr); 2 an internal error
(traceback with ``-v``); 3 ``verify`` could not judge (for example no driver found). Data goes to
stdout, diagnostics to stderr.
"""

from __future__ import annotations

import io
import os
import sys
import traceback
from collections.abc import Sequence

import click

from mlenv import hints
from mlenv.cli.output import echo
from mlenv.echoed import shown as shown_text
from mlenv.echoed import without_secrets
from mlenv.errors import MlenvError, StdoutClosed
from mlenv.report import emit_json
from mlenv.terminate import Terminated

EXIT_OK = 0
EXIT_USER = 1
EXIT_INTERNAL = 2


def _verbose(argv: Sequence[str]) -> bool:
    return any(
        arg == "--verbose" or (arg.startswith("-v") and set(arg[1:]) == {"v"}) for arg in argv
    )


def _json_log(argv: Sequence[str]) -> bool:
    """``--log-format json`` among the global options: errors are then JSON events too, so a
    wrapper that reads stderr line by line never meets prose. Read as click reads the global
    options: an option's value is no option (``-m -- --log-format json``), the last
    ``--log-format`` wins, and the command name ends them."""
    fmt, args = "human", iter(argv)
    for arg in args:
        name, equals, value = arg.partition("=") if arg[:2] == "--" else (arg, "", "")
        if name == "--log-format":
            fmt = value if equals else next(args, "")
        elif name in ("--manifest", "--cache") and not equals:
            next(args, "")
        elif arg[:1] == "-" and arg[1:2] not in ("", "-") and arg.find("m") == len(arg) - 1:
            next(args, "")  # -m, -qm: the manifest follows
        elif arg == "--" or arg[:1] != "-":
            break
    return fmt == "json"


def _report_error(argv: Sequence[str], label: str, message: str, code: int, **more: object) -> None:
    """The last thing a failing command says: a line of text, or an ``error`` event."""
    if _json_log(argv):
        emit_json(sys.stderr, event="error", label=label, message=message, exit_code=code, **more)
    else:
        echo(f"{label}: {message}" if label != message else message, err=True)


def _print_error(exc: MlenvError, argv: Sequence[str]) -> None:
    """The error as text, unless the command already showed its report; in JSON, always the
    event (a shown report went to stdout, and the wrapper still reads stderr for the end)."""
    if _json_log(argv):
        problems = [problem.event() for problem in exc.problems]  # shown by emit_json
        _report_error(argv, exc.label, exc.message, exc.exit_code, problems=problems)
        return
    if exc.shown:
        return
    # mlenv's own lines end at '\n' alone: str.splitlines also ends one at U+2028, U+0085, VT,
    # FF or FS, which a name an index or channel chose may hold, and its rest then showed as a
    # line of mlenv's own (a "hint:"); kept in its line, terminal_text shows each as '?'
    lines = exc.render().rstrip("\n").split("\n")
    echo(f"{exc.label}: {lines[0]}", err=True)
    for line in lines[1:]:
        echo(f"  {line}", err=True)


def _usage_hint(exc: click.ClickException) -> str | None:
    """A hint click does not give: a global option written after the command."""
    if not isinstance(exc, click.NoSuchOption) or exc.ctx is None or exc.ctx.parent is None:
        return None
    return hints.global_option(exc.option_name, exc.ctx.command_path.partition(" ")[2])


def exit_status(exc: Exception | KeyboardInterrupt, argv: Sequence[str]) -> int:
    """The only place where errors become exit codes: those of the CLI, and of a plain
    ``lock`` that the entry point ran without click."""
    if isinstance(exc, StdoutClosed):  # `mlenv inspect … | head`: the reader had enough
        from mlenv.stdout_closed import silence_stdout

        silence_stdout()
        return exc.exit_code
    if isinstance(exc, MlenvError):
        _print_error(exc, argv)
        return exc.exit_code
    if isinstance(exc, click.exceptions.Exit):
        return exc.exit_code
    if isinstance(exc, Terminated) or isinstance(exc.__cause__, Terminated):  # click: Abort
        _report_error(argv, "terminated", "terminated", 143)
        return 143
    if isinstance(exc, click.exceptions.Abort):
        _report_error(argv, "aborted", "aborted", 130)
        return 130
    if isinstance(exc, click.ClickException):
        hint = _usage_hint(exc)
        if not _json_log(argv):  # click quotes the value typed: an index URL's password too
            shown = io.StringIO()
            exc.show(file=shown)
            echo(shown_text(shown.getvalue()), err=True, nl=False)
            if hint:
                echo(f"  hint: {hint}", err=True)
        else:
            message = exc.format_message() + (f" (hint: {hint})" if hint else "")  # emit_json shows
            _report_error(argv, "usage", message, EXIT_USER)
        return EXIT_USER
    if isinstance(exc, KeyboardInterrupt):
        _report_error(argv, "interrupted", "interrupted", 130)
        return 130
    if _verbose(argv) or os.environ.get("MLENV_DEBUG"):
        trace = without_secrets("".join(traceback.format_exception(exc)))  # whole: for a report
        if not _json_log(argv):
            echo(trace, err=True, nl=False)
            return EXIT_INTERNAL
        _report_error(argv, "internal error", str(exc), EXIT_INTERNAL, traceback=trace)
    else:
        _report_error(
            argv,
            "internal error",
            "mlenv failed unexpectedly (run with -v for the traceback and report it)",
            EXIT_INTERNAL,
        )
    return EXIT_INTERNAL
