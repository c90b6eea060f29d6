"""Online mode: run a migration while the application keeps writing.

The plan (:mod:`.online_plan`) cuts the script into steps in script order: each CREATE
INDEX becomes CREATE INDEX CONCURRENTLY, run alone in autocommit (SHARE UPDATE EXCLUSIVE:
writers go on); the statements between two index builds run together in one short
transaction.  Every statement runs with a short ``lock_timeout``:

* A DDL statement that must wait for a lock (a long reader holds the table) would make
  every writer queue behind it; with the short timeout it gives up instead (55P03), the
  step rolls back (releasing the locks its earlier statements took, so their writers go
  on too), and the step runs again after a backoff that doubles each time.  Each retry is
  a :class:`~spfp_console.events.LockRetry` event.  Retrying the statement alone inside
  the open transaction would keep the earlier statements' locks while it waits: the
  writers of those tables would wait as long.
* An index build waits for every transaction older than it, but while it waits it holds
  only SHARE UPDATE EXCLUSIVE, which no writer waits for: its waits can use a longer
  lock_timeout (``OnlinePolicy.build_lock_timeout``; the session passes the runbook's
  ``lock_timeout``), retried the same way.
* A concurrent build that fails or is cancelled leaves an INVALID index behind
  (``pg_index.indisvalid``), which ``IF NOT EXISTS`` then silently accepts on a re-run.
  Before each build an INVALID index of the same name is dropped (left by an earlier
  run); after a failed build the INVALID index it left is dropped
  (``DROP INDEX CONCURRENTLY``); each is an :class:`~spfp_console.events.InvalidIndex`
  event.  A lock timeout of the build itself is retried like any other.

Online mode is not atomic: a failure leaves the steps before it committed.  A re-run
resumes because every statement of the migration is idempotent.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus

from spfp_console.engine.executor import OnlinePolicy, _LostConnection, _Run
from spfp_console.engine.online_plan import Step, online_plan
from spfp_console.engine.script import Statement
from spfp_console.events import InvalidIndex, LockRetry, StatementSkipped, StatementStarted

_LOCK_NOT_AVAILABLE = "55P03"

_INVALID_ON_TABLE = """
SELECT i.indexrelid, quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relname,
       i.indrelid::regclass::text
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE i.indrelid = to_regclass(
        CASE WHEN %(schema)s::text IS NULL THEN quote_ident(%(table)s::text)
             ELSE quote_ident(%(schema)s::text) || '.' || quote_ident(%(table)s::text) END)
  AND NOT i.indisvalid
