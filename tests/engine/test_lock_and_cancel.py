"""Concurrency on real PostgreSQL: the deployment lock, lock waits, cancel, a killed
backend, and index build progress seen from the side connection."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest

from spfp_console.engine import advisory_lock
from spfp_console.engine.errors import LockHeldError
from spfp_console.engine.executor import CancelToken, RunResult, run_script
from spfp_console.engine.script import load_script, parse_script
from spfp_console.events import (
    Event,
    IndexBuildProgress,
    LockWait,
    RunFinished,
    RunStarted,
    ServerNotice,
    StatementStarted,
)
from spfp_console.paths import MIGRATION_SQL

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SLOW = FIXTURES / "slow_migration.sql"


class Background:
    """run_script in a thread, with its events and a flag raised when a statement whose
    SQL contains ``marker`` starts."""

    def __init__(self, dsn: str, script, marker: str = "pg_sleep", **kwargs) -> None:
        self.events: list[Event] = []
        self.reached = threading.Event()
        self.result: RunResult | None = None
        self.error: BaseException | None = None
        self.marker = marker
        self.thread = threading.Thread(
            target=self._run, args=(dsn, script), kwargs=kwargs, daemon=True
        )

    def _on_event(self, event: Event) -> None:
        self.events.append(event)
        if isinstance(event, StatementStarted) and self.marker in event.sql:
            self.reached.set()

    def _run(self, dsn: str, script, **kwargs) -> None:
        try:
            self.result = run_script(dsn, script, on_event=self._on_event, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - surfaced by join()
            self.error = exc

    def start(self) -> Background:
        self.thread.start()
        assert self.reached.wait(15), f"never reached {self.marker!r}: {self.error!r}"
        time.sleep(0.3)  # let the statement really start on the server
        return self

    def join(self, timeout: float = 20) -> RunResult:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "run did not finish"
        if self.error:
            raise self.error
        assert self.result is not None
        return self.result

    @property
    def backend_pid(self) -> int:
        started = next(e for e in self.events if isinstance(e, RunStarted))
        assert started.backend_pid
        return started.backend_pid


def test_second_executor_is_refused_while_the_first_holds_the_lock(base_db) -> None:
    cancel = CancelToken()
    first = Background(base_db.dsn, load_script(SLOW), cancel=cancel).start()
    try:
        with pytest.raises(LockHeldError) as info:
            run_script(base_db.tcp_dsn(), load_script(MIGRATION_SQL))
        err = info.value
        assert err.pid == first.backend_pid
        assert err.user == "postgres"
        assert err.application_name == "spfp-console"
        text = str(err)
        assert f"pid {first.backend_pid}" in text and "user postgres" in text
        assert "connected since" in text and "spfp-local-superuser" not in text
        assert f"pg_terminate_backend({first.backend_pid})" in text
    finally:
        cancel.cancel()
    assert first.join().outcome == "cancelled"
    # Released at the end: a new run takes the lock fine.
    assert run_script(base_db.dsn, parse_script("select 1;")).outcome == "committed"


def test_lock_held_by_a_plain_session_names_it(base_db) -> None:
    with base_db.connect(application_name="someone-else") as other:
        advisory_lock.acquire(other)
        with pytest.raises(LockHeldError) as info:
            run_script(base_db.dsn, parse_script("select 1;"))
        assert info.value.pid == other.info.backend_pid
        assert "'someone-else'" in str(info.value)


def test_locked_table_waits_reports_blocker_then_fails_at_lock_timeout(base_db) -> None:
    before = base_db.schema_dump()
    events: list[Event] = []
    with base_db.connect(application_name="blocker") as blocker:
        blocker.execute("BEGIN")
        blocker.execute("LOCK TABLE public.sent_atas IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        result = run_script(
            base_db.dsn,
            load_script(MIGRATION_SQL),
            on_event=events.append,
            lock_timeout="2s",
            monitor_interval=0.2,
        )
        elapsed = time.monotonic() - started
        blocker_pid = blocker.info.backend_pid
        blocker.execute("ROLLBACK")
    assert result.outcome == "rolled_back"
    (failed,) = result.failures
    assert failed.sqlstate == "55P03" and failed.line == 23
    assert "lock timeout" in failed.message
    assert 1.8 < elapsed < 10
    waits = [e for e in events if isinstance(e, LockWait)]
    assert waits, "no LockWait reported while waiting for the blocker"
    assert {w.blocker_pid for w in waits} == {blocker_pid}
    assert waits[0].index == failed.index and waits[0].blocker_user == "postgres"
    assert "LOCK TABLE public.sent_atas" in (waits[0].blocker_query or "")
    assert waits[0].blocker_since and max(w.waited_s for w in waits) > 0.5
    # LockWait events come before the failure they explain.
    assert events.index(waits[-1]) < events.index(failed)
    assert base_db.schema_dump() == before


def test_cancel_stops_the_running_statement_quickly(base_db) -> None:
    before = base_db.schema_dump()
    cancel = CancelToken()
    run = Background(base_db.dsn, load_script(SLOW), cancel=cancel).start()
    asked = time.monotonic()
    cancel.cancel()
    result = run.join()
    took = time.monotonic() - asked
    assert took < 1.5, f"cancel took {took:.2f} s"
    assert result.outcome == "cancelled"
    assert [(f.line, f.sqlstate) for f in result.failures] == [(9, "57014")]
    assert "cancelled by the operator" in result.failures[0].message
    end = run.events[-1]
    assert isinstance(end, RunFinished) and end.outcome == "cancelled"
    assert not any(isinstance(e, StatementStarted) and e.line == 11 for e in run.events)
    assert base_db.scalar("select to_regclass('public.idx_sent_atas_deleted_at')") is None
    assert base_db.schema_dump() == before


def test_cancel_before_start_runs_nothing(base_db) -> None:
    cancel = CancelToken()
    cancel.cancel()
    result = run_script(base_db.dsn, load_script(SLOW), cancel=cancel)
    assert result.outcome == "cancelled" and result.statements_ok == 0


def test_rehearsal_cancel_stops_instead_of_continuing(base_db) -> None:
    cancel = CancelToken()
    run = Background(base_db.dsn, load_script(SLOW), mode="rehearse", cancel=cancel).start()
    cancel.cancel()
    result = run.join()
    assert result.outcome == "cancelled"
    assert not any(isinstance(e, StatementStarted) and e.line == 11 for e in run.events)


def test_terminated_backend_is_a_clear_failure_with_nothing_applied(base_db) -> None:
    before = base_db.schema_dump()
    run = Background(base_db.tcp_dsn(), load_script(SLOW)).start()
    assert base_db.scalar("select pg_terminate_backend(%s)", (run.backend_pid,)) is True
    result = run.join()
    assert result.outcome == "rolled_back"
    (failed,) = result.failures
    assert failed.line == 9 and failed.sqlstate == "57P01"
    assert "connection to the server was lost during statement 4 at" in failed.message
    assert "slow_migration.sql:9" in failed.message
    end = run.events[-1]
    assert isinstance(end, RunFinished) and end.outcome == "rolled_back"
    assert "rolled back the open transaction" in (end.message or "")
    assert base_db.scalar("select to_regclass('public.idx_sent_atas_deleted_at')") is None
    assert base_db.schema_dump() == before
    # The server dropped the advisory lock with the session.
    assert run_script(base_db.dsn, parse_script("select 1;")).outcome == "committed"


def test_index_build_progress_is_reported(empty_db) -> None:
    with empty_db.connect() as conn:
        conn.execute(
            "create table big as select i, md5(i::text) as s from generate_series(1, 2000000) i"
        )
        conn.execute("analyze big")
    events: list[Event] = []
    script = parse_script("create index big_s on big (s, i);", file="index.sql")
    result = run_script(empty_db.dsn, script, on_event=events.append, monitor_interval=0.05)
    assert result.outcome == "committed"
    progress = [e for e in events if isinstance(e, IndexBuildProgress)]
    assert progress, "no IndexBuildProgress sample during a multi-second index build"
    assert all(p.index == 1 and p.phase for p in progress)
    assert any(p.phase.startswith("building index") for p in progress)
    assert any(p.relation == "big" for p in progress)
    assert any(p.tuples_total or p.blocks_total for p in progress)
    # Samples come between the statement's start and its end.
    first = events.index(progress[0])
    assert isinstance(events[first - 1], (StatementStarted, IndexBuildProgress))


def test_monitor_failure_does_not_break_the_run(base_db, monkeypatch) -> None:
    # A caller's own connection over TCP: its conninfo no longer holds the password, so
    # the monitor's side connection cannot authenticate.  The run must not care.
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", "/nonexistent")
    events: list[Event] = []
    with psycopg.connect(base_db.tcp_dsn(), autocommit=True) as conn:
        result = run_script(
            conn,
            parse_script("select pg_sleep(0.3);\ncreate table public.t3 (a int);"),
            on_event=events.append,
            monitor_interval=0.05,
        )
    assert result.outcome == "committed"
    warnings = [e for e in events if isinstance(e, ServerNotice) and e.severity == "WARNING"]
    assert len(warnings) == 1
    assert "progress monitor stopped" in warnings[0].message
    assert "spfp-local-superuser" not in warnings[0].message
    assert base_db.scalar("select to_regclass('public.t3') is not null")
