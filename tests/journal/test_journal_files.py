"""Where logs and reports land: no symlinked or world-writable log directory, no report
written through a symlink or into a file that keeps someone else's mode."""

from __future__ import annotations

import argparse
import os
import stat
from pathlib import Path

import pytest
from journal_testkit import NO_ENV, header, sample_events, write_session

from spfp_console.cli.journal_commands import add_journal_subcommands
from spfp_console.journal.record import JournalError, JournalWriter, log_file_name


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="spfp-console")
    add_journal_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.handler(args))


def test_a_symlinked_log_directory_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "logs"
    link.symlink_to(real)
    with pytest.raises(JournalError, match=r"the log directory .*/logs is a symbolic link: refusing it"):
        JournalWriter.create(header(), log_dir=link, env=NO_ENV)
    assert list(real.iterdir()) == []


@pytest.mark.parametrize("mode", [0o777, 0o1777, 0o703])
def test_a_world_writable_log_directory_is_refused(tmp_path: Path, mode: int) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(mode)
    with pytest.raises(JournalError, match=rf"is world-writable \(mode {mode:o}\).*chmod o-w"):
        JournalWriter.create(header(), log_dir=shared, env=NO_ENV)
    assert list(shared.iterdir()) == []
    shared.chmod(0o750)  # group-writable or readable is a team's choice
    writer = JournalWriter.create(header(), log_dir=shared, env=NO_ENV)
    writer.end("committed")
    assert stat.S_IMODE(writer.path.stat().st_mode) == 0o600


def test_a_missing_log_directory_is_created_private(tmp_path: Path) -> None:
    writer = JournalWriter.create(header(), log_dir=tmp_path / "new" / "logs", env=NO_ENV)
    writer.end("committed")
    assert stat.S_IMODE((tmp_path / "new" / "logs").stat().st_mode) & 0o077 == 0


def test_a_symlink_planted_at_the_next_log_name_is_not_followed(tmp_path: Path) -> None:
    import datetime as dt

    now = dt.datetime(2026, 2, 16, 10, 0, 5, tzinfo=dt.timezone.utc)
    logs = tmp_path / "logs"
    logs.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (logs / log_file_name(header().runbook_id, "app", now)).symlink_to(victim)
    writer = JournalWriter.create(header(), log_dir=logs, env=NO_ENV, wall_clock=lambda: now)
    writer.end("committed")
    assert victim.read_text() == "precious\n"
    assert writer.path.name.endswith("-2.deploy-log.toml") and not writer.path.is_symlink()


def test_export_replaces_an_existing_file_with_a_private_one(tmp_path: Path) -> None:
    log = write_session(tmp_path / "logs", sample_events())
    report = tmp_path / "report.html"
    report.write_text("old report\n")
    report.chmod(0o644)
    other_name = tmp_path / "hard-link-to-report"
    os.link(report, other_name)
    assert run(["export", str(log), "--format", "html", "-o", str(report)]) == 0
    assert stat.S_IMODE(report.stat().st_mode) == 0o600
    assert report.read_text().startswith("<!DOCTYPE html>")
    # A new inode: the other name still holds the old bytes, nothing was written through it.
    assert other_name.read_text() == "old report\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_export_refuses_to_write_through_a_symlink(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = write_session(tmp_path / "logs", sample_events())
    target = tmp_path / "elsewhere.html"
    target.write_text("not yours\n")
    link = tmp_path / "report.html"
    link.symlink_to(target)
    assert run(["export", str(log), "--format", "html", "-o", str(link)]) == 2
    err = capsys.readouterr().err
    assert err == f"spfp-console: -o {link} is a symbolic link: refusing to write the report through it; " \
                  "remove the link or choose another file\n"
    assert target.read_text() == "not yours\n" and link.is_symlink()
    assert run(["export", str(log), "--format", "html", "-o", str(tmp_path)]) == 2
    assert "is a directory: name a file" in capsys.readouterr().err
