"""One presentation of every event: its line, its status, its verdict.

The terminal printer, the Markdown/HTML export, the console and replay all say what an
event means through these functions, so they cannot disagree (they did: a rehearsal with
a failed statement was "ok" in the export and red on the terminal).  Front ends choose
colours and layout; the words and the verdicts come from here.

Statuses: ``ok``, ``fail``, ``warn``, ``info``, ``heading``, ``progress``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spfp_console.events import (
    ApprovalChecked,
    ChecklistItemToggled,
    CommitSent,
    ConfirmationAnswered,
    Event,
    Finding,
    GateChecked,
    IndexBuildProgress,
    IntegrityChecked,
    InvalidIndex,
    ListenerFailed,
    LockRetry,
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
from spfp_console.runbook.model import Contact, Estimate, TroubleshootingEntry
from spfp_console.session.runbook_guide import phase_seconds

STATUS_OF_ROW = {"pass": "ok", "fail": "fail", "warn": "warn"}
"""Result-table row statuses (pass/fail/warn) in presentation terms."""


@lean_dataclass(frozen=True)
class Line:
    """What a front end shows for one event."""

    status: str
    text: str
    details: tuple[str, ...] = ()
    """Further lines (a failure's statement, position, detail, hint)."""
    verbose: bool = False
    """Shown only on request (each statement as it starts, progress samples)."""


def file_name(path: str) -> str:
    """Script paths are absolute in events; the file name is what a reader needs."""
    return path.rsplit("/", 1)[-1]


def database_and_server(target: str) -> tuple[str, str]:
    """``user@host:port/dbname`` as (dbname, ``user@host:port``): the database is said
    first, since at 80 columns a line is cut at its end, and the name is what an
    operator checks (and types to confirm)."""
    server, slash, database = target.rpartition("/")
    return (database, server) if slash and database else (target, "")


def one_line_sql(sql: str, width: int = 90) -> str:
    """The statement on one line (whitespace collapsed), cut at ``width``."""
    text = " ".join(sql.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def first_sql_line(sql: str, width: int = 100) -> str:
    """The statement's first non-empty line, marked when there is more."""
    lines = [line.strip() for line in sql.strip().splitlines() if line.strip()]
    text = lines[0] if lines else ""
    if len(lines) > 1 or len(text) > width:
        text = text[:width].rstrip() + " …"
    return text


def run_verdict(event: RunFinished) -> bool:
    """The one success rule of a run (see :attr:`RunFinished.ok`)."""
    return event.ok


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)} min {secs:04.1f} s"


def progress_fraction(event: IndexBuildProgress) -> float | None:
    """How far an index build is (0..1) in its current phase, when it says."""
    total = event.blocks_total or event.tuples_total
    done = event.blocks_done if event.blocks_total else event.tuples_done
    return done / total if total else None


def statement_failure_details(event: StatementFailed) -> tuple[str, ...]:
    details = [f"statement at line {event.line}: {one_line_sql(event.sql)}"]
    if event.position:
        details.append(f"at character {event.position} of the statement")
    if event.detail:
        details.append(f"detail: {event.detail}")
    if event.hint:
        details.append(f"hint: {event.hint}")
    if event.context:
        details.append(f"context: {event.context}")
    return tuple(details)


def table_verdict(event: ResultTable) -> str:
    """" - PASS", " - PASS, 2 warnings", " - FAIL" or "" for a table without a verdict."""
    if event.passed is None:
        return ""
    if not event.passed:
        return " - FAIL"
    warnings = sum(1 for row in event.rows if row_status(event, row) == "warn")
    return f" - PASS, {warnings} warning{'s' if warnings > 1 else ''}" if warnings else " - PASS"


def row_status(event: ResultTable, row: tuple[str, ...]) -> str | None:
    """ok/fail/warn of a result-table row, when the table has a status column."""
    if event.status_column not in event.columns:
        return None
    return STATUS_OF_ROW.get(row[event.columns.index(event.status_column)])


