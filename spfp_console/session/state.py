"""The session's state, folded from its events one at a time.

:class:`SessionState` is what every front end shows: the checklist with who ticked what
and when, one row per statement, the script and index-build progress, the current lock
wait, the result tables, findings, decisions and the outcome.  It is a pure fold: no
database, no clock, no Textual.  ``apply(event)`` is incremental, so the same code serves
the live console (the session applies each event as it is emitted), a replay cursor
(apply the log's events up to a point) and a resumed session (apply the old log first).

Because the log records exactly the events the session applied, the state folded from a
log equals the live state, field by field (a test holds it to that).
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import Any

from spfp_console.events import (
    ChecklistItemToggled,
    ConfirmationAnswered,
    Event,
    Finding,
    GateChecked,
    IndexBuildProgress,
    IntegrityChecked,
    ListenerFailed,
    LockWait,
    OperatorNote,
    OverrideRecorded,
    ProfileChosen,
    ResultTable,
    RollbackDecision,
    RunFinished,
    RunStarted,
    ServerNotice,
    SessionEnded,
    SessionStarted,
    StatementFailed,
    StatementFinished,
    StatementSkipped,
    StatementStarted,
    WorkflowFinished,
    WorkflowStarted,
)
from spfp_console.lean_dataclass import lean_dataclass
from spfp_console.runbook.model import Contact, Estimate, TimelineEntry, TroubleshootingEntry
from spfp_console.session.presentation import first_sql_line, run_verdict
from spfp_console.session.runbook_guide import (
    CriterionState,
    contacts_from,
    criteria_from,
    judge_criterion,
    phase_estimate,
    time_phases,
    timeline_from,
    troubleshooting_from,
)


@lean_dataclass
class ItemState:
    """One checklist item and what happened to it."""

    phase: str
    id: str
    text: str
    required: bool = True
    action: str | None = None
    """The automated step that ticks it (preflight, rehearse, run ...), if any."""
    evidence_asked: str | None = None
    """What the runbook asks to record when ticking it (e.g. "backup id")."""
    checked: bool = False
    who: str | None = None
    when: str | None = None
    evidence: str | None = None
    note: str | None = None
    ticked_by_action: str | None = None
    """The action whose result ticked it; None when the operator did."""
    carried_over: str | None = None
    """The earlier log the tick comes from, when a resumed session carried it over."""


@lean_dataclass
class PhaseState:
    id: str
    title: str
    items: list[ItemState] = field(default_factory=list)
    timeline: tuple[TimelineEntry, ...] = ()
    """The paper's timeline rows for this phase."""
    estimate: Estimate | None = None
    """Their sum: how long the paper expects the phase to take (None: it does not say)."""
    started_at: str | None = None
    """When the phase's clock started (UTC ISO; see ``runbook_guide.time_phases``)."""
    completed_at: str | None = None
    """When its last required item was ticked; None while one is open."""

    @property
    def done(self) -> int:
        return sum(1 for item in self.items if item.checked)

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def required_open(self) -> list[ItemState]:
        return [item for item in self.items if item.required and not item.checked]


@lean_dataclass(frozen=True)
class StatementRow:
    """One statement of one run, as the live SQL log shows it.

    Frozen: the fold replaces a row rather than changing it, so a snapshot of the state
    shares every row with the live state (a replay seek copies pointers, not rows)."""

    run: int
    """Which run of the session (1-based) it belongs to."""
    index: int
    file: str
    line: int
    sql: str
    status: str = "running"
    """running | ok | failed | skipped"""
    duration_s: float | None = None
    command_status: str | None = None
    rowcount: int | None = None
    sqlstate: str | None = None
    message: str | None = None
    error_line: int | None = None
    position: int | None = None
    detail: str | None = None
    hint: str | None = None
    notices: tuple[str, ...] = ()
    index_progress: IndexBuildProgress | None = None
    """The last index-build sample of this statement."""

    @property
    def first_line(self) -> str:
        return first_sql_line(self.sql)


@lean_dataclass
class RunState:
    """One execution of a script (run, rehearse, rollback ...)."""

    number: int
    mode: str
    script: str
    statements: int
    transaction: str
    outcome: str | None = None
    """None while it runs."""
    ok: bool | None = None
    duration_s: float | None = None
    statements_ok: int = 0
    statements_failed: int = 0
    statements_skipped: int = 0
    message: str | None = None

    @property
    def statements_done(self) -> int:
        return self.statements_ok + self.statements_failed + self.statements_skipped


@lean_dataclass
class WorkflowState:
    name: str
    outcome: str | None = None
    ok: bool | None = None
    exit_code: int | None = None
    message: str | None = None


