"""``spfp-console console`` and ``spfp-console demo`` on a terminal: open, run, close.

The runbook (and a resumed log) is checked before the first frame; the session is built
and opened by the console after it, on a worker thread, so psycopg and the engine are not
imported while the operator waits for a screen (``bench/bench_console_startup.py``).  A
session that cannot be opened (wrong password, unreachable host, another database for a
resume) ends the console and is raised here: still one line on the terminal (the command
line's usual error path), not a screen to dismiss.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import gc
import getpass
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from spfp_console.errors import EXIT_INTERRUPTED, EXIT_OK, UsageError

if TYPE_CHECKING:
    from spfp_console.deployment import DeploymentSession
    from spfp_console.ui.app import SessionOpening


def default_export_dir(log_dir: Path | None) -> Path:
    """Where a rollback from the console exports the data it destroys, before asking."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return (log_dir or Path("deploy-logs")) / f"rollback-export-{stamp}"


def run_console(opening: SessionOpening, *, log_dir: Path | None,
                export_dir: Path | None = None,
                cleanup: Callable[[], None] | None = None) -> int:
    """Run the console, which opens the session of ``opening`` after its first frame;
    close the session with the last workflow's outcome and return that outcome's exit
    code, or raise what stopped the session from opening.  ``cleanup`` runs last, also
    after a hang-up (the demo stops its server there)."""
    from spfp_console.ui.app import ConsoleApp

    def after_hangup(app: ConsoleApp) -> int:
        try:
            app.stop_workflow()  # a session still being opened is opened, then closed
            if app.opened_session is not None:
                app.opened_session.close(
                    app.last_result, outcome=None if app.last_result else "aborted",
                    message=None if app.last_result else f"{app.hung_up}: the terminal"
                    " went away")
        finally:
            if cleanup is not None:
                cleanup()
        return _exit_code(app)

    app = ConsoleApp(opening, after_hangup=after_hangup,
                     export_dir=export_dir or default_export_dir(log_dir))
    try:
        with contextlib.ExitStack() as closing:
            try:
                app.run()
            finally:
                app.stop_workflow()
                if app.opened_session is not None:
                    # Entered here so that an exception out of the app reaches the
                    # session's __exit__ (aborted, or committed-but-incomplete).
                    closing.enter_context(app.opened_session)
            if app.open_error is not None:
                raise app.open_error
            session = app.opened_session
            assert session is not None
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


def target_hint(dsn: str | None) -> str:
    """``user@host:port/dbname`` as far as the DSN and the PG* variables say, without
    libpq (psycopg is not imported yet) and without the password: the header's
    "connecting to" until the server answers and the real display replaces it."""
    raw = (dsn or "").strip() or os.environ.get("DATABASE_URL", "").strip()
    params: dict[str, str] = {}
    if raw.startswith(("postgresql://", "postgres://")):
        url = urlsplit(raw)
        netloc = url.netloc.rpartition("@")[2]
        host, _, port = netloc.partition(":") if "," not in netloc else (netloc, "", "")
        params = {"user": unquote(url.username or ""), "host": unquote(host.strip("[]")),
                  "port": port, "dbname": unquote(url.path.lstrip("/"))}
    else:
        for key, value in re.findall(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S*)", raw):
            params[key] = value.strip("'")

    def param(name: str, env: str, default: str) -> str:
        return params.get(name) or os.environ.get(env) or default

    user = param("user", "PGUSER", getpass.getuser())
    host = param("host", "PGHOST", "local socket")
    if host.startswith("/"):
        host = "local socket"
    return f"{user}@{host}:{param('port', 'PGPORT', '5432')}/{param('dbname', 'PGDATABASE', user)}"


def cmd_console(args: argparse.Namespace) -> int:
    from spfp_console.runbook import load_runbook
    from spfp_console.ui.app import SessionOpening

    runbook = load_runbook(args.runbook)  # a bad runbook is worth saying first
    require_terminal()

    def new_session() -> DeploymentSession:
        from spfp_console.deployment import DeploymentSession

        return DeploymentSession(
            runbook=runbook,
            dsn=args.dsn,
            log_dir=args.log_dir,
            journal_enabled=not args.no_log,
            sign_key=args.sign_key,
            environment=args.environment,
            integrity=args.integrity,
        )

    opening = SessionOpening(new_session, target=target_hint(args.dsn),
                             runbook_id=runbook.id, operator=getpass.getuser(),
                             environment=args.environment)
    return run_console(opening, log_dir=args.log_dir, export_dir=args.export_dir)


