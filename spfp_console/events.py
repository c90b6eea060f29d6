"""The one vocabulary of things that happen in a deployment session.

The engine emits these, the CLI prints them, the journal records them, and the TUI and
replay render them: one stream, several consumers, no second source of truth.  Every event
is a frozen dataclass with a stable ``kind`` string and converts to and from a flat
TOML-safe record (``to_record`` / ``event_from_record``), so a replayed log yields the very
objects the live session saw.

TOML has no null: fields that are ``None`` are left out of a record and come back as
``None`` because every optional field defaults to it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from spfp_console.lean_dataclass import lean_dataclass

_REGISTRY: dict[str, type[Event]] = {}
_FIELD_NAMES: dict[type[Event], frozenset[str]] = {}


@lean_dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every event.  Subclasses set ``kind``."""

    kind: ClassVar[str] = "event"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind in _REGISTRY:
            raise TypeError(f"event kind {cls.kind!r} registered twice")
        _REGISTRY[cls.kind] = cls

    def to_record(self) -> dict[str, Any]:
        """A TOML-safe dict: ``kind`` plus every non-None field."""
        record: dict[str, Any] = {"kind": self.kind}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            record[f.name] = _to_toml_value(value)
        return record


def _to_toml_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_to_toml_value(v) for v in value]
    if isinstance(value, list):
        return [_to_toml_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_toml_value(v) for k, v in value.items() if v is not None}
    return value


def _from_toml_value(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_from_toml_value(v) for v in value)
    if isinstance(value, dict):
        return {k: _from_toml_value(v) for k, v in value.items()}
    return value


class UnknownEventKind(ValueError):
    """A record names a kind this version of the console does not know."""


def event_from_record(record: dict[str, Any]) -> Event:
    """Rebuild an event from ``to_record`` output (e.g. read back from a journal)."""
    kind = record.get("kind")
    cls = _REGISTRY.get(str(kind))
    if cls is None:
        raise UnknownEventKind(f"unknown event kind {kind!r}")
    names = _FIELD_NAMES.get(cls)
    if names is None:  # fields() per call was a third of replay's event construction
        names = _FIELD_NAMES[cls] = frozenset(f.name for f in dataclasses.fields(cls))
    kwargs = {k: _from_toml_value(v) if isinstance(v, (list, dict)) else v
              for k, v in record.items() if k in names}
    return cls(**kwargs)


def event_kinds() -> dict[str, type[Event]]:
    """Every registered kind, for documentation and tests."""
    return dict(_REGISTRY)


# --------------------------------------------------------------------------- engine: a run


@lean_dataclass(frozen=True, kw_only=True)
class RunStarted(Event):
    """A script run begins (mode: run, rehearse, rollback, validate...)."""

    kind: ClassVar[str] = "run_started"
    mode: str
    script: str
    statements: int
    script_sha256: str | None = None
    transaction: str = "single"  # single | savepoint-per-statement | none
    target: str | None = None  # user@host:port/dbname, never a password
    backend_pid: int | None = None  # the server process running the script


@lean_dataclass(frozen=True, kw_only=True)
class StatementStarted(Event):
    kind: ClassVar[str] = "statement_started"
    index: int
    file: str
    line: int
    sql: str


@lean_dataclass(frozen=True, kw_only=True)
class StatementFinished(Event):
    kind: ClassVar[str] = "statement_finished"
    index: int
    file: str
    line: int
    duration_s: float
    status: str  # the server's command status, e.g. "CREATE INDEX"
    rowcount: int | None = None


@lean_dataclass(frozen=True, kw_only=True)
class StatementFailed(Event):
    kind: ClassVar[str] = "statement_failed"
    index: int
    file: str
    line: int
    sql: str
    sqlstate: str
    message: str
    duration_s: float = 0.0
    detail: str | None = None
    hint: str | None = None
    position: int | None = None  # 1-based character position within the statement
    error_line: int | None = None  # file line of ``position`` when known
    context: str | None = None  # the server's CONTEXT (e.g. the PL/pgSQL line that failed)


