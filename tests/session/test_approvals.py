"""Signed approvals (four eyes), with real ssh-keygen keys and a real PostgreSQL.

A reviewer approves a passed rehearsal's log with ``spfp-console approve LOG --key K``;
a runbook with ``[approvals] required = 2`` runs only with two valid approvals by allowed
signers other than the executor, for these exact script hashes and this target, unexpired.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from spfp_console.deployment import DeploymentSession
from spfp_console.events import ApprovalChecked, GateChecked
from spfp_console.journal.approval import (
    APPROVAL_NAMESPACE,
    approval_from_log,
    write_approval,
)
from spfp_console.journal.read import read_journal
from spfp_console.paths import DEFAULT_RUNBOOK, MIGRATION_SQL, ROLLBACK_SQL
from spfp_console.runbook import RunbookError, load_runbook
from spfp_console.session.operator import ScriptedOperator

SSH_KEYGEN = shutil.which("ssh-keygen")
pytestmark = pytest.mark.skipif(SSH_KEYGEN is None, reason="ssh-keygen (OpenSSH) not installed")
PEOPLE = ("alice", "bob", "carol", "mallory")
"""alice executes; bob and carol review; mallory is not an allowed signer."""


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    (tmp_path / "keys").mkdir()
    for person in PEOPLE:
        key = tmp_path / "keys" / person
        subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", person, "-f",
                        str(key)], check=True)
        out[person] = key
    with (tmp_path / "allowed_signers").open("w") as f:
        for person in ("alice", "bob", "carol"):
            key_type, blob = Path(f"{out[person]}.pub").read_text().split()[:2]
            f.write(f'{person}@example.com namespaces="{APPROVAL_NAMESPACE}" {key_type} {blob}\n')
    return out


def _runbook(tmp_path: Path, required: int = 2) -> Path:
    """The shipped runbook on copies of its scripts (a test may change one), needing
    ``required`` approvals from tmp_path/allowed_signers, found in tmp_path/approvals."""
    migration = tmp_path / "20260216_database_optimizations.sql"
    rollback = tmp_path / "20260216_rollback.sql"
    shutil.copy(MIGRATION_SQL, migration)
    shutil.copy(ROLLBACK_SQL, rollback)
    text = DEFAULT_RUNBOOK.read_text(encoding="utf-8")
    text = re.sub(r'(?m)^migration = ".*"$', f'migration = "{migration}"', text)
    text = re.sub(r'(?m)^rollback = ".*"$', f'rollback = "{rollback}"', text)
    text = text.replace("\n[[phases]]", f'\n[approvals]\nrequired = {required}\n'
                        'allowed_signers = "allowed_signers"\ndirectory = "approvals"\n'
                        "\n[[phases]]", 1)
    path = tmp_path / "runbook.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _session(dsn: str, runbook: Path, logs: Path) -> DeploymentSession:
    return DeploymentSession(runbook=load_runbook(runbook), dsn=dsn, log_dir=logs,
                             operator="alice")


def _rehearsal_log(dsn: str, runbook: Path, logs: Path) -> Path:
    with _session(dsn, runbook, logs) as session:
        session.open()
        assert session.rehearse().ok
    assert session.log_path is not None
    return session.log_path


def _approve(log: Path, key: Path, principal: str, out_dir: Path, *extra: str) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "spfp_console", "approve", str(log), "--key", str(key),
         "--principal", principal, "--out-dir", str(out_dir), *extra],
        capture_output=True, text=True, timeout=60, check=False)


def _file_into(approvals: Path, produced: Path, name: str) -> None:
    """Put one approval (and its signature) into the runbook's approvals directory."""
    [document] = list(produced.glob("*.approval.toml"))
    approvals.mkdir(exist_ok=True)
    shutil.copy(document, approvals / f"{name}.approval.toml")
    shutil.copy(f"{document}.sig", approvals / f"{name}.approval.toml.sig")
    shutil.rmtree(produced)


