"""Any change to a log is caught, and the first bad event is named correctly."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from journal_testkit import ANY_EVENT, chunks_of, sample_events, write_session

from spfp_console import events as ev
from spfp_console.journal.canonical import render_event, render_header, seal_event
from spfp_console.journal.verify import ChainResult, verify_chain

FIXTURE_SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _verify_bytes(tmp_path: Path, data: bytes) -> ChainResult:
    path = tmp_path / "tampered.deploy-log.toml"
    path.write_bytes(data)
    return verify_chain(path)


def _edited(chunk: bytes, key: str) -> bytes:
    """The chunk with one value changed but its old hash kept (a naive forger)."""
    entry = tomllib.loads(chunk.decode())["event"][0]
    value = entry[key]
    if isinstance(value, bool):
        entry[key] = not value
    elif isinstance(value, int):
        entry[key] = value + 1
    elif isinstance(value, float):
        entry[key] = value * 2 + 1
    elif isinstance(value, str):
        entry[key] = value + "x"
    elif isinstance(value, list):
        entry[key] = [*value, "x"]
    else:  # pragma: no cover
        raise AssertionError(value)
    return render_event(entry)


@st.composite
def session_and_tamper(draw: st.DrawFn) -> tuple[list[ev.Event], str, tuple[int, ...], str]:
    events = draw(st.lists(ANY_EVENT, min_size=1, max_size=6))
    n = len(events) + 1  # plus the session end record
    op = draw(st.sampled_from(["edit", "delete", "swap", "duplicate", "truncate"]))
    key = ""
    if op == "edit":
        args: tuple[int, ...] = (draw(st.integers(1, n)),)
        key = draw(st.sampled_from(["seq", "at", "t", "prev", "hash", "kind", "<field>"]))
    elif op == "delete":
        args = (draw(st.integers(1, n)),)
    elif op == "swap":
        i = draw(st.integers(1, n - 1))
        args = (i, draw(st.integers(i + 1, n)))
    elif op == "duplicate":
        args = (draw(st.integers(1, n)), draw(st.integers(0, n)))  # copy of k, inserted at p
    else:
        args = (draw(st.integers(1, n)), draw(st.integers(0, 10**6)))  # event k, cut offset
    return events, op, args, key


@FIXTURE_SETTINGS
@given(case=session_and_tamper())
def test_random_tampering_is_detected_at_the_right_seq(
    tmp_path: Path, case: tuple[list[ev.Event], str, tuple[int, ...], str]
) -> None:
    events, op, args, key = case
    log = write_session(tmp_path, events)
    original = log.read_bytes()
    log.unlink()
    assert _verify_bytes(tmp_path, original).ok  # untampered passes

    head, *chunks = chunks_of(original)
    n = len(chunks)
    if op == "edit":
        (k,) = args
        entry = tomllib.loads(chunks[k - 1].decode())["event"][0]
        if key == "<field>":
            own = [f for f in entry if f not in ("seq", "at", "t", "prev", "hash", "kind")]
            assume(own)
            key = own[0]
        chunks[k - 1] = _edited(chunks[k - 1], key)
        expected = (k, {"edited"})
    elif op == "delete":
        (k,) = args
        del chunks[k - 1]
        expected = (k, {"truncated"} if k == n else {"missing"})
    elif op == "swap":
        i, j = args
        chunks[i - 1], chunks[j - 1] = chunks[j - 1], chunks[i - 1]
        expected = (i, {"reordered"})
    elif op == "duplicate":
        k, p = args
        chunks.insert(p, chunks[k - 1])
        expected = (k + 1 if p + 1 == k else p + 1, {"duplicated"})
    else:
        k, cut = args
        cut %= len(chunks[k - 1])
        chunks = chunks[: k - 1] + [chunks[k - 1][:cut]]
        expected = (k, {"truncated"})

    result = _verify_bytes(tmp_path, head + b"".join(chunks))
    assert not result.ok
    assert (result.first_bad_seq, result.problem) in {(expected[0], p) for p in expected[1]}, (
        op, args, key, result
    )
    assert result.events == expected[0] - 1


def test_every_single_byte_flip_is_detected(tmp_path: Path) -> None:
    # A table, a multi-line array and a statement: every line shape the writer produces.
    log = write_session(tmp_path, sample_events()[1:2] + sample_events()[4:5])
    data = log.read_bytes()
    for position in range(len(data)):
        for mask in (0x01, 0x20):
            flipped = bytearray(data)
            flipped[position] ^= mask
            result = _verify_bytes(tmp_path, bytes(flipped))
            assert not result.ok, (position, mask, data[max(0, position - 20): position + 20])


@FIXTURE_SETTINGS
@given(data=st.data())
def test_any_byte_replacement_is_detected(tmp_path: Path, data: st.DataObject) -> None:
    log_dir = tmp_path / "logs"
    log = write_session(log_dir, data.draw(st.lists(ANY_EVENT, min_size=1, max_size=4)))
    raw = log.read_bytes()
    log.unlink()
    # The log's length varies with timestamps: draw independently of it, then scale.
    position = data.draw(st.integers(0, 10**9)) % len(raw)
    mask = data.draw(st.integers(1, 255))
    tampered = raw[:position] + bytes([raw[position] ^ mask]) + raw[position + 1:]
    assert not _verify_bytes(tmp_path, tampered).ok


def test_toml_equivalent_reformatting_is_still_an_edit(tmp_path: Path) -> None:
    # Same parsed content, different bytes: the hash alone would not notice.
    log = write_session(tmp_path, sample_events()[:2])
    data = log.read_bytes()
    for before, after in [(b"seq = 2", b"seq =+2"), (b'"check",\n', b'"check", \n')]:
        assert before in data
        tampered = data.replace(before, after, 1)
        assert tomllib.loads(tampered.decode()) == tomllib.loads(data.decode())
        result = _verify_bytes(tmp_path, tampered)
        assert not result.ok and result.problem == "edited"


def test_header_edit_is_reported_as_header(tmp_path: Path) -> None:
    log = write_session(tmp_path, sample_events()[:2])
    data = log.read_bytes()
    result = _verify_bytes(tmp_path, data.replace(b'database = "app"', b'database = "prod"'))
    assert (result.first_bad_seq, result.problem) == (0, "edited")
    assert "header" in result.detail

    # A forger who also re-hashes the header breaks the link to event 1 instead.
    head, *chunks = chunks_of(data)
    session = tomllib.loads(head.decode())["session"]
    session["target"]["database"] = "prod"
    del session["hash"]
    result = _verify_bytes(tmp_path, render_header(session)[0] + b"".join(chunks))
    assert (result.first_bad_seq, result.problem) == (1, "edited")
    assert "prev does not match the hash of the header" in result.detail


def test_rehashed_replacement_event_breaks_the_link(tmp_path: Path) -> None:
    log = write_session(tmp_path, sample_events()[:4])
    head, *chunks = chunks_of(log.read_bytes())
    entry = tomllib.loads(chunks[1].decode())["event"][0]
    entry["prev"] = "0" * 64
    del entry["hash"]
    chunks[1] = seal_event(entry)[0]
    result = _verify_bytes(tmp_path, head + b"".join(chunks))
    assert (result.first_bad_seq, result.problem) == (2, "edited")


def test_event_after_session_end_is_inserted(tmp_path: Path) -> None:
    log = write_session(tmp_path, sample_events()[:2])
    head, *chunks = chunks_of(log.read_bytes())
    last = tomllib.loads(chunks[-1].decode())["event"][0]
    extra = {"seq": last["seq"] + 1, "at": last["at"], "t": last["t"], "prev": last["hash"],
             "kind": "operator_note", "text": "added later", "who": "mallory"}
    result = _verify_bytes(tmp_path, head + b"".join(chunks) + seal_event(extra)[0])
    assert (result.first_bad_seq, result.problem) == (4, "inserted")


@pytest.mark.parametrize("data", [b"", b"[session]\n", b"not toml at all", b"[session]\nformat = 'x'\n"])
def test_garbage_files_fail_without_crashing(tmp_path: Path, data: bytes) -> None:
    result = _verify_bytes(tmp_path, data)
    assert not result.ok and result.first_bad_seq == 0
