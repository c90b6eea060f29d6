"""One operator session against one target: the workflows every front end drives.

A :class:`DeploymentSession` holds the runbook, the connection, the journal, the folded
:class:`~spfp_console.session.state.SessionState` and the listeners.  Its workflows
(``check``, ``rehearse``, ``scratch_rehearse``, ``deploy``, ``validate``, ``rollback``)
are the only place a flow is written: the headless CLI, the Textual console and the tests
call them, and answer the session's questions through an
:class:`~spfp_console.session.operator.Operator`.

Every event goes through :meth:`DeploymentSession.emit`: redacted once, recorded in the
journal (which must succeed), folded into ``state``, then handed to each listener.
Listeners are called on the thread that emitted: the caller's thread for the session's
own events, the executor's thread for statements, and the progress monitor's thread for
index-build samples and lock waits.  A listener must be quick and must not block; the
console's listener posts a message to the UI thread.  A listener that raises is
recorded as a :class:`~spfp_console.events.ListenerFailed` event and the deployment goes
on: a display is a guest, never a reason to roll back.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import threading
import time
from collections.abc import Callable
from dataclasses import field
from pathlib import Path
from typing import Any

from spfp_console.engine.connect import Target, TargetConnection, TargetInfo, describe_target
from spfp_console.engine.executor import CancelToken, OnlinePolicy, RunResult, run_script
from spfp_console.engine.script import Script, load_script
from spfp_console.errors import (
    EXIT_FAILED,
    EXIT_NOT_CONFIRMED,
    EXIT_OK,
    CommittedButIncomplete,
    ConsoleError,
    TargetRefused,
    UsageError,
    error_line,
)
from spfp_console.events import (
    ApprovalChecked,
    ChecklistItemToggled,
    ConfirmationAnswered,
    Event,
    Finding,
    GateChecked,
    ListenerFailed,
    OperatorNote,
    OverrideRecorded,
    ProfileChosen,
    ResultTable,
    RollbackDecision,
    SessionEnded,
    SessionStarted,
    WorkflowFinished,
    WorkflowStarted,
    event_from_record,
)
from spfp_console.lean_dataclass import lean_dataclass
from spfp_console.runbook import Runbook
from spfp_console.session.operator import ConfirmationRequest, Operator
from spfp_console.session.presentation import outcome_text
from spfp_console.session.runbook_guide import paper_package_of
from spfp_console.session.state import SessionState

Listener = Callable[[Event], None]


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds").replace(
        "+00:00", "Z")


@lean_dataclass
class WorkflowResult:
    """How a workflow ended: its outcome word, whether it succeeded, the exit code a
    headless command returns for it, and what it produced."""

    workflow: str
    outcome: str
    ok: bool
    exit_code: int
    message: str | None = None
    run: RunResult | None = None
    tables: list[ResultTable] = field(default_factory=list)
    report: Any = None
    """The engine's own report: PreflightReport, ScratchReport, RollbackImpact."""

    @property
    def failed(self) -> bool:
        return not self.ok


@lean_dataclass(frozen=True)
class DeployGates:
    """What must hold before ``deploy`` may change the database.

    The CLI checks the preflight (its operator has no checklist to tick); the console
    also requires the required pre-deployment items and a passed rehearsal of this
    session.  A closed gate asks the operator for an override reason.
    """

    preflight: bool = True
    checklist: bool = False
    rehearsal: bool = False
    approvals: bool = True
    """Enough signed approvals, when the runbook requires any (``[approvals]``).  Never
    overridable: the executor cannot waive four eyes alone."""
    signoffs: bool = True
    """A signed sign-off of every phase before the run, when the session's profile asks
    for them (Enterprise).  Never overridable either."""


