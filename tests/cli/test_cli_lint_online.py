"""``spfp-console lint`` and ``run --online`` through the CLI, as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

from clikit import FIXTURES, Cli, deploy_logs, runbook_copy, session_outcome

from spfp_console.journal.read import read_journal
from spfp_console.paths import MIGRATION_SQL

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PAPER = FIXTURES / "paper_original_migration.sql"
UNSAFE = FIXTURES / "unsafe_patterns.sql"


def _online_runbook(tmp_path: Path) -> Path:
    path = runbook_copy(tmp_path)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('schema = "public"\n',
                                 'schema = "public"\nexecution_mode = "online"\n'
                                 'online_lock_timeout = "300ms"\n', 1), encoding="utf-8")
    return path


def test_lint_the_runbook_migration_fails_on_blocking_indexes(cli: Cli) -> None:
    result = cli("lint")
    assert result.rc == EXIT_FAILED, str(result)
    lines = result.out.splitlines()
    flagged = [ln for ln in lines if ": error: require-concurrent-index-creation: " in ln]
    assert len(flagged) == 20
    assert flagged[0].startswith(f"{MIGRATION_SQL}:34: error:")
    assert "fix: CREATE INDEX CONCURRENTLY" in flagged[0]
    assert lines[-1] == (f"lint: {MIGRATION_SQL} as spfp-console run runs it:"
                         " 20 error(s), 0 warning(s)")
    assert result.err == ""


def test_lint_online_is_clean(cli: Cli, tmp_path: Path) -> None:
    result = cli("lint", "--online")
    assert result.rc == EXIT_OK, str(result)
    assert result.out == f"lint: {MIGRATION_SQL} as spfp-console run --online runs it: clean\n"
    # a runbook that asks for online mode lints online by default
    online = cli("lint", "--runbook", _online_runbook(tmp_path))
    assert online.rc == EXIT_OK and "run --online runs it: clean" in online.out, str(online)


def test_lint_the_paper_migration_flags_its_first_statement(cli: Cli) -> None:
    result = cli("lint", PAPER, "--psql", "--json")
    assert result.rc == EXIT_FAILED, str(result)
    findings = [json.loads(line) for line in result.out.splitlines()]
    first = findings[0]
    assert (first["rule"], first["severity"], first["index"], first["line"]) == (
        "unique-constraint-on-expression", "error", 1, 14)
    assert first["statement"].startswith("ALTER TABLE categories ADD CONSTRAINT")
    assert first["why"] and first["fix"]


def test_lint_each_unsafe_pattern_and_a_warning_only_file(cli: Cli, tmp_path: Path) -> None:
    result = cli("lint", UNSAFE, "--psql")
    assert result.rc == EXIT_FAILED, str(result)
    rules = {ln.split(": ")[2] for ln in result.out.splitlines()[:-1]}
    assert rules >= {
        "require-timeout-settings", "require-concurrent-index-creation",
        "adding-field-with-default", "adding-required-field", "constraint-missing-not-valid",
        "adding-foreign-key-constraint", "disallowed-unique-constraint",
        "adding-not-nullable-field", "changing-column-type",
        "require-concurrent-index-deletion", "unique-constraint-on-expression",
        "partial-unique-constraint", "ban-concurrent-index-creation-in-transaction",
    }
    warnings_only = tmp_path / "robust.sql"
    warnings_only.write_text("SET lock_timeout = '1s';\nSET statement_timeout = '1min';\n"
                             "CREATE TABLE t (a int);\n")
    result = cli("lint", warnings_only, "--psql")
    assert result.rc == EXIT_OK, str(result)
    assert ": warning: prefer-robust-stmts: " in result.out
    assert result.out.splitlines()[-1].endswith("0 error(s), 1 warning(s)")


def test_lint_a_missing_file_is_one_line_and_exit_2(cli: Cli, tmp_path: Path) -> None:
    result = cli("lint", tmp_path / "nope.sql")
    assert result.rc == EXIT_USAGE, str(result)
    assert "SQL file not found" in result.error_line()


def test_run_online_commits_validates_and_logs_each_concurrent_build(
    cli: Cli, tmp_path: Path, clean_db
) -> None:
    result = cli("run", "--yes", "--online", "--dsn", clean_db.dsn)
    assert result.rc == EXIT_OK, str(result)
    assert "transaction: online" in result.out
    assert "validation passed" in result.out
    (log,) = deploy_logs(tmp_path)
    assert session_outcome(log) == "committed"
    records = [e.record for e in read_journal(log).entries]
    started = [r for r in records if r["kind"] == "run_started"]
    assert [r["transaction"] for r in started] == ["online"]
    sent = [r["sql"] for r in records if r["kind"] == "statement_started"]
    assert sum("INDEX CONCURRENTLY IF NOT EXISTS" in s for s in sent) == 22
    assert clean_db.scalar("SELECT count(*) FROM pg_index WHERE NOT indisvalid") == 0
    # The preflight describes the online run, not the one-transaction lock_timeout.
    (server,) = [r["rows"] for r in records
                 if r["kind"] == "result_table" and r["title"] == "Server and settings"]
    (lock_timeout,) = [row for row in server if row[0] == "lock_timeout"]
    assert "retries with backoff" in lock_timeout[2], lock_timeout
    assert "console sets" not in lock_timeout[2]


def test_the_runbook_setting_selects_online_mode(cli: Cli, tmp_path: Path, clean_db) -> None:
    result = cli("run", "--yes", "--runbook", _online_runbook(tmp_path), "--dsn", clean_db.dsn)
    assert result.rc == EXIT_OK, str(result)
    assert "transaction: online" in result.out


def test_a_bad_execution_mode_is_one_line(cli: Cli, tmp_path: Path) -> None:
    path = _online_runbook(tmp_path)
    path.write_text(path.read_text().replace('"online"', '"fast"', 1))
    result = cli("lint", "--runbook", path)
    assert result.rc == EXIT_USAGE, str(result)
    line = result.error_line()
    assert "settings.execution_mode" in line and '"transaction" or "online"' in line


def test_online_lock_timeout_is_bounded_like_lock_timeout(cli: Cli, tmp_path: Path) -> None:
    path = _online_runbook(tmp_path)
    path.write_text(path.read_text().replace('online_lock_timeout = "300ms"',
                                             'online_lock_timeout = "0"', 1))
    result = cli("lint", "--runbook", path)
    assert result.rc == EXIT_USAGE, str(result)
    line = result.error_line()
    assert "settings.online_lock_timeout" in line and "no limit" in line
