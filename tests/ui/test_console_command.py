"""``spfp-console console`` as a command: its errors are one line, never a traceback."""

from __future__ import annotations

import subprocess
import sys

from spfp_console.errors import EXIT_USAGE


def run_console(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spfp_console", "console", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def test_without_a_terminal_the_console_says_what_to_use_instead(tmp_path, base_db):
    proc = run_console("--dsn", base_db.dsn, cwd=tmp_path)
    assert proc.returncode == EXIT_USAGE
    assert proc.stderr.strip().splitlines() == [
        "spfp-console: the console needs a terminal (stdin and stdout); without one use the"
        " headless commands: check, rehearse, run, validate, rollback"]
    assert not (tmp_path / "deploy-logs").exists()  # nothing was opened


def test_a_bad_runbook_is_one_line(tmp_path):
    proc = run_console("--runbook", str(tmp_path / "missing.toml"), cwd=tmp_path)
    assert proc.returncode == EXIT_USAGE
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "missing.toml" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
