"""Shared builders for the journal tests: sessions, events, keys.  No database."""

from __future__ import annotations

import io
import shutil
import subprocess
import tomllib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from spfp_console import events as ev
from spfp_console.journal.canonical import render_header, seal_event
from spfp_console.journal.read import iter_chunks
from spfp_console.journal.record import JournalWriter, SessionHeader, Target

OPERATOR = {"os_user": "alice", "hostname": "bastion-1", "terminal_columns": 120, "terminal_lines": 40}
NO_ENV: Mapping[str, str] = {}

SSH_KEYGEN = shutil.which("ssh-keygen")


def header(runbook_id: str = "20260216-optimizations", database: str = "app") -> SessionHeader:
    return SessionHeader(
        runbook_id=runbook_id,
        target=Target(host="db.example", port=5432, database=database, user="deployer",
                      server_version="16.4"),
        runbook_sha256="0" * 64,
        files={"sql/20260216_database_optimizations.sql": "1" * 64},
        operator=OPERATOR,
    )


def sample_events() -> list[ev.Event]:
    """One of every kind, with the fields a real session fills in."""
    return [
        ev.ChecklistItemToggled(phase="before", item_id="backup-taken", checked=True, who="alice",
                                note="pg_dump at 09:58", evidence="s3://backups/app-0958.dump"),
        ev.ResultTable(title="Preflight", source="preflight", columns=("check", "status", "detail"),
                       rows=(("pg_version >= 15", "pass", "16.4"), ("no long xacts", "fail", "pid 42 <idle>")),
                       status_column="status", passed=False),
        ev.OverrideRecorded(what="preflight: no long xacts", reason="pid 42 is the reporting job, safe", who="alice"),
        ev.RunStarted(mode="run", script="20260216_database_optimizations.sql", statements=2,
                      script_sha256="1" * 64),
        ev.StatementStarted(index=0, file="20260216_database_optimizations.sql", line=3,
                            sql="CREATE INDEX CONCURRENTLY idx_orders_user ON orders (user_id);"),
        ev.IndexBuildProgress(index=0, phase="building index: scanning table", blocks_done=10,
                              blocks_total=100, relation="orders", index_name="idx_orders_user"),
        ev.LockWait(index=0, blocker_pid=42, blocker_user="report", blocker_query="SELECT 1",
                    blocker_since="2026-02-16T10:00:00Z", waited_s=1.5),
        ev.ServerNotice(severity="NOTICE", message="relation exists, skipping", sqlstate="42P07", index=0),
        ev.StatementFinished(index=0, file="20260216_database_optimizations.sql", line=3,
                             duration_s=12.25, status="CREATE INDEX"),
        ev.StatementStarted(index=1, file="20260216_database_optimizations.sql", line=9,
                            sql="ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users;"),
        ev.StatementFailed(index=1, file="20260216_database_optimizations.sql", line=9,
                           sql="ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users;",
                           sqlstate="23503", message="insert or update violates foreign key constraint",
                           duration_s=0.5, detail="Key (user_id)=(7) is not present.", position=12),
        ev.RunFinished(mode="run", outcome="rolled_back", duration_s=13.0, statements_ok=1,
                       statements_failed=1, message="rolled back after failure"),
        ev.RollbackDecision(confirmed=True, typed="ROLLBACK app", who="alice", rows_at_risk=3,
                            exported_to="/tmp/at-risk.csv"),
        ev.ResultTable(title="Query timings", source="performance", columns=("query", "claim_ms", "measured_ms"),
                       rows=(("orders by user", "5", "3.2"),)),
        ev.OperatorNote(text="Retry tomorrow after the orphan cleanup.", who="alice"),
    ]


def write_session(
    log_dir: Path,
    events: Iterable[ev.Event],
    *,
    outcome: str | None = "rolled_back",
    secrets: Iterable[str] = (),
    env: Mapping[str, str] = NO_ENV,
    session_header: SessionHeader | None = None,
    progress_interval_s: float = 0.0,
) -> Path:
    writer = JournalWriter.create(
        session_header or header(), log_dir=log_dir, secrets=secrets, env=env,
        progress_interval_s=progress_interval_s,
    )
    for event in events:
        writer.record(event)
    if outcome is None:
        writer.close()
    else:
        writer.end(outcome)
    return writer.path


def chunks_of(data: bytes) -> list[bytes]:
    """[header, event 1, event 2, ...] as raw bytes."""
    return [c.data for c in iter_chunks(io.BytesIO(data))]


