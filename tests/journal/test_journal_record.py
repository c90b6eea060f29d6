"""Writing a log and reading it back: format, permissions, round trip, throttling."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import stat
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from journal_testkit import ANY_EVENT, NO_ENV, chunks_of, header, sample_events, write_session

from spfp_console import __version__
from spfp_console import events as ev
from spfp_console.journal.read import read_journal
from spfp_console.redact import Redactor
from spfp_console.journal.record import (
    JOURNAL_FIELDS,
    JournalError,
    JournalWriter,
    SessionHeader,
    Target,
    log_file_name,
)
from spfp_console.journal.verify import verify_chain, verify_log


def test_round_trip_rereads_the_same_events_and_verifies(tmp_path: Path) -> None:
    events = sample_events()
    log = write_session(tmp_path, events)

    journal = read_journal(log)
    assert [e.event() for e in journal.entries[:-1]] == events
    assert [e.seq for e in journal.entries] == list(range(1, len(events) + 2))
    assert journal.ended is not None and journal.ended.record["outcome"] == "rolled_back"
    assert journal.stopped is None

    result = verify_log(log)
    assert result.chain.ok and result.status == "unsigned", result.line()
    assert result.chain.events == len(events) + 1
    assert result.line().startswith(f"UNSIGNED: {len(events) + 1} events, chain intact")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(ANY_EVENT, min_size=1, max_size=8))
def test_any_events_of_every_kind_round_trip(tmp_path: Path, events: list[ev.Event]) -> None:
    # Every registered kind, including ones added after this test was written.
    log = write_session(tmp_path, events)
    journal = read_journal(log)
    assert [e.event() for e in journal.entries[:-1]] == [_redacted(e) for e in events]
    assert verify_chain(log).ok
    log.unlink()


def _redacted(event: ev.Event) -> ev.Event:
    # Random text may look like a conninfo password; the writer redacts it, as it should.
    redactor = Redactor()
    record = {k: v if k == "kind" else redactor.value(v) for k, v in event.to_record().items()}
    return ev.event_from_record(record)


def test_no_event_field_clashes_with_the_journal_fields() -> None:
    for cls in ev.event_kinds().values():
        names = {f.name for f in dataclasses.fields(cls)}
        assert not names & set(JOURNAL_FIELDS), cls


def test_header_records_who_where_what_and_never_a_password(tmp_path: Path) -> None:
    runbook = tmp_path / "runbook.toml"
    runbook.write_text("id = 'x'\n")
    sql = tmp_path / "a.sql"
    sql.write_text("select 1;\n")
    h = SessionHeader.for_runbook(
        "rb-1", runbook, [sql], Target(host="h", port=5433, database="db", user="u", server_version="16.4"),
        base_dir=tmp_path,
    )
    writer = JournalWriter.create(h, log_dir=tmp_path / "logs", env=NO_ENV)
    writer.end("committed")
    session = tomllib.loads(writer.path.read_text())["session"]
    assert session["runbook_id"] == "rb-1"
    assert session["runbook_sha256"] == hashlib.sha256(b"id = 'x'\n").hexdigest()
    assert session["files"] == {"a.sql": hashlib.sha256(b"select 1;\n").hexdigest()}
    assert session["console_version"] == __version__
    assert session["target"] == {"host": "h", "port": 5433, "database": "db", "user": "u",
                                 "server_version": "16.4"}
    assert "hostname" in session and "os_user" in session
    assert not any("password" in key.lower() for key in session["target"])


def test_ssh_origin_and_login_key_fingerprint_are_recorded(tmp_path: Path) -> None:
    from spfp_console.journal.session_info import collect_session_info

    auth = tmp_path / "auth"
    auth.write_text("publickey ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIChV7Xj0r6Ak+WlORfJQwrJO0reBpyxQNpr37GQ5G0WD\n")
    info = collect_session_info({"SSH_CONNECTION": "203.0.113.7 51234 10.0.0.5 22", "SSH_USER_AUTH": str(auth)})
    assert info["ssh_client_address"] == "203.0.113.7"
    assert info["ssh_client_port"] == 51234
    assert info["ssh_key_fingerprint"] == "SHA256:rOiwpydiYQhI/FxSKqM2QqPQmcpxG0qKCKYi4QIdCZY"
    assert "ssh_client_address" not in collect_session_info({})


def test_log_file_is_0600_in_deploy_logs_named_after_runbook_database_and_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    now = dt.datetime(2026, 2, 16, 10, 0, 5, tzinfo=dt.timezone.utc)
    h = header(runbook_id="rb/../evil name", database="app db")
    first = JournalWriter.create(h, env=NO_ENV, wall_clock=lambda: now)
    second = JournalWriter.create(h, env=NO_ENV, wall_clock=lambda: now)
    first.end("committed")
    second.end("committed")
    assert first.path.parent == Path("deploy-logs")
    assert first.path.name == "rb-..-evil-name_app-db_20260216T100005Z.deploy-log.toml"
    assert second.path.name == "rb-..-evil-name_app-db_20260216T100005Z-2.deploy-log.toml"
    for path in (first.path, second.path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert log_file_name("", None, now) == "runbook_db_20260216T100005Z.deploy-log.toml"


def test_file_is_valid_toml_after_every_append_and_hash_is_each_events_last_line(tmp_path: Path) -> None:
    writer = JournalWriter.create(header(), log_dir=tmp_path, env=NO_ENV, progress_interval_s=0)
    for i, event in enumerate(sample_events(), start=1):
        writer.record(event)
        doc = tomllib.loads(writer.path.read_text())
        assert len(doc["event"]) == i
        last = doc["event"][-1]
        data = writer.path.read_bytes()
        hash_line = f'hash = "{last["hash"]}"\n'.encode()
        assert data.endswith(hash_line)
        body = data[data.rindex(b"\n\n[[event]]\n") + 1 : -len(hash_line)]
        assert last["hash"] == hashlib.sha256(body).hexdigest()
    writer.end("committed")


def test_chain_links_header_and_events_through_hashes_of_their_bytes(tmp_path: Path) -> None:
    # The rule a third party can re-implement: sha256 over each chunk's bytes as written,
    # without its own hash line; each event names the previous hash.
    log = write_session(tmp_path, sample_events())
    data = log.read_bytes()
    head, *events = chunks_of(data)
    doc = tomllib.loads(data.decode())
    head_line = f'hash = "{doc["session"]["hash"]}"\n'.encode()
    assert head.count(head_line) == 1
    assert doc["session"]["hash"] == hashlib.sha256(head.replace(head_line, b"")).hexdigest()
    prev = doc["session"]["hash"]
    for chunk, entry in zip(events, doc["event"], strict=True):
        assert entry["prev"] == prev
        line = f'hash = "{entry["hash"]}"\n'.encode()
        assert chunk.endswith(line)
        assert entry["hash"] == hashlib.sha256(chunk[: -len(line)]).hexdigest()
        prev = entry["hash"]


def test_only_what_must_survive_a_power_cut_is_synced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    synced: list[int] = []
    real_sync = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (synced.append(fd), real_sync(fd))[1])
    writer = JournalWriter.create(header(), log_dir=tmp_path, env=NO_ENV, progress_interval_s=0)
    size = writer.path.stat().st_size
    del synced[:]  # the header's own sync

    def syncs_for(event: ev.Event, **kwargs: bool) -> int:
        before = len(synced)
        writer.record(event, **kwargs)
        return len(synced) - before

    # Written at once (a killed process loses nothing, a tail -f sees it) ...
    assert syncs_for(ev.IndexBuildProgress(index=0, phase="building", blocks_done=1)) == 0
    assert writer.path.stat().st_size > size
    assert syncs_for(ev.ServerNotice(severity="NOTICE", message="n")) == 0
    # ... synced before a statement can reach the database, and at each decision.
    assert syncs_for(ev.StatementStarted(index=1, file="f", line=1, sql="select 1")) == 1
    assert syncs_for(ev.StatementFinished(index=1, file="f", line=1, duration_s=0.1, status="SELECT")) == 0
    assert syncs_for(ev.RunFinished(mode="run", outcome="committed", duration_s=1.0)) == 1
    assert syncs_for(ev.OperatorNote(text="x", who="a")) == 1
    # The caller can ask for more, or for less.
    assert syncs_for(ev.ServerNotice(severity="NOTICE", message="m"), durable=True) == 1
    assert syncs_for(ev.OperatorNote(text="y", who="a"), durable=False) == 0
    before = len(synced)
    writer.flush_durable()
    writer.flush_durable()  # nothing new: no second sync
    assert len(synced) - before == 1
    writer.end("committed")
    assert writer.syncs == len(synced)


def test_progress_samples_are_rate_limited_per_statement_keeping_the_last(tmp_path: Path) -> None:
    clock = [100.0]
    writer = JournalWriter.create(
        header(), log_dir=tmp_path, env=NO_ENV, progress_interval_s=1.0, monotonic=lambda: clock[0]
    )

    def progress(index: int, done: int) -> ev.IndexBuildProgress:
        return ev.IndexBuildProgress(index=index, phase="building", blocks_done=done)

    writer.record(ev.StatementStarted(index=0, file="f", line=1, sql="x"))
    for done in range(10):  # 10 samples within 0.9 s: first written, last held
        writer.record(progress(0, done))
        writer.record(progress(1, 100 + done))  # another statement's samples are independent
        clock[0] += 0.1
    clock[0] += 0.05
    writer.record(progress(0, 10))  # 1.05 s after the first: written
    writer.record(progress(0, 11))  # held...
    writer.record(ev.StatementFinished(index=0, file="f", line=1, duration_s=1, status="CREATE INDEX"))
    writer.end("committed")  # ...and statement 1's held sample is flushed at the end

    journal = read_journal(writer.path)
    samples = [(e.fields["index"], e.fields["blocks_done"]) for e in journal.entries if e.kind == "index_build_progress"]
    assert samples == [(0, 0), (1, 100), (0, 10), (0, 11), (1, 109)]
    kinds = [e.kind for e in journal.entries]
    finished_at = kinds.index("statement_finished")
    assert journal.entries[finished_at - 1].fields["blocks_done"] == 11  # last sample precedes the end
    assert journal.ended is not None
    assert journal.ended.record["progress_samples_dropped"] == 9 + 8
    assert verify_chain(writer.path).ok


def test_writer_is_an_engine_callback_and_a_context_manager(tmp_path: Path) -> None:
    with JournalWriter.create(header(), log_dir=tmp_path, env=NO_ENV) as writer:
        callback = writer.record
        callback(ev.OperatorNote(text="hi", who="a"))
    journal = read_journal(writer.path)
    assert journal.ended is not None and journal.ended.record["outcome"] == "ended"

    with pytest.raises(RuntimeError), JournalWriter.create(header(), log_dir=tmp_path, env=NO_ENV) as w2:
        raise RuntimeError("engine blew up")
    assert read_journal(w2.path).ended.record["outcome"] == "aborted"  # type: ignore[union-attr]
    with pytest.raises(JournalError, match="already closed"):
        w2.record(ev.OperatorNote(text="late", who="a"))


def test_unwritable_log_dir_is_a_clear_journal_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(JournalError, match="cannot create the deployment log in .*--log-dir"):
        JournalWriter.create(header(), log_dir=blocker / "logs", env=NO_ENV)


def test_header_operator_defaults_to_this_process(tmp_path: Path) -> None:
    h = dataclasses.replace(header(), operator=None)
    writer = JournalWriter.create(h, log_dir=tmp_path, env={"SSH_CLIENT": "198.51.100.2 4242 22"})
    writer.end("committed")
    session = read_journal(writer.path).header
    assert session["ssh_client_address"] == "198.51.100.2"
    assert session["os_user"]
    assert session["hostname"]


def test_chunks_split_on_event_boundaries(tmp_path: Path) -> None:
    log = write_session(tmp_path, sample_events()[:3])
    chunks = chunks_of(log.read_bytes())
    assert len(chunks) == 1 + 3 + 1
    assert b"".join(chunks) == log.read_bytes()
    assert all(c.startswith(b"\n[[event]]\n") for c in chunks[1:])
