"""Read a deployment log incrementally, checking its hash chain as it goes.

One reader for every consumer: ``verify`` drains it, ``export`` collects its events, and
the replay viewer iterates it (``follow=True`` tails a log that is still being written).
Each event comes with its byte offset and the assurance that the chain holds from the
header through it; reading stops at the first event that breaks the chain and
``LogReader.chain`` says why, naming the first bad seq.

The file is read in large blocks and split on the ``\\n\\n[[event]]\\n`` boundaries
(``canonical.EVENT_SEPARATOR``), so memory stays flat for any log size and a torn last
write is a precise finding ("truncated after seq 41"), not a parse error for the whole
file.  Each event costs one sha256 over its bytes and, when parsed, one call into rtoml.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import rtoml

from spfp_console.events import Event, event_from_record
from spfp_console.journal.canonical import (
    CHECKPOINT,
    EVENT_SEPARATOR,
    FORMAT,
    FORMAT_VERSION,
    HASH_LINE_LENGTH,
    SESSION_ENDED,
    event_hash_of_chunk,
    header_hash_of_chunk,
)

JOURNAL_KINDS = frozenset({SESSION_ENDED, CHECKPOINT})
"""Records the journal writes itself; they are not domain events."""

_BLOCK = 1 << 20
_PREFIX = re.compile(
    rb'\n\[\[event\]\]\nseq = (\d{1,19})\nat = "([^"\\\n]*)"\nt = ([^\n]*)\n'
    rb'prev = "([0-9a-f]{64})"\nkind = "([a-z0-9_]{1,64})"\n'
)
_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "seq": int, "at": str, "t": (int, float), "prev": str, "kind": str, "hash": str,
}


class JournalFormatError(ValueError):
    """A chunk of a log is not what the writer writes."""


# --------------------------------------------------------------------------- chunks


class Chunk(NamedTuple):
    """Raw bytes of the header (``number == 0``) or of one event (``number >= 1``)."""

    number: int
    """Position in the file: 0 for the header, then 1, 2, ... (not necessarily ``seq``)."""
    offset: int
    """Byte offset of the chunk in the file."""
    data: bytes
    is_last: bool
    """Nothing follows this chunk."""

    @property
    def torn(self) -> bool:
        """The chunk does not end the way every complete event ends (its hash line)."""
        return event_hash_of_chunk(self.data)[0] is None

    @property
    def ends_with_a_hash_line(self) -> bool:
        """The last line is a (possibly garbled) ``hash = ...`` line: the writer finished it."""
        start = self.data.rfind(b"\n", 0, len(self.data) - 1) + 1
        return self.data.endswith(b"\n") and self.data.startswith(b"hash = ", start)


def _split_torn_start(rest: bytes) -> list[bytes]:
    """At the end of the file: a chunk followed by the cut-off start of the next one.

    No complete record ends in a blank line, so a tail of ``\\n\\n[[ev`` (any non-empty
    prefix of the separator after the first newline) is a new event whose write was cut.
    """
    for k in range(len(EVENT_SEPARATOR) - 1, 1, -1):
        if len(rest) > k and rest.endswith(EVENT_SEPARATOR[:k]):
            cut = len(rest) - k + 1
            return [rest[:cut], rest[cut:]]
    return [rest]


def iter_chunks(f: BinaryIO, *, offset: int = 0, number: int = 0) -> Iterator[Chunk]:
    """Split a log (from ``offset``, a chunk boundary) into chunks, streaming."""
    buf = b""
    held: Chunk | None = None
    while True:
        block = f.read(_BLOCK)
        if not block:
            break
        buf += block
        pos = 0
        while (found := buf.find(EVENT_SEPARATOR, pos)) >= 0:
            if held is not None:
                yield held
            held = Chunk(number, offset, buf[pos : found + 1], False)
            number += 1
            offset += found + 1 - pos
            pos = found + 1
        buf = buf[pos:]
    pieces = _split_torn_start(buf) if buf else []
    if held is not None:
        yield Chunk(held.number, held.offset, held.data, not pieces)
    for i, data in enumerate(pieces):
        yield Chunk(number, offset, data, i == len(pieces) - 1)
        number += 1
        offset += len(data)


def _chunk_is_complete(data: bytes, number: int) -> bool:
    """A chunk at the current end of a growing file is whole when its hash checks out."""
    if number == 0:
        stated, actual = header_hash_of_chunk(data)
    else:
        stated, actual = event_hash_of_chunk(data)
    return stated is not None and stated == actual


# --------------------------------------------------------------------------- parsing


def _toml(chunk: Chunk) -> dict[str, Any]:
    try:
        return rtoml.loads(chunk.data.decode("utf-8"))
    except (UnicodeDecodeError, rtoml.TomlParsingError) as exc:
        raise JournalFormatError(f"not valid TOML: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def parse_header(chunk: Chunk) -> dict[str, Any]:
    """The ``[session]`` table of a header chunk."""
    try:
        doc = _toml(chunk)
    except JournalFormatError as exc:
        raise JournalFormatError(f"header is {exc}") from exc
    session = doc.get("session")
    if set(doc) != {"session"} or not isinstance(session, dict):
        raise JournalFormatError("header has no [session] table or extra tables")
    if session.get("format") != FORMAT:
        raise JournalFormatError("not a spfp-console deployment log (session.format)")
    version = session.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise JournalFormatError(
            f"log format version {version!r} is newer than this console reads "
            f"({FORMAT_VERSION}); upgrade spfp-console"
        )
    if version < FORMAT_VERSION:
        raise JournalFormatError(
            f"log format version {version} was written by a pre-release spfp-console whose "
            "hashes this version does not check; verify it with the build that wrote it"
        )
    return session


def parse_event(chunk: Chunk) -> dict[str, Any]:
    """The single ``[[event]]`` table of an event chunk, with its required keys checked."""
    doc = _toml(chunk)
    events = doc.get("event")
    if set(doc) != {"event"} or not isinstance(events, list) or len(events) != 1:
        raise JournalFormatError("chunk is not exactly one [[event]] table")
    entry = events[0]
    for key, types in _REQUIRED.items():
        if not isinstance(entry.get(key), types) or isinstance(entry.get(key), bool):
            raise JournalFormatError(f"event has no valid {key!r}")
    return entry


# --------------------------------------------------------------------------- results


class JournalEntry:
    """One event as read from a log: the journal's fields plus the event's record.

    From ``LogReader(parse=False)`` the record is parsed on first access (a replay viewer
    opens 100k events without parsing them); an event whose bytes hash correctly but do
    not parse then raises ``JournalFormatError`` there.
    """

    __slots__ = ("seq", "at", "t", "kind", "offset", "hash", "verified", "_data", "_record")

    def __init__(
        self,
        seq: int,
        at: str,
        t: float,
        kind: str,
        record: dict[str, Any] | None = None,
        offset: int = 0,
        hash: str = "",  # noqa: A002 - the log's own key name
        data: bytes | None = None,
        verified: bool = True,
    ) -> None:
        self.seq = seq
        self.at = at
        """UTC ISO 8601 timestamp of when it was recorded."""
        self.t = t
        """Monotonic seconds since the session started."""
        self.kind = kind
        self.offset = offset
        """Byte offset of the event in the file (for seeking and for error messages)."""
        self.hash = hash
        """The hash the event states."""
        self.verified = verified
        """The chain holds from the header through this event (False: read past a break)."""
        self._record = record
        self._data = data

    @classmethod
    def from_entry(cls, entry: dict[str, Any], offset: int = 0, *, verified: bool = True) -> JournalEntry:
        return cls(
            seq=entry["seq"], at=entry["at"], t=float(entry["t"]), kind=entry["kind"],
            record=entry, offset=offset, hash=str(entry.get("hash", "")), verified=verified,
        )

    @property
    def record(self) -> dict[str, Any]:
        """The whole ``[[event]]`` table as parsed (journal fields included)."""
        if self._record is None:
            assert self._data is not None
            self._record = parse_event(Chunk(self.seq, self.offset, self._data, False))
            self._data = None
        return self._record

    @property
    def fields(self) -> dict[str, Any]:
        """The event's own fields: what ``Event.to_record()`` produced."""
        return {k: v for k, v in self.record.items() if k not in ("seq", "at", "t", "prev", "hash")}

    def event(self) -> Event | None:
        """The domain event (the session end record reads as a SessionEnded), or None for
        a signed checkpoint, which is the journal's own record.

        Raises ``UnknownEventKind`` for a kind a newer console wrote.
        """
        if self.kind == CHECKPOINT:
            return None
        return event_from_record(self.fields)

    def __repr__(self) -> str:
        return f"JournalEntry(seq={self.seq}, kind={self.kind!r}, offset={self.offset})"


@dataclass(frozen=True)
class CheckpointRecord:
    """A signed checkpoint found in a log: a signature over the chain hash at ``signed_seq``."""

    seq: int
    """The checkpoint record's own seq."""
    signed_seq: int
    """The last event the signature covers (0: the header)."""
    signed_hash: str
    """The chain hash at ``signed_seq``: the checkpoint's ``prev``."""
    signature: str
    """Base64 of the SSHSIG blob."""


@dataclass
class ChainResult:
    """Outcome of the hash-chain check."""

    events: int = 0
    """Events that verified, in order, from seq 1."""
    first_bad_seq: int | None = None
    problem: str | None = None
    """edited, missing, reordered, duplicated, inserted, truncated, malformed (None if intact)."""
    detail: str = ""
    header: dict[str, Any] = field(default_factory=dict)
    outcome: str | None = None
    """The session end record's outcome, when the chain reached it."""
    last_hash: str | None = None
    """The chain hash of the last event that verified (the header's before any)."""
    checkpoints: list[CheckpointRecord] = field(default_factory=list)
    """Signed checkpoints among the verified events, in order."""

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def intact_but_unfinished(self) -> bool:
        """Every complete event verifies; only the end is missing (or torn)."""
        return self.problem == "truncated" and self.first_bad_seq != 0


@dataclass(frozen=True)
class ResumePoint:
    """Where a reader takes over from a log already read (``LogIndex.resume_point``):
    the byte offset after the last event read, and the chain as it stood there."""

    offset: int
    number: int
    """The chunk number at ``offset`` (the header is 0)."""
    chain: ChainResult
    """The chain so far: ``events`` verified, ``last_hash``, checkpoints; a break in it
    (``problem`` other than truncated) means what follows is read unverified."""
    header: dict[str, Any]


class _Broken(Exception):
    def __init__(self, problem: str, detail: str) -> None:
        super().__init__(problem, detail)
        self.problem = problem
        self.detail = detail


# --------------------------------------------------------------------------- the reader


class LogReader:
    """Iterate a log's events, verifying the chain as it goes.

    ``for entry in LogReader(path): ...`` yields ``JournalEntry`` objects while the chain
    holds (parsed with rtoml as they are read, or with ``parse=False`` on first access to
    ``entry.record``); afterwards ``reader.chain`` tells whether the log was
    intact and, if not, the first bad seq.  ``reader.header`` is the ``[session]`` table
    once the first event is yielded (or iteration ends).

    With ``follow=True`` the reader waits at the end of the file for more events (a log
    still being written) until the session end record, until ``stop()`` returns True, or
    until the file has not grown for ``idle_timeout_s`` seconds.

    ``resume`` starts after events already read (``LogIndex.resume_point``), with the
    chain as it stood there.

    ``keep_going=True`` is for showing a damaged log (replay, a report): after the first
    bad event it goes on yielding every event that still parses, with ``verified=False``.  Raises ``OSError`` when
    the file cannot be read; a malformed file is a ``chain`` finding, not an exception.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        parse: bool = True,
        follow: bool = False,
        poll_s: float = 0.2,
        idle_timeout_s: float | None = None,
        stop: Callable[[], bool] | None = None,
        keep_going: bool = False,
        resume: ResumePoint | None = None,
        data: bytes | None = None,
    ) -> None:
        self.path = Path(path)
        self.resume = resume
        """Read on from there (a log indexed for replay, then followed) rather than from
        the header."""
        self.data = data
        """The log's bytes as already read (the reader reads them, not the file, which
        a writer may have appended to since)."""
        self.keep_going = keep_going
        self.stopped: str | None = None
        """With ``keep_going``: why reading stopped before the end (a torn or unreadable
        event), None when it read everything."""
        self.parse = parse
        self.follow = follow
        self.poll_s = poll_s
        self.idle_timeout_s = idle_timeout_s
        self.stop = stop
        self.header: dict[str, Any] = {}
        self.chain = ChainResult()
        self._ended = False

    # The chunk source: plain streaming, or tailing a growing file.
    def _chunks(self, f: BinaryIO) -> Iterator[Chunk]:
        start = self.resume
        offset, number = (start.offset, start.number) if start is not None else (0, 0)
        if not self.follow:
            yield from iter_chunks(f, offset=offset, number=number)
            return
        buf = b""
        idle_since = time.monotonic()
        while True:
            block = f.read(_BLOCK)
            if block:
                idle_since = time.monotonic()
                buf += block
                pos = 0
                while (found := buf.find(EVENT_SEPARATOR, pos)) >= 0:
                    yield Chunk(number, offset, buf[pos : found + 1], False)
                    number += 1
                    offset += found + 1 - pos
                    pos = found + 1
                buf = buf[pos:]
                continue
            if buf and _chunk_is_complete(buf, number):
                yield Chunk(number, offset, buf, False)
                number += 1
                offset += len(buf)
                buf = b""
            idle = time.monotonic() - idle_since
            if (
                self._ended
                or (self.stop is not None and self.stop())
                or (self.idle_timeout_s is not None and idle >= self.idle_timeout_s)
            ):
                # What is left is the last chunk, complete or torn.
                f.seek(offset)
                yield from iter_chunks(f, offset=offset, number=number)
                return
            time.sleep(self.poll_s)

    def __iter__(self) -> Iterator[JournalEntry]:
        for chunk, record, prefix, verified in self._walk():
            if record is not None:
                yield JournalEntry.from_entry(record, chunk.offset, verified=verified)
                continue
            assert prefix is not None  # only verified events come unparsed
            seq, at, t, kind = prefix.group(1, 2, 3, 5)
            try:
                seconds = float(t)
            except ValueError:
                seconds = 0.0
            yield JournalEntry(int(seq), at.decode("utf-8", "replace"), seconds, kind.decode("ascii"),
                               offset=chunk.offset, hash=self.chain.last_hash or "", data=chunk.data)

    def run(self) -> ChainResult:
        """Read to the end (or the first bad event) and return the chain result."""
        for _ in self._walk():
            pass
        return self.chain

    def _walk(
        self,
    ) -> Iterator[tuple[Chunk, dict[str, Any] | None, re.Match[bytes] | None, bool]]:
        """(chunk, parsed record or None, its fixed-key match, verified) for each event
        while the chain holds; with ``keep_going``, then for what still parses."""
        result = self.chain = ChainResult()
        with (open(self.path, "rb") if self.data is None else io.BytesIO(self.data)) as f:
            if self.resume is not None:
                yield from self._walk_on(f, self.resume)
                return
            chunks = self._chunks(f)
            head = next(chunks, None)
            if head is None:
                result.first_bad_seq, result.problem = 0, "truncated"
                result.detail = "the file is empty"
                return
            try:
                prev = self._check_header(head)
            except _Broken as broken:
                result.first_bad_seq = 0
                result.problem, result.detail = broken.problem, broken.detail
                if self.keep_going and self.header:
                    yield from self._unverified(chunks)
                return
            yield from self._walk_events(chunks, 1, prev)

    def _walk_on(
        self, f: BinaryIO, start: ResumePoint
    ) -> Iterator[tuple[Chunk, dict[str, Any] | None, re.Match[bytes] | None, bool]]:
        """``_walk`` from a resume point: the header and the events before it were read."""
        result, before = self.chain, start.chain
        self.header = result.header = start.header
        result.events, result.last_hash = before.events, before.last_hash
        result.checkpoints = list(before.checkpoints)
        result.outcome = before.outcome
        self._ended = before.outcome is not None
        f.seek(start.offset)
        chunks = self._chunks(f)
        if before.problem not in (None, "truncated") or before.last_hash is None:
            result.first_bad_seq, result.problem = before.first_bad_seq, before.problem
            result.detail = before.detail
            if self.keep_going:
                yield from self._unverified(chunks)
            return
        yield from self._walk_events(chunks, before.events + 1, before.last_hash)

    def _walk_events(
        self, chunks: Iterator[Chunk], expected: int, prev: str
    ) -> Iterator[tuple[Chunk, dict[str, Any] | None, re.Match[bytes] | None, bool]]:
        result = self.chain
        for chunk in chunks:
            try:
                prev, record, prefix = self._check_event(chunk, expected, prev)
            except _Broken as broken:
                result.first_bad_seq = expected
                result.problem, result.detail = broken.problem, broken.detail
                if self.keep_going:
                    yield from self._unverified(itertools.chain([chunk], chunks))
                return
            result.last_hash = prev
            result.events = expected
            expected += 1
            yield chunk, record, prefix, True
        if result.outcome is None:
            result.first_bad_seq, result.problem = expected, "truncated"
            result.detail = (
                f"the log ends after seq {expected - 1} without a session end record "
                "(the session crashed, was killed, or is still running)"
            )

    def _unverified(
        self, chunks: Iterator[Chunk]
    ) -> Iterator[tuple[Chunk, dict[str, Any], None, bool]]:
        """After the chain broke: whatever still parses, until something does not."""
        for chunk in chunks:
            if chunk.is_last and chunk.torn:
                # It may parse only because the cut fell at a line end.
                self.stopped = f"event #{chunk.number} truncated: the file ends inside an event"
                return
            try:
                record = parse_event(chunk)
            except JournalFormatError as exc:
                self.stopped = f"event #{chunk.number} unreadable: {exc}"
                return
            if record["kind"] == SESSION_ENDED:
                self._ended = True  # a followed log: the session is over, stop tailing
            yield chunk, record, None, False

    def _check_header(self, head: Chunk) -> str:
        try:
            session = parse_header(head)
        except JournalFormatError as exc:
            # A header is written in one go: only a cut file ends inside it.
            cut = head.is_last and not head.data.endswith(b"\n")
            raise _Broken("truncated" if cut else "malformed", str(exc)) from None
        self.header = self.chain.header = session
        stated, actual = header_hash_of_chunk(head.data)
        if stated is None or stated != actual or session.get("hash") != stated:
            raise _Broken("edited", "the [session] header does not match its hash")
        self.chain.last_hash = stated
        return stated

    def _check_event(
        self, chunk: Chunk, expected: int, prev: str
    ) -> tuple[str, dict[str, Any] | None, re.Match[bytes]]:
        """(its hash, its record when parsed, the match of its fixed keys) if the chunk is
        the right next event; else _Broken."""
        result = self.chain
        data = chunk.data
        stated, actual = event_hash_of_chunk(data)
        if stated is None:
            if chunk.is_last and not chunk.ends_with_a_hash_line:
                raise _Broken("truncated", f"the file ends inside an event ({len(data)} bytes)")
            raise _Broken("edited", f"the event at byte {chunk.offset} has no valid hash line")
        if stated != actual:
            raise _Broken("edited", "content does not match its hash")
        prefix = _PREFIX.match(data)
        if prefix is None:
            raise _Broken("edited", f"the event's bytes differ from what the console writes (byte {chunk.offset})")
        seq_text, linked, kind_bytes = prefix.group(1, 4, 5)
        seq = int(seq_text)
        if seq != expected or result.outcome is not None:
            self._misplaced(chunk, seq, stated, expected)
        if linked.decode("ascii") != prev:
            what = "the header" if expected == 1 else f"seq {expected - 1}"
            raise _Broken("edited", f"prev does not match the hash of {what} (event replaced or re-hashed)")
        kind = kind_bytes.decode("ascii")
        record: dict[str, Any] | None = None
        if self.parse or kind in JOURNAL_KINDS:
            try:
                record = parse_event(chunk)
            except JournalFormatError as exc:
                raise _Broken("edited", f"unreadable event at byte {chunk.offset}: {exc}") from None
            if kind == SESSION_ENDED:
                result.outcome = str(record.get("outcome", "ended"))
                self._ended = True
            elif kind == CHECKPOINT:
                result.checkpoints.append(_checkpoint(record, prev))
        return stated, record, prefix

    def _misplaced(self, chunk: Chunk, seq: int, digest: str, expected: int) -> None:
        if self.chain.outcome is not None:
            if seq < expected:
                raise _Broken("duplicated", f"seq {seq} appears again after the session end")
            raise _Broken("inserted", f"seq {seq} follows the session end record")
        if seq < expected:
            raise _Broken("duplicated", f"seq {seq} appears again")
        raise _Broken(*self._classify_gap(chunk, seq, digest, expected))

    def _classify_gap(self, chunk: Chunk, seq: int, digest: str, expected: int) -> tuple[str, str]:
        """Missing, reordered or duplicated: one look at the rest of the file decides."""
        found_expected = False
        start = chunk.offset + len(chunk.data)
        with open(self.path, "rb") as f:
            f.seek(start)
            for later in iter_chunks(f, offset=start, number=chunk.number + 1):
                prefix = _PREFIX.match(later.data)
                if prefix is None:
                    continue
                later_seq = int(prefix.group(1))
                later_hash = later.data[-HASH_LINE_LENGTH + 8 : -2].decode("ascii", "replace")
                if later_seq == seq and later_hash == digest:
                    return "duplicated", f"a copy of seq {seq} is inserted before seq {expected}"
                if later_seq == expected:
                    found_expected = True
        if found_expected:
            return "reordered", f"found seq {seq} where seq {expected} belongs; seq {expected} comes later"
        return "missing", f"seq {expected} is missing (next is seq {seq})"


def _checkpoint(record: dict[str, Any], prev: str) -> CheckpointRecord:
    signed_seq, signature = record.get("signed_seq"), record.get("signature")
    if not isinstance(signed_seq, int) or isinstance(signed_seq, bool) or not isinstance(signature, str):
        raise _Broken("edited", f"checkpoint seq {record.get('seq')} lacks signed_seq or signature")
    if signed_seq != record["seq"] - 1:
        raise _Broken("edited", f"checkpoint seq {record['seq']} claims to sign seq {signed_seq}")
    return CheckpointRecord(record["seq"], signed_seq, prev, signature)


# --------------------------------------------------------------------------- whole logs


@dataclass
class Journal:
    """A log read as far as its chain holds: header, events in order, and what stopped it."""

    path: Path
    header: dict[str, Any]
    entries: list[JournalEntry]
    stopped: str | None = None
    """Why reading stopped early (a torn or unreadable event), None when it read to the end."""
    chain: ChainResult = field(default_factory=ChainResult)

    @property
    def ended(self) -> JournalEntry | None:
        """The session end record, when there is one."""
        for entry in reversed(self.entries):
            if entry.kind == SESSION_ENDED:
                return entry
        return None


def read_journal(path: Path | str) -> Journal:
    """Read a whole log into memory (for export and replay), past a broken chain.

    Every event that parses is kept, each flagged ``verified`` or not; ``stopped`` says
    where parsing gave up, and ``chain`` what verification found.  Raises
    ``JournalFormatError`` when the header is unreadable and ``OSError`` when the file is.
    """
    reader = LogReader(path, keep_going=True)
    entries = list(reader)
    chain = reader.chain
    if not reader.header:
        if chain.detail == "the file is empty":
            raise JournalFormatError(f"{path} is empty: not a deployment log")
        raise JournalFormatError(chain.detail)
    return Journal(path=Path(path), header=reader.header, entries=entries,
                   stopped=reader.stopped, chain=chain)


# --------------------------------------------------------------------------- an index


class LogIndex:
    """A whole log located and checked for replay, with no event parsed yet.

    Parsing every event (rtoml, then its dataclass) is most of the cost of opening a
    100,000-event log, and a reviewer looks at a few of them at a time: the index keeps
    the file's bytes, where each event starts and ends, and the fixed keys the writer puts
    first (seq, at, t, kind); ``record(i)`` parses one event when it is wanted.

    ``chain`` and ``stopped`` are what ``LogReader(keep_going=True)`` finds, and the
    events are the ones it yields: the first ``verified`` of them hold the chain, the rest
    (after a break) are what still parses.
    """

    def __init__(self, path: Path, data: bytes, header: dict[str, Any], chain: ChainResult,
                 stopped: str | None) -> None:
        self.path = path
        self.data = data
        self.header = header
        self.chain = chain
        self.stopped = stopped
        """Why reading stopped before the end (a torn or unreadable event), or None."""
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.keys: list[tuple[bytes, ...]] = []
        """(seq, at, t, prev, kind) of each event, as the bytes of the log."""
        self.verified = 0
        """How many events (a prefix) the chain vouches for."""
        self.end = 0
        """The byte offset just after the last event indexed (or the header)."""
        self._records: dict[int, dict[str, Any]] = {}
        """Events parsed while reading (journal records, anything after a break)."""

    def __len__(self) -> int:
        return len(self.starts)

    def kind(self, i: int) -> str:
        return self.keys[i][4].decode("ascii", "replace")

    def seq(self, i: int) -> int:
        return int(self.keys[i][0])

    def at(self, i: int) -> str:
        return self.keys[i][1].decode("utf-8", "replace")

    def t(self, i: int) -> float:
        try:
            return float(self.keys[i][2])
        except ValueError:
            return 0.0

    def record(self, i: int) -> dict[str, Any]:
        """The ``[[event]]`` table of event ``i``; raises ``JournalFormatError`` when its
        bytes do not parse (possible only after a break: verified events were written by
        the console)."""
        record = self._records.get(i)
        if record is not None:
            return record
        data = self.data[self.starts[i]:self.ends[i]]
        if i >= self.verified:
            return parse_event(Chunk(i + 1, self.starts[i], data, False))
        # A verified event's fixed keys and hash line were matched while indexing: only
        # its shape is left to check (a forged log can hash anything, so check that).
        try:
            doc = rtoml.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, rtoml.TomlParsingError) as exc:
            raise JournalFormatError(f"not valid TOML: {_first_line(exc)}") from exc
        events = doc.get("event")
        if len(doc) != 1 or type(events) is not list or len(events) != 1 \
                or type(events[0]) is not dict:
            raise JournalFormatError("chunk is not exactly one [[event]] table")
        return events[0]

    def event(self, i: int) -> Event | None:
        """Event ``i`` as the console's event (``JournalEntry.event``)."""
        if self.kind(i) == CHECKPOINT:
            return None
        return event_from_record(self.record(i))

    def resume_point(self) -> ResumePoint:
        """Where a reader goes on from (``LogReader(resume=...)``): a followed log is
        indexed as it stands, then tailed from there."""
        return ResumePoint(self.end, len(self) + 1, self.chain, self.header)

    def _add(self, start: int, end: int, keys: tuple[bytes, ...],
             record: dict[str, Any] | None = None) -> None:
        if record is not None:
            self._records[len(self.starts)] = record
        self.starts.append(start)
        self.ends.append(end)
        self.keys.append(keys)


def index_log(path: Path | str, *, growing: bool = False) -> LogIndex:
    """Read a whole log for replay: every event located, the chain checked, nothing
    parsed but the header and the journal's own records.

    ``growing``: the log is still being written (``replay --follow``): an event at its
    end that is not whole yet is left to the reader that tails it from
    ``LogIndex.resume_point()``.

    A log as the console writes it is checked in one tight pass over its bytes (the
    same checks as ``LogReader``: each event's hash, its seq, its link to the one before,
    the session end last).  Anything else (a break, a torn end, an odd byte) is left to
    ``LogReader(keep_going=True)`` from the start, so what a damaged log is found to be
    is said by the one reader.  Raises ``JournalFormatError`` when the header is
    unreadable and ``OSError`` when the file is.
    """
    path = Path(path)
    data = path.read_bytes()
    if growing:
        data = data[:_whole_chunks_end(data)]
    index = _index_fast(path, data)
    if index is None:
        index = _index_by_reader(path, data)
    if not index.header:
        if index.chain.detail == "the file is empty":
            raise JournalFormatError(f"{path} is empty: not a deployment log")
        raise JournalFormatError(index.chain.detail)
    return index


def _index_fast(path: Path, data: bytes) -> LogIndex | None:
    """The index of a log that is exactly what the writer writes, else None."""
    head_end = data.find(EVENT_SEPARATOR) + 1
    if head_end <= 0:
        return None  # no event at all: let the reader say what it is
    reader = LogReader(path, parse=False)
    try:
        prev = reader._check_header(Chunk(0, 0, data[:head_end], False))
    except _Broken:
        return None
    chain = reader.chain
    index = LogIndex(path, data, reader.header, chain, None)
    view = memoryview(data)
    find, match, sha256 = data.find, _PREFIX.match, hashlib.sha256
    hash_at = HASH_LINE_LENGTH - len(b'hash = "')
    size, start, expected = len(data), head_end, 1
    prev_bytes = prev.encode("ascii")
    outcome: str | None = None
    add_start, add_end, add_keys = index.starts.append, index.ends.append, index.keys.append
    while start < size:
        if outcome is not None:
            return None  # something after the session end: the reader names it
        found = find(EVENT_SEPARATOR, start + 1)
        end = found + 1 if found >= 0 else size
        keys = match(data, start)
        stated = data[end - hash_at:end - 2]
        if (keys is None or not data.startswith(b'\nhash = "', end - HASH_LINE_LENGTH - 1)
                or data[end - 2:end] != b'"\n'
                or sha256(view[start:end - HASH_LINE_LENGTH]).hexdigest().encode() != stated
                or int(keys[1]) != expected or keys[4] != prev_bytes):
            return None
        fields = keys.groups()
        if fields[4] in _JOURNAL_KINDS_BYTES:  # the chain needs the journal's own records
            try:
                record = parse_event(Chunk(expected, start, data[start:end], False))
                if fields[4] == _SESSION_ENDED_BYTES:
                    outcome = str(record.get("outcome", "ended"))
                else:
                    chain.checkpoints.append(_checkpoint(record, prev_bytes.decode("ascii")))
            except (JournalFormatError, _Broken):
                return None
            index._records[len(index.starts)] = record
        add_start(start)
        add_end(end)
        add_keys(fields)
        prev_bytes = stated
        expected += 1
        start = end
    chain.events = index.verified = expected - 1
    index.end = start
    chain.last_hash = prev_bytes.decode("ascii")
    chain.outcome = outcome
    if outcome is None:
        chain.first_bad_seq, chain.problem = expected, "truncated"
        chain.detail = (
            f"the log ends after seq {expected - 1} without a session end record "
            "(the session crashed, was killed, or is still running)"
        )
    return index


def _index_by_reader(path: Path, data: bytes) -> LogIndex:
    reader = LogReader(path, parse=False, keep_going=True, data=data)
    index = LogIndex(path, data, {}, reader.chain, None)
    index.end = data.find(EVENT_SEPARATOR) + 1 if EVENT_SEPARATOR in data else len(data)
    for chunk, record, prefix, verified in reader._walk():
        end = index.end = chunk.offset + len(chunk.data)
        if prefix is not None:
            index._add(chunk.offset, end, prefix.groups(), record)
        else:
            assert record is not None  # unverified events come parsed
            keys = tuple(str(record[key]).encode("utf-8") for key in ("seq", "at", "t", "prev",
                                                                      "kind"))
            index._add(chunk.offset, end, keys, record)
        if verified:
            index.verified = len(index)
    index.header, index.chain, index.stopped = reader.header, reader.chain, reader.stopped
    return index


def _whole_chunks_end(data: bytes) -> int:
    """The end of the last whole chunk of a log being written (its last may be torn)."""
    last = data.rfind(EVENT_SEPARATOR)
    if last < 0:
        return len(data)  # the header alone: whole or not, the index says what it is
    return len(data) if _chunk_is_complete(data[last + 1:], 1) else last + 1


_JOURNAL_KINDS_BYTES = frozenset(kind.encode("ascii") for kind in JOURNAL_KINDS)
_SESSION_ENDED_BYTES = SESSION_ENDED.encode("ascii")
