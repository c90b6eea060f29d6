"""Handlers of the headless commands: check, rehearse, run, validate, rollback.

Each builds a :class:`~spfp_console.deployment.DeploymentSession`, attaches the terminal
printer, and maps what happened to an exit code (0 ok, 1 failed, 2 usage/connection).
Interactive confirmation happens here, never in the engine.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from spfp_console.deployment import DeploymentSession, SessionOutcome
from spfp_console.engine.executor import CancelToken, RunResult
from spfp_console.cli.terminal_output import EventPrinter, choose_style

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A problem with how the command was called (exit 2)."""


def user_facing_error(exc: BaseException) -> str | None:
    """The one-line message for an error we expect, or None for a bug."""
    from spfp_console.engine.errors import EngineError
    from spfp_console.runbook import RunbookError

    if isinstance(exc, (EngineError, RunbookError, UsageError)):
        return str(exc)
    try:
        from spfp_console.journal.record import JournalError
        from spfp_console.journal.sign import SigningError
    except ImportError:  # pragma: no cover
        return None
    if isinstance(exc, (JournalError, SigningError)):
        return str(exc)
    import psycopg

    if isinstance(exc, psycopg.errors.LockNotAvailable):
        return ("another session holds a lock this check needs (lock_timeout reached);"
                " see `spfp-console check` for who holds it, and try again")
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return f"a check took too long and was cancelled: {str(exc).strip().splitlines()[0]}"
    if isinstance(exc, psycopg.OperationalError):
        # The connection dropped between steps (not inside a statement, where the
        # executor reports it as an event).
        return f"lost the database connection: {str(exc).strip().splitlines()[0]}"
    return None


def known_exit_code(exc: BaseException) -> int:
    """Exit code of an expected error: 2 for usage, input and connection problems; 1
    when the target refused us for a reason of its own (another deployment holds the
    lock, a lock or timeout stopped a check)."""
    import psycopg

    from spfp_console.engine.errors import LockHeldError

    if isinstance(exc, (LockHeldError, psycopg.errors.LockNotAvailable,
                        psycopg.errors.QueryCanceled)):
        return EXIT_FAILED
    return EXIT_USAGE


# ----------------------------------------------------------------------------- plumbing


def _printer(args: argparse.Namespace) -> EventPrinter:
    return EventPrinter(choose_style(getattr(args, "json", False), sys.stdout),
                        verbose=getattr(args, "verbose", False))


def _session(args: argparse.Namespace, printer: EventPrinter) -> DeploymentSession:
    from spfp_console.runbook import load_runbook

    runbook = load_runbook(args.runbook)
    return DeploymentSession(
        runbook=runbook,
        dsn=args.dsn,
        log_dir=args.log_dir,
        journal_enabled=not args.no_log,
        sign_key=args.sign_key,
        listeners=[printer],
    )


@contextlib.contextmanager
def cancel_on_hangup(cancel: CancelToken) -> Iterator[None]:
    """SIGHUP (the SSH link dropped), SIGTERM and Ctrl-C cancel the running statement.

    The run then ends rolled back and the journal records why, instead of the process
    dying mid-statement with the log cut short.
    """
    previous: dict[signal.Signals, Any] = {}

    def handler(signum: int, frame: Any) -> None:
        cancel.cancel()

    for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
        try:
            previous[sig] = signal.signal(sig, handler)
        except (ValueError, OSError):  # not the main thread
            pass
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _require_confirmation_channel(args: argparse.Namespace) -> None:
    """Refuse up front, before connecting, when nobody could confirm."""
    if not args.yes and not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError(
            f"{args.command} changes the database and needs confirmation: run it in a "
            "terminal, or pass --yes to confirm non-interactively"
        )


def _confirm_on_terminal(args: argparse.Namespace, printer: EventPrinter, prompt: str,
                         expected: str) -> tuple[bool, str]:
    """Ask the operator to type ``expected``.  (confirmed, what they typed)."""
    if args.yes:
        return True, "--yes"
    _require_confirmation_channel(args)
    printer.message(prompt, "bold")
    try:
        typed = input(f"Type {expected!r} to continue: ").strip()
    except EOFError:
        typed = ""
    return typed == expected, typed


def _finish(session: DeploymentSession, printer: EventPrinter, outcome: SessionOutcome) -> int:
    session.close(outcome)
    if session.log_path is not None:
        sig = f", signed: {session.signature_path}" if session.signature_path else ", unsigned"
        printer.message(f"deployment log: {session.log_path}{sig}", "dim")
    return EXIT_FAILED if outcome.failed else EXIT_OK


def _run_outcome(result: RunResult) -> SessionOutcome:
    return SessionOutcome(outcome=result.outcome, message=result.message,
                          failed=not result.ok)


# ----------------------------------------------------------------------------- commands


def cmd_check(args: argparse.Namespace) -> int:
    printer = _printer(args)
    with _session(args, printer) as session:
        info = session.open()
        printer.message(f"target: {info.display} (PostgreSQL {info.server_version})", "bold")
        report = session.preflight()
        for blocker in report.blockers:
            printer.message(f"BLOCKER: {blocker}", "bold red")
        for warning in report.warnings:
            printer.message(f"warning: {warning}", "yellow")
        printer.message(f"state: {report.state}; preflight "
                        f"{'passed' if report.passed else 'FAILED'}",
                        "bold green" if report.passed else "bold red")
        return _finish(session, printer, SessionOutcome(
            outcome="preflight_passed" if report.passed else "preflight_failed",
            failed=not report.passed))


