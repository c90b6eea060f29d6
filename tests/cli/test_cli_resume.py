"""``spfp-console resume LOG`` without a terminal, and ``verify`` on the log it writes:
the summary, every refusal (one line, its exit code, no new log), and the link."""

from __future__ import annotations

import io
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
from clikit import VERIFY_UNSIGNED, runbook_copy

from spfp_console.journal.canonical import EVENT_SEPARATOR, render_header, seal_event
from spfp_console.journal.read import iter_chunks
from spfp_console.paths import MIGRATION_SQL


def _logs(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "deploy-logs").glob("*.deploy-log.toml"))


def _killed_log(cli: Any, db: Any, tmp_path: Path, *extra: str) -> Path:
    """A check's log cut after its last complete event, as kill -9 leaves one."""
    result = cli("check", "--dsn", db.dsn, *extra)
    assert result.rc == 0, str(result)
    (log,) = _logs(tmp_path)
    data = log.read_bytes()
    log.write_bytes(data[: data.rindex(EVENT_SEPARATOR) + 1])
    return log


def test_resume_without_a_terminal_says_what_came_back_and_what_the_database_holds(
    cli: Any, base_db: Any, tmp_path: Path
) -> None:
    old = _killed_log(cli, base_db, tmp_path)
    result = cli("resume", old, "--dsn", base_db.dsn)
    assert result.rc == 0, str(result)
    out = result.out
    assert f"resumes {old.name}" in out and "interrupted" in out, str(result)
    assert "the migration is not applied now (0 of" in out, str(result)
    assert "the database recorded no commit of that session" in out, str(result)
    assert "[x] pre-deployment/preflight (" in out and f"from {old.name}" in out, out
    (new,) = [p for p in _logs(tmp_path) if p != old]

    verified = cli("verify", new)
    assert verified.rc == VERIFY_UNSIGNED, str(verified)
    assert f"resumes {old.resolve()} (final hash" in verified.out, str(verified)
    assert "link intact" in verified.out, str(verified)

    # The new log is resumable in turn: the tick keeps the log it was first made in.
    again = cli("resume", new, "--dsn", base_db.dsn)
    assert again.rc == 0, str(again)
    assert f"from {old.name}" in again.out, str(again)


def test_resume_refuses_an_edited_log(cli: Any, base_db: Any, tmp_path: Path) -> None:
    old = _killed_log(cli, base_db, tmp_path)
    text = old.read_text(encoding="utf-8")
    at = text.index('kind = "finding"')
    old.write_text(text[:at] + text[at:].replace("message = \"", "message = \"x", 1),
                   encoding="utf-8")
    result = cli("resume", old, "--dsn", base_db.dsn)
    assert result.rc == 1, str(result)
    line = result.error_line()
    assert "it is not the log the console wrote" in line and "edited" in line, line
    assert _logs(tmp_path) == [old]  # no new session was started


def test_resume_refuses_a_log_with_events_after_its_end(
    cli: Any, base_db: Any, tmp_path: Path
) -> None:
    result = cli("check", "--dsn", base_db.dsn)
    (old,) = _logs(tmp_path)
    data = old.read_bytes()
    last = data[data.rindex(EVENT_SEPARATOR) + 1:]
    old.write_bytes(data + last)  # a record appended after the session end
    result = cli("resume", old, "--dsn", base_db.dsn)
    assert result.rc == 1, str(result)
    assert "duplicated" in result.error_line()
    assert _logs(tmp_path) == [old]


def test_resume_refuses_a_runbook_whose_migration_changed(
    cli: Any, base_db: Any, tmp_path: Path
) -> None:
    migration = tmp_path / "migration.sql"
    shutil.copy(MIGRATION_SQL, migration)
    runbook = runbook_copy(tmp_path, migration=migration)
    old = _killed_log(cli, base_db, tmp_path, "--runbook", str(runbook))
    migration.write_text(migration.read_text(encoding="utf-8") + "\n-- edited\n",
                         encoding="utf-8")
    result = cli("resume", old, "--dsn", base_db.dsn, "--runbook", runbook)
    assert result.rc == 2, str(result)
    line = result.error_line()
    assert "migration.sql changed since that session" in line, line
    assert _logs(tmp_path) == [old]

    # The default runbook is another file than that session's: refused too.
    default = cli("resume", old, "--dsn", base_db.dsn)
    assert default.rc == 2, str(default)
    assert "changed since that session" in default.error_line()


