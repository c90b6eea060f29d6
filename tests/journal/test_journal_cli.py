"""verify / sign / export subcommands: exit codes, one line, never a traceback."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from journal_testkit import SSH_KEYGEN, allowed_signers, make_ed25519_key, sample_events, ssh_keygen_verify, write_session

from spfp_console.cli.journal_commands import add_journal_subcommands


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="spfp-console")
    add_journal_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.handler(args))


def _one_line(text: str) -> str:
    lines = text.splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def test_verify_ok_and_failed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = write_session(tmp_path, sample_events())
    assert run(["verify", str(log)]) == 5  # unsigned is never plain ok
    out = capsys.readouterr()
    assert "UNSIGNED: 16 events, chain intact, session rolled_back" in _one_line(out.out)
    assert out.err == ""

    log.write_bytes(log.read_bytes().replace(b'who = "alice"', b'who = "mallory"', 1))
    assert run(["verify", str(log)]) == 1
    out = capsys.readouterr()
    assert _one_line(out.err).endswith("FAILED: seq 1 edited: content does not match its hash (no event verified)")


def test_verify_usage_and_io_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["verify", str(tmp_path / "missing.toml")]) == 2
    assert _one_line(capsys.readouterr().err) == f"spfp-console: {tmp_path / 'missing.toml'}: no such log file"
    log = write_session(tmp_path, sample_events()[:1])
    assert run(["verify", str(log), "--require-signature"]) == 2
    assert "--require-signature needs --allowed-signers" in _one_line(capsys.readouterr().err)
    assert run(["verify", str(log), "--identity", "alice@example.com"]) == 2
    assert "--identity needs --allowed-signers" in _one_line(capsys.readouterr().err)
    assert run(["verify", str(log), "--allowed-signers", str(tmp_path / "nope")]) == 2
    assert "nope: No such file or directory" in _one_line(capsys.readouterr().err)
    bad = tmp_path / "bad_signers"
    bad.write_text("just-one-field\n")
    assert run(["verify", str(log), "--allowed-signers", str(bad)]) == 2  # even for an unsigned log
    assert "line 1: too few fields" in _one_line(capsys.readouterr().err)
    log.chmod(0)
    if log.stat().st_mode & 0o777 == 0 and not _is_root():
        assert run(["verify", str(log)]) == 2


def _is_root() -> bool:
    import os

    return os.geteuid() == 0


@pytest.mark.skipif(SSH_KEYGEN is None, reason="OpenSSH ssh-keygen is not installed")
def test_sign_then_verify_with_allowed_signers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = write_session(tmp_path / "logs", sample_events())
    key = make_ed25519_key(tmp_path)
    allowed = allowed_signers(tmp_path, "alice@example.com", key.with_suffix(".pub"))
    assert run(["sign", str(log), "--key", str(key)]) == 0
    assert _one_line(capsys.readouterr().out) == f"{log}: signed, signature in {log}.sig"
    assert ssh_keygen_verify(log, allowed, "alice@example.com").returncode == 0

    argv = ["verify", str(log), "--allowed-signers", str(allowed), "--identity", "alice@example.com",
            "--require-signature"]
    assert run(argv) == 0
    assert "signed by alice@example.com (SHA256:" in _one_line(capsys.readouterr().out)
    assert run([*argv[:-2], "bob@example.com"]) == 1
    assert "FAILED: unknown signer" in _one_line(capsys.readouterr().err)
    assert run([*argv, "--namespace", "other"]) == 1
    assert "FAILED: mismatch: signature namespace" in _one_line(capsys.readouterr().err)

    bad = tmp_path / "bad_signers"
    bad.write_text("just-one-field\n")
    assert run(["verify", str(log), "--allowed-signers", str(bad)]) == 2
    assert "too few fields" in _one_line(capsys.readouterr().err)

    log.write_bytes(log.read_bytes() + b"\n")
    assert run(argv) == 1
    _one_line(capsys.readouterr().err)


def test_sign_refuses_a_broken_log_and_reports_key_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = write_session(tmp_path, sample_events()[:2], outcome=None)
    assert run(["sign", str(log), "--key", str(tmp_path / "k")]) == 1
    assert "refusing to sign: seq 3 truncated" in _one_line(capsys.readouterr().err)
    log = write_session(tmp_path, sample_events()[:2])
    assert run(["sign", str(log), "--key", str(tmp_path / "k")]) == 2
    assert "cannot read key" in _one_line(capsys.readouterr().err)
    assert not Path(f"{log}.sig").exists()


def test_export_to_file_and_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = write_session(tmp_path, sample_events())
    out = tmp_path / "report.html"
    assert run(["export", str(log), "--format", "html", "-o", str(out)]) == 0
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert out.stat().st_mode & 0o777 == 0o600
    assert run(["export", str(log), "--format", "markdown"]) == 0
    assert capsys.readouterr().out.startswith("# Deployment log:")
    assert run(["export", str(log), "--format", "html", "-o", str(tmp_path / "no" / "dir.html")]) == 2
    assert "No such file or directory" in _one_line(capsys.readouterr().err)
    with pytest.raises(SystemExit):
        run(["export", str(log), "--format", "pdf"])


def test_export_of_a_non_log_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.toml"
    junk.write_text("hello = 1\n")
    assert run(["export", str(junk), "--format", "markdown"]) == 2
    assert "header has no [session] table" in _one_line(capsys.readouterr().err)
    junk.write_bytes(b"\xff\xfe\n")
    assert run(["verify", str(junk)]) == 1
    assert "FAILED: header malformed: header is not valid TOML" in _one_line(capsys.readouterr().err)