def _has_index(db: Any) -> bool:
    return bool(db.scalar("select count(*) from pg_indexes"
                          " where indexname = 'idx_transactions_user_date_paid'"))


def test_run_refuses_until_two_valid_approvals_then_runs_and_logs_them(
    base_db: Any, pg_cluster: Any, keys: dict[str, Path], tmp_path: Path
) -> None:
    runbook = _runbook(tmp_path)
    approvals = tmp_path / "approvals"
    log = _rehearsal_log(base_db.dsn, runbook, tmp_path / "logs")
    other_db = f"{base_db.name}_other"
    pg_cluster.create_database(other_db, template="spfp_base_template")
    try:
        other_log = _rehearsal_log(pg_cluster.dsn(other_db), runbook, tmp_path / "other")
    finally:
        pg_cluster.drop_database(other_db)

    operator = ScriptedOperator(name="alice", typed=[None])
    steps: list[tuple[str, str]] = []
    with _session(base_db.dsn, runbook, tmp_path / "logs") as session:
        session.open()

        def refused(expect: str) -> None:
            result = session.deploy(operator)
            assert (result.outcome, result.exit_code) == ("refused_by_gate", 1), result
            assert expect in (result.message or ""), result.message
            assert not _has_index(base_db)
            steps.append((expect, result.message or ""))

        refused("approvals: 0 valid approval(s) of 2 required")

        done = _approve(log, keys["bob"], "bob@example.com", tmp_path / "out")
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"{log}: approved by bob@example.com for ")
        _file_into(approvals, tmp_path / "out", "bob")
        refused("1 valid approval(s) of 2 required (bob@example.com)")

        assert _approve(log, keys["alice"], "alice@example.com",
                        tmp_path / "out").returncode == 0
        _file_into(approvals, tmp_path / "out", "alice-own")
        refused("alice-own.approval.toml: signed by the executor (alice@example.com)")

        assert _approve(log, keys["mallory"], "carol@example.com",
                        tmp_path / "out").returncode == 0
        _file_into(approvals, tmp_path / "out", "mallory-as-carol")
        refused("mallory-as-carol.approval.toml: signature: key SHA256:")

        assert _approve(other_log, keys["carol"], "carol@example.com",
                        tmp_path / "out").returncode == 0
        _file_into(approvals, tmp_path / "out", "carol-other-target")
        refused(f"carol-other-target.approval.toml: approves target {session.info.host}:"
                f"{session.info.port}/{other_db}")

        stale = approval_from_log(log, "carol@example.com", valid_for=dt.timedelta(hours=1),
                                  now=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2))
        write_approval(stale, tmp_path / "out", key_file=keys["carol"])
        _file_into(approvals, tmp_path / "out", "carol-expired")
        refused("carol-expired.approval.toml: expired at ")

        assert _approve(log, keys["carol"], "carol@example.com",
                        tmp_path / "out").returncode == 0
        _file_into(approvals, tmp_path / "out", "carol")
        result = session.deploy(operator)
        session.close(result)
    assert result.outcome == "committed", result.message
    assert operator.override_requests == []  # four eyes are never waived by the executor
    assert _has_index(base_db)

    item = session.state.item("pre-deployment", "approvals")
    assert item is not None and item.checked and item.ticked_by_action == "approvals"
    assert item.evidence == "approved by bob@example.com, carol@example.com"
    events = [e.event() for e in read_journal(session.log_path).entries]  # type: ignore[arg-type]
    gates = [(e.gate, e.passed) for e in events
             if isinstance(e, GateChecked) and e.gate == "approvals"]
    assert gates == [("approvals", False)] * 6 + [("approvals", True)]
    last = [e for e in events if isinstance(e, ApprovalChecked)][-6:]
    assert sorted((Path(e.file).name, e.valid) for e in last) == [
        ("alice-own.approval.toml", False), ("bob.approval.toml", True),
        ("carol-expired.approval.toml", False), ("carol-other-target.approval.toml", False),
        ("carol.approval.toml", True), ("mallory-as-carol.approval.toml", False)]
    copied = next(e for e in last if Path(e.file).name == "bob.approval.toml")
    assert copied.document and "approver = \"bob@example.com\"" in copied.document
    assert copied.signature and copied.signature.startswith("-----BEGIN SSH SIGNATURE-----")
    assert copied.rehearsal_log_sha256 and len(copied.rehearsal_log_sha256) == 64


