"""Exit codes and outcomes that tell the truth (issue 8, items 6, 7 and 17)."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import time
from pathlib import Path

from clikit import Cli, clean_env, deploy_logs

from spfp_console.journal.read import read_journal

EXIT_COMMITTED_INCOMPLETE = 4


def _has_index(db, name: str) -> bool:
    return bool(db.scalar("select count(*) from pg_indexes where indexname = %s", (name,)))


def test_sigterm_after_commit_says_the_migration_is_committed(
    cli: Cli, tmp_path: Path, clean_db
) -> None:
    """SIGTERM while the post-COMMIT timings run: exit 4, the log says committed."""
    proc = subprocess.Popen(
        cli.argv(("run", "--yes", "--performance", "--dsn", clean_db.dsn)),
        cwd=cli.cwd, env=clean_env(tmp_path), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("== run committed"):
            proc.send_signal(signal.SIGTERM)
            break
        assert time.monotonic() < deadline, "".join(seen)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_COMMITTED_INCOMPLETE, "".join(seen) + out + err
    assert "IS COMMITTED" in err and "validate" in err
    assert "Traceback" not in err
    assert _has_index(clean_db, "idx_transactions_user_date_paid")
    (log,) = deploy_logs(tmp_path)
    ended = read_journal(log).ended
    assert ended is not None and ended.record["outcome"] == "committed_incomplete"


def test_a_terminal_on_stdin_confirms_while_stdout_is_piped(
    cli: Cli, tmp_path: Path, clean_db
) -> None:
    """`spfp-console run | tee run.txt`: the operator still types the confirmation."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        cli.argv(("run", "--dsn", clean_db.dsn)), cwd=cli.cwd, env=clean_env(tmp_path),
        stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True,
    )
    os.close(slave)
    prompt = b""
    deadline = time.monotonic() + 60
    while b"to continue:" not in prompt and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            prompt += os.read(master, 4096)  # input() writes its prompt to the terminal
        if proc.poll() is not None:
            break
    os.write(master, clean_db.name.encode() + b"\n")
    out, err = proc.communicate(timeout=120)
    os.close(master)
    assert proc.returncode == 0, out.decode() + err.decode()
    text = out.decode()
    assert "\x1b[" not in text  # piped output stays plain
    assert "held until COMMIT:" in text  # the summary right before the question
    assert "summary: deploy: committed; validation passed" in text
    assert _has_index(clean_db, "idx_transactions_user_date_paid")