@lean_dataclass
class DeploymentSession:
    runbook: Runbook
    dsn: str | None = None
    log_dir: Path | None = None
    journal_enabled: bool = True
    sign_key: Path | None = None
    listeners: list[Listener] = field(default_factory=list)
    operator: str = field(default_factory=getpass.getuser)
    environment: str | None = None
    approvals_dir: Path | None = None
    """Where signed approvals are looked for (default: the runbook's ``[approvals]``)."""
    profile: str | None = None
    """The runbook profile to run under (quick, guided, enterprise...); None: the
    runbook's default profile, if it has profiles."""
    integrity: bool | None = None
    """The data integrity check for this session's runs and rehearsals (``console
    --integrity``); an explicit ``integrity=`` argument wins; None: the runbook's
    ``integrity_check``."""

    target: Target = field(init=False)
    conn: TargetConnection | None = field(init=False, default=None)
    info: TargetInfo | None = field(init=False, default=None)
    journal: Any = field(init=False, default=None)
    log_path: Path | None = field(init=False, default=None)
    signature_path: Path | None = field(init=False, default=None)
    signing_error: str | None = field(init=False, default=None)
    """Why the log could not be (fully) signed, when a key failed mid-session."""
    last_run_seconds: float | None = field(init=False, default=None)
    state: SessionState = field(init=False, default_factory=SessionState)
    """Everything that happened, folded from the events this session emitted."""
    ended: bool = field(init=False, default=False)
    history_row: Any = field(init=False, default=None)
    """This version's row in Supabase's migration history as last seen (None: absent)."""
    _history_removed: bool = field(init=False, default=False)
    approval_report: Any = field(init=False, default=None)
    """The last :meth:`check_approvals` result (None: no approvals required or checked)."""
    active_profile: Any = field(init=False, default=None)
    """The :class:`~spfp_console.runbook.model.Profile` in force (None: no profiles)."""
    signoff_reports: dict[str, Any] = field(init=False, default_factory=dict)
    """Per phase, the last sign-off check (:meth:`leave_phase`)."""
    resume_from: Any = None
    """A :class:`~spfp_console.session.resume.ResumePoint`: the (interrupted) session this
    one resumes; ``open()`` refuses another database, links to it and carries it over."""
    carried_rehearsal: str | None = field(init=False, default=None)
    """The old log whose passed rehearsal counts for this session's rehearsal gate."""
    system_identifier: str | None = field(init=False, default=None)
    """The target cluster's system identifier, when the role may read it."""
    _redactor: Any = field(init=False, default=None)
    _emit_lock: Any = field(init=False, default_factory=threading.RLock)

    # ------------------------------------------------------------------ lifecycle

    def open(self) -> TargetInfo:
        """Connect (ConnectError on failure), start the journal, emit SessionStarted."""
        from spfp_console.redact import Redactor, secrets_in_env

        self.active_profile = self._resolve_profile()
        signer = None
        if self.journal_enabled:
            # A key that cannot sign stops the session here, before anything changes.
            from spfp_console.journal.sign import resolve_signer

            signer = resolve_signer(self.sign_key)
        self.target = Target(self.dsn, connect_timeout=self.runbook.settings.connect_timeout_s)
        # Every output path (terminal, JSON lines, console, log) gets the same redaction.
        import os

        self._redactor = Redactor({*self.target.secrets(), *secrets_in_env(os.environ)})
        self.conn = self.target.connect(autocommit=True)
        pinning = self._refuse_transaction_pooler()
        self.info = describe_target(self.conn)
        from spfp_console.engine.connect import system_identifier

        self.system_identifier = system_identifier(self.conn)
        if self.resume_from is not None:  # refused before a new log is written
            try:
                self.resume_from.check_target(self.info, self.system_identifier)
            except BaseException:
                self.conn.close()
                raise
        if self.journal_enabled:
            self._start_journal(signer)
        phases, items = checklist_of(self.runbook, self.active_profile)
        self.emit(SessionStarted(
            operator=self.operator,
            runbook_id=self.runbook.id,
            runbook_title=self.runbook.title,
            target=self.info.display,
            server_version=self.info.server_version,
            supabase=getattr(self.info, "supabase", None),
            environment=self.environment,
            phases=phases,
            items=items,
            success_message=self.runbook.success_message,
            resumed_from=self.resume_from.link if self.resume_from is not None else None,
            started_at=utc_now(),
            **paper_package_of(self.runbook),
        ))
        if self.active_profile is not None:
            profile = self.active_profile
            required = sum(1 for item in items if item[3] == "required")
            self.emit(ProfileChosen(
                profile=profile.id, title=profile.title, required_items=required,
                optional_items=len(items) - required,
                approvals_required=self.approvals_required,
                phase_signoff=profile.phase_signoff, description=profile.description or None))
        unverified = pinning.verdict == "unverified"
        self.emit(Finding(
            source="connection", section="pooler", severity="warning" if unverified
            else "info", subject=self.info.display,
            message=(f"could not check for a transaction-mode pooler: {pinning.evidence}"
                     if unverified else
                     f"session pinned ({pinning.verdict}): {pinning.evidence}"),
            advice="make sure this is a direct or session-mode connection" if unverified
            else None))
        if self.resume_from is not None:
            from spfp_console.session.resume import carry_over

            carry_over(self, self.resume_from)
        return self.info

    def _resolve_profile(self) -> Any:
        runbook = self.runbook
        try:
            profile = runbook.profile(self.profile)
        except KeyError:
            names = ", ".join(p.id for p in runbook.profiles) or "none"
            raise UsageError(f"unknown profile {self.profile!r} for runbook {runbook.id}"
                             f" (its profiles: {names}); nothing was done") from None
        if profile is None:
            return None
        needs_signers = (profile.approvals_required or 0) > 0 or profile.phase_signoff
        if needs_signers and runbook.approvals.allowed_signers is None:
            raise UsageError(
                f"profile {profile.id!r} needs signed approvals, and runbook {runbook.id}"
                " names no allowed signers; add [approvals] allowed_signers = \"FILE\" to"
                " it, or choose another profile; nothing was done")
        return profile

    @property
    def approvals_required(self) -> int:
        """How many approvals ``run`` needs: the profile's, else the runbook's."""
        profile = self.active_profile
        if profile is not None and profile.approvals_required is not None:
            return int(profile.approvals_required)
        return self.runbook.approvals.required

    def _refuse_transaction_pooler(self) -> Any:
        """Before anything else touches the target: a transaction-mode pooler would break
        the deployment lock and the session settings (TransactionPoolerError, exit 2)."""
        from spfp_console.engine.pooler import refuse_transaction_pooling

        conn = self._conn()
        try:
            with _target_step("the connection pooling check"):
                return refuse_transaction_pooling(conn, self.target.display)
        except BaseException:
            conn.close()
            raise

    def _start_journal(self, signer: Any = None) -> None:
        from spfp_console.journal.record import JournalWriter, SessionHeader
        from spfp_console.journal.record import Target as JournalTarget

        assert self.info is not None
        header = SessionHeader.for_runbook(
            self.runbook.id,
            self.runbook.path,
            [ref.path for ref in self.runbook.scripts.values()],
            JournalTarget(
                host=self.info.host or "local socket",
                port=self.info.port,
                database=self.info.dbname,
                user=self.info.user,
                server_version=self.info.server_version,
                system_identifier=self.system_identifier,
            ),
            base_dir=self.runbook.path.parent.parent,
        )
        self.journal = JournalWriter.create(
            header, log_dir=self.log_dir, secrets=self.target.secrets(), signer=signer
        )
        self.log_path = Path(self.journal.path)

    def close(self, result: WorkflowResult | None = None, *, outcome: str | None = None,
              message: str | None = None, exit_code: int | None = None) -> None:
        """End the session: SessionEnded, the journal's end record (signed when a key was
        given), the connection closed.  The outcome is the last workflow's, or given."""
        if not self.ended and (self.journal is not None or self.state.events):
            self.ended = True
            if result is not None:
                outcome = outcome or result.outcome
                message = message or result.message
                exit_code = result.exit_code if exit_code is None else exit_code
            outcome = outcome or "ended"
            exit_code = EXIT_OK if exit_code is None else exit_code
            # The journal writes it as its closing record (the last of the chain).
            self.emit(SessionEnded(outcome=outcome, ok=exit_code == EXIT_OK,
                                   exit_code=exit_code, message=message))
        if self.journal is not None:
            try:
                self.journal.end(outcome or "ended", message)  # the writer seals it when signing
            finally:
                self.journal.close()
                self.signature_path = self.journal.signature_path
                self.signing_error = self.journal.signing_error
            self.journal = None
        if self.conn is not None and not self.conn.closed:
            self.conn.close()

    def __enter__(self) -> DeploymentSession:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if self.journal is None and (self.conn is None or self.conn.closed):
            return
        if exc is None:
            self.close()
            return
        why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if self.state.committed:
            # After a COMMIT nothing may read as "nothing changed".
            message = (f"the change IS COMMITTED, but the session did not end cleanly"
                       f" ({why}); run `spfp-console validate` now")
            try:
                self.close(outcome="committed_incomplete", message=message,
                           exit_code=CommittedButIncomplete.exit_code)
            except (ConsoleError, OSError) as closing:  # e.g. the disk is still full
                message += f"; the log could not be ended either ({error_line(closing)})"
            raise CommittedButIncomplete(message) from exc
        self.close(outcome="aborted", message=why, exit_code=EXIT_FAILED)

    # ------------------------------------------------------------------ the event stream

    def emit(self, event: Event) -> None:
        with self._emit_lock:
            if self._redactor is not None:
                event = self._redact(event)
            if self.journal is not None:
                self.journal.record(event)
            self.state.apply(event)
            for listener in list(self.listeners):
                try:
                    listener(event)
                except Exception as exc:  # noqa: BLE001 - a listener is a guest
                    self._listener_failed(listener, event, exc)

    def _redact(self, event: Event) -> Event:
        record = event.to_record()
        cleaned = self._redactor.value(record)
        return event if cleaned == record else event_from_record(cleaned)

    def _listener_failed(self, listener: Listener, event: Event, exc: Exception) -> None:
        failure = ListenerFailed(listener=_name_of(listener), event_kind=event.kind,
                                 error=error_line(exc))
        if self.journal is not None:
            self.journal.record(failure)
        self.state.apply(failure)
        for other in self.listeners:
            if other is listener:
                continue
            try:
                other(failure)
            except Exception:  # noqa: BLE001, S110 - its own failure is already logged
                pass

    # ------------------------------------------------------------------ operator actions

    def toggle_item(self, phase: str, item_id: str, checked: bool, *,
                    note: str | None = None, evidence: str | None = None,
                    action: str | None = None) -> None:
        self.emit(ChecklistItemToggled(phase=phase, item_id=item_id, checked=checked,
                                       who=self.operator, note=note, evidence=evidence,
                                       action=action, when=utc_now()))

    def record_override(self, what: str, reason: str, who: str | None = None) -> None:
        self.emit(OverrideRecorded(what=what, reason=reason, who=who or self.operator,
                                   when=utc_now()))

    def note(self, text: str) -> None:
        self.emit(OperatorNote(text=text, who=self.operator, when=utc_now()))

    def _tick_action(self, action: str, ok: bool, evidence: str) -> None:
        """Items whose ``action`` this is: ticked by a success (the result is the
        evidence); a failure unticks an item an earlier success had ticked."""
        for item in self.state.items_with_action(action):
            if ok:
                self.toggle_item(item.phase, item.id, True, evidence=evidence, action=action)
            elif item.checked:
                self.toggle_item(item.phase, item.id, False, evidence=evidence,
                                 action=action)

    # ------------------------------------------------------------------ engine steps

    def _conn(self) -> TargetConnection:
        if self.conn is None or self.conn.closed:
            raise UsageError("the session is not connected; call open() first")
        return self.conn

    def preflight(self, *, online: bool | None = None) -> Any:
        """``online``: describe an online run; None follows the runbook."""
        from spfp_console.engine.preflight import run_preflight

        with _target_step("preflight"):
            report = run_preflight(self._conn(), self.runbook, on_event=self.emit,
                                   online=online)
            self.migration_history_check(report)
            self.default_privileges_check()
            return report

    def load(self, role: str = "migration", *, path: Path | None = None,
             tolerant: bool = False) -> Script:
        return load_script(path or self.runbook.script(role), tolerant=tolerant)

    def _execute(self, script: Script, mode: str, cancel: CancelToken | None,
                 before_statements: Callable[[Any], None] | None = None,
                 before_commit: Callable[[Any], None] | None = None, *,
                 online: bool = False) -> RunResult:
        settings = self.runbook.settings
        started = time.perf_counter()
        result = run_script(
            self._conn(), script, mode=mode,  # type: ignore[arg-type]
            on_event=self.emit,
            lock_timeout=settings.online_lock_timeout if online else settings.lock_timeout,
            statement_timeout=settings.statement_timeout, cancel=cancel,
            before_statements=before_statements, before_commit=before_commit,
            online=OnlinePolicy(build_lock_timeout=settings.lock_timeout) if online else False,
        )
        if mode == "run":
            self.last_run_seconds = time.perf_counter() - started
        return result

    def run_rehearsal(self, *, path: Path | None = None,
                      cancel: CancelToken | None = None,
                      check: Any = None) -> RunResult:
        """``check``: an IntegrityCheck (:meth:`rehearsal_integrity_check`), taken after
        BEGIN and again before the rollback."""
        return self._execute(self.load(path=path, tolerant=True), "rehearse", cancel,
                             before_statements=check.before if check is not None else None,
                             before_commit=check.after if check is not None else None)

    def run_migration(self, *, cancel: CancelToken | None = None,
                      online: bool | None = None,
                      integrity: bool | None = None) -> RunResult:
        """Run the migration; ``online`` None follows the runbook's execution_mode,
        ``integrity`` None its ``integrity_check`` (see :mod:`.engine.integrity`)."""
        if online is None:
            online = self.runbook.settings.execution_mode == "online"
        script = self.load("migration")
        check = self._integrity_check(online, integrity, cancel)
        run = self._execute(script, "run", cancel,
                            before_statements=check.before if check is not None else None,
                            before_commit=self._before_commit(
                                check.after if check is not None else None,
                                self._history_hook("record", script),
                                self._witness_hook("deploy", script)),
                            online=online)
        self._history_recorded(run, "record")
        self._integrity_judged(check, run, online=online, integrity=integrity)
        return run

    def integrity_wanted(self, online: bool, integrity: bool | None) -> bool:
        """Does this run check data integrity?  UsageError when asked for explicitly in
        online mode, which cannot give the guarantee (one transaction is needed)."""
        if integrity is None:
            integrity = self.integrity
        if integrity is None:
            return self.runbook.settings.integrity_check
        if integrity and online:
            raise UsageError(
                "--integrity needs the migration in one transaction, and online mode commits"
                " step by step; run without --online (or without --integrity); nothing was"
                " run")
        return integrity

    def _integrity_check(self, online: bool, integrity: bool | None,
                         cancel: CancelToken | None = None,
                         script: Path | None = None) -> Any:
        """The IntegrityCheck of ``script`` (default: the runbook's migration), or None
        when this run or rehearsal does not check."""
        if not self.integrity_wanted(online, integrity) or online:
            return None
        from spfp_console.engine.integrity import IntegrityCheck, tables_to_check

        settings = self.runbook.settings
        return IntegrityCheck(tables_to_check(script or self.runbook.script("migration"),
                                              settings.schema), on_event=self.emit,
                              cancel=cancel, mode="rehearse" if script else "run")

    def _integrity_summary(self) -> list[str]:
        """What the operator confirms along with the run: how much the check reads."""
        from spfp_console.engine.integrity import estimated_size, tables_to_check

        tables = tables_to_check(self.runbook.script("migration"), self.runbook.settings.schema)
        with _target_step("the data integrity estimate"):
            size = estimated_size(self._conn(), tables)
        return [f"data integrity: {size} counted and checksummed before and after (read"
                " twice), under a SHARE lock from the start: their writers wait until COMMIT"]

    def _integrity_judged(self, check: Any, run: RunResult, *, online: bool,
                          integrity: bool | None) -> None:
        """Tick the ``integrity`` items from the check's result; when it did not run on a
        committed migration, say why (the items stay open)."""
        from spfp_console.engine.integrity import ONLINE_REASON, not_checked_table

        if check is not None:
            if run.ok and check.passed:
                self._tick_action("integrity", True, check.summary())
            elif check.done:
                self._tick_action("integrity", False, check.summary())
                if run.ok:  # committed, but some table could not be checked exactly
                    self._integrity_not_checked(check.summary())
            return
        if run.outcome not in ("committed", "partially_applied"):
            return  # nothing changed: nothing to check
        if online and self.integrity_wanted(online, integrity):
            self.emit(not_checked_table(ONLINE_REASON))
            self._integrity_not_checked(
                f"data integrity {ONLINE_REASON} (rows were written between its commits"
                " by anyone); compare the touched tables yourself")
        elif self.state.items_with_action("integrity"):
            self._integrity_not_checked(
                "data integrity not checked: the integrity check was off for this run"
                " ([settings] integrity_check, run --integrity)")

    def _integrity_not_checked(self, why: str) -> None:
        items = self.state.items_with_action("integrity")
        self.emit(Finding(source="integrity", section="data integrity", severity="warning",
                          message=why,
                          subject=", ".join(f"{i.phase}/{i.id}" for i in items) or None,
                          advice="the checklist item stays open" if items else None))

    def run_rollback(self, *, cancel: CancelToken | None = None,
                     recheck: Callable[[Any], None] | None = None) -> RunResult:
        """``recheck`` (an ImpactRecheck) runs under lock in the rollback's transaction."""
        script = self.load("rollback")
        run = self._execute(script, "run", cancel, before_statements=recheck,
                            before_commit=self._before_commit(
                                self._history_hook("remove", None),
                                self._witness_hook("rollback", script)))
        self._history_recorded(run, "remove")
        return run

    @staticmethod
    def _before_commit(*steps: Callable[[Any], None] | None) -> Callable[[Any], None] | None:
        """The executor's one before-COMMIT hook: every step, in order, in the run's
        transaction (the first that fails rolls the whole run back)."""
        active = [step for step in steps if step is not None]
        if not active:
            return None

        def run_all(conn: Any) -> None:
            for step in active:
                step(conn)
        return run_all

    def _witness_hook(self, workflow: str, script: Script) -> Callable[[Any], None] | None:
        """Record this commit in the target's own deployment record (see engine/witness),
        bound to the log's chain position right before COMMIT."""
        from spfp_console.engine import witness
        from spfp_console.digest import sha256_file

        if not self.runbook.witness:
            return None
        scripts = [sha256_file(self.runbook.script(role)) for role in ("migration", "rollback")]

        def write(conn: Any) -> None:
            seq: int | None = None
            chain: str | None = None
            if self.journal is not None:
                seq, chain = self.journal.chain_position()
            witness.record(conn, {
                "session_id": self.journal.head_hash if self.journal is not None else None,
                "log_file": self.log_path.name if self.log_path is not None else None,
                "operator": self.operator, "runbook_id": self.runbook.id,
                "workflow": workflow, "script": script.path.name,
                "script_sha256": script.sha256, "scripts_sha256": scripts,
                "chain_seq": seq, "chain_hash": chain, "outcome": "committed"})
        return write

    def run_validation(self, *, expect: str = "applied") -> list[ResultTable]:
        from spfp_console.engine import validate

        with _target_step("validation"):
            if expect == "absent":
                return [validate.run_validation(self._conn(), self.runbook, expect="absent",
                                                on_event=self.emit)]
            return validate.run_full_validation(self._conn(), self.runbook,
                                                on_event=self.emit)

    def claims(self, *, speedups: dict[str, float] | None = None) -> ResultTable:
        from spfp_console.engine.claims import measure_claims

        with _target_step("claims"):
            return measure_claims(self._conn(), self.runbook,
                                  migration_seconds=self.last_run_seconds, speedups=speedups,
                                  on_event=self.emit)

    def measure_queries(self, phase: str, *, runs: int = 5) -> dict[str, Any]:
        from spfp_console.engine.performance import measure_queries, timings_table

        with _target_step("performance"):
            timings = measure_queries(self._conn(), self.runbook, phase=phase,  # type: ignore[arg-type]
                                      runs=runs)
        self.emit(timings_table(timings.values()))
        return timings

    def compare_queries(self, before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
        from spfp_console.engine.performance import compare, speedups

        self.emit(compare(before, after, self.runbook))
        return speedups(before, after)

    def rollback_impact(self) -> Any:
        from spfp_console.engine.rollback_impact import rollback_impact

        with _target_step("rollback impact"):
            return rollback_impact(self._conn(), self.runbook, on_event=self.emit)

    def export_at_risk(self, out_dir: Path) -> Any:
        """An AtRiskExport: a new folder under ``out_dir`` and the files in it."""
        from spfp_console.engine.rollback_impact import export_at_risk

        with _target_step("export"):
            return export_at_risk(self._conn(), out_dir, self.runbook)

    # ------------------------------------------------------------------ Supabase history

    def migration_history_check(self, report: Any) -> Any:
        """What Supabase's migration history says about this version, as a finding of
        the preflight (a blocker when the run could not write it).  Returns the recorded
        row, or None."""
        from spfp_console.engine import migration_history as history
        from spfp_console.engine.preflight import finding

        settings = self.runbook.supabase
        if not settings.migration_history or settings.version is None:
            return None
        conn = self._conn()
        with conn.transaction():
            row = history.recorded(conn, settings.version)
            problem = history.can_record(conn)
        label = f"version {settings.version} ({settings.name})"
        where = history.TABLE
        if row is not None and report.state == "applied":
            severity, text, advice = "info", (
                f"{label} is already recorded in {where} (by the Supabase CLI or an earlier"
                " session) and every object of the migration exists"), (
                "run has nothing to do: it says so and changes nothing")
        elif row is not None:
            severity, text, advice = "warning", (
                f"{label} is recorded in {where}, but the migration is"
                f" {report.state.replace('_', ' ')}: objects were removed without the"
                " history (by hand, or a rollback outside the console)"), (
                "a run re-applies it and keeps the history row")
        elif report.state == "applied":
            severity, text, advice = "info", (
                f"every object exists but {label} is not recorded in {where} (applied"
                " outside the Supabase CLI, e.g. in the SQL editor), so `supabase db push`"
                " would apply it again"), "a run records it"
        else:
            severity, text, advice = "info", f"{label} is not recorded in {where}", (
                "a run records it in its own transaction, so `supabase migration list`"
                " agrees with the console")
        if problem is not None:
            report.blockers.append(
                f"{problem}, and the run records {label} there; grant it, or set"
                " [supabase] migration_history = false in the runbook")
            self.emit(finding("preflight", "migration history", "blocker",
                              report.blockers[-1]))
        self.emit(Finding(source="preflight", section="migration history",
                          severity=severity, message=text, advice=advice))
        self.history_row = row
        return row

    def default_privileges_check(self) -> Any:
        """Say what the executing role's default ACLs give the API roles on a new table
        (the migration grants explicitly, so this explains rather than blocks)."""
        from spfp_console.engine.default_privileges import default_grants

        conn = self._conn()
        with conn.transaction():
            grants = default_grants(conn, self.runbook.settings.schema)
        given = any(grants.of("tables", role) for role in ("anon", "authenticated",
                                                           "service_role"))
        text = (f"new tables {grants.role} creates in {grants.schema} get from its default"
                f" privileges: {grants.summary()}")
        if not given:
            text += (" (unlike Supabase's postgres role, whose defaults grant them all"
                     " privileges)")
        self.emit(Finding(source="preflight", section="privileges", severity="info",
                          message=text, subject=grants.role,
                          advice="the migration grants what the API roles need explicitly,"
                                 " so it does not depend on these"))
        return grants

    def ticked_by_hand(self, item: Any) -> bool:
        """May the operator tick this item by hand?  Items with an action are ticked by
        its result, but for the approvals item only when signed approvals are required:
        without them, the paper's approval is the operator's to record (with evidence)."""
        if item.action is None:
            return True
        return item.action == "approvals" and self.approvals_required <= 0

    def check_approvals(self, operator_name: str | None = None) -> Any:
        """Judge the signed approvals against this runbook, its scripts as they are now,
        this target and this moment; copy each into the log (ApprovalChecked) and tick the
        approvals item with the signers as evidence.  None when none are required."""
        if self.approvals_required <= 0 or self.runbook.approvals.allowed_signers is None:
            return None
        report = self._judge_signed("", self.approvals_required, operator_name)
        self._tick_action("approvals", report.ok,
                          "approved by " + ", ".join(report.signers) if report.ok
                          else report.reasons()[0])
        self.approval_report = report
        return report

    def leave_phase(self, phase_id: str, operator_name: str | None = None) -> list[str]:
        """May the session leave this phase?  Under a profile with phase sign-offs
        (Enterprise): only with a valid signed sign-off of it by an allowed signer who is
        not the executor (``spfp-console approve LOG --phase ID``).  Returns why not
        (empty: it may); the sign-offs are copied into the log, with a GateChecked."""
        profile = self.active_profile
        if profile is None or not profile.phase_signoff:
            return []
        report = self._judge_signed(phase_id, 1, operator_name)
        self.signoff_reports[phase_id] = report
        reasons = report.reasons()
        self.emit(GateChecked(gate=f"sign-off {phase_id}", passed=not reasons,
                              reasons=tuple(reasons)))
        return reasons

    def _judge_signed(self, phase: str, required: int, operator_name: str | None) -> Any:
        """Approvals to run (phase "") or sign-offs of a phase, judged and logged."""
        from spfp_console.journal.approval import (
            DeploymentFacts,
            approval_files,
            check_approvals,
            key_fingerprint,
        )
        from spfp_console.digest import sha256_file

        settings = self.runbook.approvals
        assert settings.allowed_signers is not None
        assert self.info is not None, "open() the session first"
        directory = self.approvals_dir or settings.directory
        assert directory is not None
        fingerprint = key_fingerprint(self.sign_key) if self.sign_key else None
        facts = DeploymentFacts(
            runbook_id=self.runbook.id,
            migration_sha256=self.load("migration").sha256,
            script_sha256s=tuple(sha256_file(self.runbook.script(role))
                                 for role in ("migration", "rollback")),
            host=self.info.host or "local socket", port=self.info.port,
            database=self.info.dbname,
            executors=tuple({self.operator, operator_name or self.operator}),
            executor_fingerprints=(fingerprint,) if fingerprint else (),
            phase=phase,
        )
        report = check_approvals(approval_files(directory), facts, required=required,
                                 allowed_signers=settings.allowed_signers)
        for verdict in report.verdicts:
            approval = verdict.approval
            self.emit(ApprovalChecked(
                file=str(verdict.path), valid=verdict.valid, reason=verdict.reason,
                approver=approval.approver if approval else None,
                fingerprint=verdict.fingerprint,
                migration_sha256=approval.migration_sha256 if approval else None,
                target=approval.target if approval else None,
                rehearsal_log_sha256=approval.rehearsal_log_sha256 if approval else None,
                expires_at=approval.expires_at if approval else None,
                document=verdict.document or None, signature=verdict.signature or None))
        return report

    def _history_hook(self, action: str, script: Script | None) -> Any:
        """The executor's before-COMMIT step that records (or removes) the version."""
        from spfp_console.engine import migration_history as history

        settings = self.runbook.supabase
        version = settings.version
        if not settings.migration_history or version is None:
            return None
        if action == "record":
            assert script is not None

            def write(conn: Any) -> None:
                history.record(conn, version, settings.name, script)
            return write

        def delete(conn: Any) -> None:
            self._history_removed = history.remove(conn, version)
        self._history_removed = False
        return delete

    def _history_recorded(self, run: RunResult, action: str) -> None:
        from spfp_console.engine.migration_history import TABLE

        settings = self.runbook.supabase
        if not run.ok or not settings.migration_history:
            return
        label = f"version {settings.version} ({settings.name})"
        if action == "record":
            text = f"recorded {label} in {TABLE} in the run's transaction"
            self.history_row = True
        elif self._history_removed:
            text = f"removed {label} from {TABLE} in the rollback's transaction"
            self.history_row = None
        else:
            text = f"{label} was not in {TABLE}: nothing to remove"
        self.emit(Finding(source="run", section="migration history", severity="info",
                          message=text))

    # ------------------------------------------------------------------ workflows

    def _begin(self, name: str) -> None:
        self.emit(WorkflowStarted(workflow=name))

    def _finish(self, result: WorkflowResult) -> WorkflowResult:
        self.emit(WorkflowFinished(workflow=result.workflow, outcome=result.outcome,
                                   ok=result.ok, exit_code=result.exit_code,
                                   message=result.message))
        return result

    def lint(self, script: Script, *, online: bool | None = None) -> list[Any]:
        """What in the script blocks writes or is unsafe online, as finding events
        (Squawk's rules, for the way ``run`` will execute it)."""
        from spfp_console.engine.lint import finding_event, lint_for_runbook

        _, findings = lint_for_runbook(script, self.runbook.settings, online=online)
        for finding in findings:
            self.emit(finding_event(finding))
        return findings

    def check(self) -> WorkflowResult:
        """Preflight: read-only checks of the target; ticks the preflight items."""
        self._begin("check")
        script = self.load(tolerant=True)  # unreadable, not UTF-8 or empty: one clear error
        self.lint(script)
        report = self.preflight()
        blockers = len(report.blockers)
        self._tick_action("preflight", report.passed,
                          f"preflight passed, state {report.state}" if report.passed
                          else f"preflight failed: {blockers} blocker(s)")
        return self._finish(WorkflowResult(
            "check", "preflight_passed" if report.passed else "preflight_failed",
            ok=report.passed, exit_code=EXIT_OK if report.passed else EXIT_FAILED,
            tables=list(report.tables), report=report))

    def rehearse(self, *, path: Path | None = None,
                 cancel: CancelToken | None = None,
                 integrity: bool | None = None) -> WorkflowResult:
        """Every statement in a savepoint, everything rolled back; lists every failure.

        ``integrity`` (None: :attr:`integrity`, then the runbook's ``integrity_check``):
        the run's data integrity check, in the rehearsal's transaction, before the first
        statement and before the rollback; a changed table fails the rehearsal, and its
        result table shows what the check read and how long writers waited."""
        self._begin("rehearse")
        script = self.load(path=path, tolerant=True)
        self.lint(script)
        effects = self._rehearsal_warning(script)
        check = self._integrity_check(False, integrity, cancel, script=script.path)
        run = self.run_rehearsal(path=path, cancel=cancel, check=check)
        failed = len(run.failures)
        if run.ok:
            outcome, message = "rehearsed", None
        elif run.outcome == "rehearsed":
            outcome = "rehearsal_failed"
            message = f"{failed} failing statement(s); nothing was changed"
        elif check is not None and check.done and not check.passed:
            outcome, message = "rehearsal_failed", run.message
        else:
            outcome, message = run.outcome, run.message
        if effects and run.outcome == "rehearsed":
            from spfp_console.engine.rehearsal_effects import describe_irreversible

            message = (f"{failed} failing statement(s); " if failed else "") + (
                f"rolled back, except {len(effects)} effect(s) a rollback cannot undo: "
                f"{describe_irreversible(effects)}")
        if path is None:  # a rehearsal of another script says nothing about the runbook's
            self._tick_action("rehearse", run.ok,
                              f"{run.statements_ok} statements ran, 0 failed" if run.ok
                              else f"{failed} statement(s) failed" if failed
                              else message or run.outcome)
        return self._finish(WorkflowResult(
            "rehearse", outcome, ok=run.ok, exit_code=EXIT_OK if run.ok else EXIT_FAILED,
            message=message, run=run))

    def _rehearsal_warning(self, script: Script) -> list[Any]:
        """Before a rehearsal on the target: the table locks it will hold until it ends,
        who holds a lock on those tables now, and the effects its rollback cannot undo,
        as one warning table.  Returns the effects (IrreversibleEffect)."""
        from spfp_console.engine.rehearsal_effects import (
            irreversible_effects,
            lock_holders,
            rehearsal_locks,
            rehearsal_warning_table,
        )

        schema = self.runbook.settings.schema
        locks = rehearsal_locks(script.path, schema)
        with _target_step("rehearsal analysis"):
            effects = irreversible_effects(script, conn=self._conn(), default_schema=schema)
            holders = lock_holders(self._conn(), locks)
        if locks or effects:
            self.emit(rehearsal_warning_table(locks, effects, holders))
        return effects

    def scratch_rehearse(self) -> WorkflowResult:
        """On a throwaway local copy of the target's schema: apply, validate, re-apply,
        roll back, diff."""
        from spfp_console.engine.scratch_rehearsal import scratch_rehearse

        self._begin("scratch-rehearse")
        report = scratch_rehearse(self.target, self.runbook, on_event=self.emit)
        self._tick_action("scratch-rehearse", report.passed,
                          "apply, validate, re-apply, roll back, diff: all passed"
                          if report.passed else "scratch rehearsal failed")
        return self._finish(WorkflowResult(
            "scratch-rehearse",
            "scratch_rehearsal_passed" if report.passed else "scratch_rehearsal_failed",
            ok=report.passed, exit_code=EXIT_OK if report.passed else EXIT_FAILED,
            report=report))

    def validate(self, *, expect: str = "applied", claims: bool = True) -> WorkflowResult:
        """Every object of the migration (or its absence after a rollback)."""
        self._begin("validate")
        tables = self.run_validation(expect=expect)
        # The paper's claims are measured and shown, not a verdict on the database.
        failed = any(t.passed is False for t in tables)
        if expect == "applied" and claims:
            tables.append(self.claims())
        if expect == "applied":
            self._tick_action("validate", not failed,
                              "every check passed" if not failed else _failed_checks(tables))
        return self._finish(WorkflowResult(
            "validate", "validation_failed" if failed else "validation_passed",
            ok=not failed, exit_code=EXIT_FAILED if failed else EXIT_OK, tables=tables))

    def gate_reasons(self, gates: DeployGates, report: Any) -> dict[str, list[str]]:
        """Why each closed gate is closed (an empty dict: every gate is open)."""
        closed: dict[str, list[str]] = {}
        if gates.preflight and report is not None and not report.passed:
            closed["preflight"] = list(report.blockers)
        if gates.checklist:
            open_items = [f"{item.phase}/{item.id}" for item in self.pre_deployment_open()]
            if open_items:
                closed["checklist"] = [f"required item not ticked: {i}" for i in open_items]
        if gates.rehearsal:
            rehearsal = self.state.workflow_outcome("rehearse")
            # A resumed session may count the old session's rehearsal (session/resume.py
            # decides when); a rehearsal of this session, passed or failed, wins over it.
            if (rehearsal is None and self.carried_rehearsal is None) or (
                    rehearsal is not None and not rehearsal.ok):
                closed["rehearsal"] = ["no passed rehearsal in this session"]
        if gates.approvals and self.approvals_required > 0:
            approvals = self.approval_report or self.check_approvals()
            if not approvals.ok:
                closed["approvals"] = approvals.reasons()
        if gates.signoffs and self._signoffs_required():
            signoffs = [reason for phase in self._phases_before_run()
                        for reason in (self.signoff_reports[phase].reasons()
                                       if phase in self.signoff_reports
                                       else self.leave_phase(phase))]
            if signoffs:
                closed["signoffs"] = signoffs
        return closed

    def _signoffs_required(self) -> bool:
        return self.active_profile is not None and bool(self.active_profile.phase_signoff)

    def _phases_before_run(self) -> list[str]:
        """The phases a run leaves behind: those before the one that runs the migration."""
        before: list[str] = []
        for phase in self.runbook.phases:
            if any(item.action == "run" for item in phase.items):
                break
            before.append(phase.id)
        return before

    def pre_deployment_open(self) -> list[Any]:
        """Required items of the phases before the one that runs the migration."""
        items = []
        for phase in self.state.phases:
            if any(item.action == "run" for item in phase.items):
                break
            items.extend(phase.required_open)
        return items

    def deploy(self, operator: Operator, *, cancel: CancelToken | None = None,
               gates: DeployGates = DeployGates(), performance: bool = False,
               preflight: bool = True, online: bool | None = None,
               integrity: bool | None = None) -> WorkflowResult:
        """Preflight -> gates -> typed confirmation -> run -> validate -> claims.

        ``online``: online mode (see :mod:`spfp_console.engine.online`); None follows the
        runbook's ``execution_mode``.  ``integrity``: count and checksum the touched
        tables in the run's transaction (:mod:`spfp_console.engine.integrity`); None
        follows the runbook's ``integrity_check``."""
        if online is None:
            online = self.runbook.settings.execution_mode == "online"
        assert self.info is not None, "open() the session first"
        self.integrity_wanted(online, integrity)  # a contradiction is refused up front
        self._begin("deploy")
        self.load("migration")  # unreadable, empty or unparsable: refused before anything
        report = self.preflight(online=online) if preflight else None
        if report is not None:
            self._tick_action("preflight", report.passed,
                              f"preflight passed, state {report.state}" if report.passed
                              else f"preflight failed: {len(report.blockers)} blocker(s)")
        if report is not None and report.state == "applied" and self.history_row is not None:
            return self._finish(WorkflowResult(
                "deploy", "already_applied", ok=True, exit_code=EXIT_OK,
                message=f"version {self.runbook.supabase.version} is already recorded in"
                " Supabase's migration history and every object exists: nothing was run",
                report=report))
        if gates.approvals:  # judged now: approvals expire, scripts change
            self.check_approvals(operator.name)
        if gates.signoffs:
            for phase in self._phases_before_run():
                self.leave_phase(phase, operator.name)
        closed = self.gate_reasons(gates, report)
        overridden: list[str] = []
        for gate in ("preflight", "checklist", "rehearsal", "approvals", "signoffs"):
            reasons = closed.get(gate)
            if gates.__dict__[gate] and (report is not None or gate != "preflight") and (
                    gate != "approvals" or self.approvals_required > 0) and (
                    gate != "signoffs" or self._signoffs_required()):
                self.emit(GateChecked(gate=gate, passed=not reasons,
                                      reasons=tuple(reasons or ())))
            if not reasons:
                continue
            # Four eyes are never waived by the executor alone.
            reason = None if gate in ("approvals", "signoffs") \
                else operator.override_reason(gate, reasons)
            if not reason or not reason.strip():
                return self._finish(WorkflowResult(
                    "deploy", "refused_by_preflight" if gate == "preflight"
                    else "refused_by_gate", ok=False, exit_code=EXIT_FAILED,
                    message=f"{gate}: " + "; ".join(reasons), report=report))
            self.record_override(f"{gate}: " + "; ".join(reasons), reason.strip(),
                                 who=operator.name)
            overridden.append(gate)

        script = self.runbook.script("migration")
        expected = self.info.dbname
        request = ConfirmationRequest(
            action="run",
            # the database (what is typed), then how it runs, then the script and the
            # server: a dialog 70 columns wide cuts the end of its title
            title=f"Run on {self.info.dbname}"
                  + (" online (indexes built concurrently, not atomic)" if online
                     else " in one transaction")
                  + f" · {script.name} · {self.info.server}",
            expected=expected,
            summary=tuple(self._run_summary(report, overridden)) + tuple(
                self._integrity_summary()
                if self.integrity_wanted(online, integrity) and not online else []),
        )
        typed = operator.confirm(request)
        confirmed = typed == expected
        self.emit(ConfirmationAnswered(action="run", expected=expected, typed=typed,
                                       confirmed=confirmed, who=operator.name,
                                       when=utc_now()))
        if not confirmed:
            return self._finish(WorkflowResult(
                "deploy", "not_confirmed", ok=False, exit_code=EXIT_NOT_CONFIRMED,
                message="not confirmed: nothing was run", report=report))

        before = self.measure_queries("before") if performance else None
        run = self.run_migration(cancel=cancel, online=online, integrity=integrity)
        self._tick_action("run", run.ok, f"{run.outcome} in {run.duration_s:.2f} s,"
                                         f" {run.statements_ok} statements" if run.ok
                          else f"{run.outcome}: {run.message or ''}".strip())
        if not run.ok:
            return self._finish(WorkflowResult(
                "deploy", run.outcome, ok=False, exit_code=EXIT_FAILED,
                message=run.message, run=run, report=report))
        self._check_success_message()
        _stop_if_cancelled(cancel, "after COMMIT, before validation")
        tables = self.run_validation()
        speedups = None
        if before is not None:
            _stop_if_cancelled(cancel, "after COMMIT, before the timings")
            after = self.measure_queries("after")
            speedups = self.compare_queries(before, after)
            self._tick_action("performance", True, "before/after timings measured")
        failed = any(t.passed is False for t in tables)
        _stop_if_cancelled(cancel, "after COMMIT, before the claims")
        tables.append(self.claims(speedups=speedups))
        self._tick_action("validate", not failed,
                          "every check passed" if not failed else _failed_checks(tables))
        return self._finish(WorkflowResult(
            "deploy", "committed_validation_failed" if failed else "committed",
            ok=not failed, exit_code=EXIT_FAILED if failed else EXIT_OK,
            run=run, tables=tables, report=report))

    def _check_success_message(self) -> None:
        """Tick the success-message item only when the run's notices contain it."""
        wanted = self.runbook.success_message
        if not wanted:
            return
        run_number = self.state.current_run.number if self.state.current_run else 0
        seen = any(wanted in notice
                   for row in self.state.statements if row.run == run_number
                   for notice in row.notices)
        self._tick_action("success-message", seen,
                          f"server notice: {wanted}" if seen
                          else f"the run did not send {wanted!r}")

    def _run_summary(self, report: Any, overridden: list[str]) -> list[str]:
        lines: list[str] = []
        for gate in overridden:
            lines.append(f"OVERRIDDEN: the {gate} gate")
        if report is not None:
            for blocker in report.blockers:
                lines.append(f"blocker: {blocker}")
            lines.append(f"current state: {report.state.replace('_', ' ')}")
        from spfp_console.engine.script_analysis import LOCK_EFFECT, script_relations

        relations = script_relations(self.runbook.script("migration"),
                                     self.runbook.settings.schema)
        strong = sorted((rel, mode) for rel, mode in relations.locks.items()
                        if mode in LOCK_EFFECT)
        if strong:
            lines.append("held until COMMIT: " + ", ".join(
                f"{table} {mode} ({LOCK_EFFECT[mode]})" for (_, table), mode in strong))
        changes: dict[str, int] = {}
        for check in self.runbook.checks:
            if check.added_by_migration:
                changes[check.kind] = changes.get(check.kind, 0) + 1
        if changes:
            lines.append("creates: " + ", ".join(f"{n} {_KIND_NAMES.get(kind, kind)}"
                                                 for kind, n in changes.items()))
        return lines

    def rollback(self, operator: Operator, *, export_dir: Path | None = None,
                 cancel: CancelToken | None = None) -> WorkflowResult:
        """Impact -> export -> typed confirmation -> rollback -> validate absent."""
        assert self.info is not None, "open() the session first"
        self._begin("rollback")
        impact = self.rollback_impact()
        self._tick_action("rollback-impact", True,
                          f"{impact.total} rows/values would be lost")
        from spfp_console.engine.rollback_impact import ImpactRecheck

        # Each rollback exports into a folder of its own: never over an earlier export.
        folder: Path | None = None
        summary = [f"destroys {impact.total} rows/values"]
        if export_dir is not None:
            export = self.export_at_risk(export_dir)
            folder = export.folder
            self.emit(export.table())
            summary.append(f"exported {len(export.files)} file(s) to {folder}")
        elif impact.total:
            summary.append("NOT exported (use an export directory to keep a copy)")
        expected = f"rollback {self.info.dbname}"
        exported_to = str(folder) if folder is not None else None
        request = ConfirmationRequest(
            action="rollback",
            title=f"Roll back {self.runbook.id} on {self.info.dbname} · {self.info.server}",
            expected=expected, summary=tuple(summary), impact=impact,
            exported_to=exported_to,
        )
        typed = operator.confirm(request)
        confirmed = typed == expected
        self.emit(RollbackDecision(confirmed=confirmed, typed=typed, who=operator.name,
                                   rows_at_risk=impact.total, exported_to=exported_to,
                                   when=utc_now()))
        if not confirmed:
            return self._finish(WorkflowResult(
                "rollback", "not_confirmed", ok=False, exit_code=EXIT_NOT_CONFIRMED,
                message="not confirmed: nothing was rolled back" + (
                    f"; the data exported for it stays in {exported_to}" if exported_to
                    else ""), report=impact))
        # Rows written since the count are counted (and exported) again, under lock,
        # inside the rollback's own transaction.
        recheck = ImpactRecheck(self.runbook, confirmed=impact, export_folder=folder,
                                on_event=self.emit)
        run = self.run_rollback(cancel=cancel, recheck=recheck)
        if not run.ok:
            self._tick_action("rollback", False, f"{run.outcome}: {run.message or ''}")
            return self._finish(WorkflowResult(
                "rollback", run.outcome, ok=False, exit_code=EXIT_FAILED,
                message=run.message, run=run, report=impact))
        _stop_if_cancelled(cancel, "after the rollback's COMMIT, before validation")
        tables = self.run_validation(expect="absent")
        failed = any(t.passed is False for t in tables)
        self._tick_action("rollback", not failed,
                          "rolled back; every object is gone" if not failed
                          else _failed_checks(tables))
        return self._finish(WorkflowResult(
            "rollback", "rolled_back_validation_failed" if failed else "rolled_back",
            ok=not failed, exit_code=EXIT_FAILED if failed else EXIT_OK,
            run=run, tables=tables, report=impact))


# ---------------------------------------------------------------------- helpers


def checklist_of(runbook: Runbook, profile: Any = None) -> tuple[
        tuple[tuple[str, ...], ...], tuple[tuple[str, ...], ...]]:
    """The runbook's phases and items as SessionStarted carries them; a profile decides
    which items are required."""
    phases = tuple((phase.id, phase.title) for phase in runbook.phases)

    def required(phase_id: str, item: Any) -> bool:
        return profile.item_required(phase_id, item) if profile is not None else item.required

    items = tuple(
        (phase.id, item.id, item.text, "required" if required(phase.id, item) else "optional",
         item.action or "", item.evidence or "")
        for phase in runbook.phases for item in phase.items
    )
    return phases, items


_KIND_NAMES = {"index": "indexes", "column": "columns", "view": "views", "table": "tables",
               "policy": "policies", "function": "functions", "trigger": "triggers",
               "unique_rule": "uniqueness rules"}
"""Validation check kinds as the confirmation summary counts them."""


class Interrupted(ConsoleError):
    """The operator (or a signal) stopped a workflow between its steps."""

    exit_code = 130


def _stop_if_cancelled(cancel: CancelToken | None, where: str) -> None:
    """A cancel (Ctrl-C, SIGTERM, SIGHUP, the console's cancel key) that arrives after
    the run stops the workflow at the next step instead of being ignored; the session
    then reports the COMMIT (exit 4), never "nothing changed"."""
    if cancel is not None and cancel.cancelled:
        raise Interrupted(f"cancelled {where}")


def _failed_checks(tables: list[ResultTable]) -> str:
    failed = [t.title for t in tables if t.passed is False]
    return "failed: " + ", ".join(failed)


def _name_of(listener: Listener) -> str:
    name = getattr(listener, "__qualname__", None) or type(listener).__qualname__
    return str(name)


class _target_step:
    """Database errors between statements (not inside a run, where the executor reports
    them as events) become one clear ConsoleError naming the step."""

    def __init__(self, step: str) -> None:
        self.step = step

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        import psycopg

        if exc is None or not isinstance(exc, psycopg.Error):
            return
        if isinstance(exc, psycopg.errors.LockNotAvailable):
            raise TargetRefused(
                f"{self.step}: another session holds a lock this step needs (lock_timeout"
                " reached); see `spfp-console check` for who holds it, and try again"
            ) from exc
        if isinstance(exc, psycopg.errors.QueryCanceled):
            raise TargetRefused(f"{self.step} took too long and was cancelled:"
                                f" {error_line(exc)}") from exc
        if isinstance(exc, psycopg.OperationalError):
            raise TargetRefused(f"{self.step}: lost the database connection:"
                                f" {error_line(exc)}") from exc
        raise TargetRefused(f"{self.step} failed: {error_line(exc)}") from exc


__all__ = ["DeployGates", "DeploymentSession", "WorkflowResult", "checklist_of",
           "outcome_text"]
