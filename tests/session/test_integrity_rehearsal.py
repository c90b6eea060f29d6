"""The data integrity check in a rehearsal (before the first statement and before the
rollback), ``rehearse --integrity/--no-integrity``, and ``console --integrity`` reaching
the session the console opens."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from spfp_console.cli.entrypoint import build_parser
from spfp_console.deployment import DeploymentSession
from spfp_console.engine.integrity import SOURCE, TITLE
from spfp_console.paths import DEFAULT_RUNBOOK
from spfp_console.runbook import load_runbook
from spfp_console.sampledata import load_sample_data
from spfp_console.session.operator import ScriptedOperator
from spfp_console.session.presentation import session_summary

SCALE = 0.02
LEADS = "public.sales_leads"


@pytest.fixture
def data_db(base_db: Any) -> Any:
    load_sample_data(base_db.dsn, scale=SCALE)
    return base_db


def _session(db: Any, tmp_path: Path, **kwargs: Any) -> DeploymentSession:
    return DeploymentSession(runbook=load_runbook(DEFAULT_RUNBOOK), dsn=db.dsn,
                             log_dir=tmp_path / "logs", operator="alice", **kwargs)


def test_a_rehearsal_of_the_spfp_migration_checks_and_reports_the_counts(
        data_db: Any, tmp_path: Path) -> None:
    leads = int(data_db.scalar(f"select count(*) from {LEADS}"))
    with _session(data_db, tmp_path) as session:  # the runbook has integrity_check = true
        session.open()
        result = session.rehearse()
        assert result.ok and result.outcome == "rehearsed", result.message
        table = session.state.tables[(SOURCE, TITLE)]
        assert table.passed is True
        row = next(r for r in table.rows if r[0] == LEADS)
        assert row[1:4] == (f"{leads:,}", f"{leads:,}", "unchanged")
        assert row[4].startswith(f"{2 * leads:,} rows in ")  # what it read, and how long
        assert any(line.startswith("data integrity: ") and "unchanged" in line
                   for line in session_summary(session.state))
        cost = session.state.integrity
        assert cost is not None and cost.mode == "rehearse" and cost.passed
        assert cost.rows_read == sum(int(r[1].replace(",", "")) * 2 for r in table.rows
                                     if r[-1] == "pass")
        assert cost.writers_held_s >= cost.read_s > 0
        assert any(line.startswith(f"data integrity check (rehearse): read {cost.rows_read:,}"
                                   " rows of ") and line.endswith("until the rollback")
                   for line in session_summary(session.state))
        # the run's checklist item is the run's: a rehearsal does not tick it
        assert not session.state.item("post-deployment", "data-integrity").checked
    assert not data_db.scalar("select count(*) from pg_attribute where attname = 'deleted_at'"
                              f" and attrelid = '{LEADS}'::regclass")


def test_a_rehearsal_that_changes_a_row_fails_naming_the_table_and_changes_nothing(
        data_db: Any, tmp_path: Path) -> None:
    checksum_of = f"select count(*), sum(hashtextextended(s::text, 0))::text from {LEADS} s"
    before = data_db.query(checksum_of)
    script = tmp_path / "updating.sql"
    script.write_text(f"ALTER TABLE {LEADS} ADD COLUMN archived boolean;\n"
                      f"UPDATE {LEADS} SET name = name || '!' WHERE id = (SELECT min(id::text)::uuid"
                      f" FROM {LEADS});\n")
    with _session(data_db, tmp_path) as session:
        session.open()
        result = session.rehearse(path=script, integrity=True)
        assert not result.ok and result.outcome == "rehearsal_failed"
        assert result.exit_code != 0
        assert f"{LEADS}: " in (result.message or "")
        assert "checksum differs" in (result.message or "")
        assert "the rehearsal was rolled back" in (result.message or "")
        table = session.state.tables[(SOURCE, TITLE)]
        assert table.passed is False
        assert session.state.integrity is not None
        assert session.state.integrity.passed is False
        assert any(f"FAILED, changed: {LEADS}" in line
                   for line in session_summary(session.state))
    assert data_db.query(checksum_of) == before
    assert not data_db.scalar("select count(*) from pg_attribute where attname = 'archived'")


def test_no_integrity_rehearses_without_the_check(data_db: Any, tmp_path: Path) -> None:
    script = tmp_path / "updating.sql"
    script.write_text(f"UPDATE {LEADS} SET name = name || '!';\n")
    with _session(data_db, tmp_path) as session:
        session.open()
        result = session.rehearse(path=script, integrity=False)
        assert result.ok and result.outcome == "rehearsed", result.message
        assert (SOURCE, TITLE) not in session.state.tables


def test_the_sessions_integrity_setting_reaches_its_rehearsals_and_runs(
        data_db: Any, tmp_path: Path) -> None:
    # What `console --no-integrity` gives the session; the UI calls rehearse() and
    # deploy() without an integrity argument.
    with _session(data_db, tmp_path, integrity=False) as session:
        session.open()
        assert session.rehearse().ok
        assert (SOURCE, TITLE) not in session.state.tables
        result = session.deploy(ScriptedOperator(name="alice", typed=[None]))
        assert result.ok, result.message
        assert (SOURCE, TITLE) not in session.state.tables
        assert "the integrity check was off" in " ".join(
            f.message for f in session.state.findings if f.source == SOURCE)


def test_rehearse_and_console_take_integrity_and_the_console_passes_it_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for command in ("rehearse", "console"):
        parser = build_parser(command)
        assert parser.parse_args([command]).integrity is None
        assert parser.parse_args([command, "--integrity"]).integrity is True
        assert parser.parse_args([command, "--no-integrity"]).integrity is False
    from spfp_console.ui import launch

    opened: list[DeploymentSession] = []

    def fake_console(opening: Any, **_: Any) -> int:
        opened.append(opening.new_session())
        return 0

    monkeypatch.setattr(launch, "require_terminal", lambda *a: None)
    monkeypatch.setattr(launch, "run_console", fake_console)
    args = build_parser("console").parse_args(["console", "--no-integrity", "--no-log"])
    assert isinstance(args, argparse.Namespace)
    assert launch.cmd_console(args) == 0
    assert opened[0].integrity is False