def forge(data: bytes, edit: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> bytes:
    """What anyone who can write the file can do without a key: edit the records, then
    renumber and recompute every hash with the published rules (canonical.py)."""
    head, *chunks = chunks_of(data)
    session = tomllib.loads(head.decode())["session"]
    del session["hash"]
    entries = edit([tomllib.loads(c.decode())["event"][0] for c in chunks])
    out, prev = render_header(session)
    parts = [out]
    for seq, entry in enumerate(entries, start=1):
        entry = {k: v for k, v in entry.items() if k != "hash"}
        entry["seq"], entry["prev"] = seq, prev
        chunk, prev = seal_event(entry)
        parts.append(chunk)
    return b"".join(parts)


def make_ed25519_key(directory: Path, name: str = "id_ed25519", comment: str = "alice") -> Path:
    assert SSH_KEYGEN is not None
    key = directory / name
    subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)],
                   check=True)
    return key


def allowed_signers(directory: Path, identity: str, pub: Path, name: str = "allowed_signers") -> Path:
    key_type, blob = pub.read_text().split()[:2]
    path = directory / name
    with path.open("a") as f:
        f.write(f"{identity} {key_type} {blob}\n")
    return path


def ssh_keygen_verify(log: Path, allowed: Path, identity: str, namespace: str = "spfp-console-log@spfp",
                      signature: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    assert SSH_KEYGEN is not None
    sig = signature or Path(f"{log}.sig")
    with open(log, "rb") as message:
        return subprocess.run(
            [SSH_KEYGEN, "-Y", "verify", "-f", str(allowed), "-I", identity, "-n", namespace,
             "-s", str(sig)],
            stdin=message, capture_output=True, check=False,
        )


# --------------------------------------------------------------------------- hypothesis

import contextlib as _contextlib  # noqa: E402
import dataclasses as _dc  # noqa: E402
import os as _os  # noqa: E402
import re as _re  # noqa: E402
import signal as _signal  # noqa: E402
from collections.abc import Iterator as _Iterator  # noqa: E402
import types as _types  # noqa: E402
import typing as _typing  # noqa: E402

from hypothesis import strategies as st  # noqa: E402

TEXT = st.text(max_size=30)
"""Any text (hypothesis excludes lone surrogates, which no UTF-8 file can hold)."""


def _strategy_for(tp: object) -> st.SearchStrategy[object]:
    origin = _typing.get_origin(tp)
    args = _typing.get_args(tp)
    if origin in (_typing.Union, _types.UnionType):
        return st.one_of(*(_strategy_for(a) for a in args))
    if tp is type(None):
        return st.none()
    if tp is bool:
        return st.booleans()
    if tp is int:
        return st.integers(-(2**63), 2**63 - 1)
    if tp is float:
        return st.floats(-1e9, 1e9, allow_nan=False)
    if tp is str:
        return TEXT
    if origin is tuple:
        return st.lists(_strategy_for(args[0]), max_size=3).map(tuple)
    raise NotImplementedError(f"no strategy for {tp!r}: extend journal_testkit._strategy_for")


def event_strategy(cls: type[ev.Event]) -> st.SearchStrategy[ev.Event]:
    hints = _typing.get_type_hints(cls)
    fields = {f.name: _strategy_for(hints[f.name]) for f in _dc.fields(cls)}
    return st.fixed_dictionaries(fields).map(lambda kwargs: cls(**kwargs))


ANY_EVENT = st.one_of(*(event_strategy(cls) for cls in ev.event_kinds().values()
                        if cls is not ev.SessionEnded))
"""Any event of any registered kind, fields filled at random (but the session's end,
which the journal writes as its closing record)."""


@_contextlib.contextmanager
def running_ssh_agent(directory: Path) -> _Iterator[dict[str, str]]:
    """A real ssh-agent for one test, stopped by its pid afterwards; yields its env."""
    agent = shutil.which("ssh-agent")
    if agent is None or shutil.which("ssh-add") is None:
        import pytest

        pytest.skip("ssh-agent/ssh-add not installed")
    sock = directory / "agent.sock"
    out = subprocess.run([agent, "-s", "-a", str(sock)], capture_output=True, text=True,
                         check=True).stdout
    pid = int(_re.search(r"SSH_AGENT_PID=(\d+)", out).group(1))  # type: ignore[union-attr]
    env = {"SSH_AUTH_SOCK": str(sock), "PATH": _os.environ.get("PATH", "/usr/bin:/bin")}
    try:
        yield env
    finally:
        _os.kill(pid, _signal.SIGTERM)


def ssh_add(key: Path, env: Mapping[str, str]) -> None:
    subprocess.run(["ssh-add", "-q", str(key)], env=dict(env), check=True, capture_output=True)
