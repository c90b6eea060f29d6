"""Execute a script statement by statement, in one transaction, speaking only in events.

Two modes:

* ``run``: the whole script in one transaction the engine owns (the script's own
  BEGIN/COMMIT are skipped and reported as skipped).  The first failure rolls everything
  back; the transaction commits only when every statement succeeded.
* ``rehearse``: the same transaction, each statement inside a SAVEPOINT; a failure rolls
  back to the savepoint and the run goes on, so **every** failing statement is reported
  in one pass (syntax errors from a tolerant load included); at the end everything is
  rolled back.  Nothing changes.

Around the statements: a session-level advisory lock (one deployment per database at a
time), ``lock_timeout``/``statement_timeout`` set locally to the transaction, a side
connection sampling index build progress and lock waits (:mod:`.monitor`), server notices
forwarded as events, and a :class:`CancelToken` that stops the running statement.

The engine never prints and never imports Textual: ``on_event`` receives every event
(from the calling thread, or the monitor's thread for progress and lock-wait samples;
calls are serialized), and failures that prevent a run raise :class:`EngineError`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import field
from typing import Any, Literal

import psycopg
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus

from spfp_console.engine import advisory_lock
from spfp_console.engine.advisory_lock import DEFAULT_LOCK_KEY
from spfp_console.engine.connect import Target, side_connection, target_of
from spfp_console.engine.errors import EngineError, RunAborted, ScriptError
from spfp_console.engine.monitor import StatementMonitor
from spfp_console.engine.rehearsal_effects import (
    IrreversibleEffect,
    describe_irreversible,
    irreversible_effects,
)
from spfp_console.engine.script import Script, Statement, require_statements
from spfp_console.errors import first_line
from spfp_console.events import (
    Event,
    CommitSent,
    RunFinished,
    RunStarted,
    ServerNotice,
    StatementFailed,
    StatementFinished,
    StatementSkipped,
    StatementStarted,
    run_succeeded,
)
from spfp_console.lean_dataclass import lean_dataclass

Mode = Literal["run", "rehearse"]
Outcome = Literal[
    "committed", "rolled_back", "failed", "cancelled", "rehearsed", "refused",
    "partially_applied",
]
"""``refused``: the ``before_statements`` hook stopped the run before any statement.
``partially_applied``: online mode only, a failure or cancel after some steps had
committed (online mode is not atomic)."""

_SAVEPOINT = "spfp_statement"
_CANCEL_RESEND_S = 0.2


class CancelToken:
    """Ask a running script to stop.  Thread-safe; :meth:`cancel` returns immediately.

    The executor cancels the running statement (a protocol cancel request, like Ctrl-C in
    psql), and the run ends rolled back with outcome ``cancelled``.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    def cancel(self) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._event.wait(timeout)

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (quickly, non-blocking) on cancel; returns an unsubscribe.
        Called at once if the token is already cancelled."""
        with self._lock:
            already = self._event.is_set()
            if not already:
                self._callbacks.append(callback)
        if already:
            callback()

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return unsubscribe


@lean_dataclass
class RunResult:
    """How a run ended.  The events tell the story; this is the summary."""

    mode: str
    outcome: str
    """committed, rolled_back, failed, cancelled, rehearsed or refused."""
    statements_ok: int
    failures: list[StatementFailed] = field(default_factory=list)
    duration_s: float = 0.0
    events: int = 0
    """How many events the run emitted."""
    skipped: int = 0
    message: str | None = None

    @property
    def ok(self) -> bool:
        """Committed, or rehearsed without a single failure."""
        return run_succeeded(self.outcome, len(self.failures))


def check_runnable(script: Script) -> None:
    """Refuse, before anything runs, a script that ``run`` mode cannot execute safely."""
    for stmt in script.statements:
        if stmt.kind == "syntax_error":
            raise ScriptError(
                stmt.file,
                stmt.error_line or stmt.line,
                f"{stmt.note}; nothing was run (rehearse lists every problem in one pass)",
            )
    for stmt in script.statements:
        if stmt.kind == "no_transaction":
            raise ScriptError(
                stmt.file,
                stmt.line,
                f"{stmt.note}, and run executes the whole script in one transaction; "
                "move it to a script of its own (nothing was run)",
            )
        if stmt.kind == "transaction_control" and stmt.control == "rollback":
            raise ScriptError(
                stmt.file,
                stmt.line,
                "the script rolls back its own transaction here, and run owns the "
                "transaction and would commit instead; remove the ROLLBACK, or rehearse "
                "(nothing was run)",
            )


@lean_dataclass(frozen=True)
class OnlinePolicy:
    """How online mode retries a statement that timed out waiting for a lock."""

    build_lock_timeout: str | None = None
    """lock_timeout of the concurrent index builds (and of dropping INVALID leftovers);
    None: the run's short one.  A waiting CREATE INDEX CONCURRENTLY holds only SHARE
    UPDATE EXCLUSIVE, which no INSERT, UPDATE or DELETE waits for, and it waits for every
    transaction older than it: the short timeout would only turn a harmless wait behind a
    long transaction into failed builds."""
    max_attempts: int = 8
    first_backoff_s: float = 0.25
    """The wait after the first lock timeout; it doubles after each further one."""
    max_backoff_s: float = 5.0

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after ``attempt`` (1-based) timed out."""
        return min(self.max_backoff_s, self.first_backoff_s * 2 ** (attempt - 1))