@lean_dataclass
class SessionState:
    """Everything a front end shows about a session, rebuilt from its events."""

    operator: str | None = None
    runbook_id: str | None = None
    runbook_title: str = ""
    target: str | None = None
    server_version: str | None = None
    supabase: bool | None = None
    read_only: bool = False
    environment: str | None = None
    success_message: str | None = None
    resumed_from: str | None = None
    profile: ProfileChosen | None = None
    """The runbook profile the session runs under, when the runbook has profiles."""
    started_at: str | None = None
    """When the session (the first one, for a resumed session) started, UTC ISO."""
    troubleshooting: dict[str, TroubleshootingEntry] = field(default_factory=dict)
    """The runbook's troubleshooting guide by SQLSTATE."""
    contacts: tuple[Contact, ...] = ()
    """Who to call, and the escalation path."""
    criteria: list[CriterionState] = field(default_factory=list)
    """The success criteria as the session's results stand (re-judged as they come)."""
    phases: list[PhaseState] = field(default_factory=list)
    runs: list[RunState] = field(default_factory=list)
    statements: list[StatementRow] = field(default_factory=list)
    notices: list[ServerNotice] = field(default_factory=list)
    lock_wait: LockWait | None = None
    """The lock the running statement waits for, while it waits."""
    tables: dict[tuple[str, str], ResultTable] = field(default_factory=dict)
    """Latest result table per (source, title), in the order they first appeared."""
    integrity: IntegrityChecked | None = None
    """What the last data integrity check (of a run or a rehearsal) cost."""
    findings: list[Finding] = field(default_factory=list)
    gates: list[GateChecked] = field(default_factory=list)
    decisions: list[Event] = field(default_factory=list)
    """Overrides, confirmations, rollback decisions and notes, in order."""
    workflows: list[WorkflowState] = field(default_factory=list)
    listener_errors: list[ListenerFailed] = field(default_factory=list)
    ended: SessionEnded | None = None
    events: int = 0
    """How many events were applied."""

    # ------------------------------------------------------------------ derived

    @property
    def current_run(self) -> RunState | None:
        return self.runs[-1] if self.runs else None

    @property
    def running(self) -> bool:
        run = self.current_run
        return run is not None and run.outcome is None

    @property
    def current_statement(self) -> StatementRow | None:
        if self.statements and self.statements[-1].status == "running":
            return self.statements[-1]
        return None

    @property
    def committed(self) -> bool:
        """Did a run of the migration (or the rollback) COMMIT in this session?  An online
        run that stopped part-way (``partially_applied``) committed its earlier steps."""
        return any(run.outcome in ("committed", "partially_applied") for run in self.runs)

    def phase(self, phase_id: str) -> PhaseState | None:
        for phase in self.phases:
            if phase.id == phase_id:
                return phase
        return None

    def item(self, phase_id: str, item_id: str) -> ItemState | None:
        phase = self.phase(phase_id)
        if phase is None:
            return None
        for item in phase.items:
            if item.id == item_id:
                return item
        return None

    def items_with_action(self, action: str) -> list[ItemState]:
        return [item for phase in self.phases for item in phase.items if item.action == action]

    def workflow_outcome(self, name: str) -> WorkflowState | None:
        """The last finished workflow of that name."""
        for workflow in reversed(self.workflows):
            if workflow.name == name and workflow.outcome is not None:
                return workflow
        return None

    def tables_of(self, source: str) -> list[ResultTable]:
        return [t for (s, _), t in self.tables.items() if s == source]

    def snapshot(self) -> SessionState:
        """An independent copy (replay keeps these as seek points).

        Cheap: statement rows and events are immutable and shared; only the few mutable
        parts (checklist, runs, workflows) are copied."""
        return dataclasses.replace(
            self,
            phases=[dataclasses.replace(p, items=[dataclasses.replace(i) for i in p.items])
                    for p in self.phases],
            runs=[dataclasses.replace(r) for r in self.runs],
            statements=list(self.statements),
            notices=list(self.notices),
            tables=dict(self.tables),
            findings=list(self.findings),
            gates=list(self.gates),
            decisions=list(self.decisions),
            workflows=[dataclasses.replace(w) for w in self.workflows],
            listener_errors=list(self.listener_errors),
            criteria=list(self.criteria),
        )

    def guide_for(self, sqlstate: str | None) -> TroubleshootingEntry | None:
        """The troubleshooting entry for a failure's SQLSTATE, if the runbook has one."""
        return self.troubleshooting.get(sqlstate) if sqlstate else None

    # ------------------------------------------------------------------ the fold

    def apply(self, event: Event) -> None:
        """Fold one event into the state."""
        self.events += 1
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)

    def apply_all(self, events: Any) -> SessionState:
        for event in events:
            self.apply(event)
        return self


def fold(events: Any) -> SessionState:
    """The state after ``events``."""
    return SessionState().apply_all(events)


