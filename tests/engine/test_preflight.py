"""Preflight on a real PostgreSQL: duplicates, state, trigger function, sessions, sizes."""

from __future__ import annotations

import pytest
from analysis_testkit import add_users, seed_workload

from spfp_console.engine.preflight import run_preflight
from spfp_console.engine.script_analysis import script_relations
from spfp_console.paths import DEFAULT_RUNBOOK, MIGRATION_SQL
from spfp_console.runbook import load_runbook


@pytest.fixture(scope="module")
def runbook():
    return load_runbook(DEFAULT_RUNBOOK)


def _table(report, starts_with):
    matches = [t for t in report.tables if t.title.startswith(starts_with)]
    assert matches, [t.title for t in report.tables]
    return matches[0]


def _add_category(conn, user, name):
    conn.execute(
        "INSERT INTO public.categories (user_id, name, type) VALUES (%s, %s, 'expense')",
        (user, name),
    )


def test_duplicate_categories_are_listed_and_block(base_db, runbook):
    with base_db.connect() as conn:
        user_a, user_b = sorted(add_users(conn, 2))
        _add_category(conn, user_a, "Food")
        _add_category(conn, user_a, "food")
        _add_category(conn, user_a, "Rent")
        _add_category(conn, user_b, "Food")
        report = run_preflight(conn, runbook)
        assert conn.info.transaction_status.name == "IDLE"
    groups = report.duplicates["unique_user_category_name"]
    assert len(groups) == 1
    (group,) = groups
    assert group.key == (user_a, "food")
    assert group.count == 2
    assert sorted(group.labels) == ["Food", "food"]
    assert report.duplicates["unique_default_template"] == []
    assert report.passed is False
    assert any("unique_user_category_name" in b for b in report.blockers)
    assert report.state == "not_applied"
    detail = _table(report, "Duplicates blocking unique_user_category_name")
    assert detail.columns == (
        "user_id",
        "lower(name)",
        "count",
        "rows (name or id)",
        "status",
    )
    assert detail.rows == ((user_a, "food", "2", "Food, food", "fail"),)
    assert detail.passed is False


def test_duplicate_default_templates_are_listed(base_db, runbook):
    with base_db.connect() as conn:
        (user,) = add_users(conn, 1)
        for name, is_default in (("a", True), ("b", True), ("c", False)):
            conn.execute(
                "INSERT INTO public.custom_templates (user_id, type, name, content, is_default)"
                " VALUES (%s, 'ata', %s, 'x', %s)",
                (user, name, is_default),
            )
        conn.execute(
            "INSERT INTO public.custom_templates (user_id, type, name, content, is_default)"
            " VALUES (%s, 'email', 'd', 'x', true)",
            (user,),
        )
        report = run_preflight(conn, runbook)
    (group,) = report.duplicates["unique_default_template"]
    assert group.key == (user, "ata")
    assert group.count == 2
    assert sorted(group.labels) == ["a", "b"]
    assert not report.passed


def test_clean_base_database_passes_and_is_not_applied(base_db, runbook):
    with base_db.connect() as conn:
        user_a, user_b = add_users(conn, 2)
        _add_category(conn, user_a, "Food")
        _add_category(conn, user_b, "Food")
        report = run_preflight(conn, runbook)
    assert report.blockers == []
    assert report.passed is True
    assert report.state == "not_applied"
    assert report.trigger_functions == {
        "update_updated_at_column": "created by the migration"
    }
    functions = _table(report, "Trigger functions")
    assert functions.rows == (
        ("update_updated_at_column()", "missing — the migration creates it", "pass"),
    )
    assert all(t.passed is not False for t in report.tables)
    assert all(t.source == "preflight" for t in report.tables)
    server = {r[0]: r for r in _table(report, "Server and settings").rows}
    assert server["server version"][3] == "pass"
    for setting in (
        "lock_timeout",
        "statement_timeout",
        "maintenance_work_mem",
        "max_parallel_maintenance_workers",
        "idle_in_transaction_session_timeout",
    ):
        assert setting in server
    privileges = {r[0]: r for r in _table(report, "Privileges").rows}
    assert privileges["CREATE on schema public"][3] == "pass"
    assert privileges["owner of public.operational_tasks"][3] == "pass"
    assert privileges["REFERENCES on auth.users"][3] == "pass"
    assert "owner of public.automation_permissions_audit" not in privileges


