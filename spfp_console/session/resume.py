"""Resuming an interrupted session: ``spfp-console resume LOG``.

An operator's terminal goes away (a dropped SSH link, a closed window, SIGHUP, kill -9);
the log of that session is the only record of what was ticked, by whom, with what
evidence, and what ran.  A resumed session is a *new* session, with a new log, that:

1. reads the old log through the journal's reader and refuses it when it is not the
   console's (a broken chain, a checkpoint or seal that does not match), of another
   runbook (the runbook or a SQL file hashes differently now), or of another database
   (another database name, or another cluster by its system identifier).  A log that
   stops without its session end record is the normal case and is accepted; a log that
   ended cleanly is accepted too (the work goes on), and the session says which;
2. links to it: ``session_started.resumed_from = "<old log> <old final hash>"``
   (``journal/link.py`` checks the link at ``verify``);
3. carries the old session over *as events of the new log*, so the new log alone rebuilds
   every pane and a reviewer replaying it sees the same ticks: each tick is re-recorded
   with its original who, when and evidence and ``carried_over`` naming the log it comes
   from; what ran (runs, statements, result tables, decisions) comes back as result
   tables of source ``resumed``, never as runs of the new session (the database's own
   deployment record and ``verify --dsn`` count a session's commits by its runs);
4. reads what the database holds now (the preflight's current-state check, Supabase's
   migration history, the console's deployment record) and says it as findings;
5. decides what the old session's checks are still worth to the run gates: the preflight
   never carries over (``deploy`` runs a fresh one); a passed rehearsal carries over only
   when nothing ran on the target after it in the old session and the migration is
   still not applied (same scripts and same target hold already, or the resume was
   refused); otherwise the rehearse item is unticked and the gate asks for a new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spfp_console.errors import EXIT_FAILED, EXIT_USAGE, ConsoleError, UsageError
from spfp_console.events import (
    ChecklistItemToggled,
    CommitSent,
    ConfirmationAnswered,
    Event,
    Finding,
    OperatorNote,
    OverrideRecorded,
    ResultTable,
    RollbackDecision,
    RunStarted,
    SessionStarted,
    UnknownEventKind,
    WorkflowFinished,
)
from spfp_console.session.presentation import describe
from spfp_console.session.state import SessionState, fold

if TYPE_CHECKING:
    from spfp_console.deployment import DeploymentSession
    from spfp_console.engine.connect import TargetInfo
    from spfp_console.runbook import Runbook

RESUMED_SOURCE = "resumed"
"""Source of the result tables that carry the old session over."""
RESUME_FINDINGS = "resume"
"""Source of the findings a resumed session reports about the old log and the database."""


class ResumeRefused(ConsoleError):
    """The log cannot be resumed: not the console's (exit 1), or another runbook or
    database than the one given (exit 2).  Nothing was connected to or written."""

    exit_code = EXIT_FAILED


@dataclass
class ResumePoint:
    """An old log, verified and folded: what a resumed session starts from."""

    path: Path
    final_hash: str
    """The chain hash of the old log's last verified event."""
    header: dict[str, Any]
    events: list[Event]
    """Its domain events, in order (no signed checkpoints)."""
    state: SessionState
    chain_events: int
    """How many records verified (checkpoints included): the last seq."""
    outcome: str | None
    """Its session end record's outcome; None when it stops without one."""
    signature: str = ""
    """What signs it, in words (for the summary)."""

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def ended(self) -> bool:
        return self.outcome is not None

    @property
    def link(self) -> str:
        from spfp_console.journal.link import format_link

        return format_link(self.path, self.final_hash)

    @property
    def target(self) -> dict[str, Any]:
        return dict(self.header.get("target") or {})

    # ------------------------------------------------------------------ refusals

    def check_runbook(self, runbook: Runbook) -> None:
        """Refuse a runbook other than the old session's, or one whose files changed."""
        from spfp_console.journal.record import SessionHeader, Target, sha256_file

        old_id = self.header.get("runbook_id")
        if old_id != runbook.id:
            raise ResumeRefused(
                f"cannot resume {self.path}: it is a session of runbook {old_id!r}, and"
                f" {runbook.path} is runbook {runbook.id!r}; pass --runbook with the runbook"
                " of that session", exit_code=EXIT_USAGE)
        old_runbook = self.header.get("runbook_sha256")
        if old_runbook is not None and old_runbook != sha256_file(runbook.path):
            raise ResumeRefused(
                f"cannot resume {self.path}: the runbook {runbook.path} changed since that"
                " session (its sha256 differs), so its checklist and evidence may be about"
                " other steps; start a new session with `spfp-console console`",
                exit_code=EXIT_USAGE)
        now = SessionHeader.for_runbook(
            runbook.id, runbook.path, [ref.path for ref in runbook.scripts.values()],
            Target(), base_dir=runbook.path.parent.parent).files
        then = {str(k): str(v) for k, v in dict(self.header.get("files") or {}).items()}
        for name in sorted(set(now) | set(then)):
            if now.get(name) != then.get(name):
                was = (then.get(name) or "absent")[:12]
                is_ = (now.get(name) or "absent")[:12]
                raise ResumeRefused(
                    f"cannot resume {self.path}: {name} changed since that session (sha256"
                    f" {was}... then, {is_}... now), so its rehearsal and ticks are about"
                    " other SQL; start a new session with `spfp-console console`",
                    exit_code=EXIT_USAGE)

    def check_target(self, info: TargetInfo, system_identifier: str | None) -> None:
        """Refuse a connection to another database than the old session's.  The same
        cluster (system identifier) and database name may be reached by another host
        name or port; without identifiers, host and port must match too."""
        old = self.target
        host = info.host or "local socket"
        then = (f"{old.get('user', '?')}@{old.get('host', '?')}:{old.get('port', '?')}"
                f"/{old.get('database', '?')}")
        differs: list[str] = []
        if old.get("database") != info.dbname:
            differs.append(f"database {old.get('database')!r}, not {info.dbname!r}")
        old_id = old.get("system_identifier")
        if old_id is not None and system_identifier is not None:
            if str(old_id) != system_identifier:
                differs.append(f"server system identifier {old_id}, not {system_identifier}")
        elif (old.get("host"), old.get("port")) != (host, info.port):
            differs.append(f"server {old.get('host')}:{old.get('port')}, not"
                           f" {host}:{info.port}")
        if differs:
            raise ResumeRefused(
                f"cannot resume {self.path}: it was a session on {then}, and this"
                f" connection is to {info.display} ({'; '.join(differs)}); give --dsn of"
                " the database of that session, or start a new session here",
                exit_code=EXIT_USAGE)


