"""``spfp-console resume LOG``: reopen an interrupted session.

On a terminal the console opens on the resumed session (``ui/launch.py``); without one
this prints what was restored and what the database shows, ends the new session
(outcome ``resumed``) and exits 0.  Refusals are one line: 1 for a log that is not the
console's (edited, forged), 2 for another runbook or another database, or a missing file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

RESUME_DESCRIPTION = """\
Reopen an interrupted session (a dropped SSH link, a closed terminal, SIGHUP,
kill -9) from its deployment log: the checklist ticks with who, when and
evidence, and what ran (runs, statements, result tables, decisions) come back;
the database's current state is read (is the migration applied, partially, not
at all; what the database recorded of that session); the new session's log
names the old log and its final hash, which `spfp-console verify` checks.

A log that ends without its session end record is the normal case. A log that
ended cleanly can be resumed too (the work goes on). Refused: a log whose hash
chain or signature does not hold, a log of another runbook or of a runbook or
SQL file that changed since, and a log of another database.

The preflight never carries over (a run checks the target again); a passed
rehearsal does when nothing ran on the target after it and the migration is
still not applied, otherwise the run gate asks for a new one.

On a terminal: the console. Without one: a summary, and the new session ends.

exit codes:
  0    resumed (the console's own outcome on a terminal)
  1    refused: the log is not the one the console wrote (edited, forged)
  2    refused: another runbook or database, a changed runbook or SQL file, no
       such log; or a usage or connection error
"""


def add_resume_subcommand(sub: Any) -> None:
    from spfp_console.paths import DEFAULT_RUNBOOK

    p = sub.add_parser("resume", help="reopen an interrupted session from its log: ticks,"
                                      " evidence and what ran come back",
                       description=RESUME_DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("log", type=Path, metavar="LOG",
                   help="the log of the session to resume (deploy-logs/*.deploy-log.toml)")
    p.add_argument("--runbook", type=Path, default=DEFAULT_RUNBOOK,
                   help="the runbook of that session (default: %(default)s)")
    p.add_argument("--dsn", default=None,
                   help="the database of that session: a postgresql:// URL or key=value"
                        " conninfo; default $DATABASE_URL, else libpq's PG* variables")
    p.add_argument("--log-dir", type=Path, default=None,
                   help="where the new session's log goes (default: the old log's directory)")
    p.add_argument("--sign-key", type=Path, default=None,
                   help="SSH key that signs the new log (as for console)")
    p.add_argument("--environment", default=None, metavar="NAME",
                   help="label shown in the header (default: the old session's)")
    p.add_argument("--export-dir", type=Path, default=None,
                   help="where a rollback exports the data it destroys first")


def checked_resume_point(args: argparse.Namespace) -> tuple[Any, Any]:
    """The old log read and checked against the runbook: (ResumePoint, Runbook).
    Imports neither psycopg nor the engine (the console draws first, then connects)."""
    from spfp_console.runbook import load_runbook
    from spfp_console.session.resume import read_resume_point

    point = read_resume_point(args.log)
    runbook = load_runbook(args.runbook)
    point.check_runbook(runbook)
    return point, runbook


def resumed_session(args: argparse.Namespace,
                    checked: tuple[Any, Any] | None = None) -> Any:
    """The old log checked against the runbook (unless ``checked`` already), and a
    session that resumes it (not opened yet: ``open()`` checks the database and carries
    the old session over)."""
    from spfp_console.deployment import DeploymentSession

    point, runbook = checked if checked is not None else checked_resume_point(args)
    return DeploymentSession(
        runbook=runbook, dsn=args.dsn,
        log_dir=args.log_dir if args.log_dir is not None else point.path.parent,
        sign_key=args.sign_key,
        environment=args.environment or point.state.environment,
        resume_from=point)


def cmd_resume_headless(args: argparse.Namespace) -> int:
    """Without a terminal: resume, print the summary, end the new session."""
    from spfp_console.session.presentation import describe
    from spfp_console.session.resume import RESUME_FINDINGS

    session = resumed_session(args)
    with session:
        session.open()
        for finding in session.state.findings:
            if finding.source != RESUME_FINDINGS:
                continue
            line = describe(finding)
            if line is not None:
                print(line.text)
                for detail in line.details:
                    print(f"    {detail}")
        ticked = [item for phase in session.state.phases for item in phase.items
                  if item.checked]
        for item in ticked:
            origin = f", from {item.carried_over}" if item.carried_over else ""
            evidence = f": {item.evidence}" if item.evidence else ""
            print(f"  [x] {item.phase}/{item.id} ({item.who}, {item.when}{origin}){evidence}")
        session.close(outcome="resumed", message="resumed without a terminal: restored and"
                      " read the database; nothing was run")
    print(f"deployment log: {session.log_path} (resumes {session.resume_from.path})",
          file=sys.stderr)
    print(f"to go on, on a terminal: spfp-console resume {session.log_path}", file=sys.stderr)
    return 0
