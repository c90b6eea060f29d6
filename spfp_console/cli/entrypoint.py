"""The headless command line: ``spfp-console check | rehearse | run | validate | rollback``.

Also ``lint`` (what in a migration blocks writes; reads the file only).

Also ``demo`` (a local PostgreSQL with the SPFP base schema and sample data), ``sample-data``
and the journal's ``verify``, ``sign`` and ``export``.

Exit codes: 0 ok; 1 a check or a statement failed (or a log does not verify); 2 usage,
input or connection error; 3 the operator declined the confirmation (nothing changed);
4 the change is committed but the session did not end cleanly (validate now); 130
interrupted before anything changed.  Every expected error
is one clear line on stderr, never a traceback.

Imports are lazy: building the parser imports nothing heavy, and no headless command ever
imports Textual, so our overhead over ``psql -f`` stays a small constant.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

from spfp_console import __version__

from spfp_console.errors import (  # noqa: F401 - the exit codes, documented above
    EXIT_COMMITTED_INCOMPLETE,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NOT_CONFIRMED,
    EXIT_OK,
    EXIT_USAGE,
    ConsoleError,
)


def _add_target_options(p: argparse.ArgumentParser, *, runbook: bool = True) -> None:
    if runbook:
        from spfp_console.paths import DEFAULT_RUNBOOK

        p.add_argument("--runbook", type=Path, default=DEFAULT_RUNBOOK,
                       help="runbook TOML file (default: %(default)s)")
    p.add_argument("--dsn", default=None,
                   help="target database: a postgresql:// URL or key=value conninfo; default"
                        " $DATABASE_URL, else libpq's PG* variables, service file, .pgpass")
    p.add_argument("--json", action="store_true",
                   help="print events as JSON lines (for machines)")
    p.add_argument("--log-dir", type=Path, default=None,
                   help="where the signed deployment log goes (default ./deploy-logs)")
    p.add_argument("--no-log", action="store_true", help="do not write a deployment log")
    p.add_argument("--sign-key", type=Path, default=None,
                   help="ed25519 SSH private key to sign the log with when the session ends")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="also print each statement as it starts and index build progress")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spfp-console",
        description="Deployment console for PostgreSQL/Supabase schema migrations.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("check", help="preflight: read-only checks of the target before a run")
    _add_target_options(p)

    p = sub.add_parser("rehearse", help="run the migration and roll it back; list every failure")
    _add_target_options(p)
    p.add_argument("--scratch", action="store_true",
                   help="rehearse on a throwaway local copy of the target's schema instead:"
                        " apply, validate, re-apply, roll back, diff")
    p.add_argument("--script", type=Path, default=None,
                   help="rehearse this SQL file instead of the runbook's migration")

    p = sub.add_parser("run", help="execute the migration in one transaction")
    _add_target_options(p)
    p.add_argument("--yes", action="store_true",
                   help="do not ask for confirmation (required without a terminal)")
    p.add_argument("--performance", action="store_true",
                   help="time the headline queries before and after (EXPLAIN ANALYZE)")
    p.add_argument("--override-reason", metavar="TEXT", default=None,
                   help="run despite preflight blockers; the reason goes into the log")
    p.add_argument("--online", action="store_true", default=None,
                   help="online mode for this run: each index built CONCURRENTLY outside a"
                        " transaction, the rest in short transactions, lock timeouts"
                        " retried (default: the runbook's execution_mode)")

    p = sub.add_parser("validate", help="verify every object of the migration")
    _add_target_options(p)
    p.add_argument("--expect", choices=("applied", "absent"), default="applied",
                   help="applied (after a run) or absent (after a rollback)")

    p = sub.add_parser("rollback", help="remove what the migration added (destroys its data)")
    _add_target_options(p)
    p.add_argument("--yes", action="store_true",
                   help="do not ask for confirmation (required without a terminal)")
    p.add_argument("--export-dir", type=Path, default=None,
                   help="export the data the rollback destroys to CSV files here first")

    p = sub.add_parser("demo", help="a local PostgreSQL with the SPFP schema and sample data,"
                                    " then the whole runbook on it")
    p.add_argument("--scale", type=float, default=0.5,
                   help="sample data scale (1 is about 100k rows; default %(default)s)")
    p.add_argument("--keep", action="store_true",
                   help="keep the demo server running afterwards and print how to connect")
    p.add_argument("--json", action="store_true", help="print events as JSON lines")
    p.add_argument("--log-dir", type=Path, default=None,
                   help="where the deployment log goes (default ./deploy-logs)")
    p.add_argument("-v", "--verbose", action="store_true")

    try:
        from spfp_console.sampledata.cli import add_sample_data_subcommand
    except ImportError:  # pragma: no cover - the package ships it
        pass
    else:
        add_sample_data_subcommand(sub)
    from spfp_console.cli.journal_commands import add_journal_subcommands
    from spfp_console.cli.lint_command import add_lint_subcommand

    add_journal_subcommands(sub)
    add_lint_subcommand(sub)
    return parser


def _dispatch(args: argparse.Namespace) -> int:
    command = args.command
    if command in ("check", "rehearse", "run", "validate", "rollback"):
        from spfp_console.cli import commands

        return getattr(commands, f"cmd_{command}")(args)
    if command == "demo":
        from spfp_console.cli.demo import cmd_demo

        return cmd_demo(args)
    handler = getattr(args, "handler", None) or getattr(args, "func", None)
    if handler is not None:
        return int(handler(args))
    raise SystemExit(f"spfp-console: unknown command {command!r}")


def _interrupt_on_hangup() -> None:
    """SIGHUP (the SSH link dropped) and SIGTERM end the command like Ctrl-C does.

    The default action would kill the process on the spot, leaving the deployment log
    without its session end.  As KeyboardInterrupt they unwind: a waiting query is
    cancelled, the session's journal records "aborted", and the exit code says so.  While
    a script runs, the commands install a finer handler that cancels the statement.
    """
    import signal

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for sig in (signal.SIGHUP, signal.SIGTERM):
        try:
            signal.signal(sig, interrupt)
        except (ValueError, OSError):  # not the main thread (embedded use)
            pass


def _say(message: str) -> None:
    """Print to stderr, tolerating a terminal that is already gone (after SIGHUP)."""
    try:
        print(message, file=sys.stderr)
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    _interrupt_on_hangup()
    try:
        return _dispatch(args)
    except KeyboardInterrupt as exc:
        why = f" by {exc}" if str(exc) else ""
        _say(f"spfp-console: interrupted{why}; nothing further was done")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # e.g. `spfp-console check | head`: not an error worth a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except ConsoleError as exc:
        _say(f"spfp-console: {exc}")
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
        crash = _save_crash_report()
        _say(f"spfp-console: internal error: {type(exc).__name__}: {exc}"
             f" (this is a bug; details in {crash})")
        return EXIT_FAILED


def _save_crash_report() -> str:
    import tempfile

    fd, path = tempfile.mkstemp(prefix="spfp-console-crash-", suffix=".txt")
    with os.fdopen(fd, "w") as f:
        traceback.print_exc(file=f)
    return path
