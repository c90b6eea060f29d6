"""The one error base of the console, and the one way to shorten an exception to a line.

Every error a user can cause or meet (a bad runbook, a wrong DSN, a lock held elsewhere,
a missing PostgreSQL for the demo, a log that does not verify) is a :class:`ConsoleError`:
it carries its exit code and says in one line what happened, to what, and what to do
next.  Front ends print ``str(error)`` and exit with ``error.exit_code``; anything that is
not a ConsoleError is a bug and gets a crash report.  No front end keeps a list of
exception types.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
"""A check or a statement failed, the target refused, or a log does not verify."""
EXIT_USAGE = 2
"""Usage, input or connection error: nothing was attempted."""
EXIT_NOT_CONFIRMED = 3
"""The operator declined a confirmation: nothing was changed, and nothing succeeded."""
EXIT_COMMITTED_INCOMPLETE = 4
"""The migration (or rollback) IS COMMITTED, but the session did not end cleanly
(interrupted, or a failure after COMMIT): validate before anything else."""
EXIT_INTERRUPTED = 130
"""Interrupted (Ctrl-C, SIGTERM, SIGHUP) before anything changed."""


class ConsoleError(Exception):
    """An expected error: one line for the user and the exit code that goes with it."""

    exit_code: int = EXIT_USAGE

    def __init__(self, message: str = "", *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(ConsoleError):
    """A problem with how a command was called (exit 2)."""


class TargetRefused(ConsoleError):
    """The target said no for a reason of its own: a lock held elsewhere, a check
    cancelled by its timeout, the connection lost between steps (exit 1)."""

    exit_code = EXIT_FAILED


class CommittedButIncomplete(ConsoleError):
    """Something went wrong after a COMMIT: the change is in the database, the session
    did not end cleanly.  Never reported as "nothing changed"."""

    exit_code = EXIT_COMMITTED_INCOMPLETE


def first_line(exc: BaseException | str) -> str:
    """The first non-empty line of an exception's text (or its type name)."""
    text = str(exc).strip()
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__ if isinstance(exc, BaseException) else ""


def error_line(exc: BaseException) -> str:
    """``SQLSTATE: first line`` for a database error, the first line otherwise."""
    state = getattr(getattr(exc, "diag", None), "sqlstate", None)
    message = first_line(exc)
    return f"{state}: {message}" if state else message
