"""The runbook's troubleshooting guide under a failed statement, in the terminal output of
a real rehearsal (the broken fixture fails with 42601, 42703 and 42883)."""

from __future__ import annotations

import json
from pathlib import Path

from clikit import BROKEN_SQL, Cli, deploy_logs

from spfp_console.errors import EXIT_FAILED


def _block_after(lines: list[str], start: str) -> list[str]:
    """The line starting with ``start`` and its indented detail lines."""
    at = next(i for i, line in enumerate(lines) if line.startswith(start))
    block = [lines[at]]
    for line in lines[at + 1:]:
        if not line.startswith("    "):
            break
        block.append(line.strip())
    return block


def test_a_failed_statement_is_followed_by_its_guide_entry(
    cli: Cli, tmp_path: Path, base_db
) -> None:
    result = cli("rehearse", "--script", BROKEN_SQL, "--dsn", base_db.dsn)
    assert result.rc == EXIT_FAILED, str(result)
    lines = result.out.splitlines()

    missing_function = _block_after(lines, "FAILED broken_migration.sql:24 SQLSTATE 42883")
    assert missing_function[1].startswith("statement at line 24: CREATE TRIGGER"), result
    assert "guide for 42883: Function missing" in missing_function
    cause = next(line for line in missing_function if line.startswith("likely cause: "))
    assert "update_updated_at_column()" in cause
    assert any(line.startswith("what to do: ") for line in missing_function)

    # Each failure gets its own code's entry, not the first one's.
    missing_column = _block_after(lines, "FAILED broken_migration.sql:18 SQLSTATE 42703")
    assert "guide for 42703: Column missing" in missing_column
    assert not any("42883" in line for line in missing_column)
    # A statement that succeeds has no guide.
    ok = [i for i, line in enumerate(lines) if line.startswith("ok broken_migration.sql:28")]
    assert ok and not lines[ok[0] + 1].startswith("    guide for")


def test_json_output_carries_the_guide_in_the_first_event(cli: Cli, base_db) -> None:
    result = cli("rehearse", "--json", "--script", BROKEN_SQL, "--dsn", base_db.dsn)
    records = [json.loads(line) for line in result.out.splitlines()]
    started = records[0]
    assert started["kind"] == "session_started"
    codes = {entry[0] for entry in started["troubleshooting"]}
    assert {"23505", "42P07", "42710", "42883", "42501", "57014", "55P03"} <= codes


def test_the_exported_report_shows_the_guide_beside_the_failed_statement(
    cli: Cli, tmp_path: Path, base_db
) -> None:
    """A reviewer reading the HTML or Markdown report sees what the operator saw: the
    guide entry for the failure's SQLSTATE, from the log alone."""
    result = cli("rehearse", "--script", BROKEN_SQL, "--dsn", base_db.dsn)
    assert result.rc == EXIT_FAILED, str(result)
    [log] = deploy_logs(tmp_path)
    for fmt in ("markdown", "html"):
        report = cli("export", log, "--format", fmt)
        assert report.rc == 0, str(report)
        row = next(line for line in report.out.splitlines() if "SQLSTATE 42883" in line)
        assert "guide for 42883: Function missing" in row, row
        assert "likely cause: " in row and "what to do: " in row  # not just a title
        other = next(line for line in report.out.splitlines() if "SQLSTATE 42703" in line)
        assert "guide for 42703: Column missing" in other and "42883" not in other
