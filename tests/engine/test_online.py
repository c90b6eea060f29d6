"""Online mode on a real PostgreSQL: concurrent index builds, short lock timeouts retried
with backoff, INVALID indexes cleaned up, and writers that keep going meanwhile."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest

from spfp_console.engine.executor import CancelToken, OnlinePolicy, RunResult, run_script
from spfp_console.engine.online_plan import online_plan, online_statements
from spfp_console.engine.script import load_script, parse_script
from spfp_console.engine.validate import run_validation
from spfp_console.events import (
    Event,
    InvalidIndex,
    LockRetry,
    RunStarted,
    StatementFailed,
    StatementStarted,
    event_from_record,
)
from spfp_console.paths import DEFAULT_RUNBOOK, MIGRATION_SQL
from spfp_console.runbook import load_runbook
from spfp_console.sampledata import load_sample_data

FAST_RETRY = OnlinePolicy(max_attempts=8, first_backoff_s=0.1, max_backoff_s=0.5)
# A write's own round trip and execution on a busy 2-core machine, over what it waited for
# a lock: the allowance on top of the lock_timeout in the bound below.
WRITE_SLACK_S = 0.25


def _invalid_indexes(db) -> list[str]:
    return [r[0] for r in db.query(
        "SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid")]


class Writer:
    """Inserts and updates on tables the migration touches, one short transaction each,
    timing every write, until stopped."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Writer:
        self._thread.start()
        while not self.latencies and not self.errors:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _loop(self) -> None:
        writes = (
            "UPDATE public.sent_atas SET subject = 'w' WHERE id ="
            " (SELECT id FROM public.sent_atas ORDER BY random() LIMIT 1)",
            "INSERT INTO public.operational_tasks (user_id, title, status, priority)"
            " SELECT user_id, 'written during the run', 'todo', 'low'"
            " FROM public.operational_tasks LIMIT 1",
            "UPDATE public.sales_leads SET probability = 50 WHERE id ="
            " (SELECT id FROM public.sales_leads ORDER BY random() LIMIT 1)",
        )
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            i = 0
            while not self._stop.is_set():
                started = time.perf_counter()
                try:
                    conn.execute(writes[i % len(writes)])
                except psycopg.Error as exc:
                    self.errors.append(str(exc))
                self.latencies.append(time.perf_counter() - started)
                i += 1
                time.sleep(0.005)


class SlowReader:
    """Holds ACCESS SHARE on a table for ``seconds`` (a long report query): a DDL
    statement on that table has to wait for it."""

    def __init__(self, dsn: str, table: str, seconds: float) -> None:
        self.ready = threading.Event()
        self._thread = threading.Thread(
            target=self._hold, args=(dsn, table, seconds), daemon=True)

    def _hold(self, dsn: str, table: str, seconds: float) -> None:
        with psycopg.connect(dsn) as conn:
            conn.execute(f"SELECT count(*) FROM {table}")
            self.ready.set()
            conn.execute("SELECT pg_sleep(%s)", (seconds,))
            conn.rollback()

    def start(self) -> SlowReader:
        self._thread.start()
        assert self.ready.wait(10)
        return self

    def join(self) -> None:
        self._thread.join(15)


@pytest.fixture
def sample_db(base_db):
    load_sample_data(base_db.dsn, scale=0.05)
    return base_db


# ----------------------------------------------------------------------------- the plan


def test_plan_rewrites_every_index_and_keeps_script_order() -> None:
    script = load_script(MIGRATION_SQL)
    steps = online_plan(script)
    kinds = [s.kind for s in steps]
    # 7 columns in one transaction, 20 index builds, the audit table, its 2 indexes, the rest
    assert kinds == ["transaction"] + ["concurrent"] * 20 + ["transaction"] \
        + ["concurrent"] * 2 + ["transaction"]
    sent = [s.index for step in steps for s in step.statements]
    assert sent == sorted(sent)
    for step in steps:
        if step.kind == "concurrent":
            assert "INDEX CONCURRENTLY IF NOT EXISTS" in step.statements[0].sql
            assert step.index_name and step.table
    original = {s.index: s for s in script.statements}
    for stmt in online_statements(script):  # lines stay as written
        assert stmt.line == original[stmt.index].line


def test_plan_leaves_an_already_concurrent_index_and_other_statements_alone() -> None:
    script = parse_script(
        "CREATE INDEX CONCURRENTLY i1 ON t (a);\n"
        "-- a comment\nCREATE UNIQUE INDEX i2 ON t (b);\n"
        "VACUUM t;\nALTER TABLE t ADD COLUMN c int;\n"
    )
    steps = online_plan(script)
    assert [s.kind for s in steps] == ["concurrent", "concurrent", "alone", "transaction"]
    assert steps[0].statements[0].sql == "CREATE INDEX CONCURRENTLY i1 ON t (a)"
    assert steps[1].statements[0].sql == "CREATE UNIQUE INDEX CONCURRENTLY i2 ON t (b)"