def display_rows(event: ResultTable) -> tuple[tuple[str, ...], ...]:
    """Rows as shown: an ``actual`` equal to its ``expected`` reads "= expected".

    Index definitions are long; printing each twice makes a validation table twice as
    wide for no information.  The event (and so the log) keeps both.
    """
    if "expected" not in event.columns or "actual" not in event.columns:
        return event.rows
    e, a = event.columns.index("expected"), event.columns.index("actual")
    return tuple(
        tuple("= expected" if i == a and row[e] == row[a] and row[a] else cell
              for i, cell in enumerate(row))
        for row in event.rows
    )


def troubleshooting_details(entry: TroubleshootingEntry) -> tuple[str, ...]:
    """The runbook's troubleshooting entry, as lines under a failed statement (the
    terminal prints them there; the console shows them beside the SQL log)."""
    return (f"guide for {entry.sqlstate}: {entry.title}",
            f"likely cause: {' '.join(entry.cause.split())}",
            f"what to do: {' '.join(entry.action.split())}")


def describe(event: Event, *,
             guide: Mapping[str, TroubleshootingEntry] | None = None) -> Line | None:
    """The line for one event, or None when it has none (tables render as tables).

    ``guide``: the runbook's troubleshooting guide by SQLSTATE; a failed statement whose
    code it has gets the entry's lines among its details."""
    if isinstance(event, RunStarted):
        return Line("heading", f"== {event.mode}: {file_name(event.script)}"
                               f" ({event.statements} statements, transaction:"
                               f" {event.transaction})")
    if isinstance(event, StatementStarted):
        return Line("info", f"   {file_name(event.file)}:{event.line}"
                            f" {one_line_sql(event.sql)}", verbose=True)
    if isinstance(event, StatementFinished):
        rows = f", {event.rowcount} rows" if event.rowcount not in (None, -1) else ""
        return Line("ok", f"ok {file_name(event.file)}:{event.line} {event.status}"
                          f" ({event.duration_s * 1000:.0f} ms{rows})")
    if isinstance(event, StatementFailed):
        where = f"{file_name(event.file)}:{event.error_line or event.line}"
        entry = guide.get(event.sqlstate) if guide else None
        return Line("fail", f"FAILED {where} SQLSTATE {event.sqlstate}: {event.message}",
                    statement_failure_details(event)
                    + (troubleshooting_details(entry) if entry else ()))
    if isinstance(event, StatementSkipped):
        return Line("info", f"skipped {file_name(event.file)}:{event.line}"
                            f" {one_line_sql(event.sql, 40)}: {event.reason}")
    if isinstance(event, ServerNotice):
        code = f" {event.sqlstate}" if event.sqlstate and event.sqlstate != "00000" else ""
        return Line("info", f"   {event.severity}{code}: {event.message}")
    if isinstance(event, IndexBuildProgress):
        fraction = progress_fraction(event)
        pct = f" {100 * fraction:.0f}%" if fraction is not None else ""
        return Line("progress", f"   index build {event.index_name or ''}: {event.phase}{pct}",
                    verbose=True)
    if isinstance(event, LockWait):
        return Line("warn", f"   waiting {event.waited_s:.1f}s for a lock held by pid"
                            f" {event.blocker_pid} ({event.blocker_user or '?'}, since"
                            f" {event.blocker_since or '?'}): "
                            f"{one_line_sql(event.blocker_query or '', 60)}")
    if isinstance(event, LockRetry):
        undone = (f"; statements {', '.join(map(str, event.rolled_back))} of its step undone"
                  if event.rolled_back else "")
        return Line("warn", f"   lock_timeout {event.lock_timeout} at {file_name(event.file)}:"
                            f"{event.line} (attempt {event.attempt} of {event.max_attempts}):"
                            f" {event.message}{undone}; writers go on, retrying in"
                            f" {event.backoff_s:g} s")
    if isinstance(event, InvalidIndex):
        found = {"before_build": "left by an earlier run",
                 "after_failure": "left by the failed build",
                 "after_cancel": "left by the cancelled build"}.get(event.found, event.found)
        if event.action == "dropped":
            return Line("warn", f"   INVALID index {event.index_name} on {event.table}"
                                f" ({found}): dropped")
        return Line("fail", f"INVALID index {event.index_name} on {event.table} ({found}):"
                            f" could not drop it", (event.message,) if event.message else ())
    if isinstance(event, IntegrityChecked):
        return Line("ok" if event.passed else "fail", integrity_cost(event))
    if isinstance(event, CommitSent):
        return Line("info", f"   COMMIT sent ({event.statements} statements)", verbose=True)
    if isinstance(event, RunFinished):
        skipped = (f", {event.statements_skipped} skipped (the script's own"
                   " BEGIN/COMMIT: the engine owns the transaction)"
                   if event.statements_skipped else "")
        text = (f"== {event.mode} {event.outcome}: {event.statements_ok} ok,"
                f" {event.statements_failed} failed{skipped}, {event.duration_s:.2f} s")
        return Line("ok" if event.ok else "fail", text,
                    (event.message,) if event.message else ())
    if isinstance(event, Finding):
        status = {"blocker": "fail", "warning": "warn"}.get(event.severity, "info")
        label = {"blocker": "BLOCKER", "warning": "warning"}.get(event.severity, "note")
        return Line(status, f"{label}: {event.message}",
                    (f"advice: {event.advice}",) if event.advice else ())
    if isinstance(event, GateChecked):
        if event.passed:
            return None
        return Line("fail", f"gate '{event.gate}' closed: " + "; ".join(event.reasons))
    if isinstance(event, ChecklistItemToggled):
        mark = "ticked" if event.checked else "unticked"
        by = f" by {event.action}" if event.action else ""
        evidence = f" ({event.evidence})" if event.evidence else ""
        carried = (f", carried over from {event.carried_over} ({event.who}, {event.when})"
                   if event.carried_over else "")
        return Line("info", f"   [{'x' if event.checked else ' '}] {event.phase}/"
                            f"{event.item_id} {mark}{by}{evidence}{carried}", verbose=True)
    if isinstance(event, OverrideRecorded):
        return Line("warn", f"override by {event.who}: {event.what}; reason: {event.reason}")
    if isinstance(event, ConfirmationAnswered):
        if event.confirmed:
            return Line("info", f"{event.action} confirmed by {event.who}", verbose=True)
        return Line("warn", f"{event.action} not confirmed (typed {event.typed!r},"
                            f" expected {event.expected!r})")
    if isinstance(event, RollbackDecision):
        return None  # the confirmation line says it; the decision is for the record
    if isinstance(event, ApprovalChecked):
        return Line("ok" if event.valid else "warn",
                    f"{'approval' if event.valid else 'not counted'}: {file_name(event.file)}:"
                    f" {event.reason}")
    if isinstance(event, ProfileChosen):
        return Line("info", f"profile: {profile_summary(event)}")
    if isinstance(event, OperatorNote):
        return Line("info", f"note ({event.who}): {event.text}")
    if isinstance(event, ListenerFailed):
        return Line("warn", f"a display failed on a {event.event_kind} event ({event.listener}:"
                            f" {event.error}); the deployment went on")
    if isinstance(event, WorkflowFinished):
        return Line("ok" if event.ok else "fail",
                    f"{event.workflow}: {outcome_text(event.outcome)}",
                    (event.message,) if event.message else ())
    if isinstance(event, (WorkflowStarted, SessionStarted, SessionEnded)):
        return None
    return None


