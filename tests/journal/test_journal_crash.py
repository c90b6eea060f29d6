"""A session killed mid-write leaves a log that verifies up to its last complete event."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from journal_testkit import chunks_of

from spfp_console.journal.read import read_journal
from spfp_console.journal.verify import verify_chain, verify_log

_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from spfp_console import events as ev
    from spfp_console.journal.record import JournalWriter, SessionHeader, Target

    writer = JournalWriter.create(
        SessionHeader(runbook_id="crash", target=Target(database="app"), operator={"os_user": "t"}),
        log_dir=Path(sys.argv[1]), env={},
    )
    print(writer.path, flush=True)
    # Big statements make each write long, so the kill often lands inside one.
    sql = "SELECT " + ", ".join(f"{i} AS c{i}" for i in range(20000)) + ";"
    i = 0
    while True:
        writer.record(ev.StatementStarted(index=i, file="big.sql", line=i, sql=sql))
        i += 1
    """
)


def test_sigkill_mid_session_reports_truncation_after_the_last_complete_event(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert proc.stdout is not None
        log = Path(proc.stdout.readline().strip())
        deadline = time.monotonic() + 30
        while log.stat().st_size < 3_000_000 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    data = log.read_bytes()
    complete = len(chunks_of(data)) - 1  # event chunks, the last one possibly torn
    result = verify_chain(log)
    assert not result.ok
    assert result.problem == "truncated"
    assert result.events >= 5
    assert result.first_bad_seq == result.events + 1
    assert complete in (result.events, result.events + 1)  # + a torn chunk when cut mid-write
    line = verify_log(log).line()
    assert line.startswith(f"FAILED: seq {result.events + 1} truncated:")
    assert line.endswith(f"(chain intact through seq {result.events})")

    journal = read_journal(log)
    assert [e.seq for e in journal.entries] == list(range(1, result.events + 1))
    assert journal.ended is None


def test_torn_last_write_is_truncation_not_a_parse_error(tmp_path: Path) -> None:
    # What a power cut could leave: the last event half written.
    from journal_testkit import sample_events, write_session

    log = write_session(tmp_path, sample_events()[:3], outcome=None)
    data = log.read_bytes()
    last_event = chunks_of(data)[-1]
    for cut in (1, 5, len(last_event) // 2, len(last_event) - 1):
        log.write_bytes(data[: len(data) - len(last_event) + cut])
        result = verify_chain(log)
        assert (result.first_bad_seq, result.problem, result.events) == (3, "truncated", 2)
        assert "ends inside an event" in result.detail
        journal = read_journal(log)
        assert len(journal.entries) == 2 and journal.stopped and "truncated" in journal.stopped
