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
imports Textual, so our overhead over ``psql -f`` stays a small constant.  ``console``,
``replay`` (and ``demo`` on a terminal) import ``spfp_console.ui`` only when dispatched: the
one import edge from here to the UI, named in the import-linter contract.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path
from collections.abc import Callable
from typing import Any

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


# What each command does, what it changes and what its exit codes mean: `COMMAND --help`
# is where an operator on a bastion host looks before running it, not the README.
_DESCRIPTIONS = {
    "check": """\
Preflight: read-only checks of the target before a run. Reports blockers (rows
that would break a uniqueness rule, missing tables or ownership, a read-only or
too old server, a lock another session holds), warnings, the lock each table
will get, table sizes, and whether the migration is already applied.

Changes nothing in the database; writes a deployment log (unless --no-log).""",
    "rehearse": """\
Rehearsal: runs every statement of the migration in one transaction, each in a
savepoint, then rolls the transaction back, and lists every statement that
fails (SQLSTATE and line) in one pass. Before it starts, it lists the table
locks it will hold, the sessions holding locks on those tables now, and the
effects its rollback cannot undo. With the data integrity check on (the
runbook's integrity_check, or --integrity) it counts and checksums the touched
tables before the first statement and before the rollback, under a SHARE lock:
a changed table fails the rehearsal, and it says what the check read and how
long writers waited (--scratch does not check).

Changes no schema or rows, but holds the locks a real run takes (ACCESS
EXCLUSIVE on the tables the migration alters) until the rollback, and sequence
values it consumes (nextval, setval) are not rolled back. With --scratch the
target is only read (pg_dump --schema-only): a throwaway local PostgreSQL gets
a copy of its schema, and the migration is applied, validated, re-applied,
rolled back and diffed there. Writes a deployment log (unless --no-log).""",
    "run": """\
Run: executes the migration on the target in one transaction, statement by
statement, under the runbook's lock_timeout and statement_timeout and a
single-executor lock. First the preflight (its blockers refuse the run unless
--override-reason is given), then you type the database name to confirm (or
pass --yes), then the statements, COMMIT, validation of every object, and the
paper's claims measured (--performance also times the headline queries before
and after, for the speedup claims).

Changes the schema when it commits; a failing or interrupted statement rolls
everything back, leaving the schema as it was. Writes a deployment log (unless
--no-log).""",
    "validate": """\
Validation: checks every object of the migration (indexes, unique rules,
columns, views, functions, triggers, RLS) against the runbook, reads the query
plans, and compares the paper's claims with what is measured. --expect absent
checks, after a rollback, that every object is gone.

Changes nothing in the database; writes a deployment log (unless --no-log).""",
    "rollback": """\
Rollback: says how many rows and values the rollback destroys (the data in the
columns and tables the migration added), exports them as CSV first with
--export-dir (into a new folder each time), asks you to type 'rollback DBNAME'
(or pass --yes), counts again under lock (rows written since are exported too;
without --export-dir it stops if more would be lost than you confirmed), runs
the runbook's rollback script in the same transaction, and validates that every
object is gone.

DESTROYS the data in what the migration added; a failing statement rolls the
rollback back, leaving the schema as it was. Writes a deployment log (unless
--no-log).""",
}

_COMMITTED_INCOMPLETE = (EXIT_COMMITTED_INCOMPLETE,
                         "the change IS COMMITTED, but the session did not end cleanly"
                         " (interrupted, or a failure after COMMIT): validate now")
# Per command, the codes it can end with besides usage (2) and interrupted (130).
_EXIT_CODES: dict[str, tuple[tuple[int, str], ...]] = {
    "check": ((EXIT_OK, "the preflight passed"),
              (EXIT_FAILED, "a blocker was found, or a lock stopped a check")),
    "rehearse": ((EXIT_OK, "every statement ran (--scratch: every step passed)"),
                 (EXIT_FAILED, "a statement or the data integrity check failed"
                                " (--scratch: a step failed)")),
    "run": ((EXIT_OK, "committed and validated"),
            (EXIT_FAILED, "refused by the preflight, a statement failed (nothing changed),"
                          " another deployment holds the lock, or validation failed after"
                          " COMMIT"),
            (EXIT_NOT_CONFIRMED, "not confirmed: nothing was run"),
            _COMMITTED_INCOMPLETE),
    "validate": ((EXIT_OK, "every object is as expected"),
                 (EXIT_FAILED, "an object is missing or wrong")),
    "rollback": ((EXIT_OK, "rolled back and validated"),
                 (EXIT_FAILED, "a statement failed, or more rows were at risk than"
                               " confirmed (nothing changed), or validation failed"),
                 (EXIT_NOT_CONFIRMED, "not confirmed: nothing was rolled back"),
                 _COMMITTED_INCOMPLETE),
}


