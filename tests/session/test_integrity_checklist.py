"""The data integrity check as a session runs it: the checklist item it ticks (and only
it), the result table in the signed log, online mode and ``--no-integrity`` saying it
was not checked, and the CLI flag."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from spfp_console.cli.entrypoint import build_parser
from spfp_console.deployment import DeploymentSession
from spfp_console.engine.integrity import ONLINE_REASON, SOURCE, TITLE, tables_to_check
from spfp_console.errors import UsageError
from spfp_console.events import Finding, ResultTable
from spfp_console.journal.read import read_journal
from spfp_console.paths import DEFAULT_RUNBOOK
from spfp_console.runbook import load_runbook
from spfp_console.runbook.model import ScriptRef
from spfp_console.sampledata import load_sample_data
from spfp_console.session.operator import ScriptedOperator
from spfp_console.session.presentation import session_summary
from spfp_console.session.state import fold

SCALE = 0.02
ITEM = ("post-deployment", "data-integrity")


@pytest.fixture
def data_db(base_db: Any) -> Any:
    load_sample_data(base_db.dsn, scale=SCALE)
    return base_db


def _session(db: Any, tmp_path: Path, runbook: Any = None) -> DeploymentSession:
    return DeploymentSession(runbook=runbook or load_runbook(DEFAULT_RUNBOOK), dsn=db.dsn,
                             log_dir=tmp_path / "logs", operator="alice")


def _item(session: DeploymentSession) -> Any:
    return session.state.item(*ITEM)


def _findings(session: DeploymentSession) -> list[Finding]:
    return [f for f in session.state.findings if f.source == "integrity"]


def test_deploy_ticks_the_item_by_integrity_and_the_log_records_the_table(
        data_db: Any, tmp_path: Path) -> None:
    with _session(data_db, tmp_path) as session:
        session.open()
        result = session.deploy(ScriptedOperator(name="alice", typed=[None]))
        assert result.ok, result.message
        item = _item(session)
        assert item.checked and item.ticked_by_action == "integrity"
        leads = int(data_db.scalar("select count(*) from public.sales_leads"))
        assert "counts and checksums unchanged" in item.evidence
        assert "under a SHARE lock" in item.evidence
        table = session.state.tables[(SOURCE, TITLE)]
        assert table.passed is True
        assert ("public.sales_leads", f"{leads:,}", f"{leads:,}", "unchanged") in {
            row[:4] for row in table.rows}
        criteria = {c.id: c.status for c in session.state.criteria}
        assert criteria["data-integrity"] == "pass"
        assert any("data integrity:" in line for line in session_summary(session.state))
        session.close(result)
    events = [entry.event() for entry in read_journal(session.log_path).entries]  # type: ignore[arg-type]
    logged = [e for e in events if isinstance(e, ResultTable) and e.source == SOURCE]
    assert logged == [table]
    replayed = fold(events)
    assert replayed.item(*ITEM) == session.state.item(*ITEM)


def test_a_passed_validation_no_longer_ticks_the_integrity_item(
        migrated_db: Any, tmp_path: Path) -> None:
    with _session(migrated_db, tmp_path) as session:
        session.open()
        assert session.validate().ok
        assert session.state.item("post-deployment", "full-validation").checked
        assert not _item(session).checked


def test_the_confirmation_says_how_much_it_reads_and_that_writers_wait(
        data_db: Any, tmp_path: Path) -> None:
    tables = tables_to_check(load_runbook(DEFAULT_RUNBOOK).script("migration"))
    exact = sum(int(data_db.scalar(f"select count(*) from {s}.{t}")) for s, t in tables)
    with data_db.connect() as conn:  # small tables: the planner's count is then exact
        conn.execute("ANALYZE")
    operator = ScriptedOperator(name="alice", typed=["not-this-db"])
    with _session(data_db, tmp_path) as session:
        session.open()
        assert session.deploy(operator).outcome == "not_confirmed"
    [line] = [x for x in operator.requests[0].summary if x.startswith("data integrity:")]
    assert line.startswith(f"data integrity: ~{exact:,} rows (")
    assert f"in {len(tables)} tables counted and checksummed" in line
    assert "SHARE lock from the start: their writers wait until COMMIT" in line


def test_a_migration_that_deletes_a_row_is_rolled_back_and_the_item_stays_open(
        data_db: Any, tmp_path: Path) -> None:
    script = tmp_path / "deleting.sql"
    script.write_text("ALTER TABLE public.goals ADD COLUMN archived boolean;\n"
                      "DELETE FROM public.goals WHERE id = (SELECT min(id::text)::uuid"
                      " FROM public.goals);\n")
    runbook = load_runbook(DEFAULT_RUNBOOK)
    runbook = dataclasses.replace(runbook, scripts={
        **runbook.scripts, "migration": ScriptRef("migration", script)})
    goals = int(data_db.scalar("select count(*) from public.goals"))
    with _session(data_db, tmp_path, runbook) as session:
        session.open()
        run = session.run_migration()
        assert run.outcome == "rolled_back"
        assert f"public.goals: {goals} rows before, {goals - 1} after" in (run.message or "")
        assert not _item(session).checked
        table = session.state.tables[(SOURCE, TITLE)]
        assert table.passed is False
    assert int(data_db.scalar("select count(*) from public.goals")) == goals
    assert not data_db.scalar("select count(*) from pg_attribute where attname = 'archived'")


def test_online_mode_says_it_was_not_checked(data_db: Any, tmp_path: Path) -> None:
    with _session(data_db, tmp_path) as session:
        session.open()
        with pytest.raises(UsageError, match="--integrity needs the migration in one"):
            session.deploy(ScriptedOperator(name="alice", typed=[None]), online=True,
                           integrity=True)
        assert session.state.runs == []  # refused before anything ran
        result = session.deploy(ScriptedOperator(name="alice", typed=[None]), online=True)
        assert result.ok, result.message
        table = session.state.tables[(SOURCE, TITLE)]
        assert table.rows == (("every touched table", "-", "-", ONLINE_REASON, "-", "warn"),)
        assert not _item(session).checked
        [finding] = _findings(session)
        assert finding.severity == "warning" and ONLINE_REASON in finding.message
        assert finding.subject == "post-deployment/data-integrity"
        criteria = {c.id: c.status for c in session.state.criteria}
        assert criteria["data-integrity"] == "pending"


def test_no_integrity_leaves_the_item_open_with_a_reason(data_db: Any, tmp_path: Path) -> None:
    with _session(data_db, tmp_path) as session:
        session.open()
        result = session.deploy(ScriptedOperator(name="alice", typed=[None]), integrity=False)
        assert result.ok, result.message
        assert (SOURCE, TITLE) not in session.state.tables
        assert not _item(session).checked
        [finding] = _findings(session)
        assert "the integrity check was off for this run" in finding.message


def test_the_run_command_takes_integrity_and_no_integrity() -> None:
    parser = build_parser()
    assert parser.parse_args(["run"]).integrity is None
    assert parser.parse_args(["run", "--integrity"]).integrity is True
    assert parser.parse_args(["run", "--no-integrity"]).integrity is False