def test_migrated_database_is_applied(migrated_db, runbook):
    with migrated_db.connect() as conn:
        report = run_preflight(conn, runbook)
    assert report.state == "applied"
    assert report.passed
    assert set(report.present) == {c.id for c in runbook.checks}
    assert report.trigger_functions == {"update_updated_at_column": "present"}
    assert _table(report, "Current state: fully applied")
    uniqueness = {r[0]: r for r in _table(report, "Uniqueness rules").rows}
    assert (
        uniqueness["unique_user_category_name"][3]
        == "enforced by the existing unique index"
    )


def test_partially_applied_lists_what_exists(base_db, runbook):
    with base_db.connect() as conn:
        conn.execute(
            "CREATE INDEX idx_goals_user_deadline ON public.goals (user_id, deadline)"
            " WHERE deleted_at IS NULL"
        )
        report = run_preflight(conn, runbook)
    assert report.state == "partial"
    assert report.present == ["index:idx_goals_user_deadline"]
    assert any("idx_goals_user_deadline" in w for w in report.warnings)
    state = _table(report, "Current state: partially applied (1 of ")
    rows = {r[0]: r for r in state.rows}
    assert rows["index:idx_goals_user_deadline"][1:] == ("present", "", "warn")
    assert (
        report.passed
    )  # partial is a warning, not a blocker: the script is idempotent


def test_other_sessions_locks_and_idle_transactions_are_reported(base_db, runbook):
    with base_db.connect() as other, base_db.connect() as conn:
        other.execute("BEGIN")
        other.execute("LOCK TABLE public.sales_leads IN ROW EXCLUSIVE MODE")
        other_pid = other.info.backend_pid
        report = run_preflight(conn, runbook)
        other.execute("ROLLBACK")
    sessions = _table(report, "Other sessions")
    rows = [r for r in sessions.rows if r[0] == str(other_pid)]
    whats = [r[2] for r in rows]
    assert any(w.startswith("idle in transaction") for w in whats), whats
    assert "holds ROW EXCLUSIVE on public.sales_leads" in whats
    assert all(r[1] == "postgres" and r[-1] == "warn" for r in rows)
    assert report.passed  # a warning, not a blocker
    assert any("public.sales_leads" in w for w in report.warnings)


def test_missing_privileges_are_blockers(base_db, runbook):
    with base_db.connect() as admin:
        admin.execute("CREATE ROLE spfp_readonly_probe LOGIN")
        try:
            admin.execute("GRANT USAGE ON SCHEMA public TO spfp_readonly_probe")
            with base_db.connect(user="spfp_readonly_probe") as conn:
                report = run_preflight(conn, runbook)
        finally:
            admin.execute("DROP OWNED BY spfp_readonly_probe")
            admin.execute("DROP ROLE spfp_readonly_probe")
    privileges = {r[0]: r for r in _table(report, "Privileges").rows}
    assert privileges["CREATE on schema public"][3] == "fail"
    assert privileges["owner of public.categories"][1:] == (
        "postgres",
        "spfp_readonly_probe or a role it belongs to",
        "fail",
    )
    assert not report.passed
    assert any("owned by postgres" in b for b in report.blockers)


