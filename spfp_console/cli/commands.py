"""The headless commands: check, rehearse, run, validate, rollback.

Each is a thin adapter: it builds a :class:`~spfp_console.deployment.DeploymentSession`,
attaches the terminal printer, calls one workflow of the session, and returns the
workflow's exit code.  The workflows themselves (gates, confirmation, validation...) live
on the session; this module only answers the session's questions on the terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from spfp_console.cli.terminal_output import EventPrinter, choose_style
from spfp_console.deployment import DeploymentSession, WorkflowResult
from spfp_console.engine.executor import CancelToken
from spfp_console.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError
from spfp_console.session.operator import ConfirmationRequest
from spfp_console.session.presentation import session_summary

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "UsageError"]


# ----------------------------------------------------------------------------- the operator


class TerminalOperator:
    """Answers the session's questions on the terminal (``input()`` on stdin).

    With ``--yes`` every confirmation is answered with the expected text and the
    operator is recorded as ``<user> (--yes)``; overrides come only from
    ``--override-reason``, never from a prompt.
    """

    def __init__(self, printer: EventPrinter, *, assume_yes: bool = False,
                 override_reason: str | None = None) -> None:
        self.printer = printer
        self.assume_yes = assume_yes
        self.override = override_reason
        self.name = getpass.getuser() + (" (--yes)" if assume_yes else "")

    def confirm(self, request: ConfirmationRequest) -> str:
        if self.assume_yes:
            return request.expected
        require_terminal(request.action)
        # A short summary right before the question: the tables above have scrolled
        # away on an 80x24 terminal.
        self.printer.message("")
        self.printer.message(request.title, "bold")
        for line in request.summary:
            self.printer.message(f"  {line}", "bold red" if line.startswith(
                ("OVERRIDDEN", "blocker", "NOT exported")) else "")
        try:
            return input(f"Type {request.expected!r} to continue: ").strip()
        except EOFError:
            return ""

    def override_reason(self, gate: str, reasons: Sequence[str]) -> str | None:
        for reason in reasons:
            self.printer.message(f"BLOCKER: {reason}", "bold red")
        if not self.override:
            self.printer.message(
                f"the {gate} gate is closed: nothing was run (fix it, or pass"
                " --override-reason TEXT to run anyway)", "bold red")
        return self.override


def require_terminal(action: str) -> None:
    """Refuse when nobody could type a confirmation.  stdin is what matters: the output
    may be piped (``| tee run.txt``) while the operator still types."""
    if not sys.stdin.isatty():
        raise UsageError(
            f"{action} changes the database and needs confirmation: run it in a "
            "terminal, or pass --yes to confirm non-interactively"
        )


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
        profile=getattr(args, "profile", None),
        approvals_dir=getattr(args, "approvals", None),
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


def _finish(session: DeploymentSession, printer: EventPrinter, result: WorkflowResult) -> int:
    session.close(result)
    # The tables have scrolled away on an 80x24 terminal: the few lines that matter.
    printer.message("")
    for line in session_summary(session.state):
        printer.message(f"summary: {line}", "bold")
    if session.log_path is not None:
        from spfp_console.journal.sign import UNSIGNED_HINT

        sig = (f", signed: {session.signature_path}" if session.signature_path
               else f", UNSIGNED ({UNSIGNED_HINT})")
        if session.signing_error:
            sig += f"; signing failed mid-session: {session.signing_error}"
        printer.message(f"deployment log: {session.log_path}{sig}", "dim")
    return result.exit_code


def _open(session: DeploymentSession, printer: EventPrinter) -> None:
    info = session.open()
    printer.message(f"target: {info.display} (PostgreSQL {info.server_version})", "bold")


# ----------------------------------------------------------------------------- commands


def cmd_check(args: argparse.Namespace) -> int:
    printer = _printer(args)
    with _session(args, printer) as session:
        _open(session, printer)
        result = session.check()
        report = result.report
        printer.message(f"state: {report.state}; preflight "
                        f"{'passed' if report.passed else 'FAILED'}",
                        "bold green" if report.passed else "bold red")
        return _finish(session, printer, result)


def cmd_rehearse(args: argparse.Namespace) -> int:
    printer = _printer(args)
    with _session(args, printer) as session:
        session.open()
        if args.scratch:
            return _finish(session, printer, session.scratch_rehearse())
        cancel = CancelToken()
        with cancel_on_hangup(cancel):
            result = session.rehearse(path=args.script, cancel=cancel,
                                      integrity=args.integrity)
        return _finish(session, printer, result)


def cmd_run(args: argparse.Namespace) -> int:
    if not args.yes:
        require_terminal("run")
    printer = _printer(args)
    operator = TerminalOperator(printer, assume_yes=args.yes,
                                override_reason=args.override_reason)
    with _session(args, printer) as session:
        _open(session, printer)
        cancel = CancelToken()
        with cancel_on_hangup(cancel):
            result = session.deploy(operator, cancel=cancel, performance=args.performance,
                                    online=args.online, integrity=args.integrity)
        return _finish(session, printer, result)


def cmd_validate(args: argparse.Namespace) -> int:
    printer = _printer(args)
    with _session(args, printer) as session:
        session.open()
        return _finish(session, printer, session.validate(expect=args.expect))


def cmd_rollback(args: argparse.Namespace) -> int:
    if not args.yes:
        require_terminal("rollback")
    printer = _printer(args)
    operator = TerminalOperator(printer, assume_yes=args.yes)
    with _session(args, printer) as session:
        _open(session, printer)
        cancel = CancelToken()
        with cancel_on_hangup(cancel):
            result = session.rollback(operator, export_dir=args.export_dir, cancel=cancel)
        return _finish(session, printer, result)
