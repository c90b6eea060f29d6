"""Validation on a real PostgreSQL: every check, drift, rollback, RLS and plans."""

from __future__ import annotations

import pytest
from analysis_testkit import seed_workload

from spfp_console.engine.claims import measure_claims
from spfp_console.engine.validate import (
    check_audit_rls,
    explain_headline_queries,
    run_full_validation,
    run_quick_health_check,
    run_validation,
)
from spfp_console.paths import DEFAULT_RUNBOOK, ROLLBACK_SQL
from spfp_console.runbook import load_runbook


@pytest.fixture(scope="module")
def runbook():
    return load_runbook(DEFAULT_RUNBOOK)


def _by_check(table):
    return {row[0]: row for row in table.rows}


def _statuses(table):
    return [row[table.columns.index("status")] for row in table.rows]


def test_migrated_database_passes_every_check(migrated_db, runbook):
    with migrated_db.connect() as conn:
        table = run_validation(conn, runbook)
    assert table.source == "validation"
    assert table.columns == ("check", "expected", "actual", "status")
    assert len(table.rows) == len(runbook.checks)
    failing = [row for row in table.rows if row[3] != "pass"]
    assert failing == []
    assert table.passed is True


def test_validation_is_read_only_and_leaves_no_transaction(migrated_db, runbook):
    with migrated_db.connect() as conn:
        run_validation(conn, runbook)
        assert conn.info.transaction_status.name == "IDLE"


def test_base_database_fails_every_added_object(base_db, runbook):
    with base_db.connect() as conn:
        table = run_validation(conn, runbook)
    rows = _by_check(table)
    assert table.passed is False
    assert rows["index:idx_operational_tasks_kanban"][2:] == ("missing", "fail")
    assert rows["view:dashboard_metrics"][2:] == ("missing", "fail")
    assert rows["column:sent_atas.updated_at"][3] == "fail"
    assert rows["function:update_updated_at_column"][3] == "fail"


def test_a_dropped_index_fails_exactly_that_row(migrated_db, runbook):
    with migrated_db.connect() as conn:
        conn.execute("DROP INDEX public.idx_goals_user_deadline")
        table = run_validation(conn, runbook)
    failing = [row for row in table.rows if row[3] != "pass"]
    assert [row[0] for row in failing] == ["index:idx_goals_user_deadline"]
    assert failing[0][2] == "missing"
    assert table.passed is False


def test_an_index_with_another_predicate_fails_naming_it(migrated_db, runbook):
    with migrated_db.connect() as conn:
        conn.execute("DROP INDEX public.idx_operational_tasks_kanban")
        conn.execute(
            "CREATE INDEX idx_operational_tasks_kanban ON public.operational_tasks"
            " (user_id, status, position DESC)"
        )
        table = run_validation(conn, runbook)
    failing = [row for row in table.rows if row[3] == "fail"]
    assert len(failing) == 1
    check, expected, actual, _ = failing[0]
    assert check == "index:idx_operational_tasks_kanban"
    assert "WHERE (deleted_at IS NULL)" in expected
    assert "WHERE" not in actual.split("[")[0]
    assert "definition differs" in actual


def test_a_unique_rule_that_is_not_unique_fails(migrated_db, runbook):
    with migrated_db.connect() as conn:
        conn.execute("DROP INDEX public.unique_default_template")
        conn.execute(
            "CREATE INDEX unique_default_template ON public.custom_templates (user_id, type)"
            " WHERE is_default"
        )
        rows = _by_check(run_validation(conn, runbook))
    assert rows["unique_rule:unique_default_template"][3] == "fail"
    assert "not unique" in rows["unique_rule:unique_default_template"][2]


def test_column_policy_trigger_and_view_drift_fail(migrated_db, runbook):
    with migrated_db.connect() as conn:
        conn.execute(
            "ALTER TABLE public.sent_atas ALTER COLUMN updated_at DROP NOT NULL"
        )
        conn.execute(
            "ALTER TABLE public.sent_atas DISABLE TRIGGER update_sent_atas_updated_at"
        )
        conn.execute(
            "ALTER TABLE public.automation_permissions_audit DISABLE ROW LEVEL SECURITY"
        )
        conn.execute(
            'ALTER POLICY "Users can view their own permission audit"'
            " ON public.automation_permissions_audit USING (true)"
        )
        conn.execute("DROP VIEW public.crm_health_check")
        conn.execute(
            "CREATE VIEW public.crm_health_check AS SELECT user_id, 1 AS unique_clients"
            " FROM public.sent_atas"
        )
        rows = _by_check(run_validation(conn, runbook))
    assert rows["column:sent_atas.updated_at"][3] == "fail"
    assert "nullability" in rows["column:sent_atas.updated_at"][2]
    assert rows["trigger:update_sent_atas_updated_at"][3] == "fail"
    assert "DISABLED" in rows["trigger:update_sent_atas_updated_at"][2]
    assert rows["table:automation_permissions_audit"][2:] == (
        "table, RLS disabled",
        "fail",
    )
    assert rows["policy:automation_permissions_audit"][3] == "fail"
    assert rows["view:crm_health_check"][3] == "fail"
    assert "missing columns: ata_types_used" in rows["view:crm_health_check"][2]


