"""The console on the terminals a bastion host offers, in tmux as an operator runs it:
TERM=xterm-256color, screen-256color and linux each start it, draw its header and footer,
and answer a key; NO_COLOR takes every colour out of what it draws; the Linux console
gets only glyphs its font has."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_console_in_tmux import TMUX, Tmux

from spfp_console.ui.terminal import CP437_GLYPHS

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed"
                                " (bash .ci/install installs it)")

HEADER = "read-write"
"""In the header once the session is open (drawn from the session's state)."""
FOOTER = "p check"
"""The footer's first keys: the last ones are cut at 80 columns."""
RUNBOOK_TAB = "Pre-deployment  0/10"
EXECUTION_TAB = "no script has run in this session yet"

SGR = re.compile(r"\x1b\[([0-9;:]*)m")


def colours_in(screen: str) -> set[str]:
    """Every foreground or background colour an SGR sequence in ``screen`` sets
    (default colours, bold, dim, reverse and the like are not colours)."""
    found: set[str] = set()
    for params in SGR.findall(screen):
        codes = [code for code in re.split("[;:]", params) if code]
        i = 0
        while i < len(codes):
            code = int(codes[i])
            if code in (38, 48) and i + 1 < len(codes):
                width = 3 if codes[i + 1] == "5" else 5
                found.add(";".join(codes[i:i + width]))
                i += width
                continue
            if 30 <= code <= 37 or 40 <= code <= 47 or 90 <= code <= 97 or 100 <= code <= 107:
                found.add(str(code))
            i += 1
    return found


def start_console(tmux: Tmux, db_dsn: str, tmp_path: Path, env: str) -> None:
    command = " ".join(shlex.quote(part) for part in (
        sys.executable, "-m", "spfp_console", "console", "--dsn", db_dsn,
        "--log-dir", str(tmp_path / "logs")))
    tmux("new-session", "-d", "-s", "c", "-x", "80", "-y", "24",
         f"cd {shlex.quote(str(tmp_path))} && env {env} {command}")


def wait_until_gone(tmux: Tmux, timeout: float = 30) -> None:
    """The console quit: its pane, the only one, closed and took the session along."""
    deadline = time.monotonic() + timeout
    while subprocess.run([TMUX, "-L", tmux.socket, "has-session", "-t", "c"],
                         capture_output=True).returncode == 0:
        assert time.monotonic() < deadline, f"the console did not quit:\n{tmux.screen()}"
        time.sleep(0.1)


@pytest.mark.parametrize("term", ["xterm-256color", "screen-256color", "linux"])
def test_the_console_starts_draws_and_answers_keys_under(term, base_db, tmp_path):
    tmux = Tmux(tmp_path)
    try:
        start_console(tmux, base_db.dsn, tmp_path, f"TERM={term}")
        screen = tmux.wait_for(lambda s: HEADER in s and FOOTER in s and RUNBOOK_TAB in s)
        lines = screen.splitlines()
        assert HEADER in lines[0], screen  # the header is on top
        assert FOOTER in lines[-1] or FOOTER in lines[-2], screen  # and the footer last
        tmux.keys("2")
        screen = tmux.wait_for(EXECUTION_TAB)
        assert RUNBOOK_TAB not in screen
        tmux.keys("1")
        screen = tmux.wait_for(RUNBOOK_TAB)
        if term == "linux":
            undrawable = {ch for ch in screen if ord(ch) > 127} - CP437_GLYPHS
            assert not undrawable, f"the Linux console cannot draw {sorted(undrawable)}:\n" \
                                   f"{screen}"
        tmux.keys("q")
        wait_until_gone(tmux)
    finally:
        tmux.kill_server()
    assert list((tmp_path / "logs").glob("*.deploy-log.toml")), "no log: it did not close"


def test_no_color_takes_the_colour_out_of_everything_the_console_draws(base_db, tmp_path):
    screens = {}
    for name, env in (("coloured", "TERM=xterm-256color"),
                      ("no colour", "TERM=xterm-256color NO_COLOR=1")):
        tmux = Tmux(tmp_path)
        try:
            start_console(tmux, base_db.dsn, tmp_path, env)
            tmux.wait_for(lambda s: HEADER in s and FOOTER in s and RUNBOOK_TAB in s)
            tmux.keys("2")  # the execution tab too: its progress bar and table
            tmux.wait_for(EXECUTION_TAB)
            screens[name] = tmux("capture-pane", "-p", "-e", "-t", "c")
            tmux.keys("q")
            wait_until_gone(tmux)
        finally:
            tmux.kill_server()
    assert colours_in(screens["coloured"]), "the check sees no colour even without NO_COLOR"
    assert EXECUTION_TAB in screens["no colour"]  # it drew (it used to crash on start)
    assert colours_in(screens["no colour"]) == set(), screens["no colour"]
