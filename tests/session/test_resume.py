"""Resuming a session on a real PostgreSQL, through the session API: what comes back from
the old log, what the database says now, what the gates trust, and that the new log alone
folds to the live state."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from spfp_console.deployment import DeployGates, DeploymentSession
from spfp_console.events import ChecklistItemToggled, Event, SessionStarted
from spfp_console.journal.link import INTACT, check_link
from spfp_console.journal.read import read_journal
from spfp_console.journal.verify import verify_log
from spfp_console.paths import DEFAULT_RUNBOOK
from spfp_console.runbook import load_runbook
from spfp_console.session.operator import ScriptedOperator
from spfp_console.session.resume import (
    RESUME_FINDINGS,
    RESUMED_SOURCE,
    ResumeRefused,
    read_resume_point,
)
from spfp_console.session.state import SessionState, fold


def _session(db: Any, tmp_path: Path, operator: str = "alice", **kwargs: Any) -> DeploymentSession:
    return DeploymentSession(runbook=load_runbook(DEFAULT_RUNBOOK), dsn=db.dsn,
                             log_dir=tmp_path / "logs", operator=operator, **kwargs)


def _log_events(path: Path) -> list[Event]:
    events = [entry.event() for entry in read_journal(path).entries]
    return [e for e in events if e is not None]


def _kill(session: DeploymentSession) -> Path:
    """The process dies (kill -9): the log stops where it was, without its end record."""
    assert session.journal is not None and session.log_path is not None
    session.journal.close()
    session.journal = None
    assert session.conn is not None
    session.conn.close()
    return session.log_path


def _resume(db: Any, tmp_path: Path, log: Path, operator: str = "bob") -> DeploymentSession:
    point = read_resume_point(log)
    point.check_runbook(load_runbook(DEFAULT_RUNBOOK))
    session = _session(db, tmp_path, operator=operator, resume_from=point)
    session.open()
    return session


def _resume_findings(session: DeploymentSession, section: str) -> list[str]:
    return [f.message for f in session.state.findings
            if f.source == RESUME_FINDINGS and f.section == section]


def test_a_killed_session_comes_back_with_its_ticks_and_the_new_log_alone_rebuilds_it(
    base_db: Any, tmp_path: Path
) -> None:
    old = _session(base_db, tmp_path)
    old.open()
    assert old.check().ok
    old.toggle_item("pre-deployment", "create-backup", True, evidence="snap-42")
    assert old.rehearse().ok
    log = _kill(old)
    assert verify_log(log).chain.intact_but_unfinished

    new = _resume(base_db, tmp_path, log)
    state = new.state
    assert state.resumed_from is not None and state.resumed_from.startswith(str(log.resolve()))
    backup = state.item("pre-deployment", "create-backup")
    assert backup is not None and backup.checked
    assert (backup.who, backup.evidence, backup.carried_over) == ("alice", "snap-42", log.name)
    (rehearse,) = state.items_with_action("rehearse")
    assert rehearse.checked and rehearse.carried_over == log.name
    assert rehearse.ticked_by_action == "rehearse"
    # What ran comes back as tables of the new log, not as runs of the new session.
    assert state.runs == []
    titles = [t.title for t in state.tables_of(RESUMED_SOURCE)]
    assert f"Runs of {log.name}" in titles and f"Statements of {log.name}" in titles
    runs = state.tables[(RESUMED_SOURCE, f"Runs of {log.name}")]
    assert [row[1] for row in runs.rows] == ["rehearse"] and runs.rows[0][3] == "rehearsed"
    # The database now, and the interrupted session named as such.
    assert any("interrupted" in m for m in _resume_findings(new, "resumed session"))
    assert _resume_findings(new, "database now")[0].startswith(
        "the migration is not applied now")
    # Nothing ran after the passed rehearsal, the migration is absent: it counts.
    assert new.carried_rehearsal == log.name
    assert "rehearsal" not in new.gate_reasons(DeployGates(rehearsal=True), None)
    assert new.deploy(ScriptedOperator(name="bob"), gates=DeployGates(rehearsal=True)).ok
    new.close()

    assert new.log_path is not None
    replayed = fold(_log_events(new.log_path))
    for f in dataclasses.fields(SessionState):
        assert getattr(replayed, f.name) == getattr(new.state, f.name), f.name
    started = _log_events(new.log_path)[0]
    assert isinstance(started, SessionStarted) and started.resumed_from == state.resumed_from
    carried = [e for e in _log_events(new.log_path)
               if isinstance(e, ChecklistItemToggled) and e.carried_over]
    assert {(e.item_id, e.who) for e in carried} >= {("create-backup", "alice")}
    link = check_link(new.log_path)
    assert link.status == INTACT, link.line()
    header_target = read_journal(new.log_path).header["target"]
    assert header_target.get("system_identifier"), header_target  # the suite is superuser


def test_a_rehearsal_before_a_commit_does_not_open_the_gate_of_the_resumed_session(
    base_db: Any, tmp_path: Path
) -> None:
    old = _session(base_db, tmp_path)
    old.open()
    assert old.rehearse().ok
    result = old.deploy(ScriptedOperator(name="alice"))
    assert result.ok
    old.close(result)  # ended cleanly: it can be resumed too, and says so
    assert old.log_path is not None

    new = _resume(base_db, tmp_path, old.log_path)
    assert any("log is complete (it ended committed)" in m
               for m in _resume_findings(new, "resumed session"))
    assert _resume_findings(new, "database now")[0].startswith(
        "the migration is fully applied now")
    (gates,) = _resume_findings(new, "gates")
    assert "does not count" in gates and "a run or rollback started after it" in gates
    assert new.carried_rehearsal is None
    (rehearse,) = new.state.items_with_action("rehearse")
    assert not rehearse.checked  # unticked by the resumed session, with the reason
    assert "rehearsal" in new.gate_reasons(DeployGates(rehearsal=True), None)
    assert any("recorded commits of that session" in m
               for m in _resume_findings(new, "database now"))
    new.close()


def test_another_database_is_refused_before_a_log_is_written(
    base_db: Any, migrated_db: Any, tmp_path: Path
) -> None:
    old = _session(base_db, tmp_path)
    old.open()
    log = _kill(old)
    point = read_resume_point(log)
    other = _session(migrated_db, tmp_path / "other", resume_from=point)
    with pytest.raises(ResumeRefused, match="database") as refused:
        other.open()
    assert refused.value.exit_code == 2
    assert not (tmp_path / "other" / "logs").exists()


@pytest.mark.parametrize("commit_sent", [False, True])
def test_a_log_that_ends_inside_a_run_says_whether_commit_was_sent(
    base_db: Any, tmp_path: Path, commit_sent: bool
) -> None:
    from spfp_console.events import CommitSent, RunStarted, StatementStarted

    old = _session(base_db, tmp_path)
    old.open()
    # What the executor had recorded when the process died (kill -9) mid-run.
    old.emit(RunStarted(mode="run", script="/x/migration.sql", statements=3))
    old.emit(StatementStarted(index=1, file="/x/migration.sql", line=4, sql="SELECT 1"))
    if commit_sent:
        old.emit(CommitSent(statements=3))
    log = _kill(old)

    new = _resume(base_db, tmp_path, log)
    (finding,) = [f for f in new.state.findings if f.section == "interrupted run"]
    if commit_sent:
        assert finding.severity == "blocker" and "may be COMMITTED" in finding.message
    else:
        assert finding.severity == "warning" and "rolled that transaction back" in finding.message
    runs = new.state.tables[(RESUMED_SOURCE, f"Runs of {log.name}")]
    assert runs.rows[0][3] == "no end recorded (interrupted)" and runs.passed is True
    assert not new.state.running  # the old run is not a run of this session
    new.close()