def test_resume_refuses_another_database(
    cli: Any, base_db: Any, migrated_db: Any, tmp_path: Path
) -> None:
    old = _killed_log(cli, base_db, tmp_path)
    result = cli("resume", old, "--dsn", migrated_db.dsn)
    assert result.rc == 2, str(result)
    line = result.error_line()
    assert f"database {base_db.name!r}, not {migrated_db.name!r}" in line, line
    assert _logs(tmp_path) == [old]


def test_resume_of_a_missing_file_is_one_line(cli: Any, tmp_path: Path) -> None:
    result = cli("resume", tmp_path / "nope.deploy-log.toml")
    assert result.rc == 2, str(result)
    assert "no such file" in result.error_line()


def test_verify_fails_a_resumed_log_whose_old_log_was_replaced(
    cli: Any, base_db: Any, tmp_path: Path
) -> None:
    old = _killed_log(cli, base_db, tmp_path)
    assert cli("resume", old, "--dsn", base_db.dsn).rc == 0
    (new,) = [p for p in _logs(tmp_path) if p != old]

    # Another, intact log put in the old one's place: its chain ends elsewhere.
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    other = cli("check", "--dsn", base_db.dsn, "--log-dir", elsewhere)
    assert other.rc == 0, str(other)
    (impostor,) = elsewhere.glob("*.deploy-log.toml")
    shutil.copy(impostor, old)
    verified = cli("verify", new)
    assert verified.rc == 1, str(verified)
    assert "LINK BROKEN" in verified.err and "rewritten or extended" in verified.err

    # The old log gone (not archived with the new one): said, not a failure.
    old.unlink()
    verified = cli("verify", new)
    assert verified.rc == VERIFY_UNSIGNED, str(verified)
    assert "link NOT CHECKED" in verified.out, str(verified)


def _keypair(tmp_path: Path) -> tuple[Path, Path]:
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "op@spfp",
                    "-f", str(key)], check=True)
    kind, blob = key.with_suffix(".pub").read_text().split()[:2]
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"op@spfp {kind} {blob}\n")
    return key, allowed


def _rehashed(data: bytes, edit: Any) -> bytes:
    """What anyone who can write the file can do without the key: edit a record, then
    recompute every hash with the published rules."""
    head, *chunks = [c.data for c in iter_chunks(io.BytesIO(data))]
    session = tomllib.loads(head.decode())["session"]
    del session["hash"]
    out, prev = render_header(session)
    parts = [out]
    for chunk in chunks:
        entry = tomllib.loads(chunk.decode())["event"][0]
        entry = edit({k: v for k, v in entry.items() if k != "hash"})
        entry["prev"] = prev
        sealed, prev = seal_event(entry)
        parts.append(sealed)
    return b"".join(parts)


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")
def test_a_signed_log_resumes_signed_and_a_forged_one_is_refused(
    cli: Any, base_db: Any, tmp_path: Path
) -> None:
    key, allowed = _keypair(tmp_path)
    old = _killed_log(cli, base_db, tmp_path, "--sign-key", str(key))

    # Re-hashed after an edit: the chain holds, the signed checkpoints do not.
    forged = tmp_path / "forged" / old.name
    forged.parent.mkdir()

    def edit(entry: dict[str, Any]) -> dict[str, Any]:
        if entry.get("kind") == "checklist_item_toggled":
            entry["who"] = "mallory"
        return entry

    forged.write_bytes(_rehashed(old.read_bytes(), edit))
    result = cli("resume", forged, "--dsn", base_db.dsn, "--log-dir", tmp_path / "new")
    assert result.rc == 1, str(result)
    line = result.error_line()
    assert "not the log the console wrote" in line and "checkpoint" in line, line
    assert not (tmp_path / "new").exists()

    resumed = cli("resume", old, "--dsn", base_db.dsn, "--sign-key", key)
    assert resumed.rc == 0, str(resumed)
    (new,) = [p for p in _logs(tmp_path) if p != old]
    verified = cli("verify", new, "--allowed-signers", allowed, "--identity", "op@spfp")
    assert verified.rc == 0, str(verified)
    assert "link intact" in verified.out and "its session never ended" in verified.out