@lean_dataclass(frozen=True, kw_only=True)
class StatementSkipped(Event):
    """A statement the engine did not send, and why (e.g. the script's own BEGIN/COMMIT:
    the engine owns the transaction)."""

    kind: ClassVar[str] = "statement_skipped"
    index: int
    file: str
    line: int
    sql: str
    reason: str


@lean_dataclass(frozen=True, kw_only=True)
class ServerNotice(Event):
    """A NOTICE/WARNING/INFO the server sent while a statement ran."""

    kind: ClassVar[str] = "server_notice"
    severity: str
    message: str
    sqlstate: str | None = None
    index: int | None = None


@lean_dataclass(frozen=True, kw_only=True)
class IndexBuildProgress(Event):
    """A sample of pg_stat_progress_create_index for the running statement."""

    kind: ClassVar[str] = "index_build_progress"
    index: int
    phase: str
    blocks_done: int = 0
    blocks_total: int = 0
    tuples_done: int = 0
    tuples_total: int = 0
    relation: str | None = None
    index_name: str | None = None


@lean_dataclass(frozen=True, kw_only=True)
class LockWait(Event):
    """The running statement waits for a lock another session holds."""

    kind: ClassVar[str] = "lock_wait"
    index: int
    blocker_pid: int
    blocker_user: str | None = None
    blocker_query: str | None = None
    blocker_since: str | None = None  # ISO timestamp of the blocker's xact/query start
    waited_s: float = 0.0


@lean_dataclass(frozen=True, kw_only=True)
class CommitSent(Event):
    """The engine is about to send COMMIT for the run's transaction (durable in the log
    before it reaches the server)."""

    kind: ClassVar[str] = "commit_sent"
    statements: int


@lean_dataclass(frozen=True, kw_only=True)
class RunFinished(Event):
    """A run ends.  outcome: committed, rolled_back, failed, cancelled, rehearsed."""

    kind: ClassVar[str] = "run_finished"
    mode: str
    outcome: str
    duration_s: float
    statements_ok: int = 0
    statements_failed: int = 0
    message: str | None = None
    statements_skipped: int = 0  # e.g. the script's own BEGIN/COMMIT

    @property
    def ok(self) -> bool:
        """The one success rule of a run: committed, or rehearsed without a failure."""
        return run_succeeded(self.outcome, self.statements_failed)


SUCCESS_OUTCOMES = ("committed", "rehearsed")


def run_succeeded(outcome: str, failed: int) -> bool:
    """A run succeeded when it committed, or rehearsed with no statement failing."""
    return outcome in SUCCESS_OUTCOMES and failed == 0


# --------------------------------------------------------------------------- engine: results


@lean_dataclass(frozen=True, kw_only=True)
class ResultTable(Event):
    """Rows of a preflight, rehearsal, validation or performance report.

    ``rows`` are tuples of strings in ``columns`` order; ``status_column`` names the
    pass/fail/warn column when there is one.
    """

    kind: ClassVar[str] = "result_table"
    title: str
    source: str  # preflight | rehearsal | validation | performance | rollback-impact
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...] = ()
    status_column: str | None = None
    passed: bool | None = None

    @classmethod
    def checked(cls, *, title: str, source: str, columns: tuple[str, ...],
                rows: Any, status_column: str | None = "status") -> ResultTable:
        """A table whose verdict is its rows': it passes unless a row's status is
        "fail" (warnings pass); no verdict without a status column."""
        rows = tuple(tuple(row) for row in rows)
        passed = None
        if status_column is not None:
            at = columns.index(status_column)
            passed = all(row[at] != "fail" for row in rows)
        return cls(title=title, source=source, columns=columns, rows=rows,
                   status_column=status_column, passed=passed)


# --------------------------------------------------------------------------- operator


@lean_dataclass(frozen=True, kw_only=True)
class ChecklistItemToggled(Event):
    """A checklist item ticked or unticked: by the operator, or by the session when the
    item's ``action`` produced a result (``action`` names it; ``evidence`` is the result)."""

    kind: ClassVar[str] = "checklist_item_toggled"
    phase: str
    item_id: str
    checked: bool
    who: str
    note: str | None = None
    evidence: str | None = None
    action: str | None = None
    when: str | None = None  # UTC ISO 8601, stamped by the session
    carried_over: str | None = None
    """The log this tick was first recorded in: a resumed session re-records the ticks of
    the session it resumes (who, when and evidence as they were), marked with this."""