def read_resume_point(path: Path) -> ResumePoint:
    """The old log, verified and folded, or one clear refusal."""
    from spfp_console.journal.read import LogReader
    from spfp_console.journal.verify import verify_log

    if not path.is_file():
        raise UsageError(f"cannot resume {path}: no such file; give the path of a deployment"
                         " log (deploy-logs/*.deploy-log.toml)")
    try:
        verified = verify_log(path)
    except OSError as exc:
        raise UsageError(f"cannot resume {path}: cannot read it: {exc.strerror or exc}") from exc
    chain = verified.chain
    refuse = (f"cannot resume {path}: it is not the log the console wrote"
              " ({}); keep it for review and start a new session with `spfp-console"
              " console`")
    if not (chain.ok or chain.intact_but_unfinished):
        where = "its header" if chain.first_bad_seq == 0 else f"seq {chain.first_bad_seq}"
        raise ResumeRefused(refuse.format(f"{where} {chain.problem}: {chain.detail}"))
    if verified.checkpoints.bad is not None:
        raise ResumeRefused(refuse.format(
            f"the signed checkpoint at seq {verified.checkpoints.bad_seq} does not match:"
            f" {verified.checkpoints.bad.detail}"))
    if verified.signature.status not in ("valid", "unsigned"):
        raise ResumeRefused(refuse.format(
            f"its signature {verified.signature.status}: {verified.signature.detail}"))
    events: list[Event] = []
    reader = LogReader(path)
    try:
        for entry in reader:
            event = entry.event()
            if event is not None:
                events.append(event)
    except UnknownEventKind as exc:
        raise ResumeRefused(f"cannot resume {path}: {exc}: a newer spfp-console wrote it;"
                            " resume it with that version", exit_code=EXIT_USAGE) from exc
    if not events or not isinstance(events[0], SessionStarted):
        raise ResumeRefused(f"cannot resume {path}: it records no session start, so there"
                            " is nothing to resume; start a new session with"
                            " `spfp-console console`", exit_code=EXIT_USAGE)
    assert chain.last_hash is not None
    signature = verified.line()
    return ResumePoint(path=path.resolve(), final_hash=chain.last_hash, header=chain.header,
                       events=events, state=fold(events), chain_events=chain.events,
                       outcome=chain.outcome, signature=signature)


# --------------------------------------------------------------------------- carrying over