def cmd_resume(args: argparse.Namespace) -> int:
    """``spfp-console resume LOG`` on a terminal: the console on the resumed session (the
    old log and the runbook are checked, and refused, before the first frame; the
    database, when the session opens)."""
    from spfp_console.cli.resume_command import checked_resume_point, resumed_session
    from spfp_console.ui.app import SessionOpening

    point, runbook = checked_resume_point(args)
    require_terminal("spfp-console resume LOG without a terminal prints a summary")
    environment = args.environment or point.state.environment
    log_dir = args.log_dir if args.log_dir is not None else point.path.parent
    opening = SessionOpening(lambda: resumed_session(args, (point, runbook)),
                             target=target_hint(args.dsn), runbook_id=runbook.id,
                             operator=getpass.getuser(), environment=environment)
    return run_console(opening, log_dir=log_dir, export_dir=args.export_dir)


def cmd_demo_console(args: argparse.Namespace) -> int:
    """The demo database, then the console on it; the server is stopped on the way out."""
    from spfp_console.cli.demo import start_demo_database
    from spfp_console.paths import DEFAULT_RUNBOOK
    from spfp_console.runbook import load_runbook
    from spfp_console.ui.app import SessionOpening

    runbook = load_runbook(DEFAULT_RUNBOOK)
    cluster, dsn = start_demo_database(args.scale, say)

    def stop_cluster() -> None:
        say("stopping the demo PostgreSQL ...")
        cluster.stop()

    def new_session() -> DeploymentSession:
        from spfp_console.deployment import DeploymentSession

        return DeploymentSession(runbook=runbook, dsn=dsn, log_dir=args.log_dir,
                                 operator=getpass.getuser(), environment="demo")

    opening = SessionOpening(new_session, target=target_hint(dsn), runbook_id=runbook.id,
                             operator=getpass.getuser(), environment="demo")
    return run_console(opening, log_dir=args.log_dir, cleanup=stop_cluster)


def open_replay(log: Path, *, follow: bool = False, allowed_signers: Path | None = None,
                identity: str | None = None, start_at: str | None = None) -> Any:
    """The replay app on ``log``, or a UsageError naming what is wrong with the log, the
    signer file or ``start_at`` (one line, before any screen is drawn).

    The log is read and its chain checked whole (once: the signatures are checked
    against that reading), its events parsed when first needed and folded by the app
    after its first frame when there are many.  With ``follow`` the log is read as
    it stands (a last event not yet whole is left out), the app opens at its end and
    its reader thread tails the rest, verifying as it goes; the badge says "live" until
    the session ends.  ``start_at``: where the cursor starts
    (``Timeline.start_position``), the end by default."""
    from spfp_console.journal.read import JournalFormatError
    from spfp_console.journal.verify import verify_log
    from spfp_console.session.timeline import (
        Timeline,
        broken_chain_badge,
        live_badge,
        timeline_from_log,
        trust_badge,
    )
    from spfp_console.ui.replay import OPEN_FOLDED, ReplayApp

    if not log.is_file():
        raise UsageError(f"cannot replay {log}: no such file; give the path of a deployment"
                         " log (deploy-logs/*.deploy-log.toml)")
    resume, live_seq = None, 0
    try:
        if allowed_signers is not None:
            allowed_signers.read_bytes()
        loaded = None
        gc.disable()  # 10^5 new long-lived objects: no full collections meanwhile
        try:
            loaded = timeline_from_log(log, fold=0, growing=follow)
        except JournalFormatError:
            if not follow:
                raise
            # A log whose header is not written yet: the reader waits for it (and says
            # what the file is, if it never becomes a log).
        finally:
            gc.enable()
        if loaded is None:
            timeline, badge = Timeline(), live_badge(0)
        else:
            timeline = loaded.timeline
            if len(timeline) <= OPEN_FOLDED:
                timeline.fold_more(len(timeline))
        if loaded is not None and follow:
            chain = loaded.chain
            resume, live_seq = loaded.resume, loaded.last_seq
            broken = not chain.ok and chain.problem != "truncated"
            badge = broken_chain_badge(chain) if broken else live_badge(live_seq)
        elif loaded is not None:
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
                     identity=identity, start_at=start, resume=resume, live_seq=live_seq)


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
