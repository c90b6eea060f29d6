"""Issue 8, items 4, 5, 8, 9, 10 and 12 through the real CLI on a real PostgreSQL: a bad
script file is one clear line everywhere, a second rollback keeps the first export, the
rollback counts again under lock, bad timeouts are refused, and a rehearsal says what it
locks and what its rollback cannot undo."""

from __future__ import annotations

from pathlib import Path

import pytest
from clikit import Cli, deploy_logs, runbook_copy, session_outcome

from spfp_console.journal.read import read_journal

EXIT_OK, EXIT_USAGE = 0, 2


def _entries(log: Path, kind: str) -> list[dict]:
    return [e.record for e in read_journal(log).entries if e.kind == kind]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"select 1;\nselect 'caf\xe9';\n", ":2: not valid UTF-8 (byte 0xe9 at byte offset 21)"),
        (b"-- the statements were lost in a copy\n\n", ": contains no SQL statement"),
        (b"", ": contains no SQL statement"),
    ],
    ids=["latin1", "comment-only", "empty"],
)
def test_a_bad_script_file_is_one_clear_line_in_check_rehearse_and_run(
    cli: Cli, tmp_path: Path, base_db, content: bytes, expected: str
) -> None:
    """Items 8 and 9: check and run died with "internal error: UnicodeDecodeError", and
    an empty script passed rehearsal and met a wrong blocker in run."""
    script = tmp_path / "migration.sql"
    script.write_bytes(content)
    runbook = runbook_copy(tmp_path, migration=script)
    before = base_db.schema_dump()
    for args in (("check",), ("rehearse",), ("run", "--yes")):
        result = cli(*args, "--runbook", runbook, "--dsn", base_db.dsn)
        assert result.rc == EXIT_USAGE, str(result)
        line = result.error_line()
        assert line.startswith(f"spfp-console: {script}{expected}"), line
        assert "BLOCKER" not in result.out and "passed" not in result.out, str(result)
    also = cli("rehearse", "--script", script, "--dsn", base_db.dsn)
    assert also.rc == EXIT_USAGE and expected in also.error_line(), str(also)
    assert base_db.schema_dump() == before


def test_a_runbook_that_waits_forever_for_a_lock_is_refused(
    cli: Cli, tmp_path: Path, base_db
) -> None:
    """Item 10."""
    runbook = runbook_copy(tmp_path, settings={"lock_timeout": '"0"'})
    line_no = runbook.read_text().splitlines().index('lock_timeout = "0"') + 1
    result = cli("check", "--runbook", runbook, "--dsn", base_db.dsn)
    assert result.rc == EXIT_USAGE, str(result)
    assert result.error_line() == (
        f"spfp-console: {runbook}:{line_no}: settings.lock_timeout: '0' means no limit at "
        "all; set a duration between 100ms and 5min"
    )
    assert deploy_logs(tmp_path) == []


def test_two_rollbacks_into_one_export_dir_keep_both_exports(
    cli: Cli, tmp_path: Path, clean_db
) -> None:
    """Item 4: the second rollback overwrote the first export, the only copy of its rows.
    Item 5: each rollback counts again under lock and logs the real count."""
    export_dir = tmp_path / "at-risk"
    first_files: dict[str, bytes] = {}
    for attempt in (1, 2):
        run = cli("run", "--yes", "--dsn", clean_db.dsn)
        assert run.rc == EXIT_OK, str(run)
        with clean_db.connect() as conn:  # what only this attempt's export holds
            user = conn.execute("select id from auth.users limit 1").fetchone()[0]
            conn.execute("insert into public.automation_permissions (user_id) values (%s)"
                         " on conflict do nothing", (user,))
            conn.execute(
                "insert into public.automation_permissions_audit"
                " (user_id, changed_by, change_type) values (%s, %s, 'enabled')",
                (user, f"attempt {attempt}"),
            )
        rollback = cli("rollback", "--yes", "--export-dir", export_dir,
                       "--dsn", clean_db.dsn)
        assert rollback.rc == EXIT_OK, str(rollback)
        folders = sorted(export_dir.glob("rollback-*"))
        assert len(folders) == attempt, folders
        assert f"Exported 8 file(s) to {folders[-1]}" in rollback.out, str(rollback)
        if attempt == 1:
            first_files = {p.name: p.read_bytes() for p in folders[0].glob("*.csv")}
            assert b"attempt 1" in first_files["automation_permissions_audit.csv"]
    # the first export is byte for byte what it was; the second has its own rows
    assert {p.name: p.read_bytes() for p in folders[0].glob("*.csv")} == first_files
    second = (folders[1] / "automation_permissions_audit.csv").read_bytes()
    assert b"attempt 2" in second and b"attempt 1" not in second
    assert (folders[1] / "at-rollback" / "automation_permissions_audit.csv").read_bytes() \
        == second

    logs = [p for p in deploy_logs(tmp_path) if session_outcome(p) == "rolled_back"]
    assert len(logs) == 2
    for log, folder in zip(sorted(logs), folders, strict=True):
        (decision,) = _entries(log, "rollback_decision")
        assert decision["exported_to"] == str(folder)
        recount = [t for t in _entries(log, "result_table")
                   if "counted again under lock" in t["title"]]
        assert len(recount) == 1
        assert recount[0]["title"].endswith(
            f": {decision['rows_at_risk']} rows and values, as confirmed")