# ----------------------------------------------------------------------------- with writers


def test_online_run_keeps_writes_flowing_and_validates(sample_db) -> None:
    """A long reader holds sent_atas while the migration starts: the ALTER TABLE on it
    must wait.  Online, it gives up after lock_timeout, lets the queued writers go,
    retries, and the migration completes; no write waited longer than lock_timeout."""
    lock_timeout_s = 0.3
    events: list[Event] = []
    reader = SlowReader(sample_db.dsn, "public.sent_atas", 1.2)
    started = time.perf_counter()
    with Writer(sample_db.dsn) as writer:
        reader.start()
        result = run_script(
            sample_db.dsn, load_script(MIGRATION_SQL), on_event=events.append,
            lock_timeout=f"{int(lock_timeout_s * 1000)}ms", statement_timeout="2min",
            online=FAST_RETRY,
        )
        time.sleep(0.2)  # writes after the run, too
    reader.join()
    elapsed = time.perf_counter() - started

    assert result.outcome == "committed", result.message
    assert result.ok and elapsed < 60
    retries = [e for e in events if isinstance(e, LockRetry)]
    assert retries, "the long reader never made a statement wait: the test proves nothing"
    assert retries[0].index == 2 and retries[0].lock_timeout == "300ms"
    assert retries[0].rolled_back == (), "sent_atas is the first table the step locks"
    assert isinstance(events[0], RunStarted) and events[0].transaction == "online"
    for event in retries:  # the events survive the journal's round trip
        assert event_from_record(event.to_record()) == event

    assert not writer.errors, writer.errors[:3]
    assert len(writer.latencies) > 50
    worst = max(writer.latencies)
    assert worst < lock_timeout_s + WRITE_SLACK_S, f"a write waited {worst:.3f} s"

    table = run_validation(sample_db.connect(), load_runbook(DEFAULT_RUNBOOK))
    assert table.passed, [r for r in table.rows if r[-1] != "pass"]
    assert _invalid_indexes(sample_db) == []


def test_transaction_mode_blocks_the_same_writer_for_the_whole_wait(sample_db) -> None:
    """The control for the test above: the default mode with the same long reader makes
    writers queue behind the waiting ALTER TABLE for as long as the reader runs."""
    reader = SlowReader(sample_db.dsn, "public.sent_atas", 1.2)
    with Writer(sample_db.dsn) as writer:
        reader.start()
        result = run_script(sample_db.dsn, load_script(MIGRATION_SQL),
                            lock_timeout="5s", statement_timeout="2min")
        time.sleep(0.2)
    reader.join()
    assert result.outcome == "committed", result.message
    assert max(writer.latencies) > 0.8


def test_lock_timeouts_that_never_end_fail_the_run_after_the_attempts(sample_db) -> None:
    events: list[Event] = []
    reader = SlowReader(sample_db.dsn, "public.sent_atas", 3.0).start()
    result = run_script(
        sample_db.dsn, load_script(MIGRATION_SQL), on_event=events.append,
        lock_timeout="100ms", statement_timeout="1min",
        online=OnlinePolicy(max_attempts=3, first_backoff_s=0.1),
    )
    reader.join()
    assert result.outcome == "failed"
    assert [e.attempt for e in events if isinstance(e, LockRetry)] == [1, 2]
    failed = [e for e in events if isinstance(e, StatementFailed)]
    assert failed[-1].sqlstate == "55P03" and "3 attempts" in failed[-1].message
    assert "0 of 25 steps are committed" in (result.message or "")
    assert sample_db.scalar(
        "SELECT count(*) FROM information_schema.columns"
        " WHERE table_name = 'sent_atas' AND column_name = 'deleted_at'") == 0


# ----------------------------------------------------------------------------- INVALID indexes

SLOW_INDEX_SQL = """
CREATE TABLE IF NOT EXISTS public.big (id int PRIMARY KEY, v int);
CREATE OR REPLACE FUNCTION public.slow_key(x int) RETURNS int
    LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN PERFORM pg_sleep(0.01); RETURN x; END $$;
CREATE INDEX IF NOT EXISTS big_slow ON public.big (public.slow_key(v));
"""


def _write(tmp_path: Path, name: str, sql: str) -> Path:
    path = tmp_path / name
    path.write_text(sql)
    return path


