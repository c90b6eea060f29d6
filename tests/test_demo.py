"""The README's first command: the demo runs the whole runbook on its own PostgreSQL."""

from __future__ import annotations

import os
import re
import subprocess
import sys

# No signing key at hand (a developer's ssh-agent would sign the demo's log).
ENV = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "SPFP_CONSOLE_SIGN_KEY")}


def test_demo_walks_the_runbook_and_leaves_a_verifiable_log(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "spfp_console", "demo", "--scale", "0.05"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
        env=ENV,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    # Without a terminal the demo is headless, and never pays for Textual's import.
    assert re.search(r"\|\s+spfp_console\.cli$", proc.stderr, re.M)  # importtime reported
    assert not re.search(r"\|\s+textual", proc.stderr), "the headless demo imported Textual"
    out = proc.stdout
    assert "== run committed" in out
    assert "Validation: 20260216_database_optimizations applied - PASS" in out
    assert "The paper's claims, measured" in out
    assert "verify: UNSIGNED:" in out and "session committed" in out
    logs = list((tmp_path / "deploy-logs").glob("*.deploy-log.toml"))
    assert len(logs) == 1
    verify = subprocess.run(
        [sys.executable, "-m", "spfp_console", "verify", str(logs[0])],
        capture_output=True, text=True, timeout=60, env=ENV,
    )
    assert verify.returncode == 5, verify.stderr  # intact, unsigned (no key in the test env)
    text = logs[0].read_text()
    # the automated steps ticked their runbook items
    assert 'item_id = "run-migration"' in text
    assert 'item_id = "full-validation"' in text
