"""Scratch rehearsal: apply, validate, re-apply, roll back and diff on a copy of the schema."""

from __future__ import annotations

import dataclasses

from spfp_console.engine.connect import Target
from spfp_console.engine.scratch_rehearsal import scratch_rehearse
from spfp_console.paths import DEFAULT_RUNBOOK, ROLLBACK_SQL
from spfp_console.runbook import ScriptRef, load_runbook


def _statuses(report):
    return {row[0]: row[2] for row in report.table.rows}


def test_scratch_rehearsal_passes_and_leaves_the_target_alone(base_db, pg_cluster):
    before = base_db.schema_dump()
    events = []
    report = scratch_rehearse(Target(base_db.tcp_dsn()), load_runbook(DEFAULT_RUNBOOK),
                              on_event=events.append, cluster=pg_cluster)
    assert report.passed, report.table.rows
    statuses = _statuses(report)
    assert len(statuses) == 7
    assert set(statuses.values()) == {"pass"}
    assert events == [report.table]
    assert base_db.schema_dump() == before


def test_an_incomplete_rollback_is_caught_by_the_schema_diff(base_db, pg_cluster, tmp_path):
    leaky = tmp_path / "leaky_rollback.sql"
    # forget to drop one index: the rollback "works" but is not exact
    leaky.write_text(ROLLBACK_SQL.read_text().replace(
        "DROP INDEX IF EXISTS public.idx_goals_user_deadline;\n", ""))
    runbook = load_runbook(DEFAULT_RUNBOOK)
    runbook = dataclasses.replace(
        runbook, scripts={**runbook.scripts, "rollback": ScriptRef("rollback", leaky)})
    report = scratch_rehearse(Target(base_db.dsn), runbook, cluster=pg_cluster)
    statuses = _statuses(report)
    assert not report.passed
    assert statuses["reversible: after the rollback the schema is identical to before"] == "fail"
    assert statuses["the rollback removes every object the migration added"] == "fail"
    assert any("idx_goals_user_deadline" in line for line in report.reversibility_diff)


def test_a_non_idempotent_migration_is_caught(base_db, pg_cluster, tmp_path):
    from spfp_console.paths import MIGRATION_SQL

    naive = tmp_path / "naive.sql"
    naive.write_text(MIGRATION_SQL.read_text().replace(
        "CREATE INDEX IF NOT EXISTS idx_goals_user_deadline", "CREATE INDEX idx_goals_user_deadline"))
    runbook = load_runbook(DEFAULT_RUNBOOK)
    runbook = dataclasses.replace(
        runbook, scripts={**runbook.scripts, "migration": ScriptRef("migration", naive)})
    report = scratch_rehearse(Target(base_db.dsn), runbook, cluster=pg_cluster)
    statuses = _statuses(report)
    assert statuses["the migration applies cleanly"] == "pass"
    assert statuses["idempotent: a second run succeeds and changes nothing"] == "fail"
    assert not report.passed
