"""The password never appears in any output, log, export or report of the CLI.

The test cluster's TCP connections need the real SCRAM password, so every command below
really authenticated with it; afterwards every byte the CLI wrote (stdout, stderr and each
file under the test's tmp dir: deployment logs, CSV exports, Markdown and HTML reports,
crash reports if any) is searched for it.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from clikit import (
    VERIFY_UNSIGNED,
    Cli,
    CliResult,
    assert_secret_nowhere,
    clean_env,
    deploy_logs,
    runbook_copy,
    slow_migration,
    stop,
    wait_for_backend,
)

from spfp_console.engine.advisory_lock import DEFAULT_LOCK_KEY
from spfp_console.localpg.cluster import SUPERUSER_PASSWORD

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
SECRET = SUPERUSER_PASSWORD


def _reports(cli: Cli, tmp_path: Path) -> list[CliResult]:
    """Verify every log and export it as HTML and Markdown (to files and to stdout)."""
    results = []
    for i, log in enumerate(deploy_logs(tmp_path)):
        results.append(cli("verify", log))
        assert results[-1].rc == VERIFY_UNSIGNED, str(results[-1])
        for fmt, ext in (("html", "html"), ("markdown", "md")):
            out = tmp_path / "reports" / f"{i}.{ext}"
            out.parent.mkdir(exist_ok=True)
            results.append(cli("export", log, "--format", fmt, "-o", out))
            assert results[-1].rc == EXIT_OK, str(results[-1])
            assert out.stat().st_size > 0
            results.append(cli("export", log, "--format", fmt))
    return results


@pytest.mark.parametrize("how", ["url", "pgpassword", "database_url"])
def test_password_never_appears(cli: Cli, tmp_path: Path, clean_db, how: str) -> None:
    port = clean_db.cluster.port
    env = clean_env(tmp_path)
    dsn_args: list[str] = []
    if how == "url":
        dsn_args = ["--dsn", clean_db.tcp_dsn()]
        assert SECRET in dsn_args[1]
    elif how == "pgpassword":
        env["PGPASSWORD"] = SECRET
        dsn_args = [
            "--dsn",
            f"host=127.0.0.1 port={port} dbname={clean_db.name} user=postgres",
        ]
    else:
        env["DATABASE_URL"] = clean_db.tcp_dsn()

    results = [
        cli("check", *dsn_args, env=env),
        cli("check", "--json", *dsn_args, env=env),
        cli("rehearse", *dsn_args, env=env),
        cli("run", "--yes", "-v", *dsn_args, env=env),
        cli("validate", "--json", *dsn_args, env=env),
        cli(
            "rollback", "--yes", "--export-dir", tmp_path / "export", *dsn_args, env=env
        ),
        cli("validate", "--expect", "absent", *dsn_args, env=env),
    ]
    for result in results:
        assert result.rc == EXIT_OK, str(result)
    # over TCP, so the password was really needed
    assert f"target: postgres@127.0.0.1:{port}/{clean_db.name}" in results[0].out
    assert len(deploy_logs(tmp_path)) == len(results)
    assert list((tmp_path / "export").glob("rollback-*/*.csv"))
    results += _reports(cli, tmp_path)
    assert_secret_nowhere(SECRET, tmp_path, *results)


def test_password_never_appears_on_failure_paths(
    cli: Cli, tmp_path: Path, dup_db
) -> None:
    """Errors carry libpq text: a failed statement, an unknown database, a lock refusal."""
    dsn = dup_db.tcp_dsn()
    results = [
        cli("run", "--yes", "--override-reason", "testing", "--dsn", dsn),
        cli("check", "--dsn", dup_db.cluster.tcp_dsn("no_such_db")),
    ]
    assert results[0].rc == EXIT_FAILED, str(results[0])
    assert "SQLSTATE 23505" in results[0].out
    assert results[1].rc == EXIT_USAGE, str(results[1])
    with psycopg.connect(dup_db.dsn, autocommit=True) as holder:
        holder.execute("select pg_advisory_lock(%s)", (DEFAULT_LOCK_KEY,))
        results.append(cli("run", "--yes", "--override-reason", "x", "--dsn", dsn))
    assert results[-1].rc == EXIT_FAILED, str(results[-1])
    results += _reports(cli, tmp_path)
    assert_secret_nowhere(SECRET, tmp_path, *results)


def test_password_never_appears_after_a_lost_connection(
    cli: Cli, tmp_path: Path, clean_db
) -> None:
    runbook = runbook_copy(tmp_path, migration=slow_migration(tmp_path, seconds=60))
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    proc = cli.popen(
        "run",
        "--yes",
        "--runbook",
        runbook,
        "--dsn",
        clean_db.tcp_dsn(),
        stdout_path=out,
        stderr_path=err,
    )
    try:
        pid = wait_for_backend(clean_db, "pg_sleep", proc=proc)
        with psycopg.connect(clean_db.dsn, autocommit=True) as admin:
            admin.execute("select pg_terminate_backend(%s)", (pid,))
        assert proc.wait(30) == EXIT_FAILED
    finally:
        stop(proc)
    assert "connection to the server was lost" in out.read_text()
    results = _reports(cli, tmp_path)
    assert_secret_nowhere(SECRET, tmp_path, *results)


def test_verbose_and_json_output_redact_passwords_in_sql_text(
    cli: Cli, tmp_path: Path, clean_db
) -> None:
    """A password inside the SQL itself (CREATE ROLE ... PASSWORD) is redacted on the
    terminal and in JSON lines exactly as in the log: one redaction for every output."""
    role_secret = "hunter2-in-the-sql"
    script = tmp_path / "with_role.sql"
    script.write_text(
        f"CREATE ROLE spfp_report_reader LOGIN PASSWORD '{role_secret}';\n"
        "SELECT 1;\n"
    )
    for extra in (["-v"], ["--json", "-v"]):
        result = cli("rehearse", "--dsn", clean_db.dsn, "--script", script, *extra)
        assert result.rc == EXIT_OK, str(result)
        assert "spfp_report_reader" in result.out  # the statement is shown ...
        assert role_secret not in result.out + result.err  # ... its password is not
    for log in deploy_logs(tmp_path):
        assert role_secret not in log.read_text()
