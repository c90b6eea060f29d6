"""Running and rehearsing scripts on real PostgreSQL: events, rollback, line numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from spfp_console.engine.connect import Target
from spfp_console.engine.errors import RunAborted, ScriptError
from spfp_console.engine.executor import run_script
from spfp_console.engine.script import load_script, parse_script
from spfp_console.events import (
    Event,
    RunFinished,
    RunStarted,
    ServerNotice,
    StatementFailed,
    StatementFinished,
    StatementSkipped,
    StatementStarted,
)
from spfp_console.paths import MIGRATION_SQL

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


class Recorder(list[Event]):
    def __call__(self, event: Event) -> None:
        self.append(event)

    def of(self, cls: type) -> list:
        return [e for e in self if isinstance(e, cls)]


def _new_objects(db) -> int:
    return db.scalar(
        "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = 'public' and c.relname in "
        "('idx_operational_tasks_kanban', 'unique_user_category_name', 'dashboard_metrics',"
        " 'automation_permissions_audit')"
    )


def test_run_real_migration_commits(base_db) -> None:
    events = Recorder()
    result = run_script(Target(base_db.tcp_dsn()), load_script(MIGRATION_SQL), on_event=events)
    assert result.outcome == "committed", result.message
    assert result.ok and result.failures == []
    assert result.statements_ok == 46 and result.skipped == 2
    assert result.events == len(events)
    assert base_db.scalar(
        "select to_regclass('public.idx_operational_tasks_kanban')::text"
    ) == ("idx_operational_tasks_kanban")
    assert base_db.scalar(
        "select to_regclass('public.automation_permissions_audit') is not null"
    )

    started = events[0]
    assert isinstance(started, RunStarted)
    assert (
        started.mode == "run" and started.statements == 48 and started.transaction == "single"
    )
    assert started.target and "spfp-local-superuser" not in started.target
    assert isinstance(started.backend_pid, int)
    assert isinstance(events[-1], RunFinished) and events[-1].outcome == "committed"

    skipped = events.of(StatementSkipped)
    assert [(s.sql, s.line) for s in skipped] == [("BEGIN", 17), ("COMMIT", 277)]
    finished = events.of(StatementFinished)
    assert len(finished) == len(events.of(StatementStarted)) == 46
    kanban = next(f for f in finished if f.line == 53)
    assert kanban.status == "CREATE INDEX" and kanban.duration_s >= 0
    assert finished[0].status == "ALTER TABLE" and finished[0].line == 23
    notices = [n for n in events.of(ServerNotice) if "completed successfully" in n.message]
    assert len(notices) == 1 and notices[0].severity == "NOTICE" and notices[0].index == 47


def test_rehearse_broken_migration_reports_every_defect_and_changes_nothing(base_db) -> None:
    before = base_db.schema_dump()
    events = Recorder()
    script = load_script(FIXTURES / "broken_migration.sql", tolerant=True)
    result = run_script(base_db.dsn, script, mode="rehearse", on_event=events)

    assert result.outcome == "rehearsed" and not result.ok
    got = [(f.line, f.sqlstate) for f in result.failures]
    assert got == [(12, "42601"), (16, "42703"), (24, "42883")]
    syntax, column, function = result.failures
    assert syntax.error_line == 13 and syntax.message == 'syntax error at or near ","'
    assert column.message == 'column "deleted_at" does not exist'
    assert column.error_line == 18 and column.position is not None
    assert "update_updated_at_column" in function.message
    assert result.statements_ok == 4  # the valid statements all ran (and were rolled back)
    assert events.of(StatementFailed) == result.failures
    end = events[-1]
    assert isinstance(end, RunFinished) and end.outcome == "rehearsed"
    assert end.statements_failed == 3 and "rolled back" in (end.message or "")
    assert base_db.schema_dump() == before


def test_rehearse_real_migration_is_clean_and_changes_nothing(base_db) -> None:
    before = base_db.schema_dump()
    result = run_script(base_db.dsn, load_script(MIGRATION_SQL), mode="rehearse")
    assert result.outcome == "rehearsed" and result.ok and result.statements_ok == 46
    assert base_db.schema_dump() == before


def test_failure_mid_run_rolls_everything_back(base_db) -> None:
    base_db.query(
        "with u as (insert into auth.users default values returning id) "
        "insert into public.categories (user_id, name) "
        "select id, n from u, (values ('Food'), ('food')) v(n) returning 1"
    )
    before = base_db.schema_dump()
    events = Recorder()
    result = run_script(base_db.dsn, load_script(MIGRATION_SQL), on_event=events)

    assert result.outcome == "rolled_back"
    (failed,) = result.failures
    assert failed.sqlstate == "23505"
    assert failed.line == 34 and failed.file == str(MIGRATION_SQL)
    assert "unique_user_category_name" in failed.message
    assert failed.detail and "food" in failed.detail.lower()
    end = events[-1]
    assert isinstance(end, RunFinished) and end.outcome == "rolled_back"
    assert "23505" in (end.message or "") and f"{MIGRATION_SQL}:34" in (end.message or "")
    # The seven ALTER TABLEs before it had run inside the transaction, and are gone.
    assert result.statements_ok == 7
    assert not [e for e in events if isinstance(e, StatementStarted) and e.line > 34]
    assert _new_objects(base_db) == 0
    assert base_db.schema_dump() == before


def test_injected_bad_statement_reports_its_file_line(base_db, tmp_path: Path) -> None:
    lines = MIGRATION_SQL.read_text().splitlines(keepends=True)
    # After the audit table (line 119): a statement failing on its second line.
    bad = "SELECT 1\n     + no_such_column FROM public.accounts;\n"
    copy = tmp_path / "injected.sql"
    copy.write_text("".join(lines[:120]) + bad + "".join(lines[120:]))
    before = base_db.schema_dump()
    result = run_script(base_db.dsn, load_script(copy))
    assert result.outcome == "rolled_back"
    (failed,) = result.failures
    assert (failed.sqlstate, failed.line, failed.error_line) == ("42703", 121, 122)
    assert failed.file == str(copy)
    assert base_db.schema_dump() == before


def test_run_refuses_what_it_cannot_run_in_one_transaction(base_db, tmp_path: Path) -> None:
    concurrent = parse_script(
        "select 1;\ncreate index concurrently i on public.accounts (name);", file="c.sql"
    )
    with pytest.raises(ScriptError, match=r"c\.sql:2: CREATE INDEX CONCURRENTLY cannot run"):
        run_script(base_db.dsn, concurrent)
    selfrollback = parse_script("begin;\nselect 1;\nrollback;", file="r.sql")
    with pytest.raises(ScriptError, match=r"r\.sql:3: the script rolls back"):
        run_script(base_db.dsn, selfrollback)
    tolerant = load_script(FIXTURES / "broken_migration.sql", tolerant=True)
    with pytest.raises(ScriptError, match=r"broken_migration\.sql:13: syntax error"):
        run_script(base_db.dsn, tolerant)
    # Rehearsal runs it and lets the server say why.
    result = run_script(base_db.dsn, concurrent, mode="rehearse")
    assert [(f.line, f.sqlstate) for f in result.failures] == [(2, "25001")]


def test_bad_timeout_setting_is_a_clear_error(base_db) -> None:
    with pytest.raises(RunAborted, match="lock_timeout='5 parsecs'"):
        run_script(base_db.dsn, parse_script("select 1;"), lock_timeout="5 parsecs")
    # The lock was released and nothing is left open: a normal run works.
    assert run_script(base_db.dsn, parse_script("select 1;")).outcome == "committed"


def test_statement_timeout_fails_the_run(base_db) -> None:
    script = parse_script("create table public.t1 (a int);\nselect pg_sleep(3);")
    result = run_script(base_db.dsn, script, statement_timeout="300ms")
    assert result.outcome == "rolled_back"
    assert [(f.line, f.sqlstate) for f in result.failures] == [(2, "57014")]
    assert base_db.scalar("select to_regclass('public.t1')") is None


def test_caller_connection_is_left_open_and_idle(base_db) -> None:
    with base_db.connect() as conn:
        result = run_script(conn, parse_script("create table public.t2 (a int);"))
        assert result.outcome == "committed"
        assert not conn.closed
        assert conn.execute("select to_regclass('public.t2') is not null").fetchone() == (
            True,
        )
        # The deployment lock was released.
        assert conn.execute(
            "select count(*) from pg_locks where locktype = 'advisory'"
        ).fetchone() == (0,)


@pytest.mark.parametrize("mode", ["run", "rehearse"])
def test_a_script_without_statements_is_refused_in_both_modes(base_db, mode) -> None:
    """Issue 8.9: 'rehearsal passed' about nothing was a claim about nothing."""
    script = parse_script("-- the real statements were lost in a copy\n", file="empty.sql")
    with pytest.raises(ScriptError, match=r"^empty\.sql: contains no SQL statement"):
        run_script(base_db.dsn, script, mode=mode)


def test_a_rehearsal_names_the_sequence_change_it_cannot_undo(base_db) -> None:
    """Issue 8.12: "everything was rolled back" was false after a setval."""
    with base_db.connect() as conn:
        conn.execute("create sequence public.invoice_no")
    script = parse_script(
        "create table public.t (a int);\n"
        "select setval('public.invoice_no', 42);\n"
        "do $$ begin perform nextval('public.invoice_no'); end $$;\n",
        file="seq.sql",
    )
    result = run_script(base_db.dsn, script, mode="rehearse")
    assert result.outcome == "rehearsed" and result.ok
    # the premise: the sequence really moved although the rehearsal rolled back
    assert base_db.scalar("select last_value from public.invoice_no") == 43
    assert base_db.scalar("select to_regclass('public.t')") is None
    assert "everything was rolled back" not in result.message
    assert "rolled back, except what a rollback cannot undo" in result.message
    assert "setval public.invoice_no" in result.message
    assert "statement 2 at seq.sql:2" in result.message
    assert "nextval public.invoice_no" in result.message
    assert "statement 3 at seq.sql:3" in result.message


def test_a_clean_rehearsal_still_says_everything_was_rolled_back(base_db) -> None:
    result = run_script(base_db.dsn, parse_script("create table public.t (a int);"),
                        mode="rehearse")
    assert result.message.endswith("everything was rolled back")


def test_a_cancelled_rehearsal_names_what_already_ran_and_stays(base_db) -> None:
    import threading

    from spfp_console.engine.executor import CancelToken

    with base_db.connect() as conn:
        conn.execute("create sequence public.invoice_no")
    script = parse_script(
        "select setval('public.invoice_no', 7);\nselect pg_sleep(30);\n"
        "select setval('public.invoice_no', 9);\n",
        file="seq.sql",
    )
    cancel = CancelToken()
    timer = threading.Timer(1.0, cancel.cancel)
    timer.start()
    try:
        result = run_script(base_db.dsn, script, mode="rehearse", cancel=cancel)
    finally:
        timer.cancel()
    assert result.outcome == "cancelled"
    assert base_db.scalar("select last_value from public.invoice_no") == 7
    assert "but a rollback cannot undo: setval public.invoice_no" in result.message
    assert "statement 1 at seq.sql:1" in result.message
    assert "statement 3" not in result.message  # never ran