def carry_over(session: DeploymentSession, point: ResumePoint) -> None:
    """Emit, into the new session, the old one's ticks and what ran, then what the
    database holds now and what the old checks are worth to the gates."""
    emit = session.emit
    old = point.state
    if point.ended:
        status = (f"that session's log is complete (it ended {point.outcome}); this one"
                  " continues its work")
    else:
        status = (f"that session was interrupted: its log ends after seq"
                  f" {point.chain_events} without a session end record")
    emit(Finding(source=RESUME_FINDINGS, section="resumed session", severity="info",
                 subject=str(point.path),
                 message=f"resumes {point.name} ({old.operator or '?'}, {len(point.events)}"
                         f" events, final hash {point.final_hash[:12]}...): {status}",
                 advice="`spfp-console verify` on this log checks the link to it"))
    ticks = 0
    for phase in old.phases:
        for item in phase.items:
            if not item.checked:
                continue
            ticks += 1
            emit(ChecklistItemToggled(
                phase=item.phase, item_id=item.id, checked=True, who=item.who or "?",
                note=item.note, evidence=item.evidence, action=item.ticked_by_action,
                when=item.when, carried_over=item.carried_over or point.name))
    for table in _what_ran(point):
        emit(table)
    interrupted = _interrupted_run(point)
    if interrupted is not None:
        emit(interrupted)
    current = _database_state(session, point)
    _decide_rehearsal(session, point, current)
    runs = len(old.runs)
    emit(Finding(source=RESUME_FINDINGS, section="carried over", severity="info",
                 message=f"carried over from {point.name}: {ticks} tick(s), {runs} run(s),"
                         f" {len(old.statements)} statement(s), {len(old.tables)} result"
                         f" table(s), {len(old.decisions)} decision(s)"))


def _what_ran(point: ResumePoint) -> list[ResultTable]:
    """The old session's runs, statements, result tables and decisions, as tables."""
    old, name = point.state, point.name
    tables: list[ResultTable] = []
    rows: list[tuple[str, ...]]
    if old.runs:
        rows = []
        for run in old.runs:
            outcome = run.outcome or "no end recorded (interrupted)"
            status = "warn" if run.outcome is None else ("pass" if run.ok else "fail")
            duration = f"{run.duration_s:.2f} s" if run.duration_s is not None else ""
            rows.append((str(run.number), run.mode, run.script.rsplit("/", 1)[-1], outcome,
                         f"{run.statements_done}/{run.statements}", duration, status))
        tables.append(ResultTable.checked(
            title=f"Runs of {name}", source=RESUMED_SOURCE,
            columns=("run", "mode", "script", "outcome", "statements", "duration",
                     "status"), rows=rows))
    if old.statements:
        status_of = {"ok": "pass", "failed": "fail", "skipped": "info"}
        rows = []
        for row in old.statements:
            detail = (f"{row.sqlstate}: {row.message}" if row.sqlstate
                      else row.command_status or row.message or "")
            duration = f"{row.duration_s:.3f} s" if row.duration_s is not None else ""
            rows.append((str(row.run), str(row.index),
                         f"{row.file.rsplit('/', 1)[-1]}:{row.line}", row.first_line,
                         row.status, duration, detail, status_of.get(row.status, "warn")))
        tables.append(ResultTable.checked(
            title=f"Statements of {name}", source=RESUMED_SOURCE,
            columns=("run", "#", "file:line", "statement", "state", "duration", "detail",
                     "status"), rows=rows))
    for (source, title), table in old.tables.items():
        if source == RESUMED_SOURCE:  # a resume of a resume: already "from" its log
            tables.append(table)
            continue
        tables.append(ResultTable(
            title=f"{title} ({source}, from {name})", source=RESUMED_SOURCE,
            columns=table.columns, rows=table.rows, status_column=table.status_column,
            passed=table.passed))
    decisions = [e for e in old.decisions
                 if isinstance(e, (OverrideRecorded, ConfirmationAnswered, RollbackDecision,
                                   OperatorNote))]
    if decisions:
        rows = []
        for decision in decisions:
            line = describe(decision)
            rows.append((str(getattr(decision, "when", "") or ""),
                         str(getattr(decision, "who", "") or ""),
                         line.text if line is not None else decision.kind))
        tables.append(ResultTable.checked(
            title=f"Decisions of {name}", source=RESUMED_SOURCE,
            columns=("when", "who", "what"), rows=rows, status_column=None))
    return tables


