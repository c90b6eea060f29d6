"""The console in tmux, as an operator runs it over SSH: keys in, screen text out, and
the SSH link dropping (the tmux session killed: SIGHUP) in the middle of a script."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from spfp_console.journal.read import read_journal
from spfp_console.journal.verify import verify_log
from spfp_console.paths import DEFAULT_RUNBOOK, MIGRATION_SQL, ROLLBACK_SQL

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed"
                                " (bash .ci/install installs it)")
AUDIT_TABLE = "SELECT to_regclass('public.automation_permissions_audit') IS NOT NULL"


def slow_runbook(tmp_path: Path) -> Path:
    """The SPFP runbook whose migration sleeps a minute before its COMMIT."""
    src = MIGRATION_SQL.read_text(encoding="utf-8")
    at = src.rindex("COMMIT;")
    migration = tmp_path / "slow_migration.sql"
    migration.write_text(f"{src[:at]}SELECT pg_sleep(60);\n\n{src[at:]}", encoding="utf-8")
    text = DEFAULT_RUNBOOK.read_text(encoding="utf-8")
    text, n1 = re.subn(r'(?m)^migration = ".*"$', f'migration = "{migration}"', text)
    text, n2 = re.subn(r'(?m)^rollback = ".*"$', f'rollback = "{ROLLBACK_SQL}"', text)
    assert n1 == 1 and n2 == 1, "the runbook's [scripts] table changed shape"
    path = tmp_path / "slow.toml"
    path.write_text(text, encoding="utf-8")
    return path


class Tmux:
    """A tmux server of this test's own (its own socket), one 80x24 session."""

    def __init__(self, tmp_path: Path) -> None:
        self.socket = f"spfp-console-test-{tmp_path.name}"

    def __call__(self, *args: str) -> str:
        proc = subprocess.run([TMUX, "-L", self.socket, *args], capture_output=True,
                              text=True, timeout=30)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "c")

    def wait_for(self, what: Callable[[str], bool] | str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        check = what if callable(what) else (lambda screen: what in screen)
        while True:
            screen = self.screen()
            if check(screen):
                time.sleep(0.3)  # as a person would, before typing into what appeared
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what!r}; the screen:\n{screen}")
            time.sleep(0.1)

    def keys(self, *keys: str, literal: bool = False) -> None:
        self("send-keys", "-t", "c", *(["-l"] if literal else []), *keys)

    def kill_server(self) -> None:
        subprocess.run([TMUX, "-L", self.socket, "kill-server"], capture_output=True,
                       timeout=30)


def console_processes(tmp_path: Path) -> list[str]:
    """Consoles still running for this test (by their --log-dir in the command line)."""
    proc = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True)
    return [line for line in proc.stdout.splitlines()
            if "spfp_console console" in line and str(tmp_path) in line]


def test_a_dropped_link_mid_rehearsal_rolls_back_and_the_log_says_so(base_db, tmp_path):
    runbook = slow_runbook(tmp_path)
    logs = tmp_path / "logs"
    command = " ".join(shlex.quote(part) for part in (
        sys.executable, "-m", "spfp_console", "console", "--runbook", str(runbook),
        "--dsn", base_db.dsn, "--log-dir", str(logs)))
    tmux = Tmux(tmp_path)
    try:
        tmux("new-session", "-d", "-s", "c", "-x", "80", "-y", "24",
             f"cd {shlex.quote(str(tmp_path))} && TERM=xterm-256color {command}")
        tmux.wait_for("Pre-deployment  0/10")
        tmux.keys("p")
        tmux.wait_for("Pre-deployment  2/10")

        tmux.keys("h")  # rehearse: every statement in a savepoint, then it sleeps
        screen = tmux.wait_for("SELECT pg_sleep(60)")
        assert "rehearse slow_migration.sql" in screen

        tmux("kill-session", "-t", "c")  # the SSH link drops: SIGHUP
        log = next(iter(logs.glob("*.deploy-log.toml")), None) if logs.exists() else None
        deadline = time.monotonic() + 30
        while log is None or read_journal(log).ended is None:
            assert time.monotonic() < deadline, "the log never got its end record"
            time.sleep(0.2)
            log = next(iter(logs.glob("*.deploy-log.toml")), None) if logs.exists() else None
    finally:
        tmux.kill_server()

    assert verify_log(log).chain.ok
    ended = read_journal(log).ended
    assert ended.record["outcome"] == "cancelled", ended.record
    assert base_db.scalar(AUDIT_TABLE) is False  # rolled back: nothing of it stayed
    assert not console_processes(tmp_path)  # and the console is gone