def test_views_read_together_keep_their_own_columns_order_and_kind(migrated_db, runbook):
    """The views' columns are read in one query for all of them: each view's row must
    still judge its own columns, in its own order, and a table under a view's name."""
    with migrated_db.connect() as conn:
        conn.execute("DROP VIEW public.crm_health_check")
        conn.execute(
            "CREATE VIEW public.crm_health_check AS SELECT 1 AS extra, user_id,"
            " 0 AS atas_last_30_days, 0 AS last_ata_sent, 0 AS total_atas_sent,"
            " 0 AS ata_types_used, 0 AS unique_clients FROM public.sent_atas"
        )
        conn.execute("DROP VIEW public.sales_health_check")
        conn.execute("CREATE TABLE public.sales_health_check (id int)")
        rows = _by_check(run_validation(conn, runbook))
    crm = rows["view:crm_health_check"]
    assert crm[3] == "warn" and "extra columns: extra" in crm[2], crm
    assert "missing columns" not in crm[2]
    assert rows["view:sales_health_check"][3] == "fail"
    assert "not a view (relkind r)" in rows["view:sales_health_check"][2]
    # The other views are read from the same query and still pass.
    assert rows["view:corporate_health_check"][3] == "pass"


def test_a_view_that_cannot_be_read_is_a_fail_row(migrated_db, runbook):
    with migrated_db.connect() as conn:
        conn.execute(
            "CREATE FUNCTION public.boom() RETURNS int LANGUAGE plpgsql AS"
            " $$BEGIN RAISE EXCEPTION 'boom'; END$$"
        )
        conn.execute("INSERT INTO auth.users (id) VALUES (gen_random_uuid())")
        conn.execute(
            "INSERT INTO public.sent_atas (user_id, client_name, type, channel, content,"
            " recipient) SELECT id, 'c', 'reuniao', 'email', 'x', 'r' FROM auth.users"
        )
        conn.execute(
            "CREATE OR REPLACE VIEW public.crm_health_check AS SELECT s.user_id,"
            " count(DISTINCT s.client_name) AS unique_clients, count(DISTINCT s.type)"
            " AS ata_types_used, count(*) + public.boom() AS total_atas_sent,"
            " max(s.sent_at) AS last_ata_sent, count(*) AS atas_last_30_days"
            " FROM public.sent_atas s GROUP BY s.user_id"
        )
        rows = _by_check(run_validation(conn, runbook))
        assert conn.info.transaction_status.name == "IDLE"
    assert rows["view:crm_health_check"][3] == "fail"
    assert "SELECT failed" in rows["view:crm_health_check"][2]
    assert "boom" in rows["view:crm_health_check"][2]


def test_after_rollback_every_added_object_is_gone(migrated_db, runbook):
    migrated_db.execute_file(ROLLBACK_SQL)
    with migrated_db.connect() as conn:
        table = run_validation(conn, runbook, expect="absent")
    assert len(table.rows) == len(runbook.checks)
    assert table.passed is True
    for check in runbook.checks:
        row = _by_check(table)[check.id]
        if check.added_by_migration:
            assert row[2:] == ("absent", "pass"), row
        else:
            assert row[3] == "info", row


def test_absent_expectation_fails_on_a_migrated_database(migrated_db, runbook):
    with migrated_db.connect() as conn:
        table = run_validation(conn, runbook, expect="absent")
    assert table.passed is False
    assert all(row[3] in ("fail", "info") for row in table.rows)


def test_quick_health_check_counts_indexes_and_views(migrated_db, base_db):
    with migrated_db.connect() as conn:
        migrated = {r[0]: int(r[1]) for r in run_quick_health_check(conn).rows}
    with base_db.connect() as conn:
        base = {r[0]: int(r[1]) for r in run_quick_health_check(conn).rows}
    assert migrated["views"] - base["views"] == 6
    assert migrated["indexes named idx_*"] - base["indexes named idx_*"] == 20


