"""The database as witness: ``verify LOG --dsn`` checks a log against the target's record.

Each committed run writes a row into ``spfp_console.deployments`` in its own transaction.
A forged log whose chain was recomputed passes the chain check but not the database; so
does a log whose outcome was edited; rows whose logs are missing are listed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from spfp_console.cli.journal_commands import EXIT_UNSIGNED as UNSIGNED
from spfp_console.deployment import DeploymentSession
from spfp_console.journal.canonical import HASH_KEY, PREV_KEY, seal_event
from spfp_console.journal.read import read_journal
from spfp_console.journal.verify import verify_chain
from spfp_console.paths import DEFAULT_RUNBOOK
from spfp_console.runbook import load_runbook
from spfp_console.session.operator import ScriptedOperator


def _deploy_and_roll_back(db: Any, logs: Path, runbook: Path = DEFAULT_RUNBOOK) -> Path:
    operator = ScriptedOperator(name="alice", typed=[None, None])
    with DeploymentSession(runbook=load_runbook(runbook), dsn=db.dsn, log_dir=logs,
                           operator="alice") as session:
        session.open()
        deployed = session.deploy(operator)
        assert deployed.outcome == "committed", deployed.message
        rolled_back = session.rollback(operator)
        assert rolled_back.ok, rolled_back.message
        session.close(rolled_back)
    assert session.log_path is not None
    return session.log_path


def _verify(log: Path, dsn: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spfp_console", "verify", str(log), "--dsn",
                           dsn], capture_output=True, text=True, timeout=60, check=False)


def _forge(log: Path, out: Path, seq: int, edit: dict[str, Any]) -> Path:
    """Change event ``seq`` and recompute the chain from there on, as a forger would:
    the result passes the chain check.  Never signed."""
    raw = log.read_bytes()
    header = raw[: raw.index(b"\n\n[[event]]\n") + 1]
    previous = None
    body = b""
    for entry in read_journal(log).entries:
        record = {k: v for k, v in entry.record.items() if k != HASH_KEY}
        if entry.seq == seq:
            record.update(edit)
        if entry.seq > seq:
            record[PREV_KEY] = previous
        chunk, digest = seal_event(record)
        assert entry.seq >= seq or digest == entry.hash  # untouched events: same bytes
        previous = digest
        body += chunk
    out.write_bytes(header + body)
    assert verify_chain(out).ok, verify_chain(out)
    return out


def test_every_commit_is_recorded_and_the_genuine_log_agrees(base_db: Any, tmp_path: Path
                                                              ) -> None:
    log = _deploy_and_roll_back(base_db, tmp_path / "logs")
    rows = base_db.query("select session_id, log_file, operator, workflow, chain_seq,"
                         " chain_hash, outcome from spfp_console.deployments order by id")
    header = read_journal(log).header
    assert [(r[0], r[1], r[2], r[3], r[6]) for r in rows] == [
        (header[HASH_KEY], log.name, "alice", "deploy", "committed"),
        (header[HASH_KEY], log.name, "alice", "rollback", "committed")]
    by_seq = {e.seq: e.hash for e in read_journal(log).entries}
    assert all(by_seq[r[4]] == r[5] for r in rows)
    checked = _verify(log, base_db.dsn)
    # Unsigned (exit 5, the log's own verdict), and the database agrees with it.
    assert checked.returncode == UNSIGNED, checked.stderr
    assert "agrees with spfp_console.deployments (2 commits recorded" in checked.stdout


def test_a_forged_log_with_a_recomputed_chain_fails_against_the_database(
    base_db: Any, tmp_path: Path
) -> None:
    log = _deploy_and_roll_back(base_db, tmp_path / "logs")
    statement = next(e for e in read_journal(log).entries if e.kind == "statement_finished")
    forged = _forge(log, tmp_path / "logs" / "forged.deploy-log.toml", statement.seq,
                    {"status": "SELECT 1"})
    plain = subprocess.run([sys.executable, "-m", "spfp_console", "verify", str(forged)],
                           capture_output=True, text=True, timeout=60, check=False)
    assert plain.returncode == UNSIGNED  # an intact chain, unsigned: the chain cannot tell
    checked = _verify(forged, base_db.dsn)
    assert checked.returncode == 1
    assert "does NOT agree with spfp_console.deployments" in checked.stderr
    assert re.search(r"event #\d+ is not the event the database recorded at COMMIT",
                     checked.stderr) and "the log was rewritten" in checked.stderr


def test_a_log_whose_outcome_was_edited_fails_against_the_database(
    base_db: Any, tmp_path: Path
) -> None:
    log = _deploy_and_roll_back(base_db, tmp_path / "logs")
    run = next(e for e in read_journal(log).entries
               if e.kind == "run_finished" and e.fields.get("outcome") == "committed")
    forged = _forge(log, tmp_path / "logs" / "edited.deploy-log.toml", run.seq,
                    {"outcome": "rolled_back"})
    checked = _verify(forged, base_db.dsn)
    assert checked.returncode == 1
    assert "the log says the run rolled_back" in checked.stderr


def test_deployments_whose_logs_are_missing_are_shown(base_db: Any, tmp_path: Path) -> None:
    first = _deploy_and_roll_back(base_db, tmp_path / "logs")
    second = _deploy_and_roll_back(base_db, tmp_path / "logs")
    first.unlink()
    checked = _verify(second, base_db.dsn)
    assert checked.returncode == UNSIGNED, checked.stderr
    missing = [line for line in checked.stderr.splitlines()
               if "a deployment whose log is missing" in line]
    assert len(missing) == 2 and all(first.name in line for line in missing)
    assert "deploy of 20260216_database_optimizations" in missing[0]


def test_a_log_the_database_never_saw_fails(base_db: Any, migrated_db: Any,
                                            tmp_path: Path) -> None:
    log = _deploy_and_roll_back(base_db, tmp_path / "logs")
    _deploy_and_roll_back(migrated_db, tmp_path / "other")  # a record, not of this session
    checked = _verify(log, migrated_db.dsn)
    assert checked.returncode == 1
    assert "the log says 2 run(s) committed, the database recorded 0" in checked.stderr


def test_the_witness_is_off_when_the_runbook_says_so(base_db: Any, tmp_path: Path) -> None:
    runbook = tmp_path / "runbook.toml"
    text = DEFAULT_RUNBOOK.read_text(encoding="utf-8").replace(
        "\n[[phases]]", "\n[witness]\nenabled = false\n\n[[phases]]", 1)
    text = re.sub(r'(?m)^(migration|rollback) = "\.\./', lambda m: f'{m.group(1)} = "'
                  f'{DEFAULT_RUNBOOK.parent.parent}/', text)
    runbook.write_text(text, encoding="utf-8")
    log = _deploy_and_roll_back(base_db, tmp_path / "logs", runbook)
    assert base_db.scalar("select to_regclass('spfp_console.deployments') is null")
    checked = _verify(log, base_db.dsn)
    assert checked.returncode == 1 and "keeps no deployment record" in checked.stderr