"""


class _StepFailed(Exception):
    """A step failed for good (already reported as a StatementFailed event)."""


class _Cancelled(Exception):
    pass


class OnlineRun(_Run):
    """:class:`_Run` with online mode's steps instead of one transaction."""

    def __init__(self, *args: Any, policy: OnlinePolicy, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.policy = policy
        self.steps_committed = 0
        self.lock_retries = 0
        self.invalid_dropped = 0
        self._saved_settings: tuple[str, str] | None = None

    @property
    def transaction_label(self) -> str:
        return "online"

    # ------------------------------------------------------------------ set-up

    def _begin(self) -> None:
        # Session-level, because the index builds run outside any transaction; restored
        # at the end, since the connection may be the caller's.
        from spfp_console.engine.errors import RunAborted

        try:
            row = self.conn.execute(
                "SELECT current_setting('lock_timeout'), current_setting('statement_timeout'),"
                " set_config('lock_timeout', %s, false),"
                " set_config('statement_timeout', %s, false)",
                (self.lock_timeout, self.statement_timeout),
                prepare=False,
            ).fetchone()
        except psycopg.Error as exc:
            raise RunAborted(
                "could not set the online mode's timeouts (lock_timeout="
                f"{self.lock_timeout!r}, statement_timeout={self.statement_timeout!r}): "
                f"{exc.diag.message_primary or exc}; nothing was run"
            ) from None
        assert row is not None
        self._saved_settings = (str(row[0]), str(row[1]))

    def _restore_settings(self) -> None:
        if self._saved_settings is None or self.conn.broken or self.conn.closed:
            return
        try:
            if self.conn.info.transaction_status != TransactionStatus.IDLE:
                self.conn.execute("ROLLBACK", prepare=False)
            self.conn.execute(
                "SELECT set_config('lock_timeout', %s, false),"
                " set_config('statement_timeout', %s, false)",
                self._saved_settings,
                prepare=False,
            )
        except psycopg.Error:
            pass  # the connection's own settings; the run's outcome is what matters

    # ------------------------------------------------------------------ the steps

    def _statements_then_end(self) -> tuple[str, str | None]:
        try:
            refused = self._hook_in_a_transaction()
            if refused is not None:
                return "refused", refused
            return self._steps()
        finally:
            self._restore_settings()

    def _hook_in_a_transaction(self) -> str | None:
        """The caller's ``before_statements`` hook, in a short transaction of its own
        (online mode has no transaction around the statements to run it in)."""
        if self.before_statements is None:
            return None
        try:
            self.conn.execute("BEGIN", prepare=False)
        except psycopg.Error as exc:
            return f"could not start the transaction of the pre-run check: {exc}"
        refused = self._before_statements()
        if refused is not None:
            self._rollback()
            return refused
        try:
            self.conn.execute("COMMIT", prepare=False)
        except psycopg.Error as exc:
            self._rollback()
            return f"the pre-run check could not commit ({exc}); nothing was changed"
        return None

    def _steps(self) -> tuple[str, str | None]:
        for stmt in self.script.statements:
            if stmt.kind == "transaction_control":
                self.skipped += 1
                self.emit(StatementSkipped(
                    index=stmt.index, file=stmt.file, line=stmt.line, sql=stmt.sql,
                    reason="transaction control: online mode runs short transactions of "
                    "its own between the concurrent index builds",
                ))
        steps = online_plan(self.script)
        try:
            for step in steps:
                if self.cancelled:
                    raise _Cancelled
                if step.kind == "transaction":
                    self._transaction_step(step)
                elif step.kind == "concurrent":
                    self._concurrent_step(step)
                else:
                    self._alone_step(step)
                self.steps_committed += 1
        except _Cancelled:
            where = f" at statement {self._last_index}" if self._last_index else ""
            return self._unfinished("cancelled"), (
                f"cancelled{where}; online mode: {self._progress(len(steps))}, the step "
                "that was running was undone; re-run to finish (every statement is "
                "idempotent)"
            )
        except _LostConnection as lost:
            stmt = self._lost_at
            return self._unfinished("failed"), (
                f"connection to the server was lost during statement {stmt.index} at "
                f"{stmt.where} ({lost}); online mode: {self._progress(len(steps))}; "
                "validate, then re-run"
            )
        except _StepFailed:
            failed = self.failures[-1]
            return self._unfinished("failed"), (
                f"statement {failed.index} at {failed.file}:{failed.error_line or failed.line}"
                f" failed ({failed.sqlstate}: {failed.message}); online mode: "
                f"{self._progress(len(steps))}; fix the cause and re-run (every statement is "
                "idempotent)"
            )
        unrecorded = self._after_steps_in_a_transaction()
        if unrecorded is not None:
            return self._unfinished("failed"), unrecorded
        builds = sum(1 for s in steps if s.kind == "concurrent")
        retries = f", {self.lock_retries} lock timeout(s) retried" if self.lock_retries else ""
        return "committed", (
            f"committed {self.ok} statements online in {len(steps)} steps ({builds} index "
            f"builds CONCURRENTLY{retries})"
        )

    def _after_steps_in_a_transaction(self) -> str | None:
        """The caller's ``before_commit`` bookkeeping (migration history, the database
        witness), in a short transaction of its own after the last step: online mode has
        no one transaction to put it in.  Why it failed, or None."""
        if self.before_commit is None:
            return None
        try:
            self.conn.execute("BEGIN", prepare=False)
            self.before_commit(self.conn)
            self.conn.execute("COMMIT", prepare=False)
        except psycopg.Error as exc:
            self._rollback()
            return (f"every step committed, but recording the run failed ({exc.sqlstate}:"
                    f" {exc.diag.message_primary or exc}); validate, then re-run to record"
                    " it (every statement is idempotent)")
        return None

    def _unfinished(self, outcome: str) -> str:
        """``outcome`` when nothing was committed, else ``partially_applied``: the words
        "failed" and "cancelled" promise that nothing changed."""
        return outcome if self.steps_committed == 0 else "partially_applied"

    def _progress(self, total: int) -> str:
        return f"{self.steps_committed} of {total} steps are committed"

    def _lock_timed_out(self, error: psycopg.Error) -> bool:
        return error.sqlstate == _LOCK_NOT_AVAILABLE and not self.cancelled

    def _backoff_or_give_up(
        self, stmt: Statement, error: psycopg.Error, attempt: int, rolled_back: tuple[int, ...],
        lock_timeout: str | None = None,
    ) -> bool:
        """After a lock timeout: True to try again (after the backoff), False when the
        attempts are spent."""
        if attempt >= self.policy.max_attempts:
            return False
        backoff = self.policy.backoff(attempt)
        self.lock_retries += 1
        self.emit(LockRetry(
            index=stmt.index, file=stmt.file, line=stmt.line, attempt=attempt,
            max_attempts=self.policy.max_attempts, backoff_s=round(backoff, 3),
            lock_timeout=lock_timeout or self.lock_timeout,
            message=error.diag.message_primary or str(error).strip(),
            rolled_back=rolled_back,
        ))
        if self.cancel is not None:
            if self.cancel.wait(backoff):
                raise _Cancelled
        else:
            time.sleep(backoff)
        return True

    def _give_up(self, stmt: Statement, error: psycopg.Error, duration: float,
                 attempts: int, lock_timeout: str | None = None) -> None:
        lost = self.conn.broken or self.conn.closed
        failure = self._failure(stmt, error, duration, lost=lost)
        if error.sqlstate == _LOCK_NOT_AVAILABLE and attempts > 1:
            failure = dataclasses.replace(
                failure,
                message=f"{failure.message} ({attempts} attempts with lock_timeout "
                f"{lock_timeout or self.lock_timeout}: the lock stayed taken)",
            )
        self._fail(failure)
        if lost:
            self._lost_at = stmt
            raise _LostConnection(error)
        if self.cancelled:
            raise _Cancelled
        raise _StepFailed

    def _start(self, stmt: Statement, sql: str) -> None:
        self._last_index = stmt.index
        self.emit(StatementStarted(index=stmt.index, file=stmt.file, line=stmt.line, sql=sql))

    # ------------------------------------------------------------------ a transaction

    def _transaction_step(self, step: Step) -> None:
        attempt = 1
        while True:
            done: list[int] = []
            self._server("BEGIN", step.statements[0])
            retry = False
            for stmt in step.statements:
                if self.cancelled:
                    self._rollback()
                    raise _Cancelled
                self._start(stmt, stmt.sql)
                cur, error, duration = self._send(stmt)
                if error is None:
                    self._finished_event(stmt, cur, duration)
                    done.append(stmt.index)
                    continue
                if self.conn.broken or self.conn.closed:
                    self._give_up(stmt, error, duration, attempt)
                self._rollback()
                if self._lock_timed_out(error) and self._backoff_or_give_up(
                    stmt, error, attempt, tuple(done)
                ):
                    attempt += 1
                    retry = True
                    break
                self._give_up(stmt, error, duration, attempt)
            if retry:
                continue
            try:
                self.conn.execute("COMMIT", prepare=False)
            except psycopg.Error as exc:
                last = step.statements[-1]
                if not (self.conn.broken or self.conn.closed):
                    self._rollback()
                self._give_up(last, exc, 0.0, attempt)
            self.ok += len(step.statements)
            return

    # ------------------------------------------------------------------ an index build

    def _concurrent_step(self, step: Step) -> None:
        longer = self.policy.build_lock_timeout
        if longer is None:
            self._build(step, self.lock_timeout)
            return
        self._set_lock_timeout(longer, step.statements[0])
        try:
            self._build(step, longer)
        finally:
            if not (self.conn.broken or self.conn.closed):
                self._set_lock_timeout(self.lock_timeout, step.statements[0])

    def _set_lock_timeout(self, value: str, stmt: Statement) -> None:
        for _ in range(3):  # a late cancel request may hit this short query
            try:
                self.conn.execute("SELECT set_config('lock_timeout', %s, false)", (value,),
                                  prepare=False)
                return
            except pg_errors.QueryCanceled:
                continue
            except psycopg.Error as exc:
                if self.conn.broken or self.conn.closed:
                    self._lost_at = stmt
                    raise _LostConnection(exc) from None
                raise

    def _build(self, step: Step, lock_timeout: str) -> None:
        stmt = step.statements[0]
        attempt = 1
        while True:
            before = self._invalid_indexes(step)
            for oid, qualified, name, table in before:
                if step.index_name is not None and name == step.index_name:
                    self._drop_invalid(stmt, qualified, table, "before_build")
                    before = [b for b in before if b[0] != oid]
            known = {b[0] for b in before}
            self._start(stmt, stmt.sql)
            cur, error, duration = self._send(stmt)
            if error is None:
                self._finished_event(stmt, cur, duration)
                self.ok += 1
                return
            if self.conn.broken or self.conn.closed:
                self._give_up(stmt, error, duration, attempt)
            found = "after_cancel" if self.cancelled else "after_failure"
            for oid, qualified, _name, table in self._invalid_indexes(step):
                if oid not in known:
                    self._drop_invalid(stmt, qualified, table, found)
            if self._lock_timed_out(error) and self._backoff_or_give_up(
                stmt, error, attempt, (), lock_timeout
            ):
                attempt += 1
                continue
            self._give_up(stmt, error, duration, attempt, lock_timeout)

    def _invalid_indexes(self, step: Step) -> list[tuple[int, str, str, str]]:
        if step.table is None:
            return []
        for _ in range(3):  # a late cancel request may hit this short query
            try:
                rows = self.conn.execute(
                    _INVALID_ON_TABLE, {"schema": step.schema, "table": step.table},
                    prepare=False,
                ).fetchall()
                return [(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]
            except pg_errors.QueryCanceled:
                continue
        return []

    def _drop_invalid(self, stmt: Statement, qualified: str, table: str, found: str) -> None:
        message: str | None = None
        action = "dropped"
        for _ in range(3):
            try:
                self.conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {qualified}",
                                  prepare=False)
                message = None
                break
            except pg_errors.QueryCanceled as exc:  # a late cancel request: once more
                message = exc.diag.message_primary or str(exc)
            except psycopg.Error as exc:
                message = exc.diag.message_primary or str(exc)
                if self.conn.broken or self.conn.closed:
                    break
        if message is not None:
            action = "drop_failed"
            message = (f"{message}; drop it with DROP INDEX CONCURRENTLY {qualified}, or "
                       "re-run (online mode drops it before building again)")
        else:
            self.invalid_dropped += 1
        self.emit(InvalidIndex(index_name=qualified, table=table, found=found,
                               action=action, index=stmt.index, message=message))

    # ------------------------------------------------------------------ anything else

    def _alone_step(self, step: Step) -> None:
        stmt = step.statements[0]
        attempt = 1
        while True:
            self._start(stmt, stmt.sql)
            cur, error, duration = self._send(stmt)
            if error is None:
                self._finished_event(stmt, cur, duration)
                self.ok += 1
                return
            if self._lock_timed_out(error) and not (self.conn.broken or self.conn.closed) \
                    and self._backoff_or_give_up(stmt, error, attempt, ()):
                attempt += 1
                continue
            self._give_up(stmt, error, duration, attempt)
