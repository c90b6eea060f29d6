"""One operator session against one target: runbook + connection + journal + listeners.

This is the seam between the engine and its front ends.  The headless CLI and (later) the
Textual console both drive a :class:`DeploymentSession`; every event goes through
:meth:`DeploymentSession.emit`, which records it in the journal first and then hands it to
each listener (the terminal printer, a TUI pane).  One stream, several consumers.
"""

from __future__ import annotations

import getpass
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spfp_console.engine.connect import Target, TargetConnection, TargetInfo, describe_target
from spfp_console.engine.executor import CancelToken, RunResult, run_script
from spfp_console.engine.script import Script, load_script
from spfp_console.events import (
    ChecklistItemToggled,
    Event,
    OperatorNote,
    OverrideRecorded,
    ResultTable,
    RollbackDecision,
)
from spfp_console.runbook import Runbook

Listener = Callable[[Event], None]


@dataclass
class SessionOutcome:
    """What a session concluded, for the journal's end record and the exit code."""

    outcome: str = "ended"
    message: str | None = None
    failed: bool = False


@dataclass
class DeploymentSession:
    runbook: Runbook
    dsn: str | None = None
    log_dir: Path | None = None
    journal_enabled: bool = True
    sign_key: Path | None = None
    listeners: list[Listener] = field(default_factory=list)
    operator: str = field(default_factory=getpass.getuser)

    target: Target = field(init=False)
    conn: TargetConnection | None = field(init=False, default=None)
    info: TargetInfo | None = field(init=False, default=None)
    journal: Any = field(init=False, default=None)
    log_path: Path | None = field(init=False, default=None)
    signature_path: Path | None = field(init=False, default=None)
    last_run_seconds: float | None = field(init=False, default=None)

    # ------------------------------------------------------------------ lifecycle

    def open(self) -> TargetInfo:
        """Connect (ConnectError on failure) and start the journal."""
        self.target = Target(self.dsn, connect_timeout=self.runbook.settings.connect_timeout_s)
        self.conn = self.target.connect(autocommit=True)
        self.info = describe_target(self.conn)
        if self.journal_enabled:
            self._start_journal()
        return self.info

    def _start_journal(self) -> None:
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
            ),
            base_dir=self.runbook.path.parent.parent,
        )
        self.journal = JournalWriter.create(
            header, log_dir=self.log_dir, secrets=self.target.secrets()
        )
        self.log_path = Path(self.journal.path)

    def close(self, outcome: SessionOutcome) -> None:
        """End the journal (and sign it when a key was given), close the connection."""
        if self.journal is not None:
            try:
                self.journal.end(outcome.outcome, outcome.message)
            finally:
                self.journal.close()
            if self.sign_key is not None and self.log_path is not None:
                from spfp_console.journal.sign import sign_log

                self.signature_path = sign_log(self.log_path, key_file=self.sign_key)
            self.journal = None
        if self.conn is not None and not self.conn.closed:
            self.conn.close()

    def __enter__(self) -> DeploymentSession:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self.journal is not None or (self.conn is not None and not self.conn.closed):
            failed = exc is not None
            self.close(SessionOutcome(
                outcome="aborted" if failed else "ended",
                message=f"{type(exc).__name__}: {exc}" if failed else None,
                failed=failed,
            ))

    # ------------------------------------------------------------------ the event stream

    def emit(self, event: Event) -> None:
        if self.journal is not None:
            self.journal.record(event)
        for listener in self.listeners:
            listener(event)

    def emit_all(self, events: Iterable[Event]) -> None:
        for event in events:
            self.emit(event)

    # ------------------------------------------------------------------ operator actions

    def toggle_item(self, phase: str, item_id: str, checked: bool, *,
                    note: str | None = None, evidence: str | None = None) -> None:
        self.emit(ChecklistItemToggled(phase=phase, item_id=item_id, checked=checked,
                                       who=self.operator, note=note, evidence=evidence))

    def record_override(self, what: str, reason: str) -> None:
        self.emit(OverrideRecorded(what=what, reason=reason, who=self.operator))

    def note(self, text: str) -> None:
        self.emit(OperatorNote(text=text, who=self.operator))

    def record_rollback_decision(self, *, confirmed: bool, typed: str, rows_at_risk: int,
                                 exported_to: str | None) -> None:
        self.emit(RollbackDecision(confirmed=confirmed, typed=typed, who=self.operator,
                                   rows_at_risk=rows_at_risk, exported_to=exported_to))

    # ------------------------------------------------------------------ engine steps

    def _conn(self) -> TargetConnection:
        if self.conn is None or self.conn.closed:
            raise RuntimeError("the session is not connected; call open() first")
        return self.conn

    def preflight(self) -> Any:
        from spfp_console.engine.preflight import run_preflight

        return run_preflight(self._conn(), self.runbook, on_event=self.emit)

    def load(self, role: str = "migration", *, path: Path | None = None,
             tolerant: bool = False) -> Script:
        return load_script(path or self.runbook.script(role), tolerant=tolerant)

    def _execute(self, script: Script, mode: str, cancel: CancelToken | None) -> RunResult:
        settings = self.runbook.settings
        started = time.perf_counter()
        result = run_script(
            self._conn(), script, mode=mode,  # type: ignore[arg-type]
            on_event=self.emit, lock_timeout=settings.lock_timeout,
            statement_timeout=settings.statement_timeout, cancel=cancel,
        )
        if mode == "run":
            self.last_run_seconds = time.perf_counter() - started
        return result

    def rehearse(self, *, path: Path | None = None,
                 cancel: CancelToken | None = None) -> RunResult:
        return self._execute(self.load(path=path, tolerant=True), "rehearse", cancel)

    def run(self, *, cancel: CancelToken | None = None) -> RunResult:
        return self._execute(self.load("migration"), "run", cancel)

    def rollback(self, *, cancel: CancelToken | None = None) -> RunResult:
        return self._execute(self.load("rollback"), "run", cancel)

    def validate(self, *, expect: str = "applied") -> list[ResultTable]:
        from spfp_console.engine import validate

        if expect == "absent":
            return [validate.run_validation(self._conn(), self.runbook, expect="absent",
                                            on_event=self.emit)]
        return validate.run_full_validation(self._conn(), self.runbook, on_event=self.emit)

    def claims(self, *, speedups: dict[str, float] | None = None) -> ResultTable:
        from spfp_console.engine.claims import measure_claims

        return measure_claims(self._conn(), self.runbook,
                              migration_seconds=self.last_run_seconds, speedups=speedups,
                              on_event=self.emit)

    def measure_queries(self, phase: str, *, runs: int = 5) -> dict[str, Any]:
        from spfp_console.engine.performance import measure_queries, timings_table

        timings = measure_queries(self._conn(), self.runbook, phase=phase, runs=runs)  # type: ignore[arg-type]
        self.emit(timings_table(timings.values()))
        return timings

    def compare_queries(self, before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
        from spfp_console.engine.performance import compare, speedups

        self.emit(compare(before, after, self.runbook))
        return speedups(before, after)

    def rollback_impact(self) -> Any:
        from spfp_console.engine.rollback_impact import rollback_impact

        return rollback_impact(self._conn(), self.runbook, on_event=self.emit)

    def export_at_risk(self, out_dir: Path) -> list[Path]:
        from spfp_console.engine.rollback_impact import export_at_risk

        return export_at_risk(self._conn(), out_dir, self.runbook)
