"""Supabase's migration history, written in the migration's own transaction.

After ``run``, ``supabase_migrations.schema_migrations`` holds the version with its
statements; after ``rollback`` it does not; a second run is a no-op that says so; a
failure to write the history rolls the whole run back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from spfp_console.deployment import DeploymentSession
from spfp_console.engine import migration_history
from spfp_console.engine.script import load_script
from spfp_console.events import Event, Finding, RunStarted
from spfp_console.journal.read import read_journal
from spfp_console.paths import DEFAULT_RUNBOOK, MIGRATION_SQL
from spfp_console.runbook import RunbookError, load_runbook
from spfp_console.session.operator import ScriptedOperator

VERSION = "20260216"


def _session(db: Any, tmp_path: Path, runbook: Path = DEFAULT_RUNBOOK) -> DeploymentSession:
    return DeploymentSession(runbook=load_runbook(runbook), dsn=db.dsn,
                             log_dir=tmp_path / "logs", operator="alice")


def _rows(db: Any) -> list[tuple]:
    if not db.scalar("select to_regclass('supabase_migrations.schema_migrations') is not null"):
        return []
    return db.query("select version, name, statements from"
                    " supabase_migrations.schema_migrations order by version")


def _events(session: DeploymentSession) -> list[Event]:
    assert session.log_path is not None
    return [entry.event() for entry in read_journal(session.log_path).entries]  # type: ignore[misc]


def _history_findings(events: list[Event]) -> list[Finding]:
    return [e for e in events if isinstance(e, Finding) and e.section == "migration history"]


def _has_index(db: Any) -> bool:
    return bool(db.scalar("select count(*) from pg_indexes"
                          " where indexname = 'idx_transactions_user_date_paid'"))


def test_run_records_the_version_and_rollback_removes_it(base_db: Any, tmp_path: Path) -> None:
    operator = ScriptedOperator(name="alice", typed=[None, None])
    with _session(base_db, tmp_path) as session:
        session.open()
        deployed = session.deploy(operator)
        assert deployed.outcome == "committed", deployed.message
        rows = _rows(base_db)
        assert [(v, n) for v, n, _ in rows] == [(VERSION, "database_optimizations")]
        statements = rows[0][2]
        executable = load_script(MIGRATION_SQL).executable
        assert statements == [s.sql for s in executable]
        assert any("CREATE INDEX" in s.upper() for s in statements)

        rolled_back = session.rollback(operator)
        assert rolled_back.outcome == "rolled_back", rolled_back.message
        assert _rows(base_db) == []
        assert not _has_index(base_db)
        session.close(rolled_back)
    messages = [f.message for f in _history_findings(_events(session))]
    assert any(m.startswith(f"version {VERSION} (database_optimizations) is not recorded")
               for m in messages)
    assert f"recorded version {VERSION} (database_optimizations) in" \
           " supabase_migrations.schema_migrations in the run's transaction" in messages
    assert any(m.startswith(f"removed version {VERSION}") for m in messages)


def test_the_table_is_created_like_the_supabase_cli_creates_it(
    base_db: Any, tmp_path: Path
) -> None:
    with _session(base_db, tmp_path) as session:
        session.open()
        assert session.deploy(ScriptedOperator(name="alice", typed=[None])).ok
    columns = base_db.query(
        "select column_name, data_type from information_schema.columns"
        " where table_schema = 'supabase_migrations' and table_name = 'schema_migrations'"
        " order by ordinal_position")
    assert columns == [("version", "text"), ("statements", "ARRAY"), ("name", "text")]
    primary_key = base_db.scalar(
        "select pg_get_constraintdef(oid) from pg_constraint"
        " where conrelid = 'supabase_migrations.schema_migrations'::regclass"
        " and contype = 'p'")
    assert primary_key == "PRIMARY KEY (version)"


def test_a_second_run_is_a_no_op_that_says_so(base_db: Any, tmp_path: Path) -> None:
    with _session(base_db, tmp_path / "first") as first:
        first.open()
        assert first.deploy(ScriptedOperator(name="alice", typed=[None])).ok
    operator = ScriptedOperator(name="alice", typed=[None])
    with _session(base_db, tmp_path / "second") as second:
        second.open()
        again = second.deploy(operator)
        second.close(again)
    assert (again.outcome, again.ok, again.exit_code) == ("already_applied", True, 0)
    assert "already recorded" in (again.message or "") and "nothing was run" in again.message
    assert operator.requests == []  # never asked to type the database name
    events = _events(second)
    assert not any(isinstance(e, RunStarted) for e in events)
    assert any("is already recorded in supabase_migrations.schema_migrations" in f.message
               for f in _history_findings(events))
    assert len(_rows(base_db)) == 1


def test_a_version_the_cli_recorded_next_to_others_is_kept_and_updated(
    migrated_db: Any, tmp_path: Path
) -> None:
    # What `supabase db push` left: the CLI's table, an older migration, and this version
    # recorded although (here) the objects were applied by hand, then the check says so.
    with migrated_db.connect() as conn:
        conn.execute("create schema supabase_migrations")
        conn.execute("create table supabase_migrations.schema_migrations"
                     " (version text not null primary key, statements text[], name text,"
                     "  created_by text)")
        conn.execute("insert into supabase_migrations.schema_migrations values"
                     " ('20260101000000', '{select 1}', 'init', 'cli')")
    with _session(migrated_db, tmp_path) as session:
        session.open()
        checked = session.check()
        findings = _history_findings(list(session.state.findings))
        assert checked.ok
        assert any("every object exists but version 20260216 (database_optimizations) is"
                   " not recorded" in f.message and "supabase db push" in f.message
                   for f in findings)
        deployed = session.deploy(ScriptedOperator(name="alice", typed=[None]))
        session.close(deployed)
    assert deployed.outcome == "committed"
    assert [(v, n) for v, n, _ in _rows(migrated_db)] == [
        ("20260101000000", "init"), (VERSION, "database_optimizations")]


def test_a_failing_history_write_rolls_the_whole_run_back(base_db: Any, tmp_path: Path) -> None:
    with base_db.connect() as conn:
        conn.execute("create schema supabase_migrations")
        conn.execute("create table supabase_migrations.schema_migrations"
                     " (version text not null primary key, statements text[], name text,"
                     "  constraint only_long_versions check (length(version) = 14))")
    with _session(base_db, tmp_path) as session:
        session.open()
        result = session.deploy(ScriptedOperator(name="alice", typed=[None]))
        session.close(result)
    assert result.outcome == "rolled_back" and not result.ok
    assert "what the run records in the same transaction failed (23514" in (result.message or "")
    assert not _has_index(base_db)  # the migration's own statements were rolled back too
    assert _rows(base_db) == []


def test_can_record_names_a_role_that_cannot_create_the_history(base_db: Any) -> None:
    with base_db.connect() as conn:
        conn.execute("create role spfp_history_reader login")
        try:
            conn.execute(f'revoke create on database "{base_db.name}" from public')
            with psycopg.connect(base_db.cluster.dsn(base_db.name, user="spfp_history_reader"),
                                 autocommit=True) as reader:
                problem = migration_history.can_record(reader)
            with base_db.connect() as owner:
                ok = migration_history.can_record(owner)
        finally:
            conn.execute("drop owned by spfp_history_reader; drop role spfp_history_reader")
    assert problem == ("the executing role cannot create supabase_migrations.schema_migrations"
                       " in this database")
    assert ok is None


def test_the_version_comes_from_the_file_name_like_the_supabase_cli(tmp_path: Path) -> None:
    sql = tmp_path / "20260301120000_add_things.sql"
    sql.write_text("SELECT 1;\n")
    other = tmp_path / "plain.sql"
    other.write_text("SELECT 1;\n")
    base = ('[runbook]\nid = "t"\ntitle = "T"\n[scripts]\nmigration = "{m}"\n'
            'rollback = "plain.sql"\n[[phases]]\nid = "p"\ntitle = "P"\n'
            '[[phases.items]]\nid = "a"\ntext = "A"\n')

    def load(migration: str, extra: str = "") -> Any:
        path = tmp_path / "rb.toml"
        path.write_text(base.format(m=migration) + extra)
        return load_runbook(path).supabase

    derived = load(sql.name)
    assert (derived.migration_history, derived.version, derived.name) == (
        True, "20260301120000", "add_things")
    assert load(other.name).migration_history is False  # the CLI would not track it either
    stated = load(other.name, '[supabase]\nversion = "20260301"\nname = "x"\n')
    assert (stated.migration_history, stated.version, stated.name) == (True, "20260301", "x")
    with pytest.raises(RunbookError, match=r"supabase\.version: is required"):
        load(other.name, "[supabase]\nmigration_history = true\n")
    with pytest.raises(RunbookError, match=r"supabase\.version: must be digits"):
        load(sql.name, '[supabase]\nversion = "v1"\n')
    assert load(sql.name, "[supabase]\nmigration_history = false\n").migration_history is False


def test_an_online_run_records_its_version_after_its_last_step(base_db: Any,
                                                                tmp_path: Path) -> None:
    # Online mode has no one transaction: the history (and the witness) get a short
    # transaction of their own once every step has committed.
    with _session(base_db, tmp_path) as session:
        session.open()
        run = session.run_migration(online=True)
        session.close(outcome=run.outcome)
    assert run.outcome == "committed", run.message
    assert [(v, n) for v, n, _ in _rows(base_db)] == [(VERSION, "database_optimizations")]
    assert base_db.query("select workflow, outcome from spfp_console.deployments") == [
        ("deploy", "committed")]
