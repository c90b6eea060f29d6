"""``spfp-console demo``: the whole runbook on a local PostgreSQL of its own.

Starts a throwaway PostgreSQL (as an unprivileged user when run as root), loads the SPFP
base schema and deterministic sample data, then walks the runbook the way an operator
would: preflight, rehearsal, timings before, the run, validation, timings after, claims vs
measured.  Every step goes through the same DeploymentSession as the real commands, so
the demo leaves a real deployment log that ``spfp-console verify`` checks.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from spfp_console.cli.terminal_output import EventPrinter, choose_style
from spfp_console.deployment import DeploymentSession, WorkflowResult
from spfp_console.session.operator import ScriptedOperator

DEMO_DB = "spfp_demo"
DEMO_OPERATOR = "spfp-console demo"


def start_demo_database(scale: float, say: Callable[[str], None]) -> tuple[Any, str]:
    """A throwaway PostgreSQL with the SPFP base schema and sample data: (cluster, dsn).

    The caller stops the cluster (``cluster.stop()``) when done; ClusterError (a clear
    ConsoleError) when no PostgreSQL server can be started here.
    """
    import psycopg

    from spfp_console.localpg import LocalCluster
    from spfp_console.paths import base_schema_files
    from spfp_console.sampledata import load_sample_data

    say("starting a throwaway PostgreSQL for the demo ...")
    cluster = LocalCluster().start()
    try:
        dsn = cluster.create_database(DEMO_DB)
        with psycopg.connect(dsn, autocommit=True) as conn:
            for path in base_schema_files():
                conn.execute(path.read_text())
        say(f"base schema loaded; loading sample data (scale {scale}) ...")
        started = time.perf_counter()
        data = load_sample_data(dsn, scale=scale)
        say(f"{sum(data.rows.values())} rows in {len(data.rows)} tables"
            f" in {time.perf_counter() - started:.1f} s")
    except BaseException:
        cluster.stop()
        raise
    return cluster, dsn


def cmd_demo(args: argparse.Namespace) -> int:
    from spfp_console.paths import DEFAULT_RUNBOOK
    from spfp_console.runbook import load_runbook

    printer = EventPrinter(choose_style(args.json, sys.stdout), verbose=args.verbose)
    runbook = load_runbook(DEFAULT_RUNBOOK)
    cluster, dsn = start_demo_database(args.scale, printer.message)
    try:
        session = DeploymentSession(runbook=runbook, dsn=dsn, log_dir=args.log_dir,
                                    listeners=[printer], operator=DEMO_OPERATOR)
        with session:
            outcome = _walk_runbook(session, printer)
            session.close(outcome)
        if session.log_path is not None:
            from spfp_console.journal.verify import verify_log

            printer.message(f"deployment log: {session.log_path}", "bold")
            printer.message(f"verify: {verify_log(session.log_path).line()}")
            printer.message(f"report: spfp-console export {session.log_path} --format html"
                            " -o report.html")
        if args.keep:
            printer.message(f"the demo database stays up until Ctrl-C:\n"
                            f"  export DATABASE_URL='{cluster.tcp_dsn(DEMO_DB)}'", "bold")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        return outcome.exit_code
    finally:
        cluster.stop()


def _walk_runbook(session: DeploymentSession, printer: EventPrinter) -> WorkflowResult:
    """The runbook's automated steps, each a workflow of the session; the demo's
    operator confirms what a person would (the log names it "spfp-console demo")."""
    info = session.open()
    printer.message(f"target: {info.display} (PostgreSQL {info.server_version})", "bold")
    check = session.check()
    if not check.ok:
        return check
    rehearsal = session.rehearse()
    if not rehearsal.ok:
        return rehearsal
    operator = ScriptedOperator(name=DEMO_OPERATOR)
    return session.deploy(operator, performance=True, preflight=False)
