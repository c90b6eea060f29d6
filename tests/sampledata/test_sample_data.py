"""The sample-data generator, on a real PostgreSQL started by the suite."""

from __future__ import annotations

import argparse
import itertools
import random
import uuid
from datetime import date

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from spfp_console.paths import MIGRATION_SQL, base_schema_files
from spfp_console.sampledata import TABLES, SampleDataset, load_sample_data
from spfp_console.sampledata.cli import add_sample_data_subcommand
from spfp_console.sampledata.generator import allocate, uuid4_text

TODAY = date(2026, 2, 16)
SMALL = 0.1  # about 10k rows over 5 users: every table, fast
SOFT_DELETE_TABLES = ("sent_atas", "user_files", "operational_tasks", "sales_leads",
                      "corporate_activities", "marketing_posts")
_extra_db = itertools.count(1)


def _count(db, table: str, where: str = "true") -> int:
    return int(db.scalar(f"SELECT count(*) FROM {table} WHERE {where}"))


def _checksums(dsn: str) -> dict[str, str]:
    with psycopg.connect(dsn) as conn:
        return {
            spec.name: conn.execute(
                f"SELECT md5(string_agg(t::text, ',' ORDER BY t.id)) FROM {spec.name} t"
            ).fetchone()[0]
            for spec in TABLES
            if conn.execute("SELECT to_regclass(%s)", (spec.name,)).fetchone()[0]
        }


@pytest.fixture
def another_base_db(pg_cluster):
    """A second fresh database with the base schema, for load-twice comparisons."""
    name = f"sampledata_extra_{next(_extra_db)}"
    pg_cluster.create_database(name)
    try:
        with psycopg.connect(pg_cluster.dsn(name), autocommit=True) as conn:
            for path in base_schema_files():
                conn.execute(path.read_text())
        yield pg_cluster.dsn(name)
    finally:
        pg_cluster.drop_database(name)


# --------------------------------------------------------------------------- pure Python


def test_uuid_text_is_a_version_4_uuid():
    rng = random.Random(7)
    for _ in range(500):
        bits = rng.getrandbits(128)
        assert uuid4_text(bits) == str(uuid.UUID(int=bits, version=4))


@given(st.integers(0, 10_000), st.lists(st.floats(0.01, 100), min_size=1, max_size=60))
def test_allocate_shares_out_exactly(total, weights):
    counts = allocate(total, weights)
    assert sum(counts) == total
    assert all(c >= 0 for c in counts)
    scale = total / sum(weights)
    assert all(abs(c - w * scale) < 1 for c, w in zip(counts, weights))


def test_same_seed_same_lines_other_seed_other_lines():
    def lines(seed: int) -> list[str]:
        ds = SampleDataset(seed=seed, scale=0.05, today=TODAY)
        return [line for spec in TABLES for line in ds.rows(spec, spec.optional)]

    assert lines(1) == lines(1)
    assert lines(1) != lines(2)


