"""Signing in a real session: the CLI on the suite's real PostgreSQL, real keys, a real agent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from journal_testkit import SSH_KEYGEN, allowed_signers, make_ed25519_key, running_ssh_agent, ssh_add

from spfp_console.journal.read import CHECKPOINT, read_journal
from spfp_console.journal.verify import verify_log

pytestmark = pytest.mark.skipif(SSH_KEYGEN is None, reason="OpenSSH ssh-keygen is not installed")

IDENTITY = "operator@spfp"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This process's environment without anything that picks a database or a key."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PG") and k not in ("DATABASE_URL", "SSH_AUTH_SOCK", "SPFP_CONSOLE_SIGN_KEY")}
    env.update(PGPASSFILE=str(tmp_path / "no-such-pgpass"), PYTHONUNBUFFERED="1", **extra)
    return env


def _cli(tmp_path: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "spfp_console", *args], cwd=tmp_path, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def _index_names(db) -> list[str]:  # type: ignore[no-untyped-def]
    return [r[0] for r in db.query("SELECT indexname FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1")]


def test_run_with_a_missing_sign_key_fails_before_anything_changes(tmp_path: Path, base_db) -> None:  # type: ignore[no-untyped-def]
    before = _index_names(base_db)
    proc = _cli(tmp_path, "run", "--yes", "--dsn", base_db.dsn, "--sign-key", "/nonexistent",
                env=_env(tmp_path))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr == "spfp-console: cannot read key /nonexistent: No such file or directory\n"
    assert _index_names(base_db) == before  # the migration did not run
    assert not (tmp_path / "deploy-logs").exists()  # nor did a session start

    bad = {"SPFP_CONSOLE_SIGN_KEY": str(tmp_path / "gone")}
    proc = _cli(tmp_path, "run", "--yes", "--dsn", base_db.dsn, env=_env(tmp_path, **bad))
    assert proc.returncode == 2
    assert proc.stderr.startswith("spfp-console: $SPFP_CONSOLE_SIGN_KEY: cannot read key ")
    assert _index_names(base_db) == before


def test_a_run_signs_with_the_configured_key_and_checkpoints_it(tmp_path: Path, base_db) -> None:  # type: ignore[no-untyped-def]
    key = make_ed25519_key(tmp_path, comment=IDENTITY)
    allowed = allowed_signers(tmp_path, IDENTITY, key.with_suffix(".pub"))
    proc = _cli(tmp_path, "run", "--yes", "--dsn", base_db.dsn,
                env=_env(tmp_path, SPFP_CONSOLE_SIGN_KEY=str(key)))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    (log,) = (tmp_path / "deploy-logs").glob("*.deploy-log.toml")
    assert f"signed: deploy-logs/{log.name}.sig" in proc.stdout
    result = verify_log(log, allowed_signers=allowed, identity=IDENTITY)
    assert result.ok, result.line()
    kinds = [e.kind for e in read_journal(log).entries]
    for trigger in ("run_started", "run_finished"):
        assert kinds[kinds.index(trigger) + 1] == CHECKPOINT
    verified = _cli(tmp_path, "verify", str(log), "--allowed-signers", str(allowed), "--identity", IDENTITY,
                    env=_env(tmp_path))
    assert verified.returncode == 0 and f"signed by {IDENTITY}" in verified.stdout


def test_a_session_signs_by_default_with_the_agents_key(tmp_path: Path, base_db) -> None:  # type: ignore[no-untyped-def]
    key = make_ed25519_key(tmp_path, comment=IDENTITY)
    allowed = allowed_signers(tmp_path, IDENTITY, key.with_suffix(".pub"))
    with running_ssh_agent(tmp_path) as agent_env:
        ssh_add(key, agent_env)
        proc = _cli(tmp_path, "check", "--dsn", base_db.dsn, env=_env(tmp_path, **agent_env))
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr
    (log,) = (tmp_path / "deploy-logs").glob("*.deploy-log.toml")
    assert Path(f"{log}.sig").exists()
    verified = _cli(tmp_path, "verify", str(log), "--allowed-signers", str(allowed), "--identity", IDENTITY,
                    env=_env(tmp_path))
    assert verified.returncode == 0, verified.stdout + verified.stderr

    # Without a key at hand the log is unsigned, and verify says so with its own code.
    proc = _cli(tmp_path, "check", "--dsn", base_db.dsn, "--log-dir", "unsigned", env=_env(tmp_path))
    (log,) = (tmp_path / "unsigned").glob("*.deploy-log.toml")
    assert not Path(f"{log}.sig").exists()
    verified = _cli(tmp_path, "verify", str(log), env=_env(tmp_path))
    assert verified.returncode == 5 and "UNSIGNED:" in verified.stdout


def test_a_real_run_syncs_each_statement_before_it_is_sent_and_little_else(
    tmp_path: Path, base_db, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    from spfp_console.deployment import DeploymentSession
    from spfp_console.journal.read import LogReader
    from spfp_console.paths import DEFAULT_RUNBOOK
    from spfp_console.runbook import load_runbook
    from spfp_console.session.operator import ScriptedOperator

    synced_sizes: list[int] = []
    real_sync = os.fdatasync

    def spy(fd: int) -> None:
        synced_sizes.append(os.fstat(fd).st_size)
        real_sync(fd)

    monkeypatch.setattr(os, "fdatasync", spy)
    with DeploymentSession(runbook=load_runbook(DEFAULT_RUNBOOK), dsn=base_db.dsn,
                           log_dir=tmp_path / "logs", operator="alice") as session:
        session.open()
        result = session.deploy(ScriptedOperator(name="alice"))
        session.close(result)
    assert result.outcome == "committed"
    assert session.log_path is not None
    data = session.log_path.read_bytes()
    entries = list(LogReader(session.log_path))
    ends = [e.offset for e in entries[1:]] + [len(data)]
    synced = set(synced_sizes)
    # Durable the moment it was written, before the engine could send the statement:
    # the file was synced at exactly the size it had right after the event was appended.
    for entry, end in zip(entries, ends, strict=True):
        if entry.kind in ("statement_started", "run_started", "run_finished", "session_ended"):
            assert end in synced, (entry.seq, entry.kind)
    statements = sum(e.kind == "statement_started" for e in entries)
    assert statements > 20
    # ... and not much more: notices, results, finished statements ride along.
    assert len(synced_sizes) < len(entries) * 2 // 3, (len(synced_sizes), len(entries))