def test_rehearse_warns_about_its_locks_and_names_what_it_cannot_undo(
    cli: Cli, tmp_path: Path, base_db
) -> None:
    """Item 12: ACCESS EXCLUSIVE on production tables without a word, then "everything
    was rolled back" although a setval persisted."""
    with base_db.connect() as conn:
        conn.execute("create sequence public.ticket_no")
    script = tmp_path / "tickets.sql"
    script.write_text(
        "alter table public.categories add column ticket bigint;\n"
        "select setval('public.ticket_no', 500);\n"
    )
    result = cli("rehearse", "--script", script, "--dsn", base_db.dsn)
    assert result.rc == EXIT_OK, str(result)
    out = result.out
    warning = out.index("Before rehearsing: 1 table lock(s)")
    assert warning < out.index("== rehearse"), "the warning comes before the rehearsal"
    assert "public.categories" in out[warning:] and "ACCESS EXCLUSIVE" in out[warning:]
    assert "everything was rolled back" not in out, str(result)
    assert "rolled back, except 1 effect(s) a rollback cannot undo" in out
    assert "setval public.ticket_no" in out
    # what the message says is true: the column is gone, the sequence moved
    assert base_db.scalar("select last_value from public.ticket_no") == 500
    assert base_db.scalar(
        "select count(*) from information_schema.columns where column_name = 'ticket'"
    ) == 0
    (log,) = deploy_logs(tmp_path)
    (finished,) = _entries(log, "run_finished")
    assert "setval public.ticket_no" in finished["message"]


def test_rehearse_names_the_session_it_would_wait_behind(
    cli: Cli, tmp_path: Path, base_db
) -> None:
    """Item 12: the lock preflight of a rehearsal, before it queues behind a session."""
    script = tmp_path / "alter.sql"
    script.write_text("alter table public.categories add column ticket bigint;\n")
    runbook = runbook_copy(tmp_path, settings={"lock_timeout": '"1s"'})
    with base_db.connect() as app:
        app.execute("begin")
        app.execute("select count(*) from public.categories")
        pid = app.info.backend_pid
        result = cli("rehearse", "--runbook", runbook, "--script", script,
                     "--dsn", base_db.dsn)
        app.execute("rollback")
    assert result.rc == 1, str(result)  # the ALTER waited lock_timeout behind it
    warning = result.out.index("1 lock(s) other sessions hold on those tables now")
    assert warning < result.out.index("== rehearse"), str(result)
    assert f"pid {pid} (postgres) holds ACCESS SHARE" in result.out
    assert "55P03" in result.out


def test_a_failed_rehearsal_does_not_claim_nothing_changed_after_a_setval(
    cli: Cli, tmp_path: Path, base_db
) -> None:
    with base_db.connect() as conn:
        conn.execute("create sequence public.ticket_no")
    script = tmp_path / "broken.sql"
    script.write_text("select setval('public.ticket_no', 77);\nselect * from no_such_table;\n")
    result = cli("rehearse", "--script", script, "--dsn", base_db.dsn)
    assert result.rc == 1, str(result)
    assert "nothing was changed" not in result.out, str(result)
    assert "1 failing statement(s); rolled back, except 1 effect(s) a rollback cannot" \
        " undo: setval public.ticket_no" in result.out
    assert base_db.scalar("select last_value from public.ticket_no") == 77