def test_audit_rls_passes_and_leaves_nothing_behind(migrated_db):
    with migrated_db.connect() as conn:
        users_before = conn.execute("SELECT count(*) FROM auth.users").fetchone()[0]
        table = check_audit_rls(conn)
        assert conn.execute("SELECT current_user").fetchone()[0] == "postgres"
        assert conn.info.transaction_status.name == "IDLE"
        users_after = conn.execute("SELECT count(*) FROM auth.users").fetchone()[0]
        audit = conn.execute(
            "SELECT count(*) FROM public.automation_permissions_audit"
        ).fetchone()[0]
        perms = conn.execute(
            "SELECT count(*) FROM public.automation_permissions"
        ).fetchone()[0]
    assert table.passed is True, table.rows
    assert all(row[3] == "pass" for row in table.rows)
    assert len(table.rows) >= 3
    assert (users_before, users_after, audit, perms) == (0, 0, 0, 0)


def test_audit_rls_fails_when_the_policy_lets_everyone_read(migrated_db):
    with migrated_db.connect() as conn:
        conn.execute(
            'ALTER POLICY "Users can view their own permission audit"'
            " ON public.automation_permissions_audit USING (true)"
        )
        table = check_audit_rls(conn)
    assert table.passed is False
    assert {r[0]: r[3] for r in table.rows}["user A sees user B's audit rows"] == "fail"


def test_audit_rls_on_a_database_without_the_table_is_a_fail_row(base_db):
    with base_db.connect() as conn:
        table = check_audit_rls(conn)
    assert table.passed is False
    assert "does not exist" in table.rows[0][2]


def test_headline_queries_use_the_expected_indexes(migrated_db, runbook):
    with migrated_db.connect() as conn:
        seed_workload(conn)
        table = explain_headline_queries(conn, runbook)
    rows = {r[0]: r for r in table.rows}
    assert len(rows) == len(runbook.queries)
    assert rows["kanban"][3] == "pass", rows["kanban"]
    assert "idx_operational_tasks_kanban" in rows["kanban"][2]
    assert rows["overdue-tasks"][3] == "pass", rows["overdue-tasks"]
    assert all(r[3] in ("pass", "warn") for r in table.rows)


def test_headline_queries_on_tiny_tables_warn_not_fail(migrated_db, runbook):
    with migrated_db.connect() as conn:
        table = explain_headline_queries(conn, runbook)
    assert table.passed is True
    assert all(r[3] in ("pass", "warn") for r in table.rows)


def test_headline_query_that_cannot_run_is_a_fail_row(base_db, runbook):
    with base_db.connect() as conn:
        table = explain_headline_queries(conn, runbook)
    rows = {r[0]: r for r in table.rows}
    assert rows["kanban"][3] == "fail"
    assert "deleted_at" in rows["kanban"][2]
    assert table.passed is False


def test_full_validation_emits_three_tables(migrated_db, runbook):
    seen = []
    with migrated_db.connect() as conn:
        tables = run_full_validation(conn, runbook, on_event=seen.append)
    assert seen == tables
    assert [t.passed for t in tables] == [True, True, True]


# --------------------------------------------------------------------------- claims


def _claims(table):
    return {row[0]: row for row in table.rows}


def test_claims_on_the_migrated_database(migrated_db, runbook):
    with migrated_db.connect() as conn:
        table = measure_claims(
            conn,
            runbook,
            migration_seconds=0.8,
            speedups={
                "kanban": 36.0,
                "sales-pipeline": 2.0,
                "transaction-history": 0.5,
            },
        )
    rows = _claims(table)
    assert table.columns == ("claim", "claimed", "measured", "status", "note")
    assert len(table.rows) == len(runbook.claims)
    assert rows["All 14 indexes created"][1:4] == ("14", "20", "warn")
    assert "the paper says 14" in rows["All 14 indexes created"][4]
    assert rows["All 2 constraints applied"][1:4] == ("2", "2", "pass")
    assert rows["All 5 soft-delete columns exist"][1:4] == ("5", "6", "warn")
    assert rows["All 6 analytical views available"][1:4] == ("6", "6", "pass")
    assert rows["Migration execution: 30-60 seconds"][1:4] == (
        "<= 60 s",
        "0.8 s",
        "pass",
    )
    assert rows["Kanban board load 30x faster"][1:4] == (">= 30x", "36x", "pass")
    assert rows["Sales pipeline view 17x faster"][2:4] == ("2x", "warn")
    assert rows["Transaction history 16x faster"][2:4] == ("0.5x", "fail")
    assert rows["Marketing calendar 26x faster"][2:4] == (
        "not measured",
        "not measured",
    )
    assert table.passed is False


def test_claims_on_the_base_database_count_nothing(base_db, runbook):
    with base_db.connect() as conn:
        rows = _claims(measure_claims(conn, runbook))
    assert rows["All 14 indexes created"][2:4] == ("0", "warn")
    assert rows["Migration execution: 30-60 seconds"][2:4] == (
        "not measured",
        "not measured",
    )
