"""The acceptance test of ``resume``, in tmux as an operator lives it over SSH: tick the
checklist, start the run, lose the link (the tmux session killed: SIGHUP) while the
migration runs, then ``spfp-console resume LOG`` in a new terminal: the ticks are back,
and the screen says this is a resumed session."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

from test_console_in_tmux import AUDIT_TABLE, TMUX, Tmux, console_processes, slow_runbook

import pytest

from spfp_console.events import ChecklistItemToggled, SessionStarted
from spfp_console.journal.link import INTACT, check_link
from spfp_console.journal.read import read_journal
from spfp_console.journal.verify import verify_log

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed"
                                " (bash .ci/install installs it)")


def _command(*args: str) -> str:
    return " ".join(shlex.quote(part) for part in (sys.executable, "-m", "spfp_console",
                                                   *args))


def _ended_log(logs: Path, but_not: tuple[Path, ...] = ()) -> Path:
    """The log that appears in ``logs`` (other than ``but_not``), once it has its end."""
    deadline = time.monotonic() + 30
    while True:
        found = [p for p in logs.glob("*.deploy-log.toml") if p not in but_not] \
            if logs.exists() else []
        if found and read_journal(found[0]).ended is not None:
            return found[0]
        assert time.monotonic() < deadline, "the log never got its end record"
        time.sleep(0.2)


def test_a_dropped_link_mid_run_then_resume_brings_the_ticks_back(base_db, tmp_path):
    runbook = slow_runbook(tmp_path)
    logs = tmp_path / "logs"
    target = ("--runbook", str(runbook), "--dsn", base_db.dsn, "--log-dir", str(logs))
    cd = f"cd {shlex.quote(str(tmp_path))} && TERM=xterm-256color "
    tmux = Tmux(tmp_path)
    try:
        tmux("new-session", "-d", "-s", "c", "-x", "80", "-y", "24",
             cd + _command("console", *target))
        tmux.wait_for("Pre-deployment  0/10")
        tmux.keys("space")  # "Read the runbook": ticked by hand, no evidence asked
        tmux.wait_for("Pre-deployment  1/10")
        tmux.keys("down")
        tmux.keys("space")  # "Create a database backup": asks for its evidence
        tmux.wait_for("backup id or file")
        tmux.keys("snap-42", literal=True)
        tmux.keys("enter")
        tmux.wait_for("Pre-deployment  2/10")
        tmux.keys("p")  # the preflight ticks its two items
        tmux.wait_for("Pre-deployment  4/10")

        tmux.keys("r")  # run: the checklist and rehearsal gates are closed: reasons
        tmux.wait_for("The checklist gate is closed")
        tmux.keys("tmux acceptance test: checklist", literal=True)
        tmux.keys("enter")
        tmux.wait_for("The rehearsal gate is closed")
        tmux.keys("tmux acceptance test: rehearsal", literal=True)
        tmux.keys("enter")
        tmux.wait_for(f"Run on {base_db.name} in one transaction")  # the confirmation
        tmux.keys("Tab")  # focus starts on Cancel
        tmux.keys(base_db.name, literal=True)
        tmux.keys("enter")
        screen = tmux.wait_for("SELECT pg_sleep(60)")
        assert "run slow_migration.sql" in screen, screen

        tmux("kill-session", "-t", "c")  # the SSH link drops: SIGHUP, mid-run
        old = _ended_log(logs)
        deadline = time.monotonic() + 30
        while console_processes(tmp_path):
            assert time.monotonic() < deadline, "the console outlived its terminal"
            time.sleep(0.2)

        # The true outcome: the run was cancelled and rolled back, nothing applied.
        assert verify_log(old).chain.ok
        ended = read_journal(old).ended
        assert ended is not None and ended.record["outcome"] == "cancelled", ended.record
        assert "rolled back, nothing was applied" in ended.record["message"], ended.record
        assert base_db.scalar(AUDIT_TABLE) is False

        # A new terminal: resume.
        tmux("new-session", "-d", "-s", "c", "-x", "80", "-y", "24",
             cd + _command("resume", str(old), *target))
        screen = tmux.wait_for("RESUMED")
        assert old.name[:20] in screen, screen
        screen = tmux.wait_for("Pre-deployment  4/10")
        assert "[x] Read the runbook" in screen, screen
        assert "snap-42" in screen and "carried over" in screen, screen
        tmux.keys("3")  # the results: what the database holds now
        tmux.wait_for("not applied")
        tmux.keys("q")
        new = _ended_log(logs, but_not=(old,))
    finally:
        tmux.kill_server()

    events = [e.event() for e in read_journal(new).entries]
    started = next(e for e in events if isinstance(e, SessionStarted))
    assert started.resumed_from is not None and started.resumed_from.startswith(str(old))
    carried = {e.item_id: e for e in events
               if isinstance(e, ChecklistItemToggled) and e.carried_over == old.name}
    assert set(carried) == {"read-runbook", "create-backup", "verify-access", "preflight"}
    assert carried["create-backup"].evidence == "snap-42"
    assert check_link(new).status == INTACT
    assert not console_processes(tmp_path)