def _interrupted_run(point: ResumePoint) -> Finding | None:
    """A run the old log shows started and never finished, and whether COMMIT was sent."""
    run = point.state.current_run
    if run is None or run.outcome is not None:
        return None
    last_start = max(i for i, e in enumerate(point.events) if isinstance(e, RunStarted))
    commit_sent = any(isinstance(e, CommitSent) for e in point.events[last_start:])
    done = run.statements_done
    if commit_sent:
        return Finding(
            source=RESUME_FINDINGS, section="interrupted run", severity="blocker",
            message=f"the log of {point.name} ends inside run {run.number} ({run.mode} of"
                    f" {run.script.rsplit('/', 1)[-1]}) after COMMIT was sent: the change"
                    " may be COMMITTED",
            advice="see the database's state and deployment record below; validate before"
                   " anything else")
    return Finding(
        source=RESUME_FINDINGS, section="interrupted run", severity="warning",
        message=f"the log of {point.name} ends inside run {run.number} ({run.mode} of"
                f" {run.script.rsplit('/', 1)[-1]}, {done} of {run.statements} statements"
                " done) before COMMIT was sent: the server rolled that transaction back"
                " when the session went away",
        advice="see the database's state below (an online run commits step by step)")


def _database_state(session: DeploymentSession, point: ResumePoint) -> str:
    """What the target holds now, as the preflight's current-state check, Supabase's
    migration history and the console's deployment record say; returns the state."""
    from spfp_console.deployment import _target_step
    from spfp_console.engine import witness
    from spfp_console.engine.preflight import finding, read_current_state

    conn = session._conn()
    runbook = session.runbook
    with _target_step("reading the database's current state"):
        report = read_current_state(conn, runbook)
        for warning in report.warnings:
            session.emit(finding(RESUME_FINDINGS, "database now", "warning", warning))
        for table in report.tables:
            session.emit(table)
        added = [c for c in runbook.checks if c.added_by_migration]
        present = [c for c in added if c.id in report.present]
        label = {"not_applied": "not applied", "applied": "fully applied",
                 "partial": "partially applied"}[report.state]
        session.emit(Finding(
            source=RESUME_FINDINGS, section="database now", severity="info",
            subject=session.info.display if session.info else None,
            message=f"the migration is {label} now ({len(present)} of {len(added)} objects"
                    " exist)",
            advice={"not_applied": "run it when the gates are open",
                    "applied": "validate it (v); nothing is left to run",
                    "partial": "validate (v) to see what is missing; a run re-applies it"
                               " (every statement is IF NOT EXISTS)"}[report.state]))
        settings = runbook.supabase
        if settings.migration_history and settings.version is not None:
            from spfp_console.engine import migration_history as history

            with conn.transaction():
                row = history.recorded(conn, settings.version)
            session.history_row = row
            session.emit(Finding(
                source=RESUME_FINDINGS, section="database now", severity="info",
                message=f"version {settings.version} is"
                        f" {'recorded' if row is not None else 'not recorded'} in"
                        f" {history.TABLE}"))
        if runbook.witness:
            with conn.transaction():
                rows = witness.rows(conn, runbook.id)
            theirs = [r for r in rows if r.session_id == point.header.get("hash")]
            if theirs:
                text = "; ".join(f"{r.workflow} of {r.script} committed at {r.recorded_at}"
                                 for r in theirs)
                message = f"the database recorded commits of that session: {text}"
            else:
                message = "the database recorded no commit of that session"
            session.emit(Finding(source=RESUME_FINDINGS, section="database now",
                                 severity="info", message=message))
    return report.state


def _decide_rehearsal(session: DeploymentSession, point: ResumePoint, state: str) -> None:
    """May the old session's passed rehearsal open the run gate of this one?"""
    events = point.events
    passed_at = None
    for i, e in enumerate(events):
        if isinstance(e, WorkflowFinished) and e.workflow == "rehearse":
            passed_at = i if e.ok else None
    if passed_at is None:
        return
    ran_after = any(isinstance(e, RunStarted) and e.mode == "run"
                    for e in events[passed_at:])
    if not ran_after and state == "not_applied":
        session.carried_rehearsal = point.name
        session.emit(Finding(
            source=RESUME_FINDINGS, section="gates", severity="info",
            message=f"the rehearsal that passed in {point.name} counts for the run gate:"
                    " same scripts, same target, nothing ran there after it, and the"
                    " migration is still not applied",
            advice="the preflight does not carry over: the run checks the target again"))
        return
    why = ("a run or rollback started after it in that session" if ran_after
           else f"the migration is {state.replace('_', ' ')} now")
    session.carried_rehearsal = None
    session.emit(Finding(
        source=RESUME_FINDINGS, section="gates", severity="warning",
        message=f"the rehearsal that passed in {point.name} does not count for the run gate:"
                f" {why}",
        advice="rehearse again (h) before the run; the preflight is always run again"))
    for item in session.state.items_with_action("rehearse"):
        if item.checked:
            session.toggle_item(item.phase, item.id, False, action="rehearse",
                                evidence=f"carried-over rehearsal not trusted: {why}")
