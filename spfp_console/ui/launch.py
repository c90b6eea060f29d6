"""``spfp-console console`` and ``spfp-console demo`` on a terminal: open, run, close.

The session is opened before the first frame, so a wrong DSN or a bad runbook is one line
on the terminal (the command line's usual error path), not a screen to dismiss.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from spfp_console.deployment import DeploymentSession
from spfp_console.errors import EXIT_INTERRUPTED, EXIT_OK, UsageError


def default_export_dir(log_dir: Path | None) -> Path:
    """Where a rollback from the console exports the data it destroys, before asking."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return (log_dir or Path("deploy-logs")) / f"rollback-export-{stamp}"


def run_console(session: DeploymentSession, *, export_dir: Path | None = None,
                cleanup: Callable[[], None] | None = None) -> int:
    """Open ``session``, run the console on it, close it with the last workflow's
    outcome; returns that outcome's exit code.  ``cleanup`` runs last, also after a
    hang-up (the demo stops its server there)."""
    from spfp_console.ui.app import ConsoleApp

    def after_hangup(app: ConsoleApp) -> int:
        try:
            session.close(app.last_result, outcome=None if app.last_result else "aborted",
                          message=None if app.last_result else f"{app.hung_up}: the"
                          " terminal went away")
        finally:
            if cleanup is not None:
                cleanup()
        return _exit_code(app)

    try:
        with session:
            session.open()
            app = ConsoleApp(session, after_hangup=after_hangup,
                             export_dir=export_dir or default_export_dir(session.log_dir))
            try:
                app.run()
            finally:
                app.stop_workflow()
            session.close(app.last_result)
    finally:
        if cleanup is not None:
            cleanup()
    if session.log_path is not None:
        signed = f", signed: {session.signature_path}" if session.signature_path else ""
        say(f"deployment log: {session.log_path}{signed}")
    return _exit_code(app)


def _exit_code(app: Any) -> int:
    if app.hung_up and app.exit_code == EXIT_OK:
        return EXIT_INTERRUPTED
    return int(app.exit_code)


def say(message: str) -> None:
    """A line on stderr, tolerating a terminal that is already gone (after SIGHUP)."""
    try:
        print(message, file=sys.stderr)
    except OSError:
        pass


HEADLESS_COMMANDS = "the headless commands: check, rehearse, run, validate, rollback"


