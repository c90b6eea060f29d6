"""The paper package in a session: the troubleshooting guide, the timeline's estimates
beside the measured phase times, the success criteria ticked by validation, the contacts.

Folded from the events, so the log alone (a replay) shows the same as the live session;
the presentation's words are shared by the terminal and the console.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from spfp_console.deployment import DeploymentSession
from spfp_console.engine.validate import run_validation
from spfp_console.events import (
    ChecklistItemToggled,
    ResultTable,
    SessionStarted,
    StatementFailed,
    WorkflowFinished,
    WorkflowStarted,
    event_from_record,
)
from spfp_console.journal.read import read_journal
from spfp_console.paths import DEFAULT_RUNBOOK
from spfp_console.runbook import load_runbook
from spfp_console.sampledata import load_sample_data
from spfp_console.session.operator import ScriptedOperator
from spfp_console.session.presentation import (
    contact_lines,
    criteria_summary,
    criterion_line,
    describe,
    estimate_text,
    phase_timing,
    troubleshooting_details,
)
from spfp_console.session.runbook_guide import AFTER_ROLLBACK_TITLE, paper_package_of
from spfp_console.session.state import SessionState, fold

REPO = Path(__file__).resolve().parents[2]
BROKEN = REPO / "tests" / "fixtures" / "broken_migration.sql"
RUNBOOK = load_runbook(DEFAULT_RUNBOOK)


def _started(at: str = "2026-02-16T10:00:00Z") -> SessionStarted:
    return SessionStarted(operator="alice", runbook_id=RUNBOOK.id, started_at=at,
                          phases=tuple((p.id, p.title) for p in RUNBOOK.phases),
                          items=tuple((p.id, i.id, i.text,
                                       "required" if i.required else "optional",
                                       i.action or "", i.evidence or "")
                                      for p in RUNBOOK.phases for i in p.items),
                          **paper_package_of(RUNBOOK))


def _ticks(phase_id: str, at: str) -> list[ChecklistItemToggled]:
    return [ChecklistItemToggled(phase=phase_id, item_id=item.id, checked=True, who="alice",
                                 when=at)
            for item in RUNBOOK.phase(phase_id).items if item.required]


def _criteria(state: SessionState) -> dict[str, str]:
    return {c.id: c.status for c in state.criteria}


# ---------------------------------------------------------------------- the fold


def test_each_phase_shows_its_estimate_beside_the_time_it_took() -> None:
    state = fold([_started("2026-02-16T10:00:00Z")])
    pre, execution, post = (state.phase(p) for p in
                            ("pre-deployment", "execution", "post-deployment"))
    assert pre is not None and execution is not None and post is not None
    # the paper's rows summed per phase: checks 5 min + backup 5-10 min; 30-60 s; 10-15 + 30+
    assert [estimate_text(p.estimate) for p in (pre, execution, post)] == [  # type: ignore[arg-type]
        "10-15 min", "30-60 s", "40+ min"]
    assert phase_timing(pre) == "est. 10-15 min · started 10:00"
    assert phase_timing(execution) == "est. 30-60 s"  # not started: the phase before is open

    state.apply_all(_ticks("pre-deployment", "2026-02-16T10:12:00Z"))
    assert (pre.started_at, pre.completed_at) == ("2026-02-16T10:00:00Z", "2026-02-16T10:12:00Z")
    assert phase_timing(pre) == "est. 10-15 min · took 12 min"
    assert phase_timing(execution) == "est. 30-60 s · started 10:12"
    state.apply_all(_ticks("execution", "2026-02-16T10:12:45Z"))
    assert phase_timing(execution) == "est. 30-60 s · took 45 s"
    # unticking an item reopens its phase: no measured time until it is done again
    state.apply(ChecklistItemToggled(phase="execution", item_id="run-migration",
                                     checked=False, who="alice", when="2026-02-16T10:13:00Z"))
    assert execution.completed_at is None and phase_timing(execution).startswith("est. 30-60 s ·")


def test_success_criteria_are_ticked_by_validation_rows_and_the_run() -> None:
    state = fold([_started()])
    assert set(_criteria(state).values()) == {"pending"}
    rows = [(c.id, "", "", "pass") for c in RUNBOOK.checks]
    rows[0] = (rows[0][0], "", "missing", "fail")  # the first index is missing
    state.apply(ResultTable.checked(title=f"Validation: {RUNBOOK.id} applied",
                                    source="validation", columns=("check", "expected",
                                                                  "actual", "status"),
                                    rows=rows))
    state.apply(ResultTable.checked(
        title="Headline queries", source="validation",
        columns=("query", "expected index", "indexes used", "status"),
        rows=[(q.id, q.expected_index, "none", "warn") for q in RUNBOOK.queries]))
    criteria = _criteria(state)
    assert criteria["indexes"] == "fail"
    assert criteria["views"] == criteria["audit-rls"] == criteria["soft-delete-columns"] == "pass"
    assert criteria["index-usage"] == "warn"
    assert criteria["no-errors"] == "pending"  # validation alone proves no run
    indexes = next(c for c in state.criteria if c.id == "indexes")
    assert indexes.evidence == f"1/20 fail: {RUNBOOK.checks[0].id}"
    line = criterion_line(indexes)
    assert (line.status, line.text) == ("fail", "✘ All indexes created (paper: 14;"
                                                " the migration has 20)")
    assert line.details == (f"NOT met: 1/20 fail: {RUNBOOK.checks[0].id}",)

    state.apply_all([WorkflowStarted(workflow="deploy"),
                     WorkflowFinished(workflow="deploy", outcome="committed", ok=True,
                                      exit_code=0)])
    assert _criteria(state)["no-errors"] == "pass"
    assert criteria_summary(state.criteria) == (
        "Success criteria: 6 of 10 met, 1 NOT met, 3 not yet")
    state.apply_all([WorkflowStarted(workflow="rollback"),
                     WorkflowFinished(workflow="rollback", outcome="rolled_back", ok=True,
                                      exit_code=0)])
    assert set(_criteria(state).values()) == {"pending"}
    assert state.criteria[0].evidence == "the migration was rolled back"


def test_a_failed_statement_gets_its_guide_entry_in_the_one_presentation() -> None:
    state = fold([_started()])
    failure = StatementFailed(index=7, file="/x/m.sql", line=24, sql="CREATE TRIGGER t ...",
                              sqlstate="42883", message="function f() does not exist")
    entry = state.guide_for("42883")
    assert entry is not None and entry.title == "Function missing"
    line = describe(failure, guide=state.troubleshooting)
    assert line is not None
    assert line.details[-3:] == troubleshooting_details(entry)
    assert line.details[-3] == "guide for 42883: Function missing"
    assert line.details[-1].startswith("what to do: ")
    assert "\n" not in "".join(line.details)  # the TOML's line breaks are folded
    # without a guide, or for a code it does not have, the line is what it always was
    plain = describe(failure)
    assert plain is not None and not any("guide for" in d for d in plain.details)
    other = describe(dataclasses.replace(failure, sqlstate="XX000"), guide=state.troubleshooting)
    assert other is not None and other.details == plain.details


def test_contacts_list_the_escalation_path_first() -> None:
    state = fold([_started()])
    assert contact_lines(state.contacts) == [
        "1. DevOps Engineer (Gage), Slack #devops-deployment: Deployment execution,"
        " monitoring, emergency rollback decisions",
        "1. Data Engineer (Nova), Slack #data-engineering: Technical questions, schema"
        " optimization advice",
        "2. DevOps lead, no channel given: Guidance when executor and data engineer cannot"
        " resolve it",
        "3. CTO, no channel given: Critical production issues",
        "-  Product team, no channel given: Feature enablement planning, user communication",
    ]


def test_a_log_written_before_the_paper_package_still_reads() -> None:
    record = {"kind": "session_started", "operator": "alice", "runbook_id": "r",
              "phases": [["pre", "Pre"]], "items": [["pre", "a", "A", "required", "", ""]]}
    state = fold([event_from_record(record)])
    assert (state.troubleshooting, state.contacts, state.criteria) == ({}, (), [])
    phase = state.phase("pre")
    assert phase is not None and phase.estimate is None and phase_timing(phase) == ""
    # an edited log: short or odd entries are padded or dropped, never a crash
    odd = dict(record, troubleshooting=[["23505"]], timeline=[["pre", "x", "soon"]],
               success_criteria=[["only-id"]], contacts=[[], ["CTO", "", "", "", "two"]])
    state = fold([event_from_record(odd)])
    assert state.troubleshooting["23505"].title == "23505"
    assert state.phases[0].estimate is None and state.criteria == []
    assert [(c.role, c.escalation) for c in state.contacts] == [("?", None), ("CTO", None)]


# ---------------------------------------------------------------------- a real session


@pytest.fixture
def data_db(base_db: Any) -> Any:
    load_sample_data(base_db.dsn, scale=0.02)
    return base_db


def test_live_and_replayed_state_agree_on_the_paper_package(data_db: Any,
                                                             tmp_path: Path) -> None:
    session = DeploymentSession(runbook=RUNBOOK, dsn=data_db.dsn, log_dir=tmp_path,
                                operator="alice")
    operator = ScriptedOperator(name="alice")
    with session:
        session.open()
        for item in RUNBOOK.phase("pre-deployment").items:
            if item.required and item.action in (None, "approvals"):
                session.toggle_item("pre-deployment", item.id, True, evidence="done")
        assert session.rehearse(path=BROKEN).outcome == "rehearsal_failed"
        assert session.rehearse().ok
        assert session.deploy(operator).ok
        assert session.validate().ok
        applied = session.state.snapshot()
        rolled_back = session.rollback(operator)
        session.close(rolled_back)
    events = [entry.event() for entry in read_journal(session.log_path).entries]  # type: ignore[arg-type]
    replayed = fold(events)
    live = session.state
    for name in ("started_at", "troubleshooting", "contacts", "criteria", "phases"):
        assert getattr(replayed, name) == getattr(live, name), name
    assert live.started_at is not None and len(live.troubleshooting) >= 7

    # what the failed rehearsal showed: each failure's code and its entry
    failed = [row for row in live.statements if row.status == "failed"]
    assert [(r.sqlstate, (replayed.guide_for(r.sqlstate) or None) and
             replayed.guide_for(r.sqlstate).title) for r in failed] == [  # type: ignore[union-attr]
        ("42601", "Syntax error"), ("42703", "Column missing"), ("42883", "Function missing")]

    # after the run and validation, before the rollback
    criteria = _criteria(applied)
    for met in ("no-errors", "success-message", "indexes", "uniqueness-rules",
                "soft-delete-columns", "views", "audit-rls", "data-integrity"):
        assert criteria[met] == "pass", (met, applied.criteria)
    assert criteria["index-usage"] in ("pass", "warn")  # small tables: seq scans are fair
    assert criteria["application-normal"] == "pending"  # nobody watched the app yet
    pre = applied.phase("pre-deployment")
    assert pre is not None and pre.completed_at is not None
    assert phase_timing(pre).startswith("est. 10-15 min · took ")
    # the rollback leaves nothing met
    assert set(_criteria(live).values()) == {"pending"}


def test_validation_after_a_rollback_is_titled_as_the_criteria_expect(migrated_db: Any) -> None:
    with migrated_db.connect() as conn:
        table = run_validation(conn, RUNBOOK, expect="absent")
    assert table.title.startswith(AFTER_ROLLBACK_TITLE)
    state = fold([_started(), table])
    assert set(_criteria(state).values()) == {"pending"}