def test_cancelled_build_leaves_no_invalid_index_and_a_rerun_succeeds(
    empty_db, tmp_path: Path
) -> None:
    with empty_db.connect() as conn:
        conn.execute("CREATE TABLE public.big (id int PRIMARY KEY, v int)")
        conn.execute("INSERT INTO public.big SELECT g, g FROM generate_series(1, 2000) g")
    script = load_script(_write(tmp_path, "slow.sql", SLOW_INDEX_SQL))
    cancel = CancelToken()
    events: list[Event] = []
    result: list[RunResult] = []

    def on_event(event: Event) -> None:
        events.append(event)
        if isinstance(event, StatementStarted) and "big_slow" in event.sql:
            threading.Timer(0.5, cancel.cancel).start()

    thread = threading.Thread(target=lambda: result.append(run_script(
        empty_db.dsn, script, on_event=on_event, cancel=cancel, lock_timeout="1s",
        online=FAST_RETRY)))
    thread.start()
    thread.join(30)
    # the table and the function were committed before the build: not "nothing changed"
    assert result and result[0].outcome == "partially_applied", result
    assert "cancelled at statement 3" in (result[0].message or "")
    cleaned = [e for e in events if isinstance(e, InvalidIndex)]
    assert [(e.index_name, e.found, e.action) for e in cleaned] == [
        ("public.big_slow", "after_cancel", "dropped")]
    assert _invalid_indexes(empty_db) == []

    again = run_script(empty_db.dsn, script, lock_timeout="1s", online=FAST_RETRY)
    assert again.outcome == "committed", again.message
    assert empty_db.scalar(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.big_slow'::regclass")


def test_an_invalid_index_left_by_an_earlier_run_is_dropped_and_built_again(
    empty_db, tmp_path: Path
) -> None:
    with empty_db.connect() as conn:
        conn.execute("CREATE TABLE public.t (a int)")
        conn.execute("INSERT INTO public.t SELECT g FROM generate_series(1, 100) g")
        with pytest.raises(psycopg.errors.DivisionByZero):
            conn.execute("CREATE INDEX CONCURRENTLY t_inv ON public.t ((100 / (a - 5)))")
        conn.execute("DELETE FROM public.t WHERE a = 5")
    assert _invalid_indexes(empty_db) == ["t_inv"]
    script = load_script(_write(
        tmp_path, "inv.sql", "CREATE INDEX IF NOT EXISTS t_inv ON public.t ((100 / (a - 5)));"))
    events: list[Event] = []
    result = run_script(empty_db.dsn, script, on_event=events.append, online=FAST_RETRY)
    assert result.outcome == "committed", result.message
    assert [(e.found, e.action) for e in events if isinstance(e, InvalidIndex)] == [
        ("before_build", "dropped")]
    assert _invalid_indexes(empty_db) == []

    # Transaction mode has no such cleanup: IF NOT EXISTS accepts an INVALID index.
    with empty_db.connect() as conn:
        conn.execute("DROP INDEX public.t_inv")
        conn.execute("INSERT INTO public.t VALUES (5)")
        with pytest.raises(psycopg.errors.DivisionByZero):
            conn.execute("CREATE INDEX CONCURRENTLY t_inv ON public.t ((100 / (a - 5)))")
        conn.execute("DELETE FROM public.t WHERE a = 5")
    assert run_script(empty_db.dsn, script).outcome == "committed"
    assert _invalid_indexes(empty_db) == ["t_inv"]


def test_a_failed_unique_build_is_cleaned_up_and_reported(base_db, tmp_path: Path) -> None:
    load_sample_data(base_db.dsn, scale=0.02, with_duplicate_categories=True)
    events: list[Event] = []
    result = run_script(base_db.dsn, load_script(MIGRATION_SQL), on_event=events.append,
                        online=FAST_RETRY)
    assert result.outcome == "partially_applied"
    failed = [e for e in events if isinstance(e, StatementFailed)]
    assert failed[-1].sqlstate == "23505"
    assert "unique_user_category_name" in failed[-1].sql
    assert "1 of 25 steps are committed" in (result.message or "")
    assert [(e.index_name, e.found, e.action) for e in events
            if isinstance(e, InvalidIndex)] == [
        ("public.unique_user_category_name", "after_failure", "dropped")]
    assert _invalid_indexes(base_db) == []

    # the operator fixes the data; the re-run resumes over the committed first step
    with base_db.connect() as conn:
        conn.execute("UPDATE public.categories c SET name = c.name || ' ' || c.id"
                     " WHERE EXISTS (SELECT 1 FROM public.categories d WHERE d.user_id ="
                     " c.user_id AND lower(d.name) = lower(c.name) AND d.id < c.id)")
    again = run_script(base_db.dsn, load_script(MIGRATION_SQL), online=FAST_RETRY)
    assert again.outcome == "committed", again.message
    table = run_validation(base_db.connect(), load_runbook(DEFAULT_RUNBOOK))
    assert table.passed, [r for r in table.rows if r[-1] != "pass"]


def test_validation_fails_an_invalid_index(migrated_db) -> None:
    migrated_db.query(
        "UPDATE pg_index SET indisvalid = false"
        " WHERE indexrelid = 'public.idx_accounts_user_type'::regclass RETURNING 1")
    table = run_validation(migrated_db.connect(), load_runbook(DEFAULT_RUNBOOK))
    assert table.passed is False
    failing = [r for r in table.rows if r[-1] == "fail"]
    assert [r[0] for r in failing] == ["index:idx_accounts_user_type"]
    assert "INVALID" in failing[0][2]


def test_retries_and_invalid_indexes_have_one_line_each() -> None:
    from spfp_console.session.presentation import describe, outcome_text

    retry = describe(LockRetry(
        index=4, file="/x/m.sql", line=23, attempt=1, max_attempts=8, backoff_s=0.25,
        lock_timeout="500ms", message="canceling statement due to lock timeout",
        rolled_back=(2, 3)))
    assert retry is not None and retry.status == "warn"
    assert retry.text == (
        "   lock_timeout 500ms at m.sql:23 (attempt 1 of 8): canceling statement due to lock"
        " timeout; statements 2, 3 of its step undone; writers go on, retrying in 0.25 s")
    dropped = describe(InvalidIndex(index_name="public.i", table="t", found="after_cancel",
                                    action="dropped"))
    assert dropped is not None and dropped.status == "warn"
    assert "left by the cancelled build" in dropped.text
    kept = describe(InvalidIndex(index_name="public.i", table="t", found="after_failure",
                                 action="drop_failed", message="lock timeout; drop it"))
    assert kept is not None and kept.status == "fail" and kept.details == ("lock timeout; drop it",)
    assert "part-way" in outcome_text("partially_applied")


def test_a_partially_applied_run_counts_as_committed_in_the_session_state() -> None:
    from spfp_console.events import RunFinished
    from spfp_console.session.state import fold

    started = RunStarted(mode="run", script="m.sql", statements=3, transaction="online")
    stopped = RunFinished(mode="run", outcome="partially_applied", duration_s=1.0,
                          statements_ok=1, statements_failed=1)
    assert fold([started, stopped]).committed
    failed = RunFinished(mode="run", outcome="failed", duration_s=1.0, statements_failed=1)
    assert not fold([started, failed]).committed


class OldSnapshot:
    """A transaction with a snapshot, idle for ``seconds``: CREATE INDEX CONCURRENTLY
    waits for it to end (while writers go on)."""

    def __init__(self, dsn: str, seconds: float) -> None:
        self.ready = threading.Event()
        self._thread = threading.Thread(target=self._hold, args=(dsn, seconds), daemon=True)

    def _hold(self, dsn: str, seconds: float) -> None:
        with psycopg.connect(dsn) as conn:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            conn.execute("SELECT 1")
            self.ready.set()
            time.sleep(seconds)
            conn.rollback()

    def __enter__(self) -> OldSnapshot:
        self._thread.start()
        assert self.ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join(15)


@pytest.mark.parametrize("build_lock_timeout", [None, "10s"])
def test_an_index_build_waits_for_old_transactions_with_its_own_lock_timeout(
    empty_db, tmp_path: Path, build_lock_timeout: str | None
) -> None:
    with empty_db.connect() as conn:
        conn.execute("CREATE TABLE public.t (a int)")
    script = load_script(_write(tmp_path, "i.sql", "CREATE INDEX IF NOT EXISTS t_a ON public.t (a);"))
    events: list[Event] = []
    policy = OnlinePolicy(build_lock_timeout=build_lock_timeout, max_attempts=20,
                          first_backoff_s=0.1, max_backoff_s=0.2)
    with OldSnapshot(empty_db.dsn, 1.5):
        result = run_script(empty_db.dsn, script, on_event=events.append,
                            lock_timeout="100ms", online=policy)
    assert result.outcome == "committed", result.message
    retries = [e for e in events if isinstance(e, LockRetry)]
    if build_lock_timeout is None:  # the short timeout turns the wait into failed builds
        assert retries and all(e.lock_timeout == "100ms" for e in retries)
        assert any(isinstance(e, InvalidIndex) and e.action == "dropped" for e in events)
    else:
        assert retries == []
    assert _invalid_indexes(empty_db) == []