def check_runnable_online(script: Script) -> None:
    """Refuse, before anything runs, a script online mode cannot execute."""
    for stmt in script.statements:
        if stmt.kind == "syntax_error":
            raise ScriptError(
                stmt.file,
                stmt.error_line or stmt.line,
                f"{stmt.note}; nothing was run (rehearse lists every problem in one pass)",
            )
        if stmt.kind == "transaction_control" and stmt.control == "rollback":
            raise ScriptError(
                stmt.file,
                stmt.line,
                "the script rolls back its own transaction here, and online mode commits "
                "step by step; remove the ROLLBACK, or rehearse (nothing was run)",
            )


def run_script(
    target_or_conn: Target | psycopg.Connection[Any] | str,
    script: Script,
    *,
    mode: Mode = "run",
    on_event: Callable[[Event], None] | None = None,
    lock_timeout: str = "5s",
    statement_timeout: str = "0",
    cancel: CancelToken | None = None,
    advisory_lock_key: int | None = DEFAULT_LOCK_KEY,
    monitor_interval: float = 0.5,
    before_statements: Callable[[psycopg.Connection[Any]], None] | None = None,
    online: bool | OnlinePolicy = False,
    before_commit: Callable[[psycopg.Connection[Any]], None] | None = None,
) -> RunResult:
    """Run or rehearse ``script`` on a target (see the module docstring).

    ``online`` (run mode only): each index built CONCURRENTLY outside a transaction,
    everything else in short transactions, lock timeouts retried with backoff
    (:mod:`.online`; an :class:`OnlinePolicy` sets the retries).  ``lock_timeout`` is then
    the short wait each statement allows itself before it lets the table's writers go.

    ``target_or_conn``: a :class:`Target` or DSN string (the engine opens and closes its
    connection) or an open autocommit connection that is idle (left open afterwards).
    ``advisory_lock_key=None`` skips the deployment lock (scratch databases only).
    ``monitor_interval <= 0`` turns the progress/lock-wait monitor off.
    ``before_commit`` writes what belongs in the run's own transaction but not in the
    script, e.g. Supabase's migration history: called with the connection after the last
    statement succeeded, just before COMMIT; a database error from it rolls the whole run
    back (outcome ``rolled_back``), so the bookkeeping never disagrees with the schema.
    An :class:`EngineError` it raises (e.g. the data integrity check found rows changed)
    rolls the run back the same way, with its message.  In rehearse mode it is called
    before the rollback instead, and what it raises makes the outcome ``rolled_back``.

    ``before_statements(conn)`` runs inside the engine's transaction, after the timeouts
    are set and before the first statement: what it reads or locks is what the script
    then acts on (the rollback re-counts the data it destroys there, under lock).  An
    :class:`EngineError` or a database error it raises ends the run rolled back, with
    its message, before any statement ran.

    Statement failures do not raise: they are events and :attr:`RunResult.failures`.
    Raises :class:`ScriptError` (run mode refuses the script up front),
    :class:`ConnectError`, :class:`LockHeldError` (another deployment holds the lock) or
    :class:`RunAborted` (bad timeout settings, a connection not idle, ...).
    """
    if mode not in ("run", "rehearse"):
        raise ValueError(f"unknown mode {mode!r}: expected 'run' or 'rehearse'")
    require_statements(script)
    policy = OnlinePolicy() if online is True else (online or None)
    if policy is not None and mode != "run":
        raise ValueError("online mode applies to run, not to rehearse")
    if policy is not None:
        check_runnable_online(script)
    elif mode == "run":
        check_runnable(script)

    owned = not isinstance(target_or_conn, psycopg.Connection)
    if isinstance(target_or_conn, psycopg.Connection):
        conn = target_or_conn
    else:
        target = Target(target_or_conn) if isinstance(target_or_conn, str) else target_or_conn
        conn = target.connect(autocommit=True)
    try:
        if conn.closed or not conn.autocommit:
            raise RunAborted(
                "the connection given to run_script must be open and in autocommit mode "
                "(the engine manages the transaction itself)"
            )
        if conn.info.transaction_status != TransactionStatus.IDLE:
            raise RunAborted(
                "the connection given to run_script is inside a transaction; commit or "
                "roll it back first (the engine manages the transaction itself)"
            )
        if advisory_lock_key is not None:
            advisory_lock.acquire(conn, advisory_lock_key)
        try:
            run_class: type[_Run] = _Run
            extra: dict[str, Any] = {}
            if policy is not None:
                from spfp_console.engine.online import OnlineRun

                run_class, extra = OnlineRun, {"policy": policy}
            run = run_class(
                conn,
                script,
                mode=mode,
                on_event=on_event,
                lock_timeout=lock_timeout,
                statement_timeout=statement_timeout,
                cancel=cancel,
                monitor_interval=monitor_interval,
                before_statements=before_statements,
                **extra,
                before_commit=before_commit,
            )
            return run.execute()
        finally:
            if advisory_lock_key is not None:
                _release_lock(conn, advisory_lock_key)
    finally:
        if owned:
            conn.close()


