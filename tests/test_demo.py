"""The README's first command: the demo runs the whole runbook on its own PostgreSQL."""

from __future__ import annotations

import subprocess
import sys


def test_demo_walks_the_runbook_and_leaves_a_verifiable_log(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "spfp_console", "demo", "--scale", "0.05"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    out = proc.stdout
    assert "== run committed" in out
    assert "Validation: 20260216_database_optimizations applied - PASS" in out
    assert "The paper's claims, measured" in out
    assert "verify: ok:" in out and "session committed" in out
    logs = list((tmp_path / "deploy-logs").glob("*.deploy-log.toml"))
    assert len(logs) == 1
    verify = subprocess.run(
        [sys.executable, "-m", "spfp_console", "verify", str(logs[0])],
        capture_output=True, text=True, timeout=60,
    )
    assert verify.returncode == 0, verify.stderr
    text = logs[0].read_text()
    # the automated steps ticked their runbook items
    assert 'item_id = "run-migration"' in text
    assert 'item_id = "full-validation"' in text
