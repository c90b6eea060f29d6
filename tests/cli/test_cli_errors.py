"""Usage, input and connection errors: exit 2, one clear line on stderr, no traceback,
and nothing changed on the target."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from clikit import (
    Cli,
    assert_secret_nowhere,
    clean_env,
    deploy_logs,
    runbook_copy,
)

from spfp_console.paths import DEFAULT_RUNBOOK

EXIT_USAGE = 2


# ----------------------------------------------------------------------------- runbooks


def test_runbook_with_a_toml_syntax_error_names_file_and_line(
    cli: Cli, tmp_path: Path, base_db
) -> None:
    lines = DEFAULT_RUNBOOK.read_text(encoding="utf-8").splitlines()
    lineno = next(i for i, ln in enumerate(lines, 1) if ln.startswith("lock_timeout"))
    lines[lineno - 1] = 'lock_timeout = = "5s"'
    broken = tmp_path / "broken.toml"
    broken.write_text("\n".join(lines) + "\n", encoding="utf-8")

    for command in ("check", "rehearse"):
        result = cli(command, "--runbook", broken, "--dsn", base_db.dsn)
        assert result.rc == EXIT_USAGE, str(result)
        line = result.error_line()
        assert f"broken.toml:{lineno}:" in line, line
        assert "TOML" in line, line
        assert result.out == "", str(result)
    assert deploy_logs(tmp_path) == []


def test_runbook_with_an_unknown_key_names_file_line_and_key_path(
    cli: Cli, tmp_path: Path, base_db
) -> None:
    lines = DEFAULT_RUNBOOK.read_text(encoding="utf-8").splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith("lock_timeout"))
    lines.insert(at + 1, 'lock_timout = "1s"')  # a typo must not be silently ignored
    typo = tmp_path / "typo.toml"
    typo.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = cli("check", "--runbook", typo, "--dsn", base_db.dsn)
    assert result.rc == EXIT_USAGE, str(result)
    line = result.error_line()
    assert f"typo.toml:{at + 2}: settings.lock_timout: unknown key" in line, line


def test_runbook_missing_file(cli: Cli, tmp_path: Path, base_db) -> None:
    result = cli("check", "--runbook", tmp_path / "nope.toml", "--dsn", base_db.dsn)
    assert result.rc == EXIT_USAGE, str(result)
    assert "nope.toml" in result.error_line()


@pytest.mark.parametrize("command", ["check", "run"])
def test_runbook_pointing_at_a_missing_sql_file(
    cli: Cli, tmp_path: Path, base_db, command: str
) -> None:
    before = base_db.schema_dump()
    runbook = runbook_copy(tmp_path, migration=tmp_path / "missing.sql")
    line_no = next(
        i
        for i, ln in enumerate(runbook.read_text().splitlines(), 1)
        if ln.startswith("migration = ")
    )
    args = [command, "--runbook", runbook, "--dsn", base_db.dsn]
    if command == "run":
        args.append("--yes")
    result = cli(*args)
    assert result.rc == EXIT_USAGE, str(result)
    line = result.error_line()
    assert f"runbook.toml:{line_no}: scripts.migration:" in line, line
    assert "missing.sql" in line and "not found" in line, line
    assert base_db.schema_dump() == before


def test_script_paths_are_relative_to_the_runbook(
    cli: Cli, tmp_path: Path, base_db
) -> None:
    """The shipped runbook says ``../sql/...``: a copy elsewhere finds nothing there."""
    elsewhere = tmp_path / "runbooks"
    elsewhere.mkdir()
    copy = elsewhere / DEFAULT_RUNBOOK.name
    copy.write_text(DEFAULT_RUNBOOK.read_text(encoding="utf-8"), encoding="utf-8")
    result = cli("check", "--runbook", copy, "--dsn", base_db.dsn)
    assert result.rc == EXIT_USAGE, str(result)
    assert (
        str(tmp_path / "sql" / "20260216_database_optimizations.sql")
        in result.error_line()
    )


# ----------------------------------------------------------------------------- connecting


@pytest.mark.parametrize(
    "dsn, expected",
    [
        ("host=localhost dbname", "cannot parse the connection string"),
        ("dbname='unterminated", "cannot parse the connection string"),
        ("host=localhost no_such_option=1", "cannot parse the connection string"),
        ("postgresql://postgres@[::1/db", "cannot parse the connection string"),
    ],
)
def test_bad_dsn_syntax(cli: Cli, dsn: str, expected: str) -> None:
    result = cli("check", "--dsn", dsn)
    assert result.rc == EXIT_USAGE, str(result)
    assert expected in result.error_line()


def test_bad_dsn_syntax_does_not_echo_a_password(cli: Cli, tmp_path: Path) -> None:
    # a value with a space that was not quoted: libpq's message would quote the DSN
    result = cli("check", "--dsn", "host=localhost password=hunter2 secret user=x")
    assert result.rc == EXIT_USAGE, str(result)
    assert_secret_nowhere("hunter2", tmp_path, result)
    assert_secret_nowhere("secret", tmp_path, result)


def test_bad_dsn_in_database_url(cli: Cli, tmp_path: Path) -> None:
    env = clean_env(tmp_path, DATABASE_URL="host=localhost dbname")
    result = cli("check", env=env)
    assert result.rc == EXIT_USAGE, str(result)
    assert "cannot parse the connection string" in result.error_line()


@pytest.mark.parametrize("command", ["check", "run"])
def test_wrong_password(cli: Cli, tmp_path: Path, base_db, command: str) -> None:
    secret = "wrong-secret-123"
    before = base_db.schema_dump()
    args = [command, "--dsn", base_db.tcp_dsn(password=secret)]
    if command == "run":
        args.append("--yes")
    result = cli(*args)
    assert result.rc == EXIT_USAGE, str(result)
    line = result.error_line()
    assert "password authentication failed" in line, line
    assert f"postgres@127.0.0.1:{base_db.cluster.port}/{base_db.name}" in line, line
    assert_secret_nowhere(secret, tmp_path, result)
    assert base_db.schema_dump() == before


def test_wrong_password_from_pgpassword(cli: Cli, tmp_path: Path, base_db) -> None:
    secret = "wrong-secret-123"
    cluster = base_db.cluster
    env = clean_env(tmp_path, PGPASSWORD=secret)
    dsn = f"host=127.0.0.1 port={cluster.port} dbname={base_db.name} user=postgres"
    result = cli("check", "--dsn", dsn, env=env)
    assert result.rc == EXIT_USAGE, str(result)
    assert "password authentication failed" in result.error_line()
    assert_secret_nowhere(secret, tmp_path, result)


def test_no_password_at_all(cli: Cli, base_db) -> None:
    result = cli("check", "--dsn", base_db.tcp_dsn(password=None))
    assert result.rc == EXIT_USAGE, str(result)
    assert "password" in result.error_line()


def test_unknown_database(cli: Cli, base_db) -> None:
    cluster = base_db.cluster
    result = cli("check", "--dsn", cluster.dsn("no_such_db_xyz"))
    assert result.rc == EXIT_USAGE, str(result)
    line = result.error_line()
    assert "database 'no_such_db_xyz' does not exist" in line, line


def test_unknown_database_via_pg_environment(cli: Cli, tmp_path: Path, base_db) -> None:
    """No --dsn and no DATABASE_URL: libpq's PG* variables decide, as with psql."""
    cluster = base_db.cluster
    env = clean_env(
        tmp_path,
        PGHOST=str(cluster.socket_dir),
        PGPORT=str(cluster.port),
        PGUSER="postgres",
        PGDATABASE="no_such_db_env",
    )
    result = cli("check", env=env)
    assert result.rc == EXIT_USAGE, str(result)
    assert "'no_such_db_env' does not exist" in result.error_line()