OUTCOME_TEXT = {
    "preflight_passed": "preflight passed",
    "preflight_failed": "preflight FAILED: nothing was changed",
    "rehearsed": "rehearsal passed: every statement ran; the transaction was rolled back",
    "rehearsal_failed": "rehearsal FAILED: the transaction was rolled back",
    "scratch_rehearsal_passed": "scratch rehearsal passed",
    "scratch_rehearsal_failed": "scratch rehearsal FAILED",
    "refused_by_preflight": "preflight failed: nothing was run",
    "refused_by_gate": "a gate is closed: nothing was run",
    "not_confirmed": "not confirmed: nothing was changed",
    "already_applied": "already applied and recorded: nothing was run",
    "committed": "committed; validation passed",
    "committed_validation_failed": "committed, but validation FAILED",
    "validation_passed": "validation passed",
    "validation_failed": "validation FAILED",
    "rolled_back": "rolled back; every object is gone",
    "rolled_back_validation_failed": "rolled back, but validation FAILED",
    "failed": "FAILED: the transaction was rolled back, nothing changed",
    "cancelled": "cancelled: the transaction was rolled back, nothing changed",
    "partially_applied": "FAILED part-way (online mode): the steps before it are committed;"
                         " fix the cause and re-run",
}


def profile_summary(event: ProfileChosen) -> str:
    """The profile as a header shows it: its title and what it asks for."""
    parts = [f"{event.required_items} required items"]
    if event.approvals_required:
        parts.append(f"{event.approvals_required} signed approvals to run")
    if event.phase_signoff:
        parts.append("a signed sign-off to leave each phase")
    return f"{event.title} ({', '.join(parts)})"


