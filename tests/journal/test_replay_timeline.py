"""The replay timeline: the state at any cursor equals the fold of the events before it,
markers and seeking find the right event, and the trust badge names what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from journal_testkit import (
    ANY_EVENT,
    SSH_KEYGEN,
    allowed_signers,
    chunks_of,
    make_ed25519_key,
    sample_events,
    write_session,
)

from spfp_console import events as ev
from spfp_console.journal.read import LogReader, index_log, read_journal
from spfp_console.journal.sign import sign_log
from spfp_console.journal.verify import verify_log
from spfp_console.session.state import fold
from spfp_console.session.timeline import (
    MARKER_EVENT_KINDS,
    Stamp,
    Timeline,
    marker_of,
    timeline_from_log,
    trust_badge,
)


def _stamped(events: list[ev.Event]) -> list[tuple[ev.Event, Stamp]]:
    return [(e, Stamp(at=f"2026-02-16T10:00:{i:02d}.000000Z", t=float(i)))
            for i, e in enumerate(events)]


def test_state_at_every_position_equals_the_fold_of_the_events_before_it(tmp_path: Path) -> None:
    log = write_session(tmp_path, sample_events())
    loaded = timeline_from_log(log, snapshot_every=3)
    timeline = loaded.timeline
    assert loaded.stopped is None and loaded.unknown == 0
    assert len(timeline) == len(sample_events()) + 1  # + the session end record
    for position in range(len(timeline) + 1):
        assert timeline.state_at(position) == fold(timeline.events[:position]), position
    # Stepping forward in place and seeking back agree with the fold too.
    state = timeline.state_at(0)
    for position in range(len(timeline)):
        state = timeline.advance(state, position, position + 1)
    assert state == timeline.head
    assert timeline.advance(state, len(timeline), 2) == fold(timeline.events[:2])


def test_markers_and_seeking_find_the_right_events() -> None:
    timeline = Timeline.of(_stamped(sample_events()), snapshot_every=4)
    kinds = {m.kind for m in timeline.markers}
    assert {"error", "override", "decision", "tick"} <= kinds
    error = timeline.next_marker(0, ["error"])
    assert error is not None and isinstance(timeline.events[error.position - 1],
                                            (ev.StatementFailed, ev.RunFinished))
    assert "23503" in error.label
    assert timeline.previous_marker(error.position, ["tick"]) == timeline.markers[0]
    assert timeline.next_marker(len(timeline), None) is None
    assert timeline.position_at(2.5) == 3
    assert timeline.position_at("10:00:04") == 5
    assert timeline.position_at("2026-02-16T10:00:01") == 2
    assert timeline.delay_before(1, speed=10) == 0.1


@settings(max_examples=60, deadline=None)
@given(st.lists(ANY_EVENT, max_size=25), st.integers(1, 5))
def test_any_events_fold_without_crashing_and_seek_consistently(
    events: list[ev.Event], every: int
) -> None:
    timeline = Timeline.of(_stamped(events), snapshot_every=every)
    for position in range(len(events) + 1):
        assert timeline.state_at(position) == fold(events[:position])


def test_badge_of_an_unsigned_log(tmp_path: Path) -> None:
    log = write_session(tmp_path, sample_events())
    badge = trust_badge(verify_log(log), events=len(sample_events()) + 1)
    assert badge.level == "unsigned"
    assert badge.text.startswith("UNSIGNED: anyone could have written this")


def test_badge_of_an_edited_and_of_a_cut_log(tmp_path: Path) -> None:
    log = write_session(tmp_path / "edited", sample_events())
    data = log.read_bytes()
    log.write_bytes(data.replace(b"pg_dump at 09:58", b"pg_dump at 09:59"))
    badge = trust_badge(verify_log(log), events=0)
    assert badge.level == "tampered" and badge.bad_from == 1
    assert badge.text.startswith("TAMPERED at event 1: edited")
    assert timeline_from_log(log).timeline.events  # still replayable

    cut = write_session(tmp_path / "cut", sample_events())
    raw = cut.read_bytes()
    cut.write_bytes(raw[: raw.rindex(b"[[event]]") + 20])
    badge = trust_badge(verify_log(cut), events=0)
    assert badge.level == "truncated"
    assert badge.text.startswith(f"TRUNCATED after event {len(sample_events())}")
    loaded = timeline_from_log(cut)
    assert loaded.stopped is not None and len(loaded.timeline) == len(sample_events())


def test_badge_of_a_signed_log_names_the_signer(tmp_path: Path) -> None:
    if SSH_KEYGEN is None:  # pragma: no cover - .ci/install installs OpenSSH
        raise AssertionError("ssh-keygen is required")
    key = make_ed25519_key(tmp_path)
    allowed = allowed_signers(tmp_path, "alice@example.com", key.with_suffix(".pub"))
    log = write_session(tmp_path / "logs", sample_events())
    sign_log(log, key_file=key, env={})
    checked = trust_badge(verify_log(log, allowed_signers=allowed, identity="alice@example.com"),
                          events=7)
    assert checked.level == "trusted"
    assert checked.text.startswith("signed by alice@example.com (SHA256:")
    unchecked = trust_badge(verify_log(log), events=7)
    assert unchecked.level == "unchecked" and "NOT checked" in unchecked.text


def test_badge_of_a_killed_signed_session_says_how_far_it_is_signed(tmp_path: Path) -> None:
    """A console killed mid-session: its checkpoints still vouch for the prefix."""
    from journal_testkit import header

    from spfp_console.journal.record import JournalWriter
    from spfp_console.journal.sign import resolve_signer

    key = make_ed25519_key(tmp_path)
    allowed = allowed_signers(tmp_path, "alice@example.com", key.with_suffix(".pub"))
    writer = JournalWriter.create(header(), log_dir=tmp_path / "logs", env={},
                                  signer=resolve_signer(key, env={}))
    events = sample_events()
    for event in events:
        writer.record(event)
    writer.close()  # no end record: what SIGKILL leaves behind
    result = verify_log(writer.path, allowed_signers=allowed, identity="alice@example.com")
    badge = trust_badge(result, events=len(events))
    assert badge.level == "truncated", badge
    assert badge.text.startswith("TRUNCATED after event")
    assert "signed up to event" in badge.text


def test_playback_frames_follow_the_gaps_compress_idle_and_share_bursts() -> None:
    events = sample_events()[:6]
    times = [0.0, 0.001, 0.002, 1.0, 3601.0, 3601.5]  # a burst, a second, an idle hour
    timeline = Timeline.of([(e, Stamp(at=f"2026-02-16T10:00:0{i}Z", t=t))
                            for i, (e, t) in enumerate(zip(events, times))])
    assert timeline.play_step(0, 1.0) == (3, pytest.approx(0.002))  # the burst: one frame
    assert timeline.play_step(3, 1.0) == (4, pytest.approx(0.998))
    assert timeline.play_step(4, 1.0) == (5, pytest.approx(2.0))  # the hour: MAX_IDLE_S
    assert timeline.play_step(4, 10.0) == (5, pytest.approx(0.2))
    assert timeline.play_step(0, float("inf")) == (6, 0.0)  # instant: everything at once
    assert timeline.play_step(6, 1.0) == (6, 0.0)


def test_seek_takes_an_event_number_or_a_time_and_says_what_else_to_type() -> None:
    timeline = Timeline.of(_stamped(sample_events()))
    assert timeline.seek("3") == 3
    assert timeline.seek("999") == len(timeline)
    assert timeline.seek("10:00:04") == 5
    assert timeline.seek("9:59") == 0
    assert timeline.seek("2026-02-16T10:00:01") == 2
    with pytest.raises(ValueError, match="type an event number"):
        timeline.seek("tomorrow")
    counts = timeline.marker_counts()
    assert counts["error"] >= 1 and sum(counts.values()) == len(timeline.markers)
    first = timeline.markers[0]
    assert timeline.marker_at(first.position) == first
    assert timeline.marker_at(0) is None


# ---------------------------------------------------------------------- large logs


def _reader_view(log: Path) -> tuple[object, list[tuple[int, str, bool]]]:
    """What the one reader finds: the chain and (seq, kind, verified) of each event."""
    reader = LogReader(log, parse=False, keep_going=True)
    entries = [(entry.seq, entry.kind, entry.verified) for entry in reader]
    return reader.chain, entries


def _damaged_logs(tmp_path: Path) -> dict[str, Path]:
    """The same session intact, unfinished, and damaged every way verify names."""
    logs = {"intact": write_session(tmp_path / "intact", sample_events()),
            "unfinished": write_session(tmp_path / "unfinished", sample_events(),
                                        outcome=None)}
    data = logs["intact"].read_bytes()
    head, *chunks = chunks_of(data)
    variants = {
        "edited": data.replace(b"pg_dump at 09:58", b"pg_dump at 09:59"),
        "missing": head + b"".join(chunks[:3] + chunks[4:]),
        "reordered": head + b"".join(chunks[:3] + [chunks[4], chunks[3]] + chunks[5:]),
        "duplicated": head + b"".join(chunks[:4] + [chunks[3]] + chunks[4:]),
        "after-the-end": data + chunks[2],
        "torn": data[: data.rindex(b"[[event]]") + 20],
        "garbage-after-a-break": data.replace(b"pg_dump at 09:58", b"pg_dump at 09:59")
        .replace(b'kind = "operator_note"', b'kind = "operator_note"\n= ='),
    }
    for name, content in variants.items():
        path = tmp_path / f"{name}.deploy-log.toml"
        path.write_bytes(content)
        logs[name] = path
    return logs


def test_the_replay_index_finds_what_the_reader_finds_in_every_damaged_log(
        tmp_path: Path) -> None:
    for name, log in _damaged_logs(tmp_path).items():
        index = index_log(log)
        chain, entries = _reader_view(log)
        assert index.chain == chain, name
        assert [(index.seq(i), index.kind(i), i < index.verified)
                for i in range(len(index))] == entries, name
        # And the lazy timeline on it is the eager fold of what the reader yields.
        journal = read_journal(log)
        events = [e for e in (entry.event() for entry in journal.entries) if e is not None]
        loaded = timeline_from_log(log, fold=0)
        assert loaded.stopped == journal.stopped, name
        assert loaded.timeline.events == events, name
        assert loaded.timeline.state_at(len(events)) == fold(events), name


def test_a_lazy_timeline_places_its_markers_at_once_and_folds_as_it_goes(
        tmp_path: Path) -> None:
    log = write_session(tmp_path, sample_events() * 20)
    eager = timeline_from_log(log).timeline
    lazy = timeline_from_log(log, fold=0, snapshot_every=16).timeline
    assert lazy.folded == 0 and not lazy.loaded and len(lazy) == len(eager)
    assert lazy.markers == eager.markers  # before any fold
    assert lazy.marker_counts() == eager.marker_counts()
    events = eager.events
    assert lazy.state_at(100) == fold(events[:100]) and lazy.folded == 100
    assert lazy.state_at(40) == fold(events[:40]) and lazy.folded == 100
    while not lazy.fold_more(37):
        pass
    assert lazy.head == eager.head
    assert lazy.stamps == eager.stamps


@settings(max_examples=40, deadline=None)
@given(st.lists(ANY_EVENT, max_size=40), st.sampled_from(
    [None, ["error"], ["tick", "override"], ["decision", "workflow", "error"]]))
def test_marker_lookups_agree_with_a_scan_of_every_marker(
        events: list[ev.Event], kinds: list[str] | None) -> None:
    timeline = Timeline.of(_stamped(events))
    wanted = [m for m in timeline.markers if kinds is None or m.kind in kinds]
    for position in range(len(events) + 2):
        after = [m for m in wanted if m.position > position]
        before = [m for m in wanted if m.position < position]
        assert timeline.next_marker(position, kinds) == (after[0] if after else None)
        assert timeline.previous_marker(position, kinds) == (before[-1] if before else None)
        here = [m for m in timeline.markers if m.position == position]
        assert timeline.marker_at(position) == (here[0] if here else None)


def test_start_position_names_a_marker_an_event_a_time_or_an_end() -> None:
    timeline = Timeline.of(_stamped(sample_events()))
    error = timeline.next_marker(0, ["error"])
    assert error is not None
    assert timeline.start_position("first-error") == error.position
    assert timeline.start_position("first-tick") == 1
    assert timeline.start_position(" START ") == 0
    assert timeline.start_position("end") == len(timeline)
    assert timeline.start_position("7") == 7
    assert timeline.start_position("10:00:04") == 5
    assert timeline.start_position("2026-02-16T10:00:01") == 2
    with pytest.raises(ValueError, match=r"event 99 is past the end \(the log has 15"):
        timeline.start_position("99")
    with pytest.raises(ValueError, match="the log has no workflow marker .it has 2 error, 1 decision"):
        timeline.start_position("first-workflow")
    with pytest.raises(ValueError, match="give start, end, first-error, .* or a time"):
        timeline.start_position("the middle")


@settings(max_examples=200, deadline=None)
@given(ANY_EVENT)
def test_every_event_that_places_a_marker_is_of_a_kind_a_lazy_timeline_parses(
        event: ev.Event) -> None:
    if marker_of(event, 1) is not None:
        assert event.kind in MARKER_EVENT_KINDS