def test_unreachable_host_times_out(cli: Cli, tmp_path: Path, silent_port: int) -> None:
    """A server that accepts nothing: the runbook's connect timeout ends the wait."""
    runbook = runbook_copy(tmp_path, settings={"connect_timeout_s": "3"})
    dsn = f"postgresql://postgres:x@127.0.0.1:{silent_port}/db"
    result = cli("check", "--runbook", runbook, "--dsn", dsn, timeout=30)
    assert result.rc == EXIT_USAGE, str(result)
    line = result.error_line()
    assert "no answer within 3 s" in line, line
    assert f"127.0.0.1:{silent_port}" in line, line
    assert result.seconds < 6, f"took {result.seconds:.1f} s"


def test_unreachable_host_run_times_out(
    cli: Cli, tmp_path: Path, silent_port: int
) -> None:
    runbook = runbook_copy(tmp_path, settings={"connect_timeout_s": "2"})
    dsn = f"postgresql://postgres:x@127.0.0.1:{silent_port}/db"
    result = cli("run", "--yes", "--runbook", runbook, "--dsn", dsn, timeout=30)
    assert result.rc == EXIT_USAGE, str(result)
    assert "no answer within 2 s" in result.error_line()
    assert result.seconds < 5, f"took {result.seconds:.1f} s"