def test_users_are_skewed_heaviest_first():
    ds = SampleDataset(scale=1, today=TODAY)
    assert len(ds.users) == 50
    assert ds.weights == sorted(ds.weights, reverse=True)
    assert ds.weights[0] >= 3 * ds.weights[len(ds.weights) // 2]
    # Still selective: nobody owns a large part of a table.
    assert ds.weights[0] / sum(ds.weights) < 0.25


# --------------------------------------------------------------------------- base schema


def test_every_table_gets_rows_and_counts_match(base_db):
    report = load_sample_data(base_db.dsn, scale=SMALL, today=TODAY)
    assert report.migrated is False
    assert report.skipped == ["public.automation_permissions_audit"]
    assert set(report.rows) == {s.name for s in TABLES} - {"public.automation_permissions_audit"}
    for table, rows in report.rows.items():
        assert rows > 0, table
        assert _count(base_db, table) == rows, table
    assert 8_000 < report.total_rows < 12_000
    assert report.seconds > 0
    # ANALYZE ran: the planner knows the row counts.
    assert base_db.scalar(
        "SELECT reltuples FROM pg_class WHERE oid = 'public.transactions'::regclass"
    ) == report.rows["public.transactions"]


def test_values_are_varied_and_centred_on_today(base_db):
    load_sample_data(base_db.dsn, scale=SMALL, today=TODAY)
    q = base_db.scalar
    assert q("SELECT count(DISTINCT status) FROM operational_tasks") == 3
    assert q("SELECT count(DISTINCT stage) FROM sales_leads") == 6
    assert q("SELECT count(DISTINCT status) FROM marketing_posts") == 5
    assert q("SELECT count(DISTINCT platform) FROM marketing_posts") == 7
    assert q("SELECT count(DISTINCT status) FROM corporate_activities") == 5
    assert q("SELECT count(DISTINCT type) FROM transactions") == 2
    assert q("SELECT count(DISTINCT category) FROM user_files") == 5
    # Overdue and upcoming open tasks; past and future transactions and posts.
    assert _count(base_db, "operational_tasks", "status <> 'done' AND due_date < '2026-02-16'") > 0
    assert _count(base_db, "operational_tasks", "status <> 'done' AND due_date > '2026-02-16'") > 0
    assert _count(base_db, "marketing_posts", "scheduled_date > '2026-02-16'") > 0
    assert _count(base_db, "transactions", "date > '2026-02-16' AND NOT paid") > 0
    assert q("SELECT max(date) FROM transactions") <= date(2026, 4, 17)
    assert q("SELECT min(date) FROM transactions") >= date(2024, 2, 16)
    # Probability follows the stage, as a sales pipeline's does.
    assert q("SELECT bool_and(probability = 100) FROM sales_leads WHERE stage = 'closed_won'")
    assert q("SELECT avg(probability) FROM sales_leads WHERE stage = 'negotiation'") > q(
        "SELECT avg(probability) FROM sales_leads WHERE stage = 'prospecting'")
    # Children reference their own user's parents.
    assert _count(base_db, "transactions t JOIN accounts a ON a.id = t.account_id",
                  "a.user_id <> t.user_id") == 0
    assert _count(base_db, "transactions t JOIN categories c ON c.id = t.category_id",
                  "c.user_id <> t.user_id") == 0
    # The base schema has no deleted_at on these: nothing was invented.
    assert q("SELECT count(*) FROM information_schema.columns"
             " WHERE table_name = 'sent_atas' AND column_name = 'deleted_at'") == 0


def test_a_users_rows_are_scattered_through_the_table_as_in_production(base_db):
    report = load_sample_data(base_db.dsn, scale=SMALL, today=TODAY)
    pages_of = (
        "SELECT count(DISTINCT (ctid::text::point)[0]) FROM {} WHERE user_id = %s"
    )
    for table in ("transactions", "operational_tasks", "sales_leads", "marketing_posts"):
        all_pages = base_db.scalar(f"SELECT count(DISTINCT (ctid::text::point)[0]) FROM {table}")
        mine = base_db.scalar(pages_of.format(table), (report.median_user_id,))
        assert mine >= 0.8 * all_pages, table


def test_default_data_has_no_duplicates_the_migration_would_reject(base_db):
    load_sample_data(base_db.dsn, scale=SMALL, today=TODAY)
    assert base_db.query(
        "SELECT user_id, lower(name) FROM categories GROUP BY 1, 2 HAVING count(*) > 1"
    ) == []
    assert base_db.query(
        "SELECT user_id, type FROM custom_templates WHERE is_default"
        " GROUP BY 1, 2 HAVING count(*) > 1"
    ) == []
    assert _count(base_db, "custom_templates", "is_default") > 0
    base_db.execute_file(MIGRATION_SQL)
    assert base_db.scalar("SELECT to_regclass('public.unique_user_category_name') IS NOT NULL")


def test_same_seed_loads_identical_data_into_two_databases(base_db, another_base_db):
    first = load_sample_data(base_db.dsn, scale=SMALL, seed=42, today=TODAY)
    second = load_sample_data(another_base_db, scale=SMALL, seed=42, today=TODAY)
    assert first.rows == second.rows
    sums = _checksums(base_db.dsn)
    assert sums == _checksums(another_base_db)
    assert all(sums.values())


def test_duplicate_categories_make_the_migration_fail_cleanly(base_db):
    load_sample_data(base_db.dsn, scale=SMALL, today=TODAY, with_duplicate_categories=True)
    duplicates = base_db.query(
        "SELECT user_id, lower(name) FROM categories GROUP BY 1, 2 HAVING count(*) > 1"
    )
    assert duplicates
    with base_db.connect() as conn, pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(MIGRATION_SQL.read_text())
    # One transaction: nothing of the migration is left behind.
    assert base_db.scalar("SELECT to_regclass('public.idx_sent_atas_deleted_at')") is None
    assert base_db.scalar("SELECT to_regclass('public.unique_user_category_name')") is None
    assert base_db.scalar("SELECT to_regclass('public.automation_permissions_audit')") is None
    assert base_db.scalar(
        "SELECT count(*) FROM information_schema.columns"
        " WHERE table_name = 'sent_atas' AND column_name = 'deleted_at'") == 0


def test_duplicates_move_nothing_else(base_db, another_base_db):
    load_sample_data(base_db.dsn, scale=SMALL, today=TODAY)
    load_sample_data(another_base_db, scale=SMALL, today=TODAY, with_duplicate_categories=True)
    plain, with_dups = _checksums(base_db.dsn), _checksums(another_base_db)
    assert plain.pop("public.categories") != with_dups.pop("public.categories")
    assert plain == with_dups


def test_loading_the_same_seed_twice_is_refused_and_changes_nothing(base_db):
    from spfp_console.sampledata import SampleDataError

    report = load_sample_data(base_db.dsn, scale=SMALL, today=TODAY)
    with pytest.raises(SampleDataError, match="already loaded"):
        load_sample_data(base_db.dsn, scale=SMALL, today=TODAY)
    assert _count(base_db, "transactions") == report.rows["public.transactions"]


# --------------------------------------------------------------------------- migrated


def test_after_migration_some_rows_are_soft_deleted_and_audited(migrated_db):
    report = load_sample_data(migrated_db.dsn, scale=SMALL, today=TODAY)
    assert report.migrated is True
    assert report.skipped == []
    for table in SOFT_DELETE_TABLES:
        deleted = _count(migrated_db, table, "deleted_at IS NOT NULL")
        assert 0 < deleted < 0.1 * report.rows[f"public.{table}"], table
    assert report.rows["public.automation_permissions_audit"] > 0
    assert _count(migrated_db, "automation_permissions_audit") == report.rows[
        "public.automation_permissions_audit"]
    # sent_atas.updated_at is ours, not the column default's now(): deterministic.
    assert _count(migrated_db, "sent_atas", "updated_at < sent_at") == 0
    assert _count(migrated_db, "sent_atas", "updated_at > '2026-02-17'") == 0
    for view in ("dashboard_metrics", "crm_health_check", "corporate_health_check",
                 "sales_health_check", "operational_health_check", "marketing_health_check"):
        migrated_db.query(f"SELECT * FROM {view}")
    assert _count(migrated_db, "sales_health_check") == 5


def test_nothing_happened_after_today_or_before_its_user_existed(migrated_db):
    load_sample_data(migrated_db.dsn, scale=SMALL, today=TODAY)
    columns = migrated_db.query(
        "SELECT table_schema || '.' || table_name, column_name FROM information_schema.columns"
        " WHERE table_schema IN ('public', 'auth') AND data_type LIKE 'timestamp%'"
        " AND table_name IN (SELECT table_name FROM information_schema.tables"
        "                    WHERE table_type = 'BASE TABLE')"
    )
    assert len(columns) > 30
    with migrated_db.connect() as conn:
        conn.execute("SET TimeZone = 'UTC'")
        for table, column in columns:
            late = conn.execute(
                f"SELECT count(*) FROM {table} WHERE {column} >= '2026-02-16'").fetchone()[0]
            assert late == 0, f"{table}.{column}"
            if table != "auth.users":
                early = conn.execute(
                    f"SELECT count(*) FROM {table} x JOIN auth.users u ON u.id = x.user_id"
                    f" WHERE x.{column} < u.created_at").fetchone()[0]
                assert early == 0, f"{table}.{column}"
        for table in ("accounts", "transactions", "sales_leads", "operational_tasks",
                      "marketing_posts", "sent_atas"):
            assert conn.execute(
                f"SELECT count(*) FROM {table} WHERE updated_at < created_at").fetchone()[0] == 0


def test_cleanup_deletes_exactly_the_logs_older_than_90_days(migrated_db):
    load_sample_data(migrated_db.dsn, scale=SMALL)  # today: the real today, as cleanup uses now()
    total = _count(migrated_db, "automation_logs")
    old = _count(migrated_db, "automation_logs", "created_at < now() - interval '90 days'")
    assert 0.3 * total < old < 0.7 * total
    assert migrated_db.scalar("SELECT cleanup_old_automation_logs()") == old
    assert _count(migrated_db, "automation_logs") == total - old


# --------------------------------------------------------------------------- CLI


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="spfp-console")
    add_sample_data_subcommand(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["sample-data", *argv])
    return args.handler(args)


