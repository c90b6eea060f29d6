"""run, validate, rollback end to end on sample data, and the ways a run is refused or
fails: duplicates at the unique index, a second executor, a table locked by someone else."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
import re
from pathlib import Path

import psycopg
import pytest
from clikit import (
    VERIFY_UNSIGNED,
    ANSI,
    Cli,
    clean_env,
    deploy_logs,
    runbook_copy,
    session_outcome,
    table_counts,
)

from spfp_console.engine.advisory_lock import DEFAULT_LOCK_KEY
from spfp_console.journal.read import read_journal

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOT_CONFIRMED = 0, 1, 2, 3


def _status_rows(records: list[dict]) -> list[tuple[str, str, str]]:
    """(table title, first cell, status) of every row of every result table."""
    out = []
    for r in records:
        if r["kind"] != "result_table" or r.get("status_column") not in r["columns"]:
            continue
        i = r["columns"].index(r["status_column"])
        out += [(r["title"], row[0], row[i]) for row in r["rows"]]
    return out


def test_run_validate_rollback_validate_round_trip(
    cli: Cli, tmp_path: Path, clean_db
) -> None:
    base_schema = clean_db.schema_dump()
    counts = table_counts(clean_db)
    # FORCE_COLOR must not put escape codes into piped output: plain text is plain
    env = clean_env(tmp_path, FORCE_COLOR="1")

    run = cli("run", "--yes", "--dsn", clean_db.dsn, env=env)
    assert run.rc == EXIT_OK, str(run)
    assert "== run committed" in run.out
    assert "FAILED" not in run.out
    # The end of the output says how it went: the tables above have scrolled away.
    assert "summary: deploy: committed; validation passed" in run.out
    assert re.search(r"summary: validation: (\d+)/\1 tables pass", run.out), run.out
    assert ANSI not in run.out + run.err

    validate = cli("validate", "--dsn", clean_db.dsn, env=env)
    assert validate.rc == EXIT_OK, str(validate)
    assert "validation passed" in validate.out
    assert ANSI not in validate.out + validate.err

    as_json = cli("validate", "--json", "--dsn", clean_db.dsn)
    assert as_json.rc == EXIT_OK, str(as_json)
    records = [json.loads(line) for line in as_json.out.splitlines()]
    assert records and all("kind" in r for r in records)
    tables = {r["title"]: r for r in records if r["kind"] == "result_table"}
    inventory = next(
        t for title, t in tables.items() if title.startswith("Validation:")
    )
    status = inventory["columns"].index("status")
    assert len(inventory["rows"]) >= 39  # every object of the migration has a row
    assert {row[status] for row in inventory["rows"]} == {"pass"}
    assert all(t["passed"] is not False for t in tables.values())
    # warn is allowed (e.g. the planner picks a sibling index on small data); fail is not
    rows = _status_rows(records)
    assert not [r for r in rows if r[2] == "fail"], rows

    export_dir = tmp_path / "export"
    rollback = cli(
        "rollback", "--yes", "--export-dir", export_dir, "--dsn", clean_db.dsn
    )
    assert rollback.rc == EXIT_OK, str(rollback)
    assert "export_at_risk" not in rollback.out  # no internal names in what an operator reads
    assert "== run committed" in rollback.out
    (folder,) = export_dir.glob("rollback-*")  # each rollback exports into its own
    csvs = sorted(folder.glob("*.csv"))
    assert csvs, "nothing exported"
    assert any(p.name == "automation_permissions_audit.csv" for p in csvs)
    for path in csvs:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    updated_at = folder / "sent_atas.updated_at.csv"
    assert len(updated_at.read_text().splitlines()) == 1 + counts["sent_atas"]

    absent = cli("validate", "--expect", "absent", "--dsn", clean_db.dsn)
    assert absent.rc == EXIT_OK, str(absent)
    assert "validation passed" in absent.out

    # The run created Supabase's migration history table (as the Supabase CLI would, and
    # on Supabase it exists already); the rollback removed its row and left the table.
    assert clean_db.query("select version from supabase_migrations.schema_migrations") == []
    assert [w for (w,) in clean_db.query(
        "select workflow from spfp_console.deployments order by id")] == ["deploy", "rollback"]
    assert clean_db.schema_dump() == base_schema
    assert table_counts(clean_db) == counts

    logs = deploy_logs(tmp_path)
    assert len(logs) == 5  # run, validate twice, rollback, validate --expect absent
    outcomes = sorted(session_outcome(p) for p in logs)
    assert outcomes == ["committed", "rolled_back", *["validation_passed"] * 3]
    for log in logs:
        verified = cli("verify", log)
        assert verified.rc == VERIFY_UNSIGNED, str(verified)


def test_validate_before_the_run_fails(cli: Cli, base_db) -> None:
    result = cli("validate", "--dsn", base_db.dsn)
    assert result.rc == EXIT_FAILED, str(result)
    assert "validation FAILED" in result.out


def test_rollback_without_export_on_a_migrated_db(
    cli: Cli, migrated_db, base_db
) -> None:
    result = cli("rollback", "--yes", "--dsn", migrated_db.dsn)
    assert result.rc == EXIT_OK, str(result)
    assert migrated_db.schema_dump() == base_db.schema_dump()


def test_run_with_duplicates_fails_at_the_unique_index(
    cli: Cli, tmp_path: Path, dup_db
) -> None:
    before, counts = dup_db.schema_dump(), table_counts(dup_db)
    result = cli("run", "--yes", "--override-reason", "testing", "--dsn", dup_db.dsn)
    assert result.rc == EXIT_FAILED, str(result)
    failed = [ln for ln in result.out.splitlines() if ln.startswith("FAILED ")]
    assert len(failed) == 1, str(result)
    assert failed[0].startswith(
        "FAILED 20260216_database_optimizations.sql:34 SQLSTATE 23505"
    ), failed
    assert "unique_user_category_name" in failed[0]
    assert "== run rolled_back" in result.out
    assert "nothing was applied" in result.out
    assert dup_db.schema_dump() == before
    assert table_counts(dup_db) == counts

    (log,) = deploy_logs(tmp_path)
    verified = cli("verify", log)
    assert verified.rc == VERIFY_UNSIGNED, str(verified)
    assert "chain intact" in verified.out and "rolled_back" in verified.out
    assert session_outcome(log) == "rolled_back"
    journal = read_journal(log)
    overrides = [e for e in journal.entries if e.kind == "override_recorded"]
    assert len(overrides) == 1
    assert overrides[0].record["reason"] == "testing"
    assert "unique_user_category_name" in overrides[0].record["what"]
    # the override is recorded before the migration starts
    started = next(e for e in journal.entries if e.kind == "run_started")
    assert overrides[0].seq < started.seq


def test_run_with_duplicates_and_no_override_runs_nothing(
    cli: Cli, tmp_path: Path, dup_db
) -> None:
    before = dup_db.schema_dump()
    result = cli("run", "--yes", "--dsn", dup_db.dsn)
    assert result.rc == EXIT_FAILED, str(result)
    assert "preflight failed: nothing was run" in result.out
    assert "== run" not in result.out
    assert dup_db.schema_dump() == before
    (log,) = deploy_logs(tmp_path)
    assert session_outcome(log) == "refused_by_preflight"


def test_a_second_executor_is_refused(cli: Cli, tmp_path: Path, clean_db) -> None:
    before = clean_db.schema_dump()
    with psycopg.connect(clean_db.dsn, autocommit=True) as holder:
        holder.execute("select pg_advisory_lock(%s)", (DEFAULT_LOCK_KEY,))
        pid = holder.info.backend_pid
        result = cli("run", "--yes", "--dsn", clean_db.dsn)
        # not a usage or connection problem: the target refused us (another deployment)
        assert result.rc == EXIT_FAILED, str(result)
        line = result.error_line()
        assert "another deployment holds the lock" in line, line
        assert f"pid {pid}" in line and "user postgres" in line, line
        assert "connected since" in line, line
        assert f"pg_terminate_backend({pid})" in line, line
        assert "== run" not in result.out
        assert clean_db.schema_dump() == before
    (log,) = deploy_logs(tmp_path)
    journal = read_journal(log)
    assert journal.ended is not None
    assert cli("verify", log).rc == VERIFY_UNSIGNED


def test_a_locked_table_makes_the_run_wait_report_the_blocker_and_fail(
    cli: Cli, tmp_path: Path, clean_db
) -> None:
    before = clean_db.schema_dump()
    runbook = runbook_copy(tmp_path, settings={"lock_timeout": '"2s"'})
    with psycopg.connect(clean_db.dsn) as blocker:
        blocker.execute("lock table public.sent_atas in access share mode")
        pid = blocker.info.backend_pid
        started = time.monotonic()
        result = cli("run", "--yes", "--runbook", runbook, "--dsn", clean_db.dsn)
        elapsed = time.monotonic() - started
        blocker.rollback()
    assert result.rc == EXIT_FAILED, str(result)
    assert f"waiting 0.5s for a lock held by pid {pid}" in result.out, str(result)
    assert "lock table public.sent_atas" in result.out
    assert "SQLSTATE 55P03" in result.out
    assert "nothing was applied" in result.out
    assert elapsed < 15
    assert clean_db.schema_dump() == before


# ----------------------------------------------------------------------------- on a terminal


def _run_on_pty(
    cli: Cli, args: list[str], typed: bytes, timeout: float = 60
) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as stdin/stdout/stderr; type ``typed``."""
    import pty
    import select
    import subprocess

    master, slave = pty.openpty()
    env = clean_env(cli.cwd, TERM="xterm-256color", COLUMNS="200")
    proc = subprocess.Popen(
        cli.argv(tuple(args)),
        cwd=cli.cwd,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    out = b""
    sent = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            if not sent and b"to continue:" in out:
                os.write(master, typed)
                sent = True
            if proc.poll() is not None and not ready:
                break
        rc = proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return rc, out.decode(errors="replace")


def test_on_a_terminal_run_asks_and_a_wrong_answer_changes_nothing(
    cli: Cli, clean_db
) -> None:
    before = clean_db.schema_dump()
    rc, out = _run_on_pty(cli, ["run", "--dsn", clean_db.dsn], b"no\n")
    assert "Traceback" not in out
    assert rc == EXIT_NOT_CONFIRMED, out  # a run that did not run is not a success
    assert ANSI in out  # rich styling on a terminal
    assert f"Type '{clean_db.name}' to continue" in out
    # right before the question: the locks the run holds until COMMIT, what it creates
    assert "held until COMMIT:" in out and "ACCESS EXCLUSIVE" in out
    assert re.search(r"creates: \d+ indexes, .*\d+ views", out), out
    assert "not confirmed: nothing was run" in out
    assert clean_db.schema_dump() == before


def test_on_a_terminal_typing_the_database_name_runs(cli: Cli, clean_db) -> None:
    rc, out = _run_on_pty(
        cli, ["run", "--dsn", clean_db.dsn], clean_db.name.encode() + b"\n"
    )
    assert "Traceback" not in out
    assert rc == EXIT_OK, out
    assert "run committed" in out
    assert (
        clean_db.scalar("select count(*) from pg_indexes where indexname like 'idx_%'")
        >= 20
    )


@pytest.mark.parametrize("command", ["check", "validate"])
def test_rich_tables_on_a_terminal(cli: Cli, clean_db, command: str) -> None:
    rc, out = _run_on_pty(cli, [command, "--dsn", clean_db.dsn], b"")
    assert "Traceback" not in out
    assert rc in (EXIT_OK, EXIT_FAILED), out
    assert ANSI in out
    assert "─" in out  # rich tables (light rules), not the plain layout


def test_check_reports_an_exclusively_locked_table_instead_of_hanging(
    cli: Cli, tmp_path: Path, clean_db
) -> None:
    runbook = runbook_copy(tmp_path, settings={"lock_timeout": '"1s"'})
    with psycopg.connect(clean_db.dsn) as blocker:
        blocker.execute("lock table public.categories in access exclusive mode")
        pid = blocker.info.backend_pid
        try:
            result = cli(
                "check", "--runbook", runbook, "--dsn", clean_db.dsn, timeout=15
            )
        except subprocess.TimeoutExpired:
            pytest.fail("check still waiting on the locked table after 15 s")
        finally:
            blocker.rollback()
    assert result.rc == EXIT_FAILED, str(result)
    assert str(pid) in result.out, str(result)