def outcome_text(outcome: str) -> str:
    return OUTCOME_TEXT.get(outcome, outcome.replace("_", " "))


def workflow_outcome(workflow: str, outcome: str, message: str | None = None) -> str:
    """How a workflow ended, in one line: its outcome, then its message unless the message
    says the same thing more precisely ('not confirmed: nothing was rolled back' replaces
    'not confirmed: nothing was changed'; a message that ends in the outcome's consequence
    takes its place) rather than repeating it in brackets."""
    general = outcome_text(outcome)
    if not message:
        return f"{workflow}: {general}"
    lead, _, consequence = general.partition(":")
    if message.lower().startswith(f"{lead.lower()}:"):
        return f"{workflow}: {message}"
    if consequence and message.lower().endswith(consequence.strip().lower()):
        return f"{workflow}: {lead}: {message}"
    cause, _, last = message.rpartition("; ")
    if cause and "rolled back" in general and (
            last == "nothing was changed" or last.startswith("the transaction was rolled back")):
        message = cause
    return f"{workflow}: {general} ({message})"


def session_summary(state: Any) -> list[str]:
    """A few lines that say how a session went (the end of a headless command, the
    console's status line): workflows, the last run, validation, blockers, overrides."""
    lines: list[str] = []
    for workflow in state.workflows:
        if workflow.outcome is not None:
            lines.append(f"{workflow.name}: {outcome_text(workflow.outcome)}")
    run = state.current_run
    if run is not None and run.outcome is not None:
        skipped = f", {run.statements_skipped} skipped" if run.statements_skipped else ""
        lines.append(f"last {run.mode}: {run.outcome}, {run.statements_ok} ok,"
                     f" {run.statements_failed} failed{skipped}"
                     f" in {duration(run.duration_s)}")
    checked = [t for (source, _), t in state.tables.items() if source == "validation"]
    if checked:
        failing = [t.title for t in checked if t.passed is False]
        lines.append(f"validation: {len(checked) - len(failing)}/{len(checked)} tables pass"
                     + (f"; FAILED: {', '.join(failing)}" if failing else ""))
    integrity = [t for (source, _), t in state.tables.items() if source == "integrity"]
    if integrity:
        lines.append(integrity_summary(integrity[-1]))
    if state.integrity is not None:
        lines.append(integrity_cost(state.integrity))
    blockers = [f for f in state.findings if f.severity == "blocker"]
    if blockers:
        lines.append(f"{len(blockers)} blocker(s): {blockers[0].message}"
                     + (" ..." if len(blockers) > 1 else ""))
    overrides = [d for d in state.decisions if isinstance(d, OverrideRecorded)]
    if overrides:
        lines.append(f"{len(overrides)} override(s), the first by {overrides[0].who}:"
                     f" {overrides[0].reason}")
    return lines


def integrity_cost(event: IntegrityChecked) -> str:
    """What the data integrity check cost: rows read, and how long writers waited."""
    end = "the rollback" if event.mode == "rehearse" else "COMMIT"
    return (f"data integrity check ({event.mode}): read {event.rows_read:,} rows of"
            f" {event.tables} table{'s' * (event.tables != 1)} in {duration(event.read_s)};"
            f" SHARE lock granted after {duration(event.lock_wait_s)}; writers of these"
            f" tables held {duration(event.writers_held_s)}, until {end}")