def test_cli_loads_and_prints_the_counts(base_db, capsys):
    assert _cli(["--dsn", base_db.dsn, "--scale", "0.05", "--today", "2026-02-16",
                 "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "public.transactions" in out and "seed 3" in out and "today 2026-02-16" in out
    assert _count(base_db, "auth.users") == 3


def test_cli_uses_database_url_when_dsn_is_omitted(base_db, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", base_db.dsn)
    assert _cli(["--scale", "0"]) == 0
    assert _count(base_db, "auth.users") == 3


def test_cli_connection_error_is_one_line_without_the_password(base_db, capsys):
    secret = "not-the-password-7f3a"
    assert _cli(["--dsn", base_db.tcp_dsn(password=secret), "--scale", "0.05"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "password authentication failed" in err
    assert secret not in err and "Traceback" not in err


def test_cli_load_failure_exits_1(empty_db, capsys):
    assert _cli(["--dsn", empty_db.dsn, "--scale", "0.05"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "base schema" in err


def test_main_cli_has_the_subcommand(base_db):
    from spfp_console.cli import main

    assert main(["sample-data", "--dsn", base_db.dsn, "--scale", "0.05"]) == 0


# --------------------------------------------------------------------------- scale 1


@pytest.mark.slow
def test_scale_1_is_about_100k_rows_and_per_user_queries_are_selective(migrated_db):
    report = load_sample_data(migrated_db.dsn, scale=1, today=TODAY)
    assert 90_000 < report.total_rows < 110_000
    assert _count(migrated_db, "auth.users") == 50
    per_user = [n for (n,) in migrated_db.query(
        "SELECT count(*) FROM operational_tasks GROUP BY user_id ORDER BY 1 DESC")]
    assert len(per_user) == 50
    assert per_user[0] < 0.25 * sum(per_user)
    assert per_user[0] >= 3 * per_user[25]
    heavy = migrated_db.scalar(
        "SELECT count(*) FROM transactions WHERE user_id = %s", (report.heaviest_user_id,))
    median = migrated_db.scalar(
        "SELECT count(*) FROM transactions WHERE user_id = %s", (report.median_user_id,))
    assert heavy > 3 * median > 0