def cmd_rehearse(args: argparse.Namespace) -> int:
    printer = _printer(args)
    if args.scratch:
        from spfp_console.engine.scratch_rehearsal import scratch_rehearse

        with _session(args, printer) as session:
            session.open()
            report = scratch_rehearse(session.target, session.runbook, on_event=session.emit)
            return _finish(session, printer, SessionOutcome(
                outcome="scratch_rehearsal_passed" if report.passed
                else "scratch_rehearsal_failed", failed=not report.passed))
    with _session(args, printer) as session:
        session.open()
        cancel = CancelToken()
        with cancel_on_hangup(cancel):
            result = session.rehearse(path=args.script, cancel=cancel)
        if result.failures:
            printer.message(f"rehearsal found {len(result.failures)} failing statement(s);"
                            " nothing was changed", "bold red")
        else:
            printer.message("rehearsal passed: every statement ran; everything was rolled"
                            " back", "bold green")
        return _finish(session, printer, _run_outcome(result))


def cmd_run(args: argparse.Namespace) -> int:
    _require_confirmation_channel(args)
    printer = _printer(args)
    with _session(args, printer) as session:
        info = session.open()
        printer.message(f"target: {info.display} (PostgreSQL {info.server_version})", "bold")
        report = session.preflight()
        if not report.passed:
            for blocker in report.blockers:
                printer.message(f"BLOCKER: {blocker}", "bold red")
            if not args.override_reason:
                printer.message("preflight failed: nothing was run (fix the blockers, or"
                                " pass --override-reason TEXT to run anyway)", "bold red")
                return _finish(session, printer, SessionOutcome(
                    outcome="refused_by_preflight", failed=True))
            session.record_override("preflight blockers: " + "; ".join(report.blockers),
                                    args.override_reason)
        confirmed, typed = _confirm_on_terminal(
            args, printer,
            f"About to run {session.runbook.script('migration').name} on {info.display}"
            " in one transaction.", info.dbname)
        if not confirmed:
            session.note(f"run not confirmed (typed {typed!r})")
            printer.message("not confirmed: nothing was run", "yellow")
            return _finish(session, printer, SessionOutcome(outcome="not_confirmed"))
        before = session.measure_queries("before") if args.performance else None
        cancel = CancelToken()
        with cancel_on_hangup(cancel):
            result = session.run(cancel=cancel)
        if not result.ok:
            return _finish(session, printer, _run_outcome(result))
        tables = session.validate()
        speedups = None
        if before is not None:
            after = session.measure_queries("after")
            speedups = session.compare_queries(before, after)
        session.claims(speedups=speedups)
        failed = any(t.passed is False for t in tables)
        return _finish(session, printer, SessionOutcome(
            outcome="committed_validation_failed" if failed else "committed",
            failed=failed))


def cmd_validate(args: argparse.Namespace) -> int:
    printer = _printer(args)
    with _session(args, printer) as session:
        session.open()
        tables = session.validate(expect=args.expect)
        if args.expect == "applied":
            session.claims()
        failed = any(t.passed is False for t in tables)
        printer.message("validation " + ("FAILED" if failed else "passed"),
                        "bold red" if failed else "bold green")
        return _finish(session, printer, SessionOutcome(
            outcome="validation_failed" if failed else "validation_passed", failed=failed))


def cmd_rollback(args: argparse.Namespace) -> int:
    _require_confirmation_channel(args)
    printer = _printer(args)
    with _session(args, printer) as session:
        info = session.open()
        impact = session.rollback_impact()
        exported: list[Path] = []
        if args.export_dir is not None:
            exported = session.export_at_risk(args.export_dir)
            printer.message(f"exported {len(exported)} file(s) to {args.export_dir}", "bold")
        elif impact.total and not args.yes:
            printer.message(f"{impact.total} rows/values would be lost and were not exported"
                            " (use --export-dir DIR to keep a copy)", "bold yellow")
        expected = f"rollback {info.dbname}"
        confirmed, typed = _confirm_on_terminal(
            args, printer,
            f"About to roll back {session.runbook.id} on {info.display}: "
            f"{impact.total} rows/values are destroyed.", expected)
        session.record_rollback_decision(
            confirmed=confirmed, typed=typed, rows_at_risk=impact.total,
            exported_to=str(args.export_dir) if exported else None)
        if not confirmed:
            printer.message("not confirmed: nothing was rolled back", "yellow")
            return _finish(session, printer, SessionOutcome(outcome="not_confirmed"))
        cancel = CancelToken()
        with cancel_on_hangup(cancel):
            result = session.rollback(cancel=cancel)
        if not result.ok:
            return _finish(session, printer, _run_outcome(result))
        tables = session.validate(expect="absent")
        failed = any(t.passed is False for t in tables)
        return _finish(session, printer, SessionOutcome(
            outcome="rolled_back_validation_failed" if failed else "rolled_back",
            failed=failed))
