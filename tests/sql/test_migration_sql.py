"""Issue 2 acceptance: the migration and rollback SQL on a real PostgreSQL.

These tests apply the files directly (one ``execute`` of the whole file, the way psql -f
or the Supabase SQL editor runs them), independent of the engine.
"""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest

from spfp_console.paths import DEFAULT_RUNBOOK, MIGRATION_SQL, ROLLBACK_SQL
from spfp_console.runbook import load_runbook

RUNBOOK = load_runbook(DEFAULT_RUNBOOK)
BASE_TABLES = (
    "accounts", "categories", "transaction_groups", "transactions", "goals",
    "partnership_clients", "sent_atas", "custom_templates", "user_files",
    "operational_tasks", "sales_leads", "corporate_activities", "marketing_posts",
    "automation_logs", "automation_permissions",
)


def _new_user(conn: psycopg.Connection) -> uuid.UUID:
    return conn.execute("INSERT INTO auth.users DEFAULT VALUES RETURNING id").fetchone()[0]


def _seed_some_rows(conn: psycopg.Connection) -> None:
    """A few rows in every base table, so data checksums mean something."""
    for _ in range(3):
        user = _new_user(conn)
        acc = conn.execute(
            "INSERT INTO accounts (user_id, name, type, balance) VALUES (%s, 'Conta', 'checking', 10)"
            " RETURNING id", (user,)).fetchone()[0]
        cat = conn.execute(
            "INSERT INTO categories (user_id, name, type) VALUES (%s, 'Food', 'expense') RETURNING id",
            (user,)).fetchone()[0]
        grp = conn.execute(
            "INSERT INTO transaction_groups (user_id, type) VALUES (%s, 'recurring') RETURNING id",
            (user,)).fetchone()[0]
        conn.execute(
            "INSERT INTO transactions (user_id, account_id, category_id, group_id, amount, type, date)"
            " VALUES (%s, %s, %s, %s, 12.5, 'EXPENSE', current_date)", (user, acc, cat, grp))
        conn.execute("INSERT INTO goals (user_id, name, target_amount) VALUES (%s, 'Casa', 1000)", (user,))
        conn.execute(
            "INSERT INTO partnership_clients (user_id, partner_id, client_name, status, closed_at)"
            " VALUES (%s, gen_random_uuid(), 'ACME', 'paid', current_date)", (user,))
        conn.execute(
            "INSERT INTO sent_atas (user_id, client_name, type, channel, content, recipient)"
            " VALUES (%s, 'ACME', 'reuniao', 'email', 'ata', 'a@b.c')", (user,))
        conn.execute(
            "INSERT INTO custom_templates (user_id, type, name, content, is_default)"
            " VALUES (%s, 'reuniao', 'T', 'x', true)", (user,))
        conn.execute(
            "INSERT INTO user_files (user_id, name, category, storage_path, size_bytes)"
            " VALUES (%s, 'f.pdf', 'outros', 'u/f.pdf', 100)", (user,))
        conn.execute("INSERT INTO operational_tasks (user_id, title) VALUES (%s, 'Task')", (user,))
        conn.execute(
            "INSERT INTO sales_leads (user_id, name, probability) VALUES (%s, 'Lead', 50)", (user,))
        conn.execute(
            "INSERT INTO corporate_activities (user_id, department, agent_name, description, status)"
            " VALUES (%s, 'financeiro', 'bot', 'd', 'idle')", (user,))
        conn.execute(
            "INSERT INTO marketing_posts (user_id, title, platform) VALUES (%s, 'Post', 'instagram')",
            (user,))
        conn.execute(
            "INSERT INTO automation_logs (user_id, action_type, status) VALUES (%s, 'click', 'success')",
            (user,))
        conn.execute("INSERT INTO automation_permissions (user_id) VALUES (%s)", (user,))


