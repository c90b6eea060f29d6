"""The session API on a real PostgreSQL, driven with no terminal and no CLI.

The workflows (deploy, rollback, gates, confirmations) are called as a front end would,
with a scripted operator; the state folded from the log must equal the live state.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from spfp_console.deployment import DeployGates, DeploymentSession
from spfp_console.errors import EXIT_NOT_CONFIRMED, CommittedButIncomplete
from spfp_console.events import (
    Event,
    Finding,
    GateChecked,
    ListenerFailed,
    OverrideRecorded,
    RunFinished,
    StatementFinished,
)
from spfp_console.journal.export import build_report
from spfp_console.journal.read import read_journal
from spfp_console.journal.verify import verify_log
from spfp_console.paths import DEFAULT_RUNBOOK
from spfp_console.runbook import load_runbook
from spfp_console.sampledata import load_sample_data
from spfp_console.session.operator import ScriptedOperator
from spfp_console.session.presentation import describe
from spfp_console.session.state import SessionState, fold

REPO = Path(__file__).resolve().parents[2]
BROKEN = REPO / "tests" / "fixtures" / "broken_migration.sql"
SCALE = 0.02


@pytest.fixture
def data_db(base_db: Any) -> Any:
    load_sample_data(base_db.dsn, scale=SCALE)
    return base_db


@pytest.fixture
def dup_data_db(base_db: Any) -> Any:
    load_sample_data(base_db.dsn, scale=SCALE, with_duplicate_categories=True)
    return base_db


def _session(db: Any, tmp_path: Path, **kwargs: Any) -> DeploymentSession:
    return DeploymentSession(runbook=load_runbook(DEFAULT_RUNBOOK), dsn=db.dsn,
                             log_dir=tmp_path / "logs", operator="alice", **kwargs)


def _has_index(db: Any, name: str) -> bool:
    return bool(db.scalar("select count(*) from pg_indexes where indexname = %s", (name,)))


def _log_events(path: Path) -> list[Event]:
    events = [entry.event() for entry in read_journal(path).entries]
    assert all(e is not None for e in events)
    return events  # type: ignore[return-value]


def test_deploy_then_rollback_with_a_scripted_operator(data_db: Any, tmp_path: Path) -> None:
    operator = ScriptedOperator(name="alice", typed=[None, "rollback wrong-db", "", None])
    with _session(data_db, tmp_path) as session:
        session.open()
        deployed = session.deploy(operator)
        assert (deployed.outcome, deployed.ok, deployed.exit_code) == ("committed", True, 0)
        assert _has_index(data_db, "idx_transactions_user_date_paid")
        run_request = operator.requests[0]
        assert (run_request.action, run_request.expected) == ("run", data_db.name)
        # the database, then the mode, then user@host:port: a title cut at 80 columns
        # loses the server, never what is typed to confirm
        assert run_request.title.startswith(
            f"Run on {data_db.name} in one transaction · 20260216_database_optimizations.sql"
            f" · {session.info.user}@"), run_request.title
        # What the operator reads right before typing: the locks held until COMMIT.
        assert any(line.startswith("held until COMMIT") and "ACCESS EXCLUSIVE" in line
                   for line in run_request.summary)

        state = session.state
        run_item = state.item("execution", "run-migration")
        assert run_item is not None and run_item.checked
        assert run_item.ticked_by_action == "run" and run_item.who == "alice"
        assert run_item.when and run_item.evidence.startswith("committed")
        success = state.item("execution", "success-message")
        assert success is not None and success.checked
        assert "Database optimizations completed successfully!" in (success.evidence or "")
        assert state.item("post-deployment", "full-validation").checked  # type: ignore[union-attr]

        declined = session.rollback(operator)
        assert (declined.outcome, declined.exit_code) == ("not_confirmed", EXIT_NOT_CONFIRMED)
        assert _has_index(data_db, "idx_transactions_user_date_paid")
        # declined after the export was written: the operator is told where it is
        kept = session.rollback(operator, export_dir=tmp_path / "declined")
        assert kept.outcome == "not_confirmed" and kept.message is not None
        exported_to = operator.requests[-1].exported_to
        assert exported_to and Path(exported_to).is_dir() and any(Path(exported_to).iterdir())
        assert kept.message.endswith(f"the data exported for it stays in {exported_to}")
        assert "stays in" not in (declined.message or "")  # nothing exported, nothing said

        rolled_back = session.rollback(operator, export_dir=tmp_path / "export")
        assert (rolled_back.outcome, rolled_back.ok) == ("rolled_back", True)
        assert not _has_index(data_db, "idx_transactions_user_date_paid")
        assert operator.requests[-1].impact is not None
        assert operator.requests[-1].title.startswith(
            f"Roll back 20260216_database_optimizations on {data_db.name} · ")
        assert state.item("rollback", "run-rollback").checked  # type: ignore[union-attr]
        session.close(rolled_back)
    assert verify_log(session.log_path).chain.ok  # type: ignore[arg-type]


def test_a_failed_preflight_refuses_and_its_findings_carry_advice(
    dup_data_db: Any, tmp_path: Path
) -> None:
    operator = ScriptedOperator(name="alice")
    with _session(dup_data_db, tmp_path) as session:
        session.open()
        result = session.deploy(operator)
        session.close(result)
    assert (result.outcome, result.exit_code) == ("refused_by_preflight", 1)
    assert operator.requests == []  # never asked to confirm
    assert not _has_index(dup_data_db, "unique_user_category_name")
    events = _log_events(session.log_path)  # type: ignore[arg-type]
    blockers = [e for e in events if isinstance(e, Finding) and e.severity == "blocker"]
    assert blockers and blockers[0].section == "uniqueness rules"
    assert blockers[0].advice and "merge or rename" in blockers[0].advice
    gates = [e for e in events if isinstance(e, GateChecked)]
    assert [(g.gate, g.passed) for g in gates] == [("preflight", False)]


def test_the_checklist_gate_refuses_until_overridden_and_logs_the_reason(
    data_db: Any, tmp_path: Path
) -> None:
    gates = DeployGates(preflight=True, checklist=True, rehearsal=True)
    with _session(data_db, tmp_path) as session:
        session.open()
        refused = session.deploy(ScriptedOperator(name="alice"), gates=gates)
        assert refused.outcome == "refused_by_gate"
        assert "required item not ticked: pre-deployment/create-backup" in (refused.message or "")
        assert not _has_index(data_db, "idx_transactions_user_date_paid")

        assert session.rehearse().ok  # opens the rehearsal gate and ticks its item
        assert session.state.item("pre-deployment", "rehearse").checked  # type: ignore[union-attr]
        operator = ScriptedOperator(name="alice", overrides={
            "checklist": "backup taken by the provider at 10:00, ticket OPS-12"})
        deployed = session.deploy(operator, gates=gates)
        session.close(deployed)
    assert deployed.outcome == "committed"
    assert [gate for gate, _ in operator.override_requests] == ["checklist"]
    overrides = [d for d in session.state.decisions if isinstance(d, OverrideRecorded)]
    assert [o.reason for o in overrides] == ["backup taken by the provider at 10:00, ticket OPS-12"]
    assert overrides[0].what.startswith("checklist: required item not ticked")


def test_the_state_folded_from_the_log_equals_the_live_state(
    data_db: Any, tmp_path: Path
) -> None:
    operator = ScriptedOperator(name="alice")
    with _session(data_db, tmp_path) as session:
        session.open()
        assert session.check().ok
        session.toggle_item("pre-deployment", "create-backup", True, evidence="snap-42")
        failed = session.rehearse(path=BROKEN)
        assert failed.outcome == "rehearsal_failed" and not failed.ok
        assert session.deploy(operator).ok
        assert session.validate().ok
        result = session.rollback(operator)
        session.close(result)
    live = session.state
    replayed = fold(_log_events(session.log_path))  # type: ignore[arg-type]
    for f in dataclasses.fields(SessionState):
        assert getattr(replayed, f.name) == getattr(live, f.name), f.name
    assert replayed == live
    assert live.ended is not None and live.ended.outcome == "rolled_back"
    item = replayed.item("pre-deployment", "create-backup")
    assert item is not None and (item.checked, item.evidence, item.who) == (True, "snap-42", "alice")
    assert [w.name for w in replayed.workflows] == [
        "check", "rehearse", "deploy", "validate", "rollback"]

    # The export and the terminal agree on every run's verdict: the failed rehearsal
    # is a failure in both.
    runs = [e for e in _log_events(session.log_path) if isinstance(e, RunFinished)]  # type: ignore[arg-type]
    assert [r.ok for r in runs] == [False, True, True]
    for run in runs:
        line = describe(run)
        assert line is not None and line.status == ("ok" if run.ok else "fail")
    report = build_report(read_journal(session.log_path),  # type: ignore[arg-type]
                          verify_log(session.log_path))  # type: ignore[arg-type]
    (timeline,) = [s for s in report.sections if s.title == "SQL timeline"]
    (_, table), = timeline.tables
    finished = [row for row in table.rows if row[4].startswith("== ")]
    assert [row[5] for row in finished] == ["fail", "ok", "ok"]


def test_a_listener_that_raises_does_not_change_the_outcome(
    data_db: Any, tmp_path: Path
) -> None:
    def broken_widget(event: Event) -> None:
        if isinstance(event, StatementFinished):
            raise RuntimeError("widget exploded")

    with _session(data_db, tmp_path, listeners=[broken_widget]) as session:
        session.open()
        result = session.deploy(ScriptedOperator(name="alice"))
        session.close(result)
    assert result.outcome == "committed"
    assert _has_index(data_db, "idx_transactions_user_date_paid")
    failures = [e for e in _log_events(session.log_path)  # type: ignore[arg-type]
                if isinstance(e, ListenerFailed)]
    assert failures and failures[0].event_kind == "statement_finished"
    assert "widget exploded" in failures[0].error
    assert "broken_widget" in failures[0].listener


def test_an_interruption_after_commit_says_the_change_is_committed(
    data_db: Any, tmp_path: Path
) -> None:
    with pytest.raises(CommittedButIncomplete, match="IS COMMITTED") as raised:
        with _session(data_db, tmp_path) as session:
            session.open()
            assert session.deploy(ScriptedOperator(name="alice")).ok
            raise KeyboardInterrupt("SIGTERM")
    assert raised.value.exit_code == 4
    ended = read_journal(session.log_path).ended  # type: ignore[arg-type]
    assert ended is not None and ended.record["outcome"] == "committed_incomplete"


def test_the_demo_without_postgresql_is_one_clear_error(tmp_path: Path) -> None:
    env = {**os.environ, "SPFP_PG_BINDIR": str(tmp_path / "nonexistent")}
    proc = subprocess.run([sys.executable, "-m", "spfp_console", "demo"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("spfp-console: ") and "nonexistent" in last
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr


def test_check_lints_the_migration_for_the_way_run_executes_it(
    data_db: Any, tmp_path: Path
) -> None:
    with _session(data_db, tmp_path) as session:
        session.open()
        result = session.check()
        session.close(result)
    lint = [f for f in session.state.findings if f.source == "lint"]
    # one transaction: every plain CREATE INDEX blocks writes until COMMIT
    assert any(f.section == "require-concurrent-index-creation" for f in lint), lint
    assert all(f.severity in ("warning", "info") for f in lint)  # advice, not a blocker
    assert result.ok


def test_the_log_says_commit_was_sent_before_the_run_finished(
    data_db: Any, tmp_path: Path
) -> None:
    from spfp_console.events import CommitSent
    from spfp_console.journal.record import DURABLE_KINDS

    with _session(data_db, tmp_path) as session:
        session.open()
        result = session.deploy(ScriptedOperator(name="alice"))
        session.close(result)
    kinds = [e.kind for e in _log_events(session.log_path)]  # type: ignore[arg-type]
    commit = kinds.index(CommitSent.kind)
    # the script's COMMIT, or the data integrity check's table and cost (right before COMMIT)
    assert kinds[commit - 1] in ("statement_finished", "statement_skipped", "integrity_checked")
    assert kinds[commit + 1] == "run_finished"
    assert CommitSent.kind in DURABLE_KINDS  # synced before COMMIT reaches the server


def test_a_log_that_fails_after_commit_still_says_the_change_is_committed(
    data_db: Any, tmp_path: Path
) -> None:
    """The log's file goes away after COMMIT (a full disk, a lost mount): exit 4 and a
    message that the migration is in the database, not a bare write error."""
    with pytest.raises(CommittedButIncomplete, match="IS COMMITTED") as raised:
        with _session(data_db, tmp_path) as session:
            session.open()
            assert session.deploy(ScriptedOperator(name="alice")).ok
            os.close(session.journal._fd)  # noqa: SLF001 - the file descriptor dies under it
            session.validate()
    assert raised.value.exit_code == 4
    assert "the log could not be ended either" in str(raised.value)
    assert _has_index(data_db, "idx_transactions_user_date_paid")