@lean_dataclass(frozen=True, kw_only=True)
class OverrideRecorded(Event):
    """The operator went past a failed check or a required item, with a typed reason."""

    kind: ClassVar[str] = "override_recorded"
    what: str
    reason: str
    who: str
    when: str | None = None


@lean_dataclass(frozen=True, kw_only=True)
class RollbackDecision(Event):
    kind: ClassVar[str] = "rollback_decision"
    confirmed: bool
    typed: str
    who: str
    rows_at_risk: int = 0
    exported_to: str | None = None
    when: str | None = None


@lean_dataclass(frozen=True, kw_only=True)
class OperatorNote(Event):
    kind: ClassVar[str] = "operator_note"
    text: str
    who: str
    when: str | None = None


@lean_dataclass(frozen=True, kw_only=True)
class ConfirmationAnswered(Event):
    """The operator was asked to type ``expected`` before ``action`` and typed ``typed``."""

    kind: ClassVar[str] = "confirmation_answered"
    action: str  # run | rollback
    expected: str
    typed: str
    confirmed: bool
    who: str
    when: str | None = None


# --------------------------------------------------------------------------- session


@lean_dataclass(frozen=True, kw_only=True)
class SessionStarted(Event):
    """First event of a session: who, where, and the runbook's checklist as it was, so a
    log alone rebuilds every pane (replay has no runbook file and no database).

    ``phases`` holds ``(id, title)`` per phase; ``items`` holds ``(phase, id, text,
    "required" | "optional", action, evidence asked)`` per item ("" when unset).  Flat
    arrays of strings: the log stays one flat table per event.

    The rest of the paper package rides along the same way, so a replay shows it:
    ``troubleshooting`` ``(sqlstate, title, cause, action, paper)``, ``timeline``
    ``(phase, title, estimate)``, ``success_criteria`` ``(id, text, proof, ...)`` and
    ``contacts`` ``(role, name, reach, about, escalation step or "")``.  Logs written
    before these fields existed read with them empty.
    """

    kind: ClassVar[str] = "session_started"
    operator: str
    runbook_id: str
    runbook_title: str = ""
    target: str | None = None  # user@host:port/dbname, never a password
    server_version: str | None = None
    supabase: bool | None = None
    read_only: bool = False
    environment: str | None = None  # e.g. production, staging (from the runbook or flag)
    phases: tuple[tuple[str, ...], ...] = ()
    items: tuple[tuple[str, ...], ...] = ()
    success_message: str | None = None
    resumed_from: str | None = None  # "<log file> <final hash>" of an interrupted session
    started_at: str | None = None  # UTC ISO 8601: where the first phase's clock starts
    troubleshooting: tuple[tuple[str, ...], ...] = ()
    timeline: tuple[tuple[str, ...], ...] = ()
    success_criteria: tuple[tuple[str, ...], ...] = ()
    contacts: tuple[tuple[str, ...], ...] = ()


@lean_dataclass(frozen=True, kw_only=True)
class SessionEnded(Event):
    """Last event of a session: its outcome, and the exit code a headless run returns."""

    kind: ClassVar[str] = "session_ended"
    outcome: str
    ok: bool | None = None
    exit_code: int | None = None
    message: str | None = None
    events: int | None = None  # written by the journal: events before this record
    progress_samples_dropped: int | None = None


@lean_dataclass(frozen=True, kw_only=True)
class WorkflowStarted(Event):
    """A workflow of the session begins: check, rehearse, scratch-rehearse, deploy,
    validate, rollback."""

    kind: ClassVar[str] = "workflow_started"
    workflow: str


@lean_dataclass(frozen=True, kw_only=True)
class WorkflowFinished(Event):
    kind: ClassVar[str] = "workflow_finished"
    workflow: str
    outcome: str
    ok: bool
    exit_code: int
    message: str | None = None