def _described(command: str) -> dict[str, Any]:
    """description and epilog (exit codes) of a subcommand's --help."""
    import textwrap

    codes = sorted((
        *_EXIT_CODES[command],
        (EXIT_USAGE, "usage, runbook or connection error: nothing was attempted"),
        (EXIT_INTERRUPTED, "interrupted (Ctrl-C, SIGTERM, SIGHUP) before anything changed"),
    ))
    epilog = "\n".join(["exit codes:"] + [
        textwrap.fill(meaning, width=79, initial_indent=f"  {code:<5}",
                      subsequent_indent=" " * 7)
        for code, meaning in codes
    ])
    return {"description": _DESCRIPTIONS[command], "epilog": epilog,
            "formatter_class": argparse.RawDescriptionHelpFormatter}


DSN_PASSWORD_WARNING = (
    "spfp-console: warning: the password in --dsn is visible to other users of this"
    " machine (ps, /proc); pass it in PGPASSWORD, ~/.pgpass or a service file"
    " (--dsn service=NAME) instead"
)


def _warn_about_password_in_dsn(args: argparse.Namespace) -> None:
    """A password on the command line is readable by anyone on the host for as long as
    the command runs (``ps -ef``); DATABASE_URL and PG* are not: a process's environment
    is readable only by its own user."""
    dsn = getattr(args, "dsn", None)
    if not dsn:
        return
    from spfp_console.redact import secrets_in_conninfo

    if secrets_in_conninfo(dsn):
        _say(DSN_PASSWORD_WARNING)


# argparse's type for what add_subparsers returns is private and generic.
_Subparsers = Any


def _add_target_options(p: argparse.ArgumentParser, *, runbook: bool = True) -> None:
    if runbook:
        from spfp_console.paths import DEFAULT_RUNBOOK

        # The file name only: the full default path (in site-packages when installed)
        # would wrap mid-path on an 80-column terminal.
        p.add_argument("--runbook", type=Path, default=DEFAULT_RUNBOOK,
                       help=f"runbook TOML file (default: {DEFAULT_RUNBOOK.name},"
                            " shipped with spfp-console)")
    p.add_argument("--dsn", default=None,
                   help="target database: a postgresql:// URL or key=value conninfo; default"
                        " $DATABASE_URL, else libpq's PG* variables, service file, .pgpass")
    p.add_argument("--json", action="store_true",
                   help="print events as JSON lines (for machines)")
    p.add_argument("--log-dir", type=Path, default=None,
                   help="deployment log directory (default ./deploy-logs; a symlink or a"
                        " world-writable directory is refused)")
    p.add_argument("--no-log", action="store_true", help="do not write a deployment log")
    p.add_argument("--sign-key", type=Path, default=None,
                   help="SSH key that signs the log (checkpoints during the session, LOG.sig at"
                        " the end): a private key file, or a .pub whose key is in ssh-agent;"
                        " default $SPFP_CONSOLE_SIGN_KEY, else the first ed25519 key in"
                        " ssh-agent; 'none' to leave the log unsigned.  Checked before"
                        " anything changes")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="also print each statement as it starts and index build progress")
    if runbook:
        p.add_argument("--profile", default=None, metavar="NAME",
                       help="the runbook profile (e.g. quick, guided, enterprise): which"
                            " items are required, how many approvals run needs; default:"
                            " the runbook's default profile")
        p.add_argument("--approvals", type=Path, default=None, metavar="DIR",
                       help="where the signed approvals are (default: the runbook's"
                            " [approvals] directory)")


def _add_check(sub: _Subparsers) -> None:
    p = sub.add_parser("check", help="preflight: read-only checks of the target before a run",
                       **_described("check"))
    _add_target_options(p)


def _add_rehearse(sub: _Subparsers) -> None:
    p = sub.add_parser("rehearse", help="run the migration and roll it back; list every failure",
                       **_described("rehearse"))
    _add_target_options(p)
    p.add_argument("--scratch", action="store_true",
                   help="rehearse on a throwaway local copy of the target's schema instead:"
                        " apply, validate, re-apply, roll back, diff")
    p.add_argument("--script", type=Path, default=None,
                   help="rehearse this SQL file instead of the runbook's migration")
    p.add_argument("--integrity", action=argparse.BooleanOptionalAction, default=None,
                   help="the run's data integrity check in the rehearsal: count and checksum"
                        " every table it touches before the first statement and before the"
                        " rollback (a difference fails it; shows what the check reads and"
                        " how long; default: the runbook's integrity_check; not with"
                        " --scratch)")


