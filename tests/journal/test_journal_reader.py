"""The one reader: offsets, chain status, lazy parsing, and following a log being written."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from journal_testkit import NO_ENV, header, sample_events, write_session

from spfp_console import events as ev
from spfp_console.journal.read import LogReader, read_journal
from spfp_console.journal.record import JournalWriter


def test_entries_carry_their_offset_and_hash_and_lazy_records_equal_eager_ones(tmp_path: Path) -> None:
    log = write_session(tmp_path, sample_events())
    data = log.read_bytes()
    eager = list(LogReader(log))
    lazy_reader = LogReader(log, parse=False)
    lazy = list(lazy_reader)
    assert lazy_reader.chain.ok and lazy_reader.chain.events == len(eager) == len(sample_events()) + 1
    for a, b in zip(eager, lazy, strict=True):
        assert (a.seq, a.at, a.kind, a.offset, a.hash) == (b.seq, b.at, b.kind, b.offset, b.hash)
        assert a.t == b.t
        assert data.startswith(b"\n[[event]]\nseq = %d\n" % a.seq, a.offset)
        assert data.startswith(b'hash = "%s"\n' % a.hash.encode(), data.index(b"hash = ", a.offset))
        assert b.record == a.record  # parsed on first access
    assert [e.event() for e in lazy[:-1]] == sample_events()


def test_reading_stops_at_the_first_bad_event_and_says_which(tmp_path: Path) -> None:
    log = write_session(tmp_path, sample_events())
    log.write_bytes(log.read_bytes().replace(b"Retry tomorrow", b"Retry  never  ", 1))
    reader = LogReader(log)
    seqs = [e.seq for e in reader]
    assert seqs == list(range(1, 15))
    assert (reader.chain.first_bad_seq, reader.chain.problem) == (15, "edited")
    # Export and replay read on, each event flagged: a damaged log can still be shown.
    journal = read_journal(log)
    assert journal.stopped is None
    assert [e.verified for e in journal.entries] == [True] * 14 + [False] * 2
    assert journal.chain.first_bad_seq == 15 and journal.ended is not None


def test_following_a_log_that_is_still_being_written(tmp_path: Path) -> None:
    writer = JournalWriter.create(header(), log_dir=tmp_path, env=NO_ENV, progress_interval_s=0)
    events = sample_events()

    def session() -> None:
        for event in events:
            time.sleep(0.02)
            writer.record(event)
        writer.end("committed")

    thread = threading.Thread(target=session)
    thread.start()
    seen: list[tuple[str, float]] = []
    reader = LogReader(writer.path, follow=True, poll_s=0.01, idle_timeout_s=30)
    for entry in reader:
        seen.append((entry.kind, time.monotonic()))
    thread.join(10)
    assert [kind for kind, _ in seen] == [e.kind for e in events] + ["session_ended"]
    assert reader.chain.ok and reader.chain.outcome == "committed"
    # Events arrived while they were written, not all at the end.
    assert seen[-1][1] - seen[0][1] > 0.1


def test_following_stops_on_request_or_when_the_log_stays_idle(tmp_path: Path) -> None:
    writer = JournalWriter.create(header(), log_dir=tmp_path, env=NO_ENV)
    writer.record(ev.OperatorNote(text="first", who="a"))
    reader = LogReader(writer.path, follow=True, poll_s=0.01, idle_timeout_s=0.2)
    start = time.monotonic()
    assert [e.kind for e in reader] == ["operator_note"]
    assert 0.2 <= time.monotonic() - start < 5
    assert reader.chain.problem == "truncated" and reader.chain.events == 1  # still running

    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    reader = LogReader(writer.path, follow=True, poll_s=0.01, stop=stop.is_set)
    assert [e.seq for e in reader] == [1]
    writer.end("committed")


def test_a_reader_resumed_after_an_index_reads_on_as_a_reader_from_the_start(
        tmp_path: Path) -> None:
    """replay --follow indexes a log as it stands (a last event half written is left
    out), then tails it from there: what the resumed reader yields, and the chain it
    ends with, are a whole reading's, intact or edited before the resume point."""
    from spfp_console.journal.read import index_log

    events = sample_events()
    whole = write_session(tmp_path / "whole", events)
    data = whole.read_bytes()
    # where the event after the one edited below starts
    cut = data.index(b"\n\n[[event]]\n", data.index(b"Retry tomorrow")) + 1
    for edited in (False, True):
        log = tmp_path / f"followed-{edited}.deploy-log.toml"
        head = data[:cut]
        if edited:
            head = head.replace(b"Retry tomorrow", b"Retry  never  ", 1)
            assert head != data[:cut]
        log.write_bytes(head + data[cut:cut + 30])  # the next event, half written
        index = index_log(log, growing=True)
        assert index.end == cut and len(index) == head.count(b"\n[[event]]\n")
        log.write_bytes(head + data[cut:])  # the writer finishes
        resumed = LogReader(log, keep_going=True, resume=index.resume_point())
        tail = [(e.seq, e.kind, e.offset, e.verified, e.record) for e in resumed]
        full = LogReader(log, keep_going=True)
        expected = [(e.seq, e.kind, e.offset, e.verified, e.record) for e in full]
        assert tail == expected[len(index):] and tail
        assert resumed.chain == full.chain
        assert resumed.chain.ok is not edited