def require_terminal(instead: str = HEADLESS_COMMANDS) -> None:
    """The console draws on stdout and reads keys from stdin: both must be a terminal."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError(f"the console needs a terminal (stdin and stdout); without one use"
                         f" {instead}")


def cmd_console(args: argparse.Namespace) -> int:
    from spfp_console.runbook import load_runbook

    runbook = load_runbook(args.runbook)  # a bad runbook is worth saying first
    require_terminal()
    session = DeploymentSession(
        runbook=runbook,
        dsn=args.dsn,
        log_dir=args.log_dir,
        journal_enabled=not args.no_log,
        sign_key=args.sign_key,
        environment=args.environment,
    )
    return run_console(session, export_dir=args.export_dir)


def cmd_resume(args: argparse.Namespace) -> int:
    """``spfp-console resume LOG`` on a terminal: the console on the resumed session (the
    old log is checked, and refused, before the first frame)."""
    from spfp_console.cli.resume_command import resumed_session

    session = resumed_session(args)
    require_terminal("spfp-console resume LOG without a terminal prints a summary")
    return run_console(session, export_dir=args.export_dir)


def cmd_demo_console(args: argparse.Namespace) -> int:
    """The demo database, then the console on it; the server is stopped on the way out."""
    import getpass

    from spfp_console.cli.demo import start_demo_database
    from spfp_console.paths import DEFAULT_RUNBOOK
    from spfp_console.runbook import load_runbook

    runbook = load_runbook(DEFAULT_RUNBOOK)
    cluster, dsn = start_demo_database(args.scale, say)

    def stop_cluster() -> None:
        say("stopping the demo PostgreSQL ...")
        cluster.stop()

    session = DeploymentSession(runbook=runbook, dsn=dsn, log_dir=args.log_dir,
                                operator=getpass.getuser(), environment="demo")
    return run_console(session, cleanup=stop_cluster)


def open_replay(log: Path, *, follow: bool = False, allowed_signers: Path | None = None,
                identity: str | None = None, start_at: str | None = None) -> Any:
    """The replay app on ``log``, or a UsageError naming what is wrong with the log, the
    signer file or ``start_at`` (one line, before any screen is drawn).

    Without ``follow`` the log is read and its chain checked whole (once: the signatures
    are checked against that reading), its events parsed when first needed and folded
    by the app after its first frame when there are many; with ``follow`` the app starts
    empty and its reader thread tails the log, verifying as it goes.  ``start_at``: where
    the cursor starts (``Timeline.start_position``), the end by default."""
    from spfp_console.journal.read import JournalFormatError
    from spfp_console.journal.verify import verify_log
    from spfp_console.session.timeline import (
        Timeline,
        live_badge,
        timeline_from_log,
        trust_badge,
    )
    from spfp_console.ui.replay import OPEN_FOLDED, ReplayApp

    if follow and start_at is not None:
        raise UsageError("--start-at cannot be used with --follow: a followed log is shown"
                         " at its live end (move back with the timeline keys)")
    if not log.is_file():
        raise UsageError(f"cannot replay {log}: no such file; give the path of a deployment"
                         " log (deploy-logs/*.deploy-log.toml)")
    try:
        if follow:
            timeline, badge = Timeline(), live_badge(0)
            with log.open("rb"):  # unreadable now is worth saying now, not at the end
                pass
            if allowed_signers is not None:
                allowed_signers.read_bytes()
        else:
            gc.disable()  # 10^5 new long-lived objects: no full collections meanwhile
            try:
                loaded = timeline_from_log(log, fold=0)
            finally:
                gc.enable()
            timeline = loaded.timeline
            if len(timeline) <= OPEN_FOLDED:
                timeline.fold_more(len(timeline))
            badge = trust_badge(verify_log(log, allowed_signers=allowed_signers,
                                           identity=identity, chain=loaded.chain),
                                events=len(timeline))
    except JournalFormatError as exc:
        raise UsageError(f"cannot replay {log}: {exc}; it is not a readable deployment"
                         " log") from exc
    except OSError as exc:
        what = allowed_signers if exc.filename and allowed_signers and \
            Path(exc.filename) == allowed_signers else log
        raise UsageError(f"cannot replay {log}: cannot read {what}: {exc.strerror or exc}")\
            from exc
    except ValueError as exc:  # SignatureFormatError: a malformed allowed_signers file
        raise UsageError(f"cannot replay {log}: {allowed_signers}: {exc}; fix the allowed"
                         " signers file or leave out --allowed-signers") from exc
    start = None
    if start_at is not None:
        try:
            start = timeline.start_position(start_at)
        except ValueError as exc:
            raise UsageError(f"cannot replay {log} from {start_at!r}: {exc}") from exc
    return ReplayApp(log, timeline, badge, follow=follow, allowed_signers=allowed_signers,
                     identity=identity, start_at=start)


def cmd_replay(args: argparse.Namespace) -> int:
    """``spfp-console replay LOG``: the log checked first, then the terminal."""
    if args.identity and not args.allowed_signers:
        raise UsageError("--identity needs --allowed-signers (the file that says which key"
                         " is theirs)")
    app = open_replay(args.log, follow=args.follow, allowed_signers=args.allowed_signers,
                      identity=args.identity, start_at=args.start_at)
    require_terminal("spfp-console verify LOG (the trust check) or spfp-console export LOG")
    app.run()
    return EXIT_OK
