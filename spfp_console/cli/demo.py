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

from spfp_console.cli.commands import EXIT_FAILED, EXIT_OK
from spfp_console.deployment import DeploymentSession, SessionOutcome
from spfp_console.cli.terminal_output import EventPrinter, choose_style

DEMO_DB = "spfp_demo"


def cmd_demo(args: argparse.Namespace) -> int:
    import psycopg

    from spfp_console.localpg import LocalCluster
    from spfp_console.paths import DEFAULT_RUNBOOK, base_schema_files
    from spfp_console.runbook import load_runbook
    from spfp_console.sampledata import load_sample_data

    printer = EventPrinter(choose_style(args.json, sys.stdout), verbose=args.verbose)
    runbook = load_runbook(DEFAULT_RUNBOOK)
    printer.message("starting a throwaway PostgreSQL for the demo ...", "bold")
    cluster = LocalCluster().start()
    try:
        dsn = cluster.create_database(DEMO_DB)
        with psycopg.connect(dsn, autocommit=True) as conn:
            for path in base_schema_files():
                conn.execute(path.read_text())
        printer.message(f"base schema loaded; loading sample data (scale {args.scale}) ...")
        started = time.perf_counter()
        data = load_sample_data(dsn, scale=args.scale)
        printer.message(f"{sum(data.rows.values())} rows in {len(data.rows)} tables"
                        f" in {time.perf_counter() - started:.1f} s")

        session = DeploymentSession(runbook=runbook, dsn=dsn, log_dir=args.log_dir,
                                    listeners=[printer], operator="spfp-console demo")
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
        return EXIT_FAILED if outcome.failed else EXIT_OK
    finally:
        cluster.stop()


def _tick(session: DeploymentSession, phase: str, item: str, ok: bool, note: str) -> None:
    """Tick the runbook item an automated step stands for, when the step passed."""
    if ok:
        session.toggle_item(phase, item, True, note=note)


def _walk_runbook(session: DeploymentSession, printer: EventPrinter) -> SessionOutcome:
    info = session.open()
    printer.message(f"target: {info.display} (PostgreSQL {info.server_version})", "bold")

    report = session.preflight()
    _tick(session, "pre-deployment", "verify-access", True, "connected")
    _tick(session, "pre-deployment", "preflight", report.passed, f"state {report.state}")
    if not report.passed:
        return SessionOutcome(outcome="refused_by_preflight", failed=True)

    rehearsal = session.rehearse()
    _tick(session, "pre-deployment", "rehearse", rehearsal.ok, "no failing statement")
    if not rehearsal.ok:
        return SessionOutcome(outcome="rehearsal_failed", failed=True)

    before = session.measure_queries("before")
    result = session.run()
    _tick(session, "execution", "run-migration", result.ok, result.outcome)
    if not result.ok:
        return SessionOutcome(outcome=result.outcome, message=result.message, failed=True)
    _tick(session, "execution", "success-message", True, "notice seen")

    tables = session.validate()
    valid = all(t.passed is not False for t in tables)
    _tick(session, "post-deployment", "full-validation", valid, "every check")
    after = session.measure_queries("after")
    speedups = session.compare_queries(before, after)
    _tick(session, "post-deployment", "explain-analyze", True, "before/after timings")
    session.claims(speedups=speedups)
    return SessionOutcome(outcome="committed" if valid else "committed_validation_failed",
                          failed=not valid)