def test_a_changed_script_invalidates_every_approval(
    base_db: Any, keys: dict[str, Path], tmp_path: Path
) -> None:
    runbook = _runbook(tmp_path)
    log = _rehearsal_log(base_db.dsn, runbook, tmp_path / "logs")
    for person in ("bob", "carol"):
        assert _approve(log, keys[person], f"{person}@example.com",
                        tmp_path / "approvals").returncode == 0
    # Stock OpenSSH accepts the approval's signature, in the approval namespace only.
    bob = next((tmp_path / "approvals").glob("*.bob-example.com.approval.toml"))
    for namespace, accepted in ((APPROVAL_NAMESPACE, True), ("spfp-console-log@spfp", False)):
        with open(bob, "rb") as message:
            checked = subprocess.run(
                [SSH_KEYGEN, "-Y", "verify", "-f", str(tmp_path / "allowed_signers"), "-I",
                 "bob@example.com", "-n", namespace, "-s", f"{bob}.sig"],
                stdin=message, capture_output=True, check=False)
        assert (checked.returncode == 0) is accepted, checked.stderr
    migration = load_runbook(runbook).script("migration")
    migration.write_text(migration.read_text() + "\n-- one more comment\n")
    with _session(base_db.dsn, runbook, tmp_path / "logs") as session:
        session.open()
        result = session.deploy(ScriptedOperator(name="alice", typed=[None]))
        session.close(result)
    assert result.outcome == "refused_by_gate"
    assert (result.message or "").count("approves another migration script") == 2
    assert not _has_index(base_db)


def test_approve_refuses_a_failed_rehearsal_and_a_tampered_log(
    base_db: Any, keys: dict[str, Path], tmp_path: Path
) -> None:
    runbook = _runbook(tmp_path)
    broken = Path(__file__).resolve().parents[1] / "fixtures" / "broken_migration.sql"
    with _session(base_db.dsn, runbook, tmp_path / "logs") as session:
        session.open()
        assert not session.rehearse(path=broken).ok
    failed = _approve(session.log_path, keys["bob"], "bob@example.com",  # type: ignore[arg-type]
                      tmp_path / "out")
    assert failed.returncode == 1
    assert "its rehearsal did not pass" in failed.stderr and "Traceback" not in failed.stderr
    good = _rehearsal_log(base_db.dsn, runbook, tmp_path / "good")
    good.write_text(good.read_text().replace('outcome = "rehearsed"', 'outcome = "rehearsed" ', 1))
    tampered = _approve(good, keys["bob"], "bob@example.com", tmp_path / "out")
    assert tampered.returncode == 1 and "its hash chain does not hold" in tampered.stderr
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_the_runbook_needs_an_allowed_signers_file_when_approvals_are_required(
    tmp_path: Path
) -> None:
    runbook = _runbook(tmp_path)
    with pytest.raises(RunbookError, match=r"approvals\.allowed_signers: file not found"):
        load_runbook(runbook)
    text = runbook.read_text().replace('allowed_signers = "allowed_signers"\n', "")
    runbook.write_text(text)
    with pytest.raises(RunbookError, match=r"approvals\.allowed_signers: is required"):
        load_runbook(runbook)


def test_the_cli_run_refuses_without_approvals(
    base_db: Any, keys: dict[str, Path], tmp_path: Path
) -> None:
    runbook = _runbook(tmp_path, required=1)
    proc = subprocess.run(
        [sys.executable, "-m", "spfp_console", "run", "--yes", "--runbook", str(runbook),
         "--dsn", base_db.dsn, "--log-dir", str(tmp_path / "logs")],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "approvals: 0 valid approval(s) of 1 required" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not _has_index(base_db)
