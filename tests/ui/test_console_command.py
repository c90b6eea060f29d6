"""``spfp-console console`` as a command: its errors are one line, never a traceback."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

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


def run_in_pty(argv: list[str], cwd: Path, timeout: float = 60) -> tuple[int, str]:
    """``argv`` on an 80x24 terminal: (exit code, everything it wrote, escapes and all)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: stdin, stdout and stderr are the terminal
        try:
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
            os.chdir(cwd)
            os.execvpe(argv[0], argv, {**os.environ, "TERM": "xterm-256color"})
        finally:
            os._exit(127)
    output = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    chunk = os.read(fd, 1 << 16)
                except OSError:  # EIO: the child has gone
                    break
                if not chunk:
                    break
                output += chunk
        else:
            os.kill(pid, signal.SIGTERM)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


def error_lines(output: str) -> list[str]:
    return re.findall(r"spfp-console: [^\r\n]*", output)


def test_a_session_that_cannot_open_ends_the_console_with_one_line(tmp_path, base_db):
    """The first frame is drawn before the session is opened; a connection that fails
    then still ends as one line on the terminal, with the usual exit code."""
    dsn = f"{base_db.dsn} dbname=no_such_database_here"
    code, output = run_in_pty([sys.executable, "-m", "spfp_console", "console", "--dsn",
                               dsn], tmp_path)
    assert code == EXIT_USAGE, output[-2000:]
    assert "connecting to" in output  # the first frame came before the connection
    (line,) = error_lines(output)
    assert line.startswith("spfp-console: cannot connect to") and \
        "no_such_database_here" in line, line
    assert "Traceback" not in output
    assert not (tmp_path / "deploy-logs").exists()


def test_resume_on_a_terminal_refuses_another_database_with_one_line(
        tmp_path, base_db, migrated_db):
    logs = tmp_path / "deploy-logs"
    check = subprocess.run([sys.executable, "-m", "spfp_console", "check", "--dsn",
                            base_db.dsn], cwd=tmp_path, capture_output=True, text=True,
                           timeout=120, stdin=subprocess.DEVNULL)
    assert check.returncode == 0, check.stderr
    (old,) = logs.glob("*.deploy-log.toml")
    code, output = run_in_pty([sys.executable, "-m", "spfp_console", "resume", str(old),
                               "--dsn", migrated_db.dsn], tmp_path)
    assert code == EXIT_USAGE, output[-2000:]
    (line,) = error_lines(output)
    assert f"database {base_db.name!r}, not {migrated_db.name!r}" in line, line
    assert "Traceback" not in output
    assert list(logs.glob("*.deploy-log.toml")) == [old]  # no new log