# ---------------------------------------------------------------------- handlers


def _session_started(state: SessionState, e: SessionStarted) -> None:
    state.operator = e.operator
    state.runbook_id = e.runbook_id
    state.runbook_title = e.runbook_title
    state.target = e.target
    state.server_version = e.server_version
    state.supabase = e.supabase
    state.read_only = e.read_only
    state.environment = e.environment
    state.success_message = e.success_message
    state.resumed_from = e.resumed_from
    # A resumed session's clock started with the session it resumes.
    state.started_at = state.started_at or e.started_at
    state.troubleshooting = troubleshooting_from(e.troubleshooting)
    state.contacts = contacts_from(e.contacts)
    state.criteria = criteria_from(e.success_criteria)
    timeline = timeline_from(e.timeline)
    if not state.phases:  # a resumed session keeps the ticks it folded from the old log
        _checklist(state, e)
    for phase in state.phases:
        phase.timeline = tuple(row for row in timeline if row.phase == phase.id)
        phase.estimate = phase_estimate(phase.timeline)
    _rejudge(state)


def _rejudge(state: SessionState) -> None:
    """Success criteria and phase times follow from the checklist, the workflows and the
    validation tables: derived again whenever one of those changes (a few dozen rows)."""
    state.criteria = [judge_criterion(state, c) for c in state.criteria]
    time_phases(state)


def _checklist(state: SessionState, e: SessionStarted) -> None:
    # A log is input: a short or odd entry (an edited log) is padded, never a crash.
    for entry in e.phases:
        phase_id, title = (tuple(str(x) for x in entry) + ("", ""))[:2]
        state.phases.append(PhaseState(id=phase_id, title=title or phase_id))
    for entry in e.items:
        phase_id, item_id, text, required, action, evidence = (
            tuple(str(x) for x in entry) + ("",) * 6)[:6]
        phase = state.phase(phase_id)
        if phase is not None:
            phase.items.append(ItemState(
                phase=phase_id, id=item_id, text=text, required=required != "optional",
                action=action or None, evidence_asked=evidence or None))


def _item_toggled(state: SessionState, e: ChecklistItemToggled) -> None:
    item = state.item(e.phase, e.item_id)
    if item is None:  # an item the runbook of this log does not have: keep it visible
        phase = state.phase(e.phase)
        if phase is None:
            phase = PhaseState(id=e.phase, title=e.phase)
            state.phases.append(phase)
        item = ItemState(phase=e.phase, id=e.item_id, text=e.item_id)
        phase.items.append(item)
    item.checked = e.checked
    item.who = e.who
    item.when = e.when
    item.evidence = e.evidence
    item.note = e.note
    item.ticked_by_action = e.action if e.checked else None
    item.carried_over = e.carried_over
    _rejudge(state)


def _run_started(state: SessionState, e: RunStarted) -> None:
    state.runs.append(RunState(number=len(state.runs) + 1, mode=e.mode, script=e.script,
                               statements=e.statements, transaction=e.transaction))
    state.lock_wait = None


def _row_at(state: SessionState, index: int) -> int | None:
    """Position in ``state.statements`` of statement ``index`` of the current run."""
    run = state.current_run
    for i in range(len(state.statements) - 1, -1, -1):
        row = state.statements[i]
        if run is not None and row.run != run.number:
            return None
        if row.index == index:
            return i
    return None


def _update_row(state: SessionState, index: int, **changes: Any) -> bool:
    at = _row_at(state, index)
    if at is None:
        return False
    state.statements[at] = _replaced(state.statements[at], changes)
    return True


def _replaced(row: StatementRow, changes: dict[str, Any]) -> StatementRow:
    """``dataclasses.replace`` without its per-call field introspection and ``__init__``:
    every progress sample and notice replaces a row, and replace was half the fold's time
    on a 100,000-event log.  Rows have no ``__post_init__`` to skip."""
    new = object.__new__(StatementRow)
    new.__dict__.update(row.__dict__)
    new.__dict__.update(changes)
    return new


def _statement_started(state: SessionState, e: StatementStarted) -> None:
    run = state.current_run
    state.statements.append(StatementRow(run=run.number if run else 0, index=e.index,
                                         file=e.file, line=e.line, sql=e.sql))
    state.lock_wait = None


def _statement_finished(state: SessionState, e: StatementFinished) -> None:
    if not _update_row(state, e.index, status="ok", duration_s=e.duration_s,
                       command_status=e.status, rowcount=e.rowcount):
        return
    state.lock_wait = None
    if state.current_run is not None:
        state.current_run.statements_ok += 1