def _add_run(sub: _Subparsers) -> None:
    p = sub.add_parser("run", help="execute the migration in one transaction",
                       **_described("run"))
    _add_target_options(p)
    p.add_argument("--yes", action="store_true",
                   help="do not ask for confirmation (required without a terminal)")
    p.add_argument("--performance", action="store_true",
                   help="measure the paper's speedup claims: time the headline queries"
                        " before and after the run (EXPLAIN ANALYZE)")
    p.add_argument("--override-reason", metavar="TEXT", default=None,
                   help="run despite preflight blockers; the reason goes into the log")
    p.add_argument("--online", action="store_true", default=None,
                   help="online mode for this run: each index built CONCURRENTLY outside a"
                        " transaction, the rest in short transactions, lock timeouts"
                        " retried (default: the runbook's execution_mode)")
    p.add_argument("--integrity", action=argparse.BooleanOptionalAction, default=None,
                   help="count and checksum every table the migration touches before and"
                        " after it, in its transaction (a difference rolls it back; reads"
                        " every row twice; default: the runbook's integrity_check)")


def _add_validate(sub: _Subparsers) -> None:
    p = sub.add_parser("validate", help="verify every object of the migration",
                       **_described("validate"))
    _add_target_options(p)
    p.add_argument("--expect", choices=("applied", "absent"), default="applied",
                   help="applied (after a run) or absent (after a rollback)")


def _add_rollback(sub: _Subparsers) -> None:
    p = sub.add_parser("rollback", help="remove what the migration added (destroys its data)",
                       **_described("rollback"))
    _add_target_options(p)
    p.add_argument("--yes", action="store_true",
                   help="do not ask for confirmation (required without a terminal)")
    p.add_argument("--export-dir", type=Path, default=None,
                   help="export the data the rollback destroys to CSV files here first")


def _add_console(sub: _Subparsers) -> None:
    p = sub.add_parser("console", help="the interactive console (Textual) on a real database")
    from spfp_console.paths import DEFAULT_RUNBOOK

    p.add_argument("--runbook", type=Path, default=DEFAULT_RUNBOOK,
                   help="runbook TOML file (default: %(default)s)")
    p.add_argument("--dsn", default=None,
                   help="target database: a postgresql:// URL or key=value conninfo; default"
                        " $DATABASE_URL, else libpq's PG* variables, service file, .pgpass")
    p.add_argument("--log-dir", type=Path, default=None,
                   help="where the signed deployment log goes (default ./deploy-logs)")
    p.add_argument("--no-log", action="store_true", help="do not write a deployment log")
    p.add_argument("--sign-key", type=Path, default=None,
                   help="ed25519 SSH private key to sign the log with when the session ends")
    p.add_argument("--environment", default=None, metavar="NAME",
                   help="label shown in the header, e.g. production (red) or staging")
    p.add_argument("--export-dir", type=Path, default=None,
                   help="where a rollback exports the data it destroys first"
                        " (default: a new directory under the log directory)")
    p.add_argument("--integrity", action=argparse.BooleanOptionalAction, default=None,
                   help="the data integrity check in the runs and rehearsals this console"
                        " starts, as `run --integrity` (default: the runbook's"
                        " integrity_check)")


def _add_replay(sub: _Subparsers) -> None:
    p = sub.add_parser("replay", help="a recorded session in the console, read-only, from its"
                                      " log alone (no database), with its trust badge")
    p.add_argument("log", type=Path, metavar="LOG", help="the deployment log (deploy-logs/*.deploy-log.toml)")
    p.add_argument("--allowed-signers", type=Path, default=None, metavar="FILE",
                   help="OpenSSH allowed_signers file: the badge then says who signed it")
    p.add_argument("--identity", default=None, metavar="NAME",
                   help="the signer the log must be signed by (with --allowed-signers)")
    p.add_argument("--follow", action="store_true",
                   help="tail a log still being written (a live session, watched read-only)")
    p.add_argument("--start-at", default=None, metavar="WHERE",
                   help="where the cursor starts: end (default), start, first-error (or"
                        " first-decision, first-override, first-workflow, first-tick), an"
                        " event number, or a time (HH:MM:SS or ISO)")