def test_sizes_and_estimate(base_db, runbook):
    with base_db.connect() as conn:
        seed_workload(
            conn, users=20, tasks=20_000, leads=1000, transactions=1000, posts=1000
        )
        report = run_preflight(conn, runbook)
    sizes = _table(report, "Table sizes and index build estimate")
    rows = {r[0]: r for r in sizes.rows}
    assert rows["public.operational_tasks"][3] == "20000"
    assert rows["public.operational_tasks"][4] == "3"
    assert (
        rows["public.categories"][4] == "2"
    )  # the uniqueness rule and the order index
    assert (
        rows["total"][4] == "22"
    )  # 20 indexes + 2 uniqueness rules (2 on the new table)
    assert "estimate" in sizes.title
    assert rows["public.sent_atas"][6] == "ACCESS EXCLUSIVE (reads and writes wait)"
    assert rows["auth.users"][4] == "0"


def test_script_relations_classify_the_migration():
    rel = script_relations(MIGRATION_SQL)
    assert rel.error is None
    assert ("public", "sent_atas") in rel.owned
    assert rel.referenced == {("auth", "users"), ("public", "automation_permissions")}
    assert ("public", "automation_permissions_audit") in rel.created
    assert ("public", "dashboard_metrics") in rel.created


def test_preflight_emits_its_tables(base_db, runbook):
    seen = []
    with base_db.connect() as conn:
        report = run_preflight(conn, runbook, on_event=seen.append)
    assert seen == report.tables


def test_lock_levels_of_the_migration():
    rel = script_relations(MIGRATION_SQL)
    assert rel.locks[("public", "sent_atas")] == "ACCESS EXCLUSIVE"  # ADD COLUMN
    assert rel.locks[("public", "goals")] == "SHARE"  # CREATE INDEX only
    assert rel.locks[("auth", "users")] == "SHARE ROW EXCLUSIVE"  # a new foreign key


def test_unparsable_script_is_reported_not_raised(tmp_path):
    broken = tmp_path / "broken.sql"
    broken.write_text("CREATE INDEX ON public.goals (user_id;\n")
    rel = script_relations(broken)
    assert rel.error is not None and "broken.sql" in rel.error
    assert rel.owned == set()


def test_duplicate_search_says_what_it_read(base_db, runbook):
    """The one data-reading check says which table it read and how many rows."""
    with base_db.connect() as conn:
        user_a, user_b = sorted(add_users(conn, 2))
        _add_category(conn, user_a, "Food")
        _add_category(conn, user_b, "Food")
        conn.execute("ANALYZE public.categories")
        report = run_preflight(conn, runbook)
    uniqueness = {r[0]: r for r in _table(report, "Uniqueness rules").rows}
    detail = uniqueness["unique_user_category_name"][3]
    assert detail.startswith("no duplicates; read ~2 rows of public.categories in "), detail
    assert detail.endswith(" ms")


def test_lock_timeout_wording_follows_the_execution_mode(base_db, runbook):
    """One transaction: the console sets lock_timeout for the run.  Online: a short
    lock_timeout per statement, retried with backoff, and concurrent builds."""
    settings = runbook.settings
    with base_db.connect() as conn:
        default = run_preflight(conn, runbook)
        online = run_preflight(conn, runbook, online=True)

    def lock_timeout_row(report):
        rows = {r[0]: r for r in _table(report, "Server and settings").rows}
        return rows["lock_timeout"][2]

    assert lock_timeout_row(default) == f"the console sets {settings.lock_timeout} for the run"
    expected = lock_timeout_row(online)
    assert "console sets" not in expected
    assert f"each DDL statement waits at most {settings.online_lock_timeout}" in expected
    assert "retries with backoff" in expected
    assert f"concurrent index builds wait up to {settings.lock_timeout}" in expected
    sizes = _table(online, "Table sizes")
    assert sizes.columns[-1] == "lock held until its step commits"
    modes = [r[-1].split(" (")[0] for r in sizes.rows if r[0] != "total"]
    assert "SHARE UPDATE EXCLUSIVE" in modes  # the index builds, concurrently
    assert "SHARE" not in modes  # a plain CREATE INDEX's lock: not in online mode