def _statement_failed(state: SessionState, e: StatementFailed) -> None:
    if _row_at(state, e.index) is None:  # failed before it started (it does not parse)
        run = state.current_run
        state.statements.append(StatementRow(run=run.number if run else 0, index=e.index,
                                             file=e.file, line=e.line, sql=e.sql))
    _update_row(state, e.index, status="failed", duration_s=e.duration_s,
                sqlstate=e.sqlstate, message=e.message, error_line=e.error_line,
                position=e.position, detail=e.detail, hint=e.hint)
    state.lock_wait = None
    if state.current_run is not None:
        state.current_run.statements_failed += 1


def _statement_skipped(state: SessionState, e: StatementSkipped) -> None:
    run = state.current_run
    state.statements.append(StatementRow(run=run.number if run else 0, index=e.index,
                                         file=e.file, line=e.line, sql=e.sql,
                                         status="skipped", message=e.reason))
    if run is not None:
        run.statements_skipped += 1


def _notice(state: SessionState, e: ServerNotice) -> None:
    state.notices.append(e)
    if e.index is not None:
        at = _row_at(state, e.index)
        if at is not None:
            row = state.statements[at]
            state.statements[at] = _replaced(
                row, {"notices": (*row.notices, f"{e.severity}: {e.message}")})


def _progress(state: SessionState, e: IndexBuildProgress) -> None:
    _update_row(state, e.index, index_progress=e)


def _lock_wait(state: SessionState, e: LockWait) -> None:
    state.lock_wait = e


def _run_finished(state: SessionState, e: RunFinished) -> None:
    run = state.current_run
    if run is None or run.outcome is not None:
        run = RunState(number=len(state.runs) + 1, mode=e.mode, script="", statements=0,
                       transaction="")
        state.runs.append(run)
    run.outcome = e.outcome
    run.ok = run_verdict(e)
    run.duration_s = e.duration_s
    run.statements_ok = e.statements_ok
    run.statements_failed = e.statements_failed
    run.statements_skipped = e.statements_skipped or run.statements_skipped
    run.message = e.message
    state.lock_wait = None
    for i, row in enumerate(state.statements):
        if row.run == run.number and row.status == "running":
            state.statements[i] = dataclasses.replace(row, status="not finished")


def _table(state: SessionState, e: ResultTable) -> None:
    state.tables[(e.source, e.title)] = e
    if e.source == "validation" and state.criteria:
        state.criteria = [judge_criterion(state, c) for c in state.criteria]


def _finding(state: SessionState, e: Finding) -> None:
    state.findings.append(e)


def _profile(state: SessionState, e: ProfileChosen) -> None:
    state.profile = e


def _gate(state: SessionState, e: GateChecked) -> None:
    state.gates.append(e)


def _decision(state: SessionState, e: Event) -> None:
    state.decisions.append(e)


def _workflow_started(state: SessionState, e: WorkflowStarted) -> None:
    state.workflows.append(WorkflowState(name=e.workflow))


def _workflow_finished(state: SessionState, e: WorkflowFinished) -> None:
    for workflow in reversed(state.workflows):
        if workflow.name == e.workflow and workflow.outcome is None:
            break
    else:
        workflow = WorkflowState(name=e.workflow)
        state.workflows.append(workflow)
    workflow.outcome = e.outcome
    workflow.ok = e.ok
    workflow.exit_code = e.exit_code
    workflow.message = e.message
    if state.criteria:
        state.criteria = [judge_criterion(state, c) for c in state.criteria]


def _listener_failed(state: SessionState, e: ListenerFailed) -> None:
    state.listener_errors.append(e)


def _session_ended(state: SessionState, e: SessionEnded) -> None:
    # The journal adds its own counts to its closing record; the session's state is the
    # outcome itself, the same live and replayed.
    state.ended = dataclasses.replace(e, events=None, progress_samples_dropped=None)


def _integrity(state: SessionState, e: IntegrityChecked) -> None:
    state.integrity = e


_HANDLERS: dict[type[Event], Any] = {
    IntegrityChecked: _integrity,
    SessionStarted: _session_started,
    ChecklistItemToggled: _item_toggled,
    RunStarted: _run_started,
    StatementStarted: _statement_started,
    StatementFinished: _statement_finished,
    StatementFailed: _statement_failed,
    StatementSkipped: _statement_skipped,
    ServerNotice: _notice,
    IndexBuildProgress: _progress,
    LockWait: _lock_wait,
    RunFinished: _run_finished,
    ResultTable: _table,
    Finding: _finding,
    GateChecked: _gate,
    ProfileChosen: _profile,
    OverrideRecorded: _decision,
    ConfirmationAnswered: _decision,
    RollbackDecision: _decision,
    OperatorNote: _decision,
    WorkflowStarted: _workflow_started,
    WorkflowFinished: _workflow_finished,
    ListenerFailed: _listener_failed,
    SessionEnded: _session_ended,
}
