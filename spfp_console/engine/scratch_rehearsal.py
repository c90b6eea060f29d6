"""Scratch rehearsal: the migration's whole life cycle on a throwaway copy of the schema.

The target's schema (``pg_dump --schema-only``, no data) is restored into a throwaway
local PostgreSQL (the same machinery as the test harness).  There the migration is
applied, validated, applied again (is it idempotent?), rolled back, and the schema is
diffed against the copy (is the rollback exact?).  The target is only read.

What it cannot tell: anything that depends on data (duplicates, build times, plans).
The preflight and the in-place rehearsal cover those.
"""

from __future__ import annotations

import difflib
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from spfp_console.engine.connect import Target
from spfp_console.engine.errors import EngineError
from spfp_console.engine.executor import RunResult, run_script
from spfp_console.engine.schema_dump import SchemaDumpError, dump_schema
from spfp_console.engine.script import load_script
from spfp_console.events import Event, ResultTable
from spfp_console.paths import SUPABASE_ROLES_SQL
from spfp_console.runbook import Runbook

SCRATCH_DB = "spfp_scratch"


class ScratchRehearsalError(EngineError):
    """The scratch rehearsal could not be set up (no server binaries, pg_dump failed...)."""


@dataclass
class ScratchReport:
    table: ResultTable
    passed: bool
    idempotency_diff: list[str] = field(default_factory=list)
    reversibility_diff: list[str] = field(default_factory=list)
    restore_errors: list[str] = field(default_factory=list)


def _diff(a: str, b: str, label_a: str, label_b: str, limit: int = 40) -> list[str]:
    lines = list(difflib.unified_diff(a.splitlines(), b.splitlines(), label_a, label_b,
                                      lineterm="", n=1))
    return lines[:limit] + ([f"... {len(lines) - limit} more lines"] if len(lines) > limit else [])


def _outcome_text(result: RunResult) -> str:
    if result.ok:
        return f"{result.statements_ok} statements committed in {result.duration_s:.2f} s"
    first = result.failures[0] if result.failures else None
    if first is None:
        return f"{result.outcome}: {result.message or 'no detail'}"
    return (f"{result.outcome}: line {first.error_line or first.line}: "
            f"{first.sqlstate} {first.message}")


def scratch_rehearse(
    target: Target,
    runbook: Runbook,
    *,
    on_event: Callable[[Event], None] | None = None,
    cluster: object | None = None,
) -> ScratchReport:
    """Run the life cycle on a scratch copy of ``target``'s schema; return the report.

    ``cluster``: an already running :class:`~spfp_console.localpg.LocalCluster` to use
    (the tests pass theirs); by default a new one is started and removed afterwards.
    """
    from spfp_console.engine.validate import run_validation
    from spfp_console.localpg import ClusterError, LocalCluster

    emit = on_event or (lambda event: None)
    rows: list[tuple[str, str, str]] = []
    report = ScratchReport(table=ResultTable(title="", source="rehearsal", columns=()),
                           passed=False)

    def row(claim: str, measured: str, ok: bool | None) -> None:
        rows.append((claim, measured, "pass" if ok else ("warn" if ok is None else "fail")))

    conninfo, env = target.for_child_process()
    try:
        schema = dump_schema(conninfo, env=env, extra_args=("--no-owner", "--no-privileges"))
    except SchemaDumpError as exc:
        raise ScratchRehearsalError(f"cannot copy the schema of {target.display}: {exc}") from None

    owned = cluster is None
    try:
        scratch = cluster if cluster is not None else LocalCluster().start()
    except ClusterError as exc:
        raise ScratchRehearsalError(f"cannot start a scratch PostgreSQL: {exc}") from None
    assert isinstance(scratch, LocalCluster)
    dbname = f"{SCRATCH_DB}_{int(time.time() * 1000) % 10**9}"
    try:
        dsn = scratch.create_database(dbname)
        import psycopg

        # The dump is restored without owners and grants, but policies name roles (TO
        # authenticated ...): Supabase's API roles must exist in the scratch cluster.
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(SUPABASE_ROLES_SQL.read_text())
        # psql, not psycopg: a dump uses psql meta-commands (\connect, \restrict).
        proc = subprocess.run(
            [scratch.client_tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=0", "-d", dbname],
            input=schema, capture_output=True, text=True, env=scratch.env(), timeout=600,
        )
        report.restore_errors = [ln for ln in proc.stderr.splitlines() if "ERROR:" in ln]
        row("the target's schema restores on a scratch server",
            f"{len(report.restore_errors)} restore errors"
            + (f" (first: {report.restore_errors[0]})" if report.restore_errors else ""),
            True if not report.restore_errors else None)

        def dump() -> str:
            return dump_schema(scratch.dsn(dbname), pg_dump=scratch.client_tool("pg_dump"),
                               env=scratch.env())

        def apply(role: str) -> RunResult:
            return run_script(scratch.dsn(dbname), load_script(runbook.script(role)),
                              mode="run", advisory_lock_key=None, monitor_interval=0,
                              lock_timeout=runbook.settings.lock_timeout,
                              statement_timeout=runbook.settings.statement_timeout)

        before = dump()
        first = apply("migration")
        row("the migration applies cleanly", _outcome_text(first), first.ok)
        if first.ok:
            with psycopg.connect(scratch.dsn(dbname), autocommit=True) as conn:
                validation = run_validation(conn, runbook, expect="applied")
            fails = sum(1 for r in validation.rows if r[-1] == "fail")
            row("every object of the migration exists as specified",
                f"{len(validation.rows) - fails} of {len(validation.rows)} checks pass",
                fails == 0)
            applied = dump()
            second = apply("migration")
            again = dump() if second.ok else applied
            report.idempotency_diff = _diff(applied, again, "after first run", "after second")
            row("idempotent: a second run succeeds and changes nothing",
                _outcome_text(second) + ("; schema unchanged" if not report.idempotency_diff
                                         else f"; schema changed ({len(report.idempotency_diff)} diff lines)"),
                second.ok and not report.idempotency_diff)
            back = apply("rollback")
            row("the rollback applies cleanly", _outcome_text(back), back.ok)
            if back.ok:
                after = dump()
                report.reversibility_diff = _diff(before, after, "before migration",
                                                  "after rollback")
                row("reversible: after the rollback the schema is identical to before",
                    "identical (pg_dump --schema-only)" if not report.reversibility_diff
                    else f"differs ({len(report.reversibility_diff)} diff lines, first: "
                         f"{next((ln for ln in report.reversibility_diff[2:] if ln[:1] in '+-'), '')})",
                    not report.reversibility_diff)
                with psycopg.connect(scratch.dsn(dbname), autocommit=True) as conn:
                    gone = run_validation(conn, runbook, expect="absent")
                left = sum(1 for r in gone.rows if r[-1] == "fail")
                row("the rollback removes every object the migration added",
                    f"{left} objects left", left == 0)
    finally:
        try:
            scratch.drop_database(dbname)
        finally:
            if owned:
                scratch.stop()

    report.table = ResultTable.checked(
        title="Scratch rehearsal on a copy of the target's schema",
        source="rehearsal", columns=("claim", "measured", "status"), rows=rows,
    )
    report.passed = bool(report.table.passed)
    emit(report.table)
    return report