def _data_fingerprint(conn: psycopg.Connection) -> dict[str, tuple[int, str]]:
    """Row count and an md5 over the base columns of every base table."""
    result = {}
    for table in BASE_TABLES:
        cols = [r[0] for r in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0"
            " AND NOT attisdropped AND attname NOT IN ('deleted_at') "
            " AND NOT (attrelid = 'public.sent_atas'::regclass AND attname = 'updated_at')"
            " ORDER BY attnum", (f"public.{table}",)).fetchall()]
        collist = ", ".join(f'"{c}"' for c in cols)
        row = conn.execute(
            f"SELECT count(*), md5(coalesce(string_agg(r::text, '|' ORDER BY r::text), ''))"
            f" FROM (SELECT {collist} FROM public.{table}) r").fetchone()
        result[table] = (row[0], row[1])
    return result


# ------------------------------------------------------------------------- objects


def test_every_index_of_the_inventory_exists_as_defined(migrated_db):
    actual = dict(migrated_db.query(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"))
    tables = dict(migrated_db.query(
        "SELECT indexname, tablename FROM pg_indexes WHERE schemaname = 'public'"))
    checks = RUNBOOK.checks_of("index") + RUNBOOK.checks_of("unique_rule")
    assert len(checks) == 22  # 20 indexes + 2 uniqueness rules, by name in the inventory
    for check in checks:
        assert check.name in actual, check.name
        assert actual[check.name] == check.definition
        assert tables[check.name] == check.table


def test_both_uniqueness_rules_reject_duplicates(migrated_db):
    with migrated_db.connect() as conn:
        a, b = _new_user(conn), _new_user(conn)
        conn.execute("INSERT INTO categories (user_id, name) VALUES (%s, 'Food')", (a,))
        conn.execute("INSERT INTO categories (user_id, name) VALUES (%s, 'Food')", (b,))
        with pytest.raises(psycopg.errors.UniqueViolation, match="unique_user_category_name"):
            conn.execute("INSERT INTO categories (user_id, name) VALUES (%s, 'food')", (a,))
        insert = ("INSERT INTO custom_templates (user_id, type, name, content, is_default)"
                  " VALUES (%s, 'reuniao', %s, 'x', %s)")
        conn.execute(insert, (a, "one", True))
        conn.execute(insert, (a, "two", False))  # only one *default* per (user, type)
        conn.execute(insert, (b, "one", True))
        with pytest.raises(psycopg.errors.UniqueViolation, match="unique_default_template"):
            conn.execute(insert, (a, "three", True))


def test_added_columns_have_the_right_types(migrated_db):
    for check in RUNBOOK.checks_of("column"):
        row = migrated_db.query(
            "SELECT format_type(atttypid, atttypmod), NOT attnotnull FROM pg_attribute"
            " WHERE attrelid = %s::regclass AND attname = %s AND NOT attisdropped",
            (f"public.{check.table}", check.name))
        assert row == [(check.data_type, check.nullable)], check.id
    assert migrated_db.scalar(
        "SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef WHERE adrelid = 'public.sent_atas'::regclass"
        " AND adnum = (SELECT attnum FROM pg_attribute WHERE attrelid = 'public.sent_atas'::regclass"
        " AND attname = 'updated_at')") == "now()"


def test_six_views_exist_and_select(migrated_db):
    views = RUNBOOK.checks_of("view")
    assert len(views) == 6
    with migrated_db.connect() as conn:
        _seed_some_rows(conn)
        for view in views:
            cur = conn.execute(f"SELECT * FROM public.{view.name}")
            assert tuple(d.name for d in cur.description) == view.columns
            assert len(cur.fetchall()) == 3  # one row per user


def test_audit_table_rls_shows_only_own_rows(migrated_db):
    with migrated_db.connect() as conn:
        a, b = _new_user(conn), _new_user(conn)
        for user in (a, b):
            conn.execute("INSERT INTO automation_permissions (user_id) VALUES (%s)", (user,))
            conn.execute(
                "INSERT INTO automation_permissions_audit (user_id, changed_by, change_type)"
                " VALUES (%s, 'admin', 'enabled')", (user,))
        assert conn.execute(
            "SELECT relrowsecurity FROM pg_class WHERE oid = 'public.automation_permissions_audit'::regclass"
        ).fetchone() == (True,)
        with conn.transaction(force_rollback=True):
            conn.execute("SET LOCAL ROLE authenticated")
            conn.execute("SELECT set_config('request.jwt.claims', %s, true)",
                         (json.dumps({"sub": str(a), "role": "authenticated"}),))
            rows = conn.execute("SELECT user_id FROM automation_permissions_audit").fetchall()
            assert rows == [(a,)]
            # the views run with the caller's rights: RLS applies through them too
            conn.execute("SELECT * FROM crm_health_check").fetchall()


def test_trigger_bumps_updated_at(migrated_db):
    with migrated_db.connect() as conn:
        user = _new_user(conn)
        conn.execute(
            "INSERT INTO sent_atas (user_id, client_name, type, channel, content, recipient,"
            " updated_at) VALUES (%s, 'ACME', 'reuniao', 'email', 'x', 'a@b.c', '2020-01-01')",
            (user,))
        conn.execute("UPDATE sent_atas SET subject = 'changed'")
        bumped = conn.execute("SELECT updated_at > now() - interval '1 minute' FROM sent_atas").fetchone()
        assert bumped == (True,)


def test_cleanup_deletes_exactly_rows_older_than_90_days(migrated_db):
    with migrated_db.connect() as conn:
        user = _new_user(conn)
        for days in (1, 30, 89, 91, 120, 365):
            conn.execute(
                "INSERT INTO automation_logs (user_id, action_type, status, created_at)"
                " VALUES (%s, 'click', 'success', now() - make_interval(days => %s))", (user, days))
        assert conn.execute("SELECT cleanup_old_automation_logs()").fetchone() == (3,)
        remaining = conn.execute(
            "SELECT count(*) FROM automation_logs WHERE created_at < now() - interval '90 days'"
        ).fetchone()
        assert remaining == (0,)
        assert conn.execute("SELECT count(*) FROM automation_logs").fetchone() == (3,)


def test_migration_ends_with_the_success_message(base_db):
    notices: list[str] = []
    with base_db.connect() as conn:
        conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        conn.execute(MIGRATION_SQL.read_text())
    assert notices[-1] == RUNBOOK.success_message


# ------------------------------------------------------------------------- idempotency / rollback


def test_migration_twice_is_idempotent(base_db):
    base_db.execute_file(MIGRATION_SQL)
    first = base_db.schema_dump()
    base_db.execute_file(MIGRATION_SQL)
    assert base_db.schema_dump() == first


def test_rollback_restores_the_base_schema_and_keeps_data(base_db):
    with base_db.connect() as conn:
        _seed_some_rows(conn)
        before_data = _data_fingerprint(conn)
    before = base_db.schema_dump()
    base_db.execute_file(MIGRATION_SQL)
    assert base_db.schema_dump() != before
    base_db.execute_file(ROLLBACK_SQL)
    assert base_db.schema_dump() == before
    with base_db.connect() as conn:
        assert _data_fingerprint(conn) == before_data


def test_rollback_keeps_a_pre_existing_trigger_function(base_db):
    own = ("CREATE FUNCTION public.update_updated_at_column() RETURNS trigger LANGUAGE plpgsql"
           " AS $$ BEGIN NEW.updated_at = clock_timestamp(); RETURN NEW; END $$")
    with base_db.connect() as conn:
        conn.execute(own)
    before = base_db.schema_dump()
    base_db.execute_file(MIGRATION_SQL)
    # the project's own function was not replaced
    assert "clock_timestamp" in base_db.scalar(
        "SELECT prosrc FROM pg_proc WHERE proname = 'update_updated_at_column'")
    base_db.execute_file(ROLLBACK_SQL)
    assert base_db.schema_dump() == before


def test_duplicate_categories_fail_cleanly_with_nothing_left(base_db):
    with base_db.connect() as conn:
        user = _new_user(conn)
        conn.execute("INSERT INTO categories (user_id, name) VALUES (%s, 'Food'), (%s, 'food')",
                     (user, user))
    before = base_db.schema_dump()
    with base_db.connect() as conn:
        with pytest.raises(psycopg.errors.UniqueViolation) as info:
            conn.execute(MIGRATION_SQL.read_text())
        assert "unique_user_category_name" in str(info.value)
        assert "is duplicated" in (info.value.diag.message_detail or "")
    assert base_db.schema_dump() == before
