"""The data integrity check on a real PostgreSQL: exact counts and checksums before and
after a run, in its transaction, under a SHARE lock; a changed row rolls the run back."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from spfp_console.engine.executor import RunResult, run_script
from spfp_console.engine.integrity import IntegrityCheck, tables_to_check
from spfp_console.engine.script import load_script
from spfp_console.events import Event, ResultTable, StatementStarted
from spfp_console.paths import MIGRATION_SQL
from spfp_console.sampledata import load_sample_data

SCALE = 0.02


@pytest.fixture
def data_db(base_db: Any) -> Any:
    load_sample_data(base_db.dsn, scale=SCALE)
    return base_db


def _script(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "migration.sql"
    path.write_text(text)
    return path


def _run(db: Any, path: Path, events: list[Event], **kwargs: Any) -> tuple[RunResult, IntegrityCheck]:
    check = IntegrityCheck(tables_to_check(path), on_event=events.append)
    result = run_script(db.dsn, load_script(path), on_event=events.append,
                        before_statements=check.before, before_commit=check.after,
                        monitor_interval=0, **kwargs)
    return result, check


def _rows(events: list[Event]) -> dict[str, tuple[str, ...]]:
    tables = [e for e in events if isinstance(e, ResultTable) and e.source == "integrity"]
    assert len(tables) == 1
    return {row[0]: row for row in tables[0].rows}


def _independent_checksum(db: Any, table: str, columns: list[str]) -> str:
    cols = ", ".join(f'"{c}"' for c in columns)
    return str(db.scalar(f"select coalesce(sum(hash_record_extended(row({cols}), 0)), 0)"
                         f"::text from {table}"))


def test_the_touched_tables_are_the_owned_and_referenced_ones_not_the_created() -> None:
    tables = tables_to_check(MIGRATION_SQL)
    assert ("public", "sales_leads") in tables and ("public", "categories") in tables
    assert ("auth", "users") in tables  # referenced by the audit table's foreign key
    assert ("public", "automation_permissions") in tables
    assert ("public", "automation_permissions_audit") not in tables  # created by it
    assert ("public", "dashboard_metrics") not in tables


def test_the_spfp_migration_on_sample_data_passes_with_exact_counts(data_db: Any) -> None:
    columns = [r[0] for r in data_db.query(
        "select attname from pg_attribute where attrelid = 'public.sales_leads'::regclass"
        " and attnum > 0 and not attisdropped order by attnum")]
    before = _independent_checksum(data_db, "public.sales_leads", columns)
    events: list[Event] = []
    result, check = _run(data_db, MIGRATION_SQL, events)
    assert result.outcome == "committed", result.message
    assert check.passed
    rows = _rows(events)
    assert len(rows) == len(check.checks) >= 10
    for name, (_, rows_before, rows_after, checksum, read, status) in rows.items():
        exact = data_db.scalar(f"select count(*) from {name}")
        assert rows_before == rows_after == f"{exact:,}", name
        assert (checksum, status) == ("unchanged", "pass"), name
        assert read.startswith(f"{2 * exact:,} rows in "), read
    assert int(data_db.scalar("select count(*) from public.sales_leads")) > 0
    # the fingerprint is the data's, over the columns of before (deleted_at was added)
    sales = next(c for c in check.checks if c.name == "public.sales_leads")
    assert sales.columns == tuple(columns) and "deleted_at" not in sales.columns
    assert sales.before is not None and sales.before.checksum == before != "0"
    assert all(c.binary_hash for c in check.checks)  # every SPFP type hashes binary
    assert check.rows_read == sum(2 * int(r[1].replace(",", "")) for r in rows.values())


@pytest.mark.parametrize(("change", "expected"), [
    ("DELETE FROM public.sales_leads WHERE id = (SELECT min(id::text)::uuid"
     " FROM public.sales_leads);", "rows before, {after} after, checksum differs"),
    ("UPDATE public.sales_leads SET name = name || '!' WHERE id = (SELECT min(id::text)::uuid"
     " FROM public.sales_leads);", "{before} rows before, {before} after, checksum differs"),
    ("ALTER TABLE public.sales_leads DROP COLUMN notes;", "column(s) notes no longer exist"),
])
def test_a_migration_that_changes_a_row_fails_naming_the_table_and_commits_nothing(
        data_db: Any, tmp_path: Path, change: str, expected: str) -> None:
    count = int(data_db.scalar("select count(*) from public.sales_leads"))
    checksum_of = "select sum(hashtextextended(s::text, 0))::text from public.sales_leads s"
    data_before = data_db.scalar(checksum_of)
    path = _script(tmp_path, "ALTER TABLE public.sales_leads ADD COLUMN deleted_at timestamptz;\n"
                             "CREATE INDEX idx_leads_user ON public.categories (user_id);\n"
                             f"{change}\n")
    events: list[Event] = []
    result, check = _run(data_db, path, events)
    assert result.outcome == "rolled_back" and not result.ok
    wanted = expected.format(before=count, after=count - 1)
    assert "public.sales_leads: " in (result.message or "") and wanted in (result.message or "")
    assert "nothing was applied" in (result.message or "")
    rows = _rows(events)
    assert rows["public.sales_leads"][-1] == "fail"
    assert rows["public.categories"][-1] == "pass"  # the table it only indexed
    assert not check.passed
    # nothing committed: the data, the added column and the index are as before
    assert int(data_db.scalar("select count(*) from public.sales_leads")) == count
    assert data_db.scalar(checksum_of) == data_before
    assert not data_db.scalar("select count(*) from pg_attribute where attname = 'deleted_at'"
                              " and attrelid = 'public.sales_leads'::regclass")
    assert not data_db.scalar("select count(*) from pg_class where relname = 'idx_leads_user'")


def test_a_concurrent_writer_waits_on_the_lock_and_cannot_make_it_fail(
        data_db: Any, tmp_path: Path) -> None:
    """A DELETE that arrives mid-run waits for COMMIT (SHARE lock): the counts stay exact,
    the run passes, and the delete goes through afterwards."""
    count = int(data_db.scalar("select count(*) from public.sales_leads"))
    path = _script(tmp_path, "ALTER TABLE public.categories ADD COLUMN deleted_at2 timestamptz;\n"
                             "SELECT pg_sleep(1.5);\n"
                             "CREATE INDEX idx_leads_user ON public.sales_leads (user_id);\n")
    events: list[Event] = []
    started = threading.Event()
    outcome: dict[str, Any] = {}

    def on_event(event: Event) -> None:
        events.append(event)
        if isinstance(event, StatementStarted):
            started.set()

    def run() -> None:
        check = IntegrityCheck(tables_to_check(path), on_event=on_event)
        outcome["run"] = run_script(data_db.dsn, load_script(path), on_event=on_event,
                                    before_statements=check.before,
                                    before_commit=check.after, monitor_interval=0,
                                    statement_timeout="30s")
        outcome["run_done"] = time.monotonic()
        outcome["check"] = check

    def write() -> None:
        with psycopg.connect(data_db.dsn, autocommit=True) as conn:
            conn.execute("SET statement_timeout = '30s'")
            outcome["writer_pid"] = conn.info.backend_pid
            conn.execute("DELETE FROM public.sales_leads WHERE id ="
                         " (SELECT min(id::text)::uuid FROM public.sales_leads)")
            outcome["write_done"] = time.monotonic()

    runner = threading.Thread(target=run)
    runner.start()
    assert started.wait(20), "the run did not start"
    writer = threading.Thread(target=write)
    writer.start()
    waited = False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not waited and runner.is_alive():
        pid = outcome.get("writer_pid")
        waited = pid is not None and data_db.scalar(
            "select wait_event_type = 'Lock' from pg_stat_activity where pid = %s", (pid,))
        time.sleep(0.05)
    runner.join(60)
    writer.join(60)
    assert not runner.is_alive() and not writer.is_alive()
    assert waited, "the writer never waited on the run's lock"
    result = outcome["run"]
    assert result.outcome == "committed", result.message
    assert outcome["check"].passed
    assert _rows(events)["public.sales_leads"][1:3] == (f"{count:,}", f"{count:,}")
    assert outcome["write_done"] >= outcome["run_done"] - 0.5  # it went on after COMMIT
    assert int(data_db.scalar("select count(*) from public.sales_leads")) == count - 1


def test_a_writer_already_in_a_transaction_stops_the_run_at_lock_timeout(
        data_db: Any, tmp_path: Path) -> None:
    path = _script(tmp_path, "ALTER TABLE public.sales_leads ADD COLUMN deleted_at timestamptz;\n")
    with psycopg.connect(data_db.dsn) as writer:  # not autocommit: its transaction stays open
        writer.execute("UPDATE public.sales_leads SET probability = probability"
                       " WHERE id = (SELECT min(id::text)::uuid FROM public.sales_leads)")
        started = time.monotonic()
        result, check = _run(data_db, path, [], lock_timeout="300ms")
        elapsed = time.monotonic() - started
        writer.rollback()
    assert result.outcome == "refused", result.message
    assert "could not lock" in (result.message or "") and "300ms" in (result.message or "")
    assert "nothing was changed" in (result.message or "")
    assert elapsed < 10 and not check.done
    assert not data_db.scalar("select count(*) from pg_attribute where attname = 'deleted_at'"
                              " and attrelid = 'public.sales_leads'::regclass")


def test_a_table_hashed_as_text_is_not_fooled_by_output_settings_the_migration_sets(
        data_db: Any, tmp_path: Path) -> None:
    """json has no hash function: its table is hashed in text form, where timestamptz
    prints in the session's TimeZone; a SET LOCAL in the migration must not read as
    changed data, and a real change still does."""
    with data_db.connect() as conn:
        conn.execute("create table public.webhook_log (id int primary key, at timestamptz,"
                     " payload json)")
        conn.execute("insert into public.webhook_log select i, now() - i * interval '1 hour',"
                     " json_build_object('n', i) from generate_series(1, 50) i")
    settings = ("ALTER TABLE public.webhook_log ADD COLUMN seen boolean;\n"
                "SET LOCAL TimeZone = 'Asia/Kathmandu';\n"
                "SET LOCAL DateStyle = 'SQL, DMY';\n")
    events: list[Event] = []
    result, check = _run(data_db, _script(tmp_path, settings), events)
    assert result.outcome == "committed", result.message
    [log] = check.checks
    assert not log.binary_hash and check.passed
    assert _rows(events)["public.webhook_log"][1:4] == ("50", "50", "unchanged")
    changed = tmp_path / "changed"
    changed.mkdir()
    events = []
    result, check = _run(data_db, _script(changed, settings.replace(
        "seen", "seen2") + "UPDATE public.webhook_log SET at = at + interval '1 second'"
        " WHERE id = 7;\n"), events)
    assert result.outcome == "rolled_back" and "public.webhook_log" in (result.message or "")
    assert _rows(events)["public.webhook_log"][3] == "DIFFERS"


def test_tables_this_role_cannot_count_exactly_are_not_checked_and_do_not_pass(
        data_db: Any, tmp_path: Path) -> None:
    """No SHARE lock without UPDATE/DELETE/TRUNCATE, and row level security hides rows
    from a role that neither owns the table nor bypasses it: said, never passed."""
    role = f"integrity_{data_db.name}"
    with data_db.connect() as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        conn.execute(f"ALTER TABLE public.sales_leads OWNER TO {role}")
        conn.execute(f"GRANT SELECT ON public.goals TO {role}")  # no lock mode but ACCESS SHARE
        conn.execute(f"GRANT SELECT, UPDATE ON public.accounts TO {role}")
        conn.execute("ALTER TABLE public.accounts ENABLE ROW LEVEL SECURITY")
    tables = [("public", "sales_leads"), ("public", "goals"), ("public", "accounts")]
    path = _script(tmp_path, "ALTER TABLE public.sales_leads ADD COLUMN deleted_at timestamptz;\n")
    events: list[Event] = []
    check = IntegrityCheck(tables, on_event=events.append)
    try:
        result = run_script(data_db.cluster.dsn(data_db.name, user=role), load_script(path),
                            on_event=events.append, before_statements=check.before,
                            before_commit=check.after, monitor_interval=0,
                            advisory_lock_key=None)
    finally:
        with data_db.connect() as conn:
            conn.execute("ALTER TABLE public.sales_leads OWNER TO CURRENT_USER")
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")
    assert result.outcome == "committed", result.message
    rows = _rows(events)
    assert rows["public.sales_leads"][3:] == ("unchanged", rows["public.sales_leads"][4], "pass")
    assert rows["public.goals"][-1] == "warn" and "may not read it and lock it" in rows["public.goals"][3]
    assert rows["public.accounts"][-1] == "warn" and "row level security" in rows["public.accounts"][3]
    assert not check.passed
    assert "not checked: public.accounts" in check.summary()


def test_a_cancel_stops_the_check_before_anything_changed(data_db: Any, tmp_path: Path) -> None:
    from spfp_console.engine.executor import CancelToken
    from spfp_console.events import RunStarted

    cancel = CancelToken()
    path = _script(tmp_path, "ALTER TABLE public.sales_leads ADD COLUMN deleted_at timestamptz;\n")
    check = IntegrityCheck(tables_to_check(path), cancel=cancel)

    def on_event(event: Event) -> None:
        if isinstance(event, RunStarted):  # after BEGIN, before the check's scans
            cancel.cancel()

    result = run_script(data_db.dsn, load_script(path), on_event=on_event, cancel=cancel,
                        before_statements=check.before, before_commit=check.after,
                        monitor_interval=0)
    assert result.outcome == "refused"
    assert "data integrity check cancelled by the operator while reading public.sales_leads" \
        in (result.message or "")
    assert not data_db.scalar("select count(*) from pg_attribute where attname = 'deleted_at'"
                              " and attrelid = 'public.sales_leads'::regclass")


def test_parallel_scans_give_the_serial_checksum_and_the_migration_sees_its_own_settings(
        data_db: Any, tmp_path: Path) -> None:
    """The scans ask for parallel plans (a checksum is CPU-bound; the planner prices the
    hash like an addition): split over workers, the checksum must be the serial one, and
    the migration's statements must still plan with the server's own costs."""
    with data_db.connect() as conn:
        name = conn.execute("select current_database()").fetchone()[0]
        # Every table big enough for a worker, so these small tables are read in parallel.
        conn.execute(psycopg.sql.SQL("alter database {} set min_parallel_table_scan_size = 0")
                     .format(psycopg.sql.Identifier(name)))
    with data_db.connect() as conn:
        conn.execute("set parallel_setup_cost = 0")
        conn.execute("set parallel_tuple_cost = 0")
        plan = "\n".join(row[0] for row in conn.execute(
            "explain select count(*), sum(hash_record_extended(row(id, name), 0))"
            " from public.sales_leads"))
        assert "Gather" in plan, plan
        default_costs = conn.execute("select reset_val from pg_settings where name in"
                                     " ('parallel_setup_cost', 'parallel_tuple_cost')"
                                     " order by name").fetchall()
    path = _script(tmp_path, "ALTER TABLE public.sales_leads ADD COLUMN deleted_at timestamptz;\n"
                             "CREATE TABLE public.costs_seen AS SELECT"
                             " current_setting('parallel_setup_cost') AS setup,"
                             " current_setting('parallel_tuple_cost') AS tuple;\n")
    events: list[Event] = []
    result, check = _run(data_db, path, events)
    assert result.outcome == "committed", result.message
    assert check.passed
    leads = next(c for c in check.checks if c.name == "public.sales_leads")
    assert leads.before is not None and leads.before.rows > 0
    with data_db.connect() as conn:
        conn.execute("set max_parallel_workers_per_gather = 0")
        serial = conn.execute(
            psycopg.sql.SQL("select coalesce(sum(hash_record_extended(row({}), 0)), 0)::text"
                            " from public.sales_leads").format(psycopg.sql.SQL(", ").join(
                                map(psycopg.sql.Identifier, leads.columns)))).fetchone()[0]
        seen = conn.execute("select setup, tuple from public.costs_seen").fetchone()
    assert leads.before.checksum == leads.after.checksum == serial  # type: ignore[union-attr]
    assert seen == (default_costs[0][0], default_costs[1][0])
