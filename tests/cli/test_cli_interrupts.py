"""A run interrupted mid-statement: a signal to the CLI (SIGHUP when the SSH link drops,
SIGTERM, Ctrl-C) or its backend terminated by someone else.  Each ends with exit 1, a
clear message, nothing applied, and a deployment log whose chain verifies."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from clikit import (
    VERIFY_UNSIGNED,
    Cli,
    CliResult,
    deploy_logs,
    no_traceback,
    runbook_copy,
    slow_migration,
    stop,
    table_counts,
    wait_for_backend,
)

from spfp_console.journal.read import read_journal

EXIT_OK, EXIT_FAILED = 0, 1


def _start_slow_run(
    cli: Cli, tmp_path: Path, db: Any, command: str = "run"
) -> tuple[subprocess.Popen[bytes], Path, Path]:
    runbook = runbook_copy(tmp_path, migration=slow_migration(tmp_path, seconds=60))
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    args = [command, "--runbook", runbook, "--dsn", db.dsn]
    if command == "run":
        args.append("--yes")
    proc = cli.popen(*args, stdout_path=out, stderr_path=err)
    return proc, out, err


def _finish(
    proc: subprocess.Popen[bytes], out: Path, err: Path, timeout: float = 30
) -> CliResult:
    argv = [str(a) for a in proc.args[3:]]  # type: ignore[index]  # a list we built
    started = time.monotonic()
    try:
        rc = proc.wait(timeout)
    finally:
        stop(proc)
    result = CliResult(
        argv,
        rc,
        out.read_text(),
        err.read_text(),
        time.monotonic() - started,
    )
    no_traceback(result)
    return result


def _assert_nothing_applied(
    db: Any, schema_before: str, counts_before: dict[str, int]
) -> None:
    assert db.schema_dump() == schema_before
    assert table_counts(db) == counts_before
    # nobody left holding the deployment lock or a session (a backend whose client has
    # gone may take a moment to exit)
    deadline = time.monotonic() + 5
    while True:
        left = db.query(
            "select pid, application_name, state from pg_stat_activity"
            " where application_name like 'spfp-console%'"
        )
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert left == []
    assert db.scalar("select count(*) from pg_locks where locktype = 'advisory'") == 0


def _assert_log(cli: Cli, tmp_path: Path, outcome: str) -> None:
    (log,) = deploy_logs(tmp_path)
    verified = cli("verify", log)
    assert verified.rc == VERIFY_UNSIGNED, str(verified)
    assert "chain intact" in verified.out
    journal = read_journal(log)
    assert journal.stopped is None
    assert journal.ended is not None, "the session end was not recorded"
    assert journal.ended.record["outcome"] == outcome
    finished = [e for e in journal.entries if e.kind == "run_finished"]
    assert len(finished) == 1 and finished[0].record["outcome"] == outcome


@pytest.mark.parametrize(
    "signum",
    [signal.SIGHUP, signal.SIGTERM, signal.SIGINT],
    ids=["SIGHUP", "SIGTERM", "SIGINT"],
)
def test_a_signal_mid_run_cancels_and_rolls_back(
    cli: Cli, tmp_path: Path, clean_db, signum: int
) -> None:
    schema, counts = clean_db.schema_dump(), table_counts(clean_db)
    proc, out, err = _start_slow_run(cli, tmp_path, clean_db)
    try:
        wait_for_backend(clean_db, "pg_sleep", proc=proc)
        sent = time.monotonic()
        proc.send_signal(signum)
        result = _finish(proc, out, err)
    finally:
        stop(proc)
    assert result.rc == EXIT_FAILED, str(result)
    assert time.monotonic() - sent < 5, "the cancel took too long"
    assert "== run cancelled" in result.out, str(result)
    assert "the transaction was rolled back, nothing was applied" in result.out
    assert "SQLSTATE 57014" in result.out
    _assert_nothing_applied(clean_db, schema, counts)
    _assert_log(cli, tmp_path, "cancelled")


def test_sighup_during_rehearsal(cli: Cli, tmp_path: Path, clean_db) -> None:
    schema, counts = clean_db.schema_dump(), table_counts(clean_db)
    proc, out, err = _start_slow_run(cli, tmp_path, clean_db, command="rehearse")
    try:
        wait_for_backend(clean_db, "pg_sleep", proc=proc)
        proc.send_signal(signal.SIGHUP)
        result = _finish(proc, out, err)
    finally:
        stop(proc)
    assert result.rc == EXIT_FAILED, str(result)
    assert "cancelled" in result.out, str(result)
    _assert_nothing_applied(clean_db, schema, counts)
    _assert_log(cli, tmp_path, "cancelled")


def test_terminated_backend_mid_run(cli: Cli, tmp_path: Path, clean_db) -> None:
    schema, counts = clean_db.schema_dump(), table_counts(clean_db)
    proc, out, err = _start_slow_run(cli, tmp_path, clean_db)
    try:
        pid = wait_for_backend(clean_db, "pg_sleep", proc=proc)
        with psycopg.connect(clean_db.dsn, autocommit=True) as admin:
            killed = admin.execute("select pg_terminate_backend(%s)", (pid,)).fetchone()
        assert killed == (True,)
        result = _finish(proc, out, err)
    finally:
        stop(proc)
    assert result.rc == EXIT_FAILED, str(result)
    assert "connection to the server was lost" in result.out, str(result)
    assert "terminating connection due to administrator command" in result.out
    assert "nothing was applied" in result.out
    assert "== run rolled_back" in result.out
    _assert_nothing_applied(clean_db, schema, counts)
    _assert_log(cli, tmp_path, "rolled_back")


@pytest.mark.parametrize(
    "signum", [signal.SIGHUP, signal.SIGTERM], ids=["SIGHUP", "SIGTERM"]
)
def test_a_signal_outside_the_run_still_ends_the_log(
    cli: Cli, tmp_path: Path, clean_db, signum: int
) -> None:
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with psycopg.connect(clean_db.dsn) as blocker:
        # makes the preflight wait (see the lifecycle tests), so the signal lands in it
        blocker.execute("lock table public.categories in access exclusive mode")
        proc = cli.popen(
            "check", "--dsn", clean_db.dsn, stdout_path=out, stderr_path=err
        )
        try:
            wait_for_backend(clean_db, "public", proc=proc, waiting_on_lock=True)
            proc.send_signal(signum)
            result = _finish(proc, out, err)
        finally:
            stop(proc)
            blocker.rollback()
    assert result.rc > 0, str(result)  # an exit code, not death by signal
    (log,) = deploy_logs(tmp_path)
    verified = cli("verify", log)
    assert verified.rc == VERIFY_UNSIGNED, str(verified)


def test_a_killed_console_releases_its_locks_within_seconds(
    cli: Cli, tmp_path: Path, clean_db
) -> None:
    """Issue 8.11: SIGKILL cannot be caught, so the server must notice the dead client
    by itself (client_connection_check_interval); without it the backend ran its
    statement to the end (here a 60 s sleep) holding the deployment lock and six
    ACCESS EXCLUSIVE table locks."""
    proc, out, err = _start_slow_run(cli, tmp_path, clean_db)
    try:
        pid = wait_for_backend(clean_db, "pg_sleep", proc=proc)
        held = clean_db.query(
            "select count(*) filter (where locktype = 'advisory'),"
            " count(*) filter (where mode = 'AccessExclusiveLock'"
            " and locktype = 'relation')"
            " from pg_locks where pid = %s and granted",
            (pid,),
        )[0]
        assert held[0] == 1 and held[1] >= 6, held  # the premise: it holds them
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        killed = time.monotonic()
        while time.monotonic() - killed < 8:
            left = clean_db.scalar("select count(*) from pg_locks where pid = %s", (pid,))
            if left == 0:
                break
            time.sleep(0.05)
        released_after = time.monotonic() - killed
    finally:
        stop(proc)
        # never leave a backend behind for the next test, whatever happened above
        clean_db.query("select pg_terminate_backend(pid) from pg_stat_activity"
                       " where application_name = 'spfp-console'")
    assert left == 0, f"backend {pid} still holds {left} lock(s) 8 s after SIGKILL"
    assert released_after < 5, f"locks released only after {released_after:.1f} s"
    assert clean_db.scalar(
        "select count(*) from pg_stat_activity where pid = %s", (pid,)) == 0
