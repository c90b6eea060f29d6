"""Read a deployment log back, one event at a time, without trusting it.

A log is split into chunks on its ``\\n\\n[[event]]\\n`` boundaries and each chunk is
parsed alone with ``tomllib``.  That keeps memory flat for any log size and turns a torn
last write into a precise finding ("truncated after seq 41") instead of a parse error for
the whole file.  Integrity (hashes, order, signature) is ``verify``'s business; this
module only says what the bytes are.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from spfp_console.events import Event, event_from_record
from spfp_console.journal.canonical import (
    EVENT_HEADER_LINE,
    FORMAT,
    FORMAT_VERSION,
    render_event,
)

_HASH_LINE = re.compile(rb'hash = "[0-9a-f]{64}"\n\Z')
_REQUIRED: dict[str, type | tuple[type, ...]] = {"seq": int, "at": str, "t": (int, float), "prev": str, "kind": str, "hash": str}


class JournalFormatError(ValueError):
    """A chunk of a log is not what the writer writes."""


@dataclass(frozen=True)
class Chunk:
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
        return _HASH_LINE.search(self.data) is None


def _lines(f: BinaryIO) -> Iterator[bytes]:
    while True:
        line = f.readline(1 << 24)
        if not line:
            return
        yield line


def _starts_event(line: bytes, following: bytes | None, following_is_last: bool) -> bool:
    """Is this blank line the start of an event chunk (blank + ``[[event]]``)?"""
    if line != b"\n":
        return False
    if following is None:
        return True  # the file ends in a blank line: an event began and was cut
    if following == EVENT_HEADER_LINE:
        return True
    # A cut inside the "[[event]]" line itself.
    return following_is_last and EVENT_HEADER_LINE.startswith(following)


def iter_chunks(f: BinaryIO) -> Iterator[Chunk]:
    """Split a log into its header chunk and event chunks, streaming."""
    number = 0
    offset = 0
    buf: list[bytes] = []
    size = 0
    lines = _lines(f)
    line = next(lines, None)
    pending: list[Chunk] = []
    while line is not None:
        following = next(lines, None)
        following_is_last = following is not None and not following.endswith(b"\n")
        if buf and _starts_event(line, following, following_is_last):
            pending.append(Chunk(number, offset, b"".join(buf), False))
            number += 1
            offset += size
            buf, size = [], 0
        buf.append(line)
        size += len(line)
        line = following
        # Emit with one chunk of lookahead so that the last one can say it is last.
        while len(pending) > 1:
            yield pending.pop(0)
    if buf:
        pending.append(Chunk(number, offset, b"".join(buf), False))
    for i, chunk in enumerate(pending):
        is_last = i == len(pending) - 1
        yield Chunk(chunk.number, chunk.offset, chunk.data, is_last)


def parse_header(chunk: Chunk) -> dict[str, Any]:
    """The ``[session]`` table of a header chunk."""
    try:
        doc = tomllib.loads(chunk.data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise JournalFormatError(f"header is not valid TOML: {exc}") from exc
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
    return session


def parse_event(chunk: Chunk) -> dict[str, Any]:
    """The single ``[[event]]`` table of an event chunk, with its required keys checked."""
    try:
        doc = tomllib.loads(chunk.data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise JournalFormatError(f"not valid TOML: {exc}") from exc
    events = doc.get("event")
    if set(doc) != {"event"} or not isinstance(events, list) or len(events) != 1:
        raise JournalFormatError("chunk is not exactly one [[event]] table")
    entry = events[0]
    for key, types in _REQUIRED.items():
        if not isinstance(entry.get(key), types) or isinstance(entry.get(key), bool):
            raise JournalFormatError(f"event has no valid {key!r}")
    return entry


@dataclass(frozen=True)
class JournalEntry:
    """One event as read from a log: the journal's fields plus the event's record."""

    seq: int
    at: str
    """UTC ISO 8601 timestamp of when it was recorded."""
    t: float
    """Monotonic seconds since the session started."""
    kind: str
    record: dict[str, Any]
    """The whole ``[[event]]`` table as parsed (journal fields included)."""

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> JournalEntry:
        return cls(
            seq=entry["seq"], at=entry["at"], t=float(entry["t"]), kind=entry["kind"],
            record=entry,
        )

    @property
    def fields(self) -> dict[str, Any]:
        """The event's own fields: what ``Event.to_record()`` produced."""
        return {k: v for k, v in self.record.items() if k not in ("seq", "at", "t", "prev", "hash")}

    def event(self) -> Event | None:
        """The domain event (the session end record reads as a SessionEnded).

        Raises ``UnknownEventKind`` for a kind a newer console wrote.
        """
        return event_from_record(self.fields)


@dataclass
class Journal:
    """A log read as far as it parses: header, events in file order, and what stopped it."""

    path: Path
    header: dict[str, Any]
    entries: list[JournalEntry]
    stopped: str | None = None
    """Why reading stopped early (unparseable or torn chunk), None when it read to the end."""

    @property
    def ended(self) -> JournalEntry | None:
        """The session end record, when there is one."""
        from spfp_console.journal.record import SESSION_ENDED

        for entry in reversed(self.entries):
            if entry.kind == SESSION_ENDED:
                return entry
        return None


def read_journal(path: Path | str) -> Journal:
    """Read a whole log into memory (for export and replay, not for verification).

    Raises ``JournalFormatError`` when the header is unreadable and ``OSError`` when the
    file is.
    """
    path = Path(path)
    entries: list[JournalEntry] = []
    stopped: str | None = None
    header: dict[str, Any] | None = None
    with open(path, "rb") as f:
        for chunk in iter_chunks(f):
            if chunk.number == 0:
                header = parse_header(chunk)
                continue
            try:
                entry = parse_event(chunk)
                if chunk.is_last and chunk.torn and render_event(entry) != chunk.data:
                    # It parses only because the cut fell at a line end.
                    raise JournalFormatError("the file ends inside an event")
                entries.append(JournalEntry.from_entry(entry))
            except JournalFormatError as exc:
                where = "truncated" if chunk.is_last and chunk.torn else "unreadable"
                stopped = f"event #{chunk.number} {where}: {exc}"
                break
    if header is None:
        raise JournalFormatError(f"{path} is empty: not a deployment log")
    return Journal(path=path, header=header, entries=entries, stopped=stopped)