def integrity_summary(table: ResultTable) -> str:
    """The data integrity check's verdict in one line (its table has the details)."""
    rows = table.rows
    status = [row_status(table, row) for row in rows]
    if "fail" in status:
        changed = [row[0] for row, s in zip(rows, status, strict=True) if s == "fail"]
        return f"data integrity: FAILED, changed: {', '.join(changed)}"
    skipped = [row for row, s in zip(rows, status, strict=True) if s == "warn"]
    checked = len(rows) - len(skipped)
    text = f"data integrity: {checked}/{len(rows)} tables unchanged (rows and checksums)"
    if skipped:
        text += "; not checked: " + ", ".join(f"{row[0]} ({row[3]})" for row in skipped)
    return text


# ---------------------------------------------------------------------- the paper package


def _number(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.1f}"


def estimate_text(estimate: Estimate) -> str:
    """``5 min``, ``10-15 min``, ``30-60 s``, ``40+ min``: in the unit the paper would use."""
    top = estimate.high_s if estimate.high_s is not None else estimate.low_s
    unit, scale = ("s", 1.0) if top < 120 else ("min", 60.0) if top < 7200 else ("h", 3600.0)
    low = _number(estimate.low_s / scale)
    if estimate.high_s is None:
        return f"{low}+ {unit}"
    if estimate.high_s == estimate.low_s:
        return f"{low} {unit}"
    return f"{low}-{_number(estimate.high_s / scale)} {unit}"


def elapsed_text(seconds: float) -> str:
    """A measured duration on the estimates' scale: ``45 s``, ``12 min``, ``1.5 h``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def over_estimate(phase: Any) -> bool:
    """Did a completed phase take longer than the paper's upper estimate?"""
    took = phase_seconds(phase)
    estimate = phase.estimate
    return (took is not None and estimate is not None and estimate.high_s is not None
            and took > estimate.high_s)


def phase_timing(phase: Any) -> str:
    """The paper's estimate beside the measured time: ``est. 10-15 min · took 12 min``,
    ``est. 30-60 s · started 10:03`` while it is open; "" when neither is known."""
    parts = []
    if phase.estimate is not None:
        parts.append(f"est. {estimate_text(phase.estimate)}")
    took = phase_seconds(phase)
    if took is not None:
        parts.append(f"took {elapsed_text(took)}")
    elif phase.started_at:
        parts.append(f"started {phase.started_at[11:16]}")
    return " · ".join(parts)


CRITERION_MARK = {"pass": "✔", "warn": "!", "fail": "✘", "pending": "·"}
CRITERION_STATUS = {"pass": "ok", "warn": "warn", "fail": "fail", "pending": "info"}
CRITERION_WORD = {"pass": "met", "warn": "met, with warnings", "fail": "NOT met",
                  "pending": "not yet"}


def criterion_line(criterion: Any) -> Line:
    """``✔ All 6 analytical views available`` with the evidence that decided it."""
    mark = CRITERION_MARK.get(criterion.status, "?")
    return Line(CRITERION_STATUS.get(criterion.status, "info"), f"{mark} {criterion.text}",
                (f"{CRITERION_WORD.get(criterion.status, criterion.status)}:"
                 f" {criterion.evidence}",) if criterion.evidence else ())


def criteria_summary(criteria: Any) -> str:
    """``Success criteria: 7 of 10 met, 1 NOT met, 2 not yet``."""
    counts = {status: 0 for status in CRITERION_MARK}
    for criterion in criteria:
        counts[criterion.status] = counts.get(criterion.status, 0) + 1
    met = counts["pass"] + counts["warn"]
    parts = [f"{met} of {len(criteria)} met"]
    if counts["fail"]:
        parts.append(f"{counts['fail']} NOT met")
    if counts["pending"]:
        parts.append(f"{counts['pending']} not yet")
    return "Success criteria: " + ", ".join(parts)


def contact_lines(contacts: tuple[Contact, ...]) -> list[str]:
    """The escalation path first (step by step), then everyone else."""
    def line(contact: Contact) -> str:
        who = f"{contact.role} ({contact.name})" if contact.name else contact.role
        reach = contact.reach or "no channel given"
        about = f": {contact.about}" if contact.about else ""
        return f"{who}, {reach}{about}"

    on_path = sorted((c for c in contacts if c.escalation), key=lambda c: c.escalation or 0)
    lines = [f"{c.escalation}. {line(c)}" for c in on_path]
    lines += [f"-  {line(c)}" for c in contacts if not c.escalation]
    return lines
