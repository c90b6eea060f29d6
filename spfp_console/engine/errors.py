"""Errors the engine raises, each a one-line message a person can act on.

The CLI prints ``str(exc)`` and exits 2 for connection and usage errors, so every message
says what happened, to what, and what to do next, and none ever contains a password:
messages are built from parsed connection parameters (never the raw DSN), and any text
that came from elsewhere (libpq, the DSN parser) is scrubbed of the known password first.
"""

from __future__ import annotations

from spfp_console.errors import EXIT_FAILED, ConsoleError
from spfp_console.lean_dataclass import lean_dataclass


class EngineError(ConsoleError):
    """Base of every error the engine raises on purpose.  ``str(exc)`` is the message."""


class ConnectError(EngineError):
    """The target database could not be reached or refused us.

    ``target`` is the ``user@host:port/dbname`` it was about (no password), ``reason`` a
    short machine-friendly tag: ``refused``, ``timeout``, ``auth``, ``unknown_database``,
    ``unknown_host``, ``bad_dsn`` or ``other``.
    """

    def __init__(self, message: str, *, target: str = "", reason: str = "other") -> None:
        super().__init__(message)
        self.target = target
        self.reason = reason


class ScriptError(EngineError):
    """A SQL script cannot be loaded, parsed or run in the requested mode.

    ``line`` is 1-based, or None when the problem is about the whole file.
    """

    def __init__(self, file: str, line: int | None, message: str) -> None:
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {message}")
        self.file = file
        self.line = line
        self.message = message


@lean_dataclass(frozen=True)
class LockHolder:
    """The session holding the deployment lock, from pg_locks + pg_stat_activity."""

    pid: int
    user: str | None = None
    application_name: str | None = None
    client_addr: str | None = None
    backend_start: str | None = None
    """When the holder connected (ISO 8601): the lock is held at most since then."""
    xact_start: str | None = None
    state: str | None = None


class LockHeldError(EngineError):
    """Another session holds the deployment advisory lock on the target database."""

    exit_code = EXIT_FAILED

    def __init__(self, dbname: str, holder: LockHolder | None) -> None:
        self.dbname = dbname
        self.holder = holder
        if holder is None:
            message = (
                f"another session held the deployment lock on database {dbname!r} and "
                "released it while we looked; try again"
            )
        else:
            who = f"pid {holder.pid}, user {holder.user or '?'}"
            if holder.application_name:
                who += f", application {holder.application_name!r}"
            if holder.client_addr:
                who += f", from {holder.client_addr}"
            if holder.backend_start:
                who += f", connected since {holder.backend_start}"
            message = (
                f"another deployment holds the lock on database {dbname!r} ({who}); wait "
                f"for it to finish, or if it is stale end it with "
                f"SELECT pg_terminate_backend({holder.pid})"
            )
        super().__init__(message)

    @property
    def pid(self) -> int | None:
        return self.holder.pid if self.holder else None

    @property
    def user(self) -> str | None:
        return self.holder.user if self.holder else None

    @property
    def since(self) -> str | None:
        return self.holder.backend_start if self.holder else None

    @property
    def application_name(self) -> str | None:
        return self.holder.application_name if self.holder else None


class RunAborted(EngineError):
    """A run could not start or go on for a reason outside any one statement
    (bad settings, the connection lost before the first statement, ...)."""