def _release_lock(conn: psycopg.Connection[Any], key: int) -> None:
    # A late cancel request can hit this tiny query; one retry is enough.
    for _ in range(2):
        try:
            if advisory_lock.release(conn, key) or conn.broken or conn.closed:
                return
        except pg_errors.QueryCanceled:
            continue
        return


class _LostConnection(Exception):
    """The server connection died; carries the driver error."""

    def __init__(self, cause: psycopg.Error) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _Run:
    def __init__(
        self,
        conn: psycopg.Connection[Any],
        script: Script,
        *,
        mode: Mode,
        on_event: Callable[[Event], None] | None,
        lock_timeout: str,
        statement_timeout: str,
        cancel: CancelToken | None,
        monitor_interval: float,
        before_statements: Callable[[psycopg.Connection[Any]], None] | None = None,
        before_commit: Callable[[psycopg.Connection[Any]], None] | None = None,
    ) -> None:
        self.conn = conn
        self.before_commit = before_commit
        self.script = script
        self.mode = mode
        self._on_event = on_event
        self.lock_timeout = lock_timeout
        self.statement_timeout = statement_timeout
        self.cancel = cancel
        self.monitor_interval = monitor_interval
        self.before_statements = before_statements

        self.pid = conn.info.backend_pid
        self.events = 0
        self.ok = 0
        self.skipped = 0
        self.failures: list[StatementFailed] = []
        self._emit_lock = threading.Lock()
        # Guards "which statement runs now" between the executing thread and the
        # canceller, so a cancel request is only ever sent while a statement runs.
        self._state_lock = threading.Lock()
        self._current: Statement | None = None
        self._last_index: int | None = None
        self._finished = threading.Event()
        self._monitor: StatementMonitor | None = None
        self.irreversible: list[IrreversibleEffect] = []

    # ------------------------------------------------------------------ events

    def emit(self, event: Event) -> None:
        with self._emit_lock:
            self.events += 1
            if self._on_event is not None:
                self._on_event(event)

    def _on_notice(self, diag: pg_errors.Diagnostic) -> None:
        self.emit(
            ServerNotice(
                severity=diag.severity or "NOTICE",
                message=diag.message_primary or "",
                sqlstate=diag.sqlstate,
                index=self._current.index if self._current else self._last_index,
            )
        )

    # ------------------------------------------------------------------ cancel

    @property
    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.cancelled

    def _on_cancel(self) -> None:
        # Called in the canceller's thread: must not block.  A single cancel request can
        # land in the gap between statements and be ignored by an idle server, so keep
        # sending one every 0.2 s while a statement runs, until the run ends.
        threading.Thread(target=self._cancel_loop, name="spfp-cancel", daemon=True).start()

    def _cancel_loop(self) -> None:
        while not self._finished.is_set():
            with self._state_lock:
                if self._current is not None and not self.conn.closed:
                    try:
                        self.conn.cancel_safe(timeout=2.0)
                    except psycopg.Error:
                        pass  # the next resend tries again; the run's outcome says the rest
            self._finished.wait(_CANCEL_RESEND_S)

    # ------------------------------------------------------------------ the run

    def execute(self) -> RunResult:
        started = time.perf_counter()
        if self.mode == "rehearse":
            self.irreversible = self._irreversible()
        self._begin()
        target = target_of(self.conn)
        self.emit(
            RunStarted(
                mode=self.mode,
                script=self.script.file,
                statements=len(self.script.statements),
                script_sha256=self.script.sha256,
                transaction=self.transaction_label,
                target=target.display if target else _display(self.conn),
                backend_pid=self.pid,
            )
        )
        unsubscribe: Callable[[], None] | None = None
        self.conn.add_notice_handler(self._on_notice)
        if self.monitor_interval and self.monitor_interval > 0:
            self._monitor = StatementMonitor(
                lambda: side_connection(self.conn, application_name="spfp-console monitor"),
                self.pid,
                self.emit,
                interval=self.monitor_interval,
            ).start()
        if self.cancel is not None:
            unsubscribe = self.cancel.subscribe(self._on_cancel)
        try:
            outcome, message = self._statements_then_end()
            if self.mode == "rehearse" and outcome in ("cancelled", "rolled_back"):
                message = self._with_irreversible(message)
        finally:
            self._finished.set()
            if unsubscribe is not None:
                unsubscribe()
            if self._monitor is not None:
                self._monitor.stop()
            self.conn.remove_notice_handler(self._on_notice)
            alive = not self.conn.broken and not self.conn.closed
            if alive and self.conn.info.transaction_status != TransactionStatus.IDLE:
                # Only reached when a consumer's on_event raised: never commit then.
                self._rollback()
        duration = time.perf_counter() - started
        self.emit(
            RunFinished(
                mode=self.mode,
                outcome=outcome,
                duration_s=round(duration, 6),
                statements_ok=self.ok,
                statements_failed=len(self.failures),
                statements_skipped=self.skipped,
                message=message,
            )
        )
        return RunResult(
            mode=self.mode,
            outcome=outcome,
            statements_ok=self.ok,
            failures=list(self.failures),
            duration_s=duration,
            events=self.events,
            skipped=self.skipped,
            message=message,
        )

    @property
    def transaction_label(self) -> str:
        return "single" if self.mode == "run" else "savepoint-per-statement"

    def _begin(self) -> None:
        try:
            self.conn.execute("BEGIN", prepare=False)
            self.conn.execute(
                "select set_config('lock_timeout', %s, true),"
                " set_config('statement_timeout', %s, true)",
                (self.lock_timeout, self.statement_timeout),
                prepare=False,
            )
        except psycopg.Error as exc:
            self._rollback()
            diag = exc.diag
            raise RunAborted(
                "could not start the transaction (lock_timeout="
                f"{self.lock_timeout!r}, statement_timeout={self.statement_timeout!r}): "
                f"{diag.message_primary or exc}; nothing was run"
            ) from None

    def _statements_then_end(self) -> tuple[str, str | None]:
        refused = self._before_statements()
        if refused is not None:
            self._rollback()
            return "refused", refused
        try:
            stopped = self._statements()
        except _LostConnection as lost:
            stmt = self._lost_at
            return "rolled_back", (
                f"connection to the server was lost during statement {stmt.index} at "
                f"{stmt.where} ({first_line(lost.cause)}); the server rolled back the "
                "open transaction, nothing was applied"
            )
        if stopped == "cancelled" or self.cancelled:
            self._rollback()
            where = f" at statement {self._last_index}" if self._last_index else ""
            return (
                "cancelled",
                f"cancelled{where}; the transaction was rolled back, nothing was applied",
            )
        if self.mode == "rehearse":
            # What a run checks before COMMIT, a rehearsal checks before its rollback.
            objection = self._before_end()
            self._rollback()
            if objection is not None:
                why, detail = objection
                said = {"no": detail,
                        "lost": f"connection to the server was lost after the last"
                                f" statement ({detail})",
                        "failed": f"the check after the last statement failed ({detail})",
                        }[why]
                return "rolled_back", f"{said}; the rehearsal was rolled back"
            n = len(self.failures)
            verdict = "no failures" if n == 0 else f"{n} failing statement{'s' * (n != 1)}"
            if not self.irreversible:
                return (
                    "rehearsed",
                    f"rehearsal: {self.ok} ok, {verdict}; everything was rolled back",
                )
            return "rehearsed", (
                f"rehearsal: {self.ok} ok, {verdict}; rolled back, except what a rollback "
                f"cannot undo: {describe_irreversible(self.irreversible)}"
            )
        if self.failures:
            self._rollback()
            failed = self.failures[-1]
            return "rolled_back", (
                f"statement {failed.index} at {failed.file}:{failed.error_line or failed.line} "
                f"failed ({failed.sqlstate}: {failed.message}); the whole transaction was "
                "rolled back, nothing was applied"
            )
        objection = self._before_end()
        if objection is not None:
            why, detail = objection
            if why == "lost":
                return "rolled_back", (
                    f"connection to the server was lost before COMMIT ({detail});"
                    " the server rolled back the open transaction, nothing was applied")
            self._rollback()
            if why == "no":
                return "cancelled" if self.cancelled else "rolled_back", (
                    f"{detail}; the whole transaction was rolled back, nothing was applied")
            return "rolled_back", (
                f"the statements succeeded, but what the run records in the same "
                f"transaction failed ({detail});"
                " the whole transaction was rolled back, nothing was applied")
        # Durable in the log before COMMIT reaches the server: after a power cut the log
        # says the commit was sent, never only "statements started".
        self.emit(CommitSent(statements=self.ok))
        try:
            self.conn.execute("COMMIT", prepare=False)
        except psycopg.Error as exc:
            if self.conn.broken or self.conn.closed:
                return "failed", (
                    f"connection lost while committing ({first_line(exc)}); whether the "
                    "transaction committed is unknown: validate before retrying"
                )
            self._rollback()
            return "rolled_back", (
                f"COMMIT failed ({exc.sqlstate}: {exc.diag.message_primary or exc}) "
                "(a deferred constraint?); nothing was applied"
            )
        return "committed", f"committed {self.ok} statements"

    def _before_end(self) -> tuple[str, str] | None:
        """Call ``before_commit`` after the last statement; None when it said yes, else
        why not and the detail: ``no`` (a check of the result said no: its reason),
        ``lost`` (the connection), ``failed`` (a database error)."""
        if self.before_commit is None:
            return None
        try:
            self.before_commit(self.conn)
        except EngineError as exc:
            return "no", str(exc)
        except psycopg.Error as exc:
            if self.conn.broken or self.conn.closed:
                return "lost", first_line(exc)
            return "failed", f"{exc.sqlstate}: {exc.diag.message_primary or exc}"
        return None

    def _with_irreversible(self, message: str | None) -> str | None:
        """A stopped rehearsal's message, naming what already ran and stays done."""
        last = self._last_index or 0
        ran = [effect for effect in self.irreversible if effect.index <= last]
        if not ran:
            return message
        return f"{message}; but a rollback cannot undo: {describe_irreversible(ran)}"

    def _irreversible(self) -> list[IrreversibleEffect]:
        try:
            return irreversible_effects(self.script, conn=self.conn)
        except psycopg.Error:
            # The catalog lookup of INSERT targets is a courtesy: without it the sequence
            # calls the text names are still reported.
            if self.conn.broken or self.conn.closed:
                raise
            return irreversible_effects(self.script)

    def _before_statements(self) -> str | None:
        """Run the caller's hook; the reason to stop, or None to go on."""
        if self.before_statements is None:
            return None
        try:
            self.before_statements(self.conn)
        except EngineError as exc:
            return f"{exc}; nothing was changed"
        except psycopg.Error as exc:
            if self.conn.broken or self.conn.closed:
                return (
                    f"connection to the server was lost before the first statement "
                    f"({first_line(exc)}); nothing was changed"
                )
            return (
                f"stopped before the first statement ({exc.sqlstate}: "
                f"{exc.diag.message_primary or first_line(exc)}); nothing was changed"
            )
        return None

    def _statements(self) -> str | None:
        """Run the statements; 'cancelled' when stopped by a cancel, else None."""
        for stmt in self.script.statements:
            if self.cancelled:
                return "cancelled"
            if stmt.kind == "transaction_control":
                self.skipped += 1
                self.emit(
                    StatementSkipped(
                        index=stmt.index,
                        file=stmt.file,
                        line=stmt.line,
                        sql=stmt.sql,
                        reason="transaction control: the engine runs the script in a "
                        "transaction of its own",
                    )
                )
                continue
            self._last_index = stmt.index
            self.emit(
                StatementStarted(
                    index=stmt.index, file=stmt.file, line=stmt.line, sql=stmt.sql
                )
            )
            if stmt.kind == "syntax_error":
                self._fail(
                    StatementFailed(
                        index=stmt.index,
                        file=stmt.file,
                        line=stmt.line,
                        sql=stmt.sql,
                        sqlstate="42601",
                        message=stmt.note or "syntax error",
                        position=stmt.error_position,
                        error_line=stmt.error_line,
                    )
                )
                if self.mode == "run":
                    return None
                continue
            if not self._one(stmt):
                if self.cancelled:
                    return "cancelled"
                if self.mode == "run":
                    return None
        return None

    def _server(self, sql: str, stmt: Statement) -> None:
        """A control command (SAVEPOINT...): connection loss becomes _LostConnection."""
        try:
            self.conn.execute(sql, prepare=False)
        except psycopg.Error as exc:
            if self.conn.broken or self.conn.closed:
                self._lost_at = stmt
                raise _LostConnection(exc) from None
            raise

    def _one(self, stmt: Statement) -> bool:
        """Run one statement; True on success."""
        rehearse = self.mode == "rehearse"
        if rehearse:
            self._server(f"SAVEPOINT {_SAVEPOINT}", stmt)
        cur, error, duration = self._send(stmt)
        if error is None:
            if rehearse:
                self._server(f"RELEASE SAVEPOINT {_SAVEPOINT}", stmt)
            self.ok += 1
            self._finished_event(stmt, cur, duration)
            return True

        lost = self.conn.broken or self.conn.closed
        self._fail(self._failure(stmt, error, duration, lost=lost))
        if lost:
            self._lost_at = stmt
            raise _LostConnection(error)
        if rehearse and not self.cancelled:
            self._server(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}", stmt)
            self._server(f"RELEASE SAVEPOINT {_SAVEPOINT}", stmt)
        return False

    def _send(
        self, stmt: Statement, sql: str | None = None
    ) -> tuple[Any, psycopg.Error | None, float]:
        """Send one statement (the canceller and the monitor know it runs meanwhile):
        (cursor or None, the error or None, seconds)."""
        with self._state_lock:
            self._current = stmt
        if self._monitor is not None:
            self._monitor.statement_started(stmt.index)
        started = time.perf_counter()
        cur: Any = None
        error: psycopg.Error | None = None
        try:
            cur = self.conn.execute(sql or stmt.sql, prepare=False)
        except psycopg.Error as exc:
            error = exc
        finally:
            duration = time.perf_counter() - started
            with self._state_lock:
                self._current = None
            if self._monitor is not None:
                self._monitor.statement_finished()
        return cur, error, duration

    def _finished_event(self, stmt: Statement, cur: Any, duration: float) -> None:
        rowcount = cur.rowcount if cur.rowcount is not None and cur.rowcount >= 0 else None
        self.emit(
            StatementFinished(
                index=stmt.index,
                file=stmt.file,
                line=stmt.line,
                duration_s=round(duration, 6),
                status=cur.statusmessage or "",
                rowcount=rowcount,
            )
        )

    def _fail(self, event: StatementFailed) -> None:
        self.failures.append(event)
        self.emit(event)

    def _failure(
        self, stmt: Statement, exc: psycopg.Error, duration: float, *, lost: bool
    ) -> StatementFailed:
        diag = exc.diag
        message = diag.message_primary or first_line(exc)
        if lost:
            message = (
                f"connection to the server was lost during statement {stmt.index} at "
                f"{stmt.where} ({message}); the server rolled back the open transaction"
            )
        elif self.cancelled and isinstance(exc, pg_errors.QueryCanceled):
            message = f"{message} (cancelled by the operator)"
        position: int | None = None
        error_line: int | None = None
        if diag.statement_position:
            try:
                position = int(diag.statement_position)
                error_line = stmt.line_of(position)
            except ValueError:
                position = None
        return StatementFailed(
            index=stmt.index,
            file=stmt.file,
            line=stmt.line,
            sql=stmt.sql,
            sqlstate=exc.sqlstate or ("08006" if lost else "XX000"),
            message=message,
            duration_s=round(duration, 6),
            detail=diag.message_detail,
            hint=diag.message_hint,
            position=position,
            error_line=error_line if error_line is not None else stmt.line,
            context=diag.context,
        )

    def _rollback(self) -> None:
        if self.conn.broken or self.conn.closed:
            return
        # A cancel request racing with the end of a statement may interrupt this: retry.
        for _ in range(3):
            try:
                self.conn.execute("ROLLBACK", prepare=False)
                return
            except pg_errors.QueryCanceled:
                continue
            except psycopg.Error:
                return

    _lost_at: Statement


def _display(conn: psycopg.Connection[Any]) -> str:
    info = conn.info
    host = info.host if not info.host.startswith("/") else "local socket"
    return f"{info.user}@{host}:{info.port}/{info.dbname}"