def _add_demo(sub: _Subparsers) -> None:
    p = sub.add_parser("demo", help="a local PostgreSQL with the SPFP schema and sample data,"
                                    " then the console on it (a headless walk-through of the"
                                    " whole runbook when not on a terminal)")
    p.add_argument("--scale", type=float, default=0.5,
                   help="sample data scale (1 is about 100k rows; default %(default)s)")
    p.add_argument("--keep", action="store_true",
                   help="keep the demo server running afterwards and print how to connect")
    p.add_argument("--json", action="store_true", help="print events as JSON lines")
    p.add_argument("--log-dir", type=Path, default=None,
                   help="where the deployment log goes (default ./deploy-logs)")
    p.add_argument("-v", "--verbose", action="store_true")


def _add_sample_data(sub: _Subparsers) -> None:
    from spfp_console.sampledata.cli import add_sample_data_subcommand

    add_sample_data_subcommand(sub)


def _add_journal_commands(sub: _Subparsers) -> None:
    from spfp_console.cli.journal_commands import add_journal_subcommands

    add_journal_subcommands(sub)


def _add_lint(sub: _Subparsers) -> None:
    from spfp_console.cli.lint_command import add_lint_subcommand

    add_lint_subcommand(sub)


def _add_resume(sub: _Subparsers) -> None:
    from spfp_console.cli.resume_command import add_resume_subcommand

    add_resume_subcommand(sub)


# Each command with what registers it, in the order --help lists them.  A group that
# registers several commands (the journal's) is one adder under each of its names.
_COMMANDS: tuple[tuple[tuple[str, ...], Callable[[_Subparsers], None]], ...] = (
    (("check",), _add_check),
    (("rehearse",), _add_rehearse),
    (("run",), _add_run),
    (("validate",), _add_validate),
    (("rollback",), _add_rollback),
    (("console",), _add_console),
    (("replay",), _add_replay),
    (("demo",), _add_demo),
    (("sample-data",), _add_sample_data),
    (("verify", "sign", "export", "approve"), _add_journal_commands),
    (("lint",), _add_lint),
    (("resume",), _add_resume),
)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``command`` (a command's name) only what that command
    needs: its options, its --help, its errors are the same, and a headless ``run`` does
    not pay for building (and importing the modules of) a dozen other commands, about
    15 ms of its start-up.  Any other word, or none, builds every command."""
    parser = argparse.ArgumentParser(
        prog="spfp-console",
        description="Deployment console for PostgreSQL/Supabase schema migrations.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = [add for names, add in _COMMANDS if command in names]
    for add in chosen or [add for _, add in _COMMANDS]:
        add(sub)
    return parser


def _command_in(argv: list[str]) -> str | None:
    """The command word of a command line: its first argument, unless that is an option
    (``--version``, ``--help``: those need every command)."""
    return argv[0] if argv and not argv[0].startswith("-") else None


def _dispatch(args: argparse.Namespace) -> int:
    command = args.command
    if command in ("check", "rehearse", "run", "validate", "rollback"):
        from spfp_console.cli import commands

        return getattr(commands, f"cmd_{command}")(args)
    if command == "console":
        from spfp_console.ui.launch import cmd_console

        return cmd_console(args)
    if command == "replay":
        from spfp_console.ui.launch import cmd_replay

        return cmd_replay(args)
    if command == "resume":
        if _interactive():
            from spfp_console.ui.launch import cmd_resume

            return cmd_resume(args)
        from spfp_console.cli.resume_command import cmd_resume_headless

        return cmd_resume_headless(args)
    if command == "demo":
        if _interactive() and not args.json and not args.keep:
            from spfp_console.ui.launch import cmd_demo_console

            return cmd_demo_console(args)
        from spfp_console.cli.demo import cmd_demo

        return cmd_demo(args)
    handler = getattr(args, "handler", None) or getattr(args, "func", None)
    if handler is not None:
        return int(handler(args))
    raise SystemExit(f"spfp-console: unknown command {command!r}")


def _interactive() -> bool:
    """A person at a terminal: the console can draw, and keys reach it."""
    return sys.stdin.isatty() and sys.stdout.isatty()


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
    """The command line; ``argv`` None: this process's own (the console script), which
    ends when this returns."""
    if argv is not None:
        return _main(argv)
    try:
        return _main(sys.argv[1:])
    finally:
        # The interpreter's last garbage collection at exit walks every object the imports
        # created (psycopg's and pglast's types, the AST): about 60 ms of a headless run's
        # exit, measured, for memory the process is about to give back anyway.  Frozen
        # objects are skipped.  Nothing correct depends on it: the log is closed and
        # synced and the server stopped by now, and stdout is flushed at exit regardless.
        import gc

        gc.freeze()


def _main(argv: list[str]) -> int:
    parser = build_parser(_command_in(argv))
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    _warn_about_password_in_dsn(args)
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