@lean_dataclass(frozen=True, kw_only=True)
class Finding(Event):
    """Something a check found that the operator must know: a blocker (the run must not
    go ahead), a warning, or a note; with the advice that resolves it."""

    kind: ClassVar[str] = "finding"
    source: str  # preflight | lint | rehearsal | rollback-impact ...
    section: str  # e.g. "privileges", "uniqueness rules"
    severity: str  # blocker | warning | info
    message: str
    subject: str | None = None  # the object it is about, when there is one
    advice: str | None = None


@lean_dataclass(frozen=True, kw_only=True)
class GateChecked(Event):
    """A gate before a change: may the workflow go on?  ``reasons`` say why not."""

    kind: ClassVar[str] = "gate_checked"
    gate: str  # preflight | checklist | rehearsal | confirmation
    passed: bool
    reasons: tuple[str, ...] = ()


@lean_dataclass(frozen=True, kw_only=True)
class ListenerFailed(Event):
    """A front end's listener raised on an event.  The deployment went on: a listener
    is a guest, and the log is the record."""

    kind: ClassVar[str] = "listener_failed"
    listener: str
    event_kind: str
    error: str


@lean_dataclass(frozen=True, kw_only=True)
class IntegrityChecked(Event):
    """What the data integrity check of one run or rehearsal cost (its verdict, table by
    table, is the ``integrity`` :class:`ResultTable`): the rows it read, and how long the
    touched tables' writers waited on its SHARE lock."""

    kind: ClassVar[str] = "integrity_checked"
    mode: str  # run | rehearse
    tables: int  # tables counted and checksummed
    rows_read: int  # both scans
    read_s: float  # both scans
    lock_wait_s: float  # until the SHARE lock was granted
    writers_held_s: float  # from the lock granted to the end of the second scan
    passed: bool


# --------------------------------------------------------------------------- engine: online mode


@lean_dataclass(frozen=True, kw_only=True)
class LockRetry(Event):
    """Online mode: a statement gave up waiting for a lock (lock_timeout, SQLSTATE 55P03)
    rather than queue the table's writers behind it; its step was rolled back and runs
    again after ``backoff_s``."""

    kind: ClassVar[str] = "lock_retry"
    index: int
    file: str
    line: int
    attempt: int  # the attempt that timed out, 1-based
    max_attempts: int
    backoff_s: float
    lock_timeout: str
    message: str
    rolled_back: tuple[int, ...] = ()  # statements of the step undone with it (indexes)


@lean_dataclass(frozen=True, kw_only=True)
class InvalidIndex(Event):
    """Online mode: an INVALID index (pg_index.indisvalid false) that a failed or
    cancelled CREATE INDEX CONCURRENTLY left behind, and what the engine did about it."""

    kind: ClassVar[str] = "invalid_index"
    index_name: str  # schema-qualified, as quote_ident writes it
    table: str
    found: str  # before_build (left by an earlier run) | after_failure | after_cancel
    action: str  # dropped | drop_failed
    index: int | None = None  # the statement that builds it
    message: str | None = None


@lean_dataclass(frozen=True, kw_only=True)
class ApprovalChecked(Event):
    """A signed approval as the deploy judged it, copied whole into the log: the document
    and its SSHSIG signature, so a reviewer can re-check it from the log alone."""

    kind: ClassVar[str] = "approval_checked"
    file: str
    valid: bool
    reason: str
    approver: str | None = None
    fingerprint: str | None = None
    migration_sha256: str | None = None
    target: str | None = None
    rehearsal_log_sha256: str | None = None
    expires_at: str | None = None
    document: str | None = None
    signature: str | None = None


@lean_dataclass(frozen=True, kw_only=True)
class ProfileChosen(Event):
    """The runbook profile this session runs under (Quick, Guided, Enterprise): how many
    checklist items it requires, how many approvals ``run`` needs, whether each phase
    ends with a signed sign-off."""

    kind: ClassVar[str] = "profile_chosen"
    profile: str
    title: str
    required_items: int
    optional_items: int
    approvals_required: int = 0
    phase_signoff: bool = False
    description: str | None = None