def test_connect_timeout_in_the_dsn_is_honoured(cli: Cli, silent_port: int) -> None:
    dsn = f"postgresql://postgres:x@127.0.0.1:{silent_port}/db?connect_timeout=2"
    started = time.monotonic()
    try:
        result = cli("check", "--dsn", dsn, timeout=7)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still waiting after {time.monotonic() - started:.1f} s")
    assert result.rc == EXIT_USAGE, str(result)
    assert result.seconds < 5, f"took {result.seconds:.1f} s"


@pytest.mark.parametrize("command", ["check", "validate"])
def test_closed_port_is_refused(cli: Cli, closed_port: int, command: str) -> None:
    dsn = f"postgresql://postgres:x@127.0.0.1:{closed_port}/db"
    result = cli(command, "--dsn", dsn)
    assert result.rc == EXIT_USAGE, str(result)
    line = result.error_line()
    assert "connection refused" in line, line
    assert f"127.0.0.1:{closed_port}" in line, line
    assert result.seconds < 5


def test_unknown_host_name(cli: Cli) -> None:
    result = cli(
        "check", "--dsn", "postgresql://postgres:x@no-such-host.invalid:5432/db"
    )
    assert result.rc == EXIT_USAGE, str(result)
    assert "no-such-host.invalid" in result.error_line()


# ----------------------------------------------------------------------------- confirmation


@pytest.mark.parametrize("command", ["run", "rollback"])
def test_changing_commands_refuse_without_a_terminal(
    cli: Cli, tmp_path: Path, command: str, request: pytest.FixtureRequest
) -> None:
    db = request.getfixturevalue("base_db" if command == "run" else "migrated_db")
    before = db.schema_dump()
    result = cli(command, "--dsn", db.dsn)
    assert result.rc == EXIT_USAGE, str(result)
    line = result.error_line()
    assert "--yes" in line and command in line, line
    assert result.out == ""
    assert db.schema_dump() == before
    assert deploy_logs(tmp_path) == []  # refused before connecting


def test_refusal_comes_before_connecting(cli: Cli) -> None:
    """No terminal and no --yes: refused even when the target does not exist."""
    result = cli("run", "--dsn", "postgresql://x@127.0.0.1:1/none")
    assert result.rc == EXIT_USAGE, str(result)
    assert "--yes" in result.error_line()


def test_usage_errors_exit_2(cli: Cli) -> None:
    result = cli()
    assert result.rc == EXIT_USAGE, str(result)
    result = cli("run", "--no-such-flag")
    assert result.rc == EXIT_USAGE, str(result)
    assert "unrecognized arguments" in result.err
    result = cli("validate", "--expect", "maybe")
    assert result.rc == EXIT_USAGE, str(result)
