"""A password given in ``--dsn`` is readable by every user of the host (``ps``) for as
long as the command runs: the console says so, once, on stderr, without echoing it."""

from __future__ import annotations

from pathlib import Path

import pytest
from clikit import Cli, assert_secret_nowhere, clean_env

from spfp_console.cli.entrypoint import DSN_PASSWORD_WARNING
from spfp_console.localpg.cluster import SUPERUSER_PASSWORD

EXIT_OK = 0
SECRET = SUPERUSER_PASSWORD


def _stderr_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("form", ["url", "url-query", "keywords"])
def test_a_password_in_dsn_is_warned_about_once(
    cli: Cli, tmp_path: Path, clean_db, form: str
) -> None:
    port, name = clean_db.cluster.port, clean_db.name
    dsn = {
        "url": clean_db.tcp_dsn(),
        "url-query": f"postgresql://postgres@127.0.0.1:{port}/{name}?password={SECRET}",
        "keywords": f"host=127.0.0.1 port={port} dbname={name} user=postgres"
                    f" password='{SECRET}'",
    }[form]
    assert SECRET in dsn
    result = cli("check", "--dsn", dsn)
    # a warning, not a refusal: the check ran over TCP with that password
    assert result.rc == EXIT_OK, str(result)
    assert f"target: postgres@127.0.0.1:{port}/{name}" in result.out
    assert _stderr_lines(result.err) == [DSN_PASSWORD_WARNING], str(result)
    for hint in ("ps", "PGPASSWORD", "~/.pgpass", "service"):
        assert hint in DSN_PASSWORD_WARNING
    assert_secret_nowhere(SECRET, tmp_path, result)


def test_the_warning_comes_before_a_connection_error(cli: Cli, tmp_path: Path,
                                                     base_db) -> None:
    wrong = "wrong-secret-456"
    result = cli("check", "--dsn", base_db.tcp_dsn(password=wrong))
    lines = _stderr_lines(result.err)
    assert lines[0] == DSN_PASSWORD_WARNING, str(result)
    assert "password authentication failed" in result.error_line()
    assert_secret_nowhere(wrong, tmp_path, result)


@pytest.mark.parametrize("how", ["pgpassword", "database_url"])
def test_no_warning_when_the_password_stays_off_the_command_line(
    cli: Cli, tmp_path: Path, clean_db, how: str
) -> None:
    """The environment of a process is readable only by its own user (and root)."""
    port, name = clean_db.cluster.port, clean_db.name
    if how == "pgpassword":
        env = clean_env(tmp_path, PGPASSWORD=SECRET)
        args = ["--dsn", f"host=127.0.0.1 port={port} dbname={name} user=postgres"]
    else:
        env = clean_env(tmp_path, DATABASE_URL=clean_db.tcp_dsn())
        args = []
    result = cli("check", *args, env=env)
    assert result.rc == EXIT_OK, str(result)
    assert f"target: postgres@127.0.0.1:{port}/{name}" in result.out
    assert result.err.strip() == "", str(result)
