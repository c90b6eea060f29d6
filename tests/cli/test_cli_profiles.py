"""The runbook profile is chosen on the command line and recorded in the log."""

from __future__ import annotations

from pathlib import Path

from clikit import Cli, deploy_logs

from spfp_console.journal.read import read_journal

EXIT_USAGE = 2


def test_an_unknown_profile_is_one_clear_line(cli: Cli, tmp_path: Path, clean_db) -> None:
    result = cli("check", "--dsn", clean_db.dsn, "--profile", "yolo")
    assert result.rc == EXIT_USAGE, str(result)
    line = result.error_line()
    assert "unknown profile 'yolo'" in line and "quick" in line and "enterprise" in line


def test_the_chosen_profile_is_in_the_log(cli: Cli, tmp_path: Path, clean_db) -> None:
    result = cli("check", "--dsn", clean_db.dsn, "--profile", "quick")
    assert result.rc == 0, str(result)
    (log,) = deploy_logs(tmp_path)
    chosen = [e for e in read_journal(log).entries if e.kind == "profile_chosen"]
    assert [e.record["profile"] for e in chosen] == ["quick"]
