"""The exact bytes of a log and the hashes that chain them (format version 2).

Each hash is taken over bytes *as written*, not over a re-serialised form: a verifier then
needs one sha256 per event and no TOML round trip, and any change to the bytes (including
edits TOML considers equivalent, ``seq =+1`` or a space turned into a newline inside an
array) changes a hash.

* An event chunk is ``\\n[[event]]\\n`` + its keys (``seq``, ``at``, ``t``, ``prev``,
  ``kind``, the event's own fields) + the line ``hash = "<hex>"\\n``, where ``<hex>`` is the
  sha256 of every byte of the chunk before that line.  ``prev`` is the hash of the event
  before (or of the header), so each hash covers the whole log up to its event.
* The header is the ``[session]`` table; its ``hash`` line sits among the table's scalars
  (TOML needs it before the ``[session.target]`` sub-table) and covers the header's bytes
  without that line.

Version 1 logs (hashes over canonical JSON) came from pre-release builds and are refused
with a clear message rather than verified by a second code path.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import tomli_w

FORMAT = "spfp-console-journal"
"""Value of ``session.format``: tells a reader what kind of file this is."""

FORMAT_VERSION = 2
"""Bumped when the layout or the hashing rules change."""

SESSION_ENDED = "session_ended"
"""Kind of the journal's own last record: the session is over, with its outcome."""

CHECKPOINT = "checkpoint"
"""Kind of the journal's own signed checkpoint records (see ``record.JournalWriter``)."""

HASH_KEY = "hash"
PREV_KEY = "prev"

EVENT_HEADER_LINE = b"[[event]]\n"
"""Each event starts with this line, preceded by a blank line."""

EVENT_SEPARATOR = b"\n\n[[event]]\n"
"""What separates two chunks: tomli-w escapes newlines inside strings and never writes a
blank line inside a flat table, so this sequence occurs nowhere inside a record."""

HASH_LINE_LENGTH = len(b'hash = ""\n') + 64

_HEADER_HASH_LINE = re.compile(rb'^hash = "([0-9a-f]{64})"\n', re.MULTILINE)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hash_line(digest: str) -> bytes:
    return b'hash = "' + digest.encode("ascii") + b'"\n'


def render_event(entry: dict[str, Any]) -> bytes:
    """The exact bytes of one event record as tomli-w writes it, keys in ``entry``'s order.

    With ``hash`` as the last key this is the whole chunk the writer appends.  Records are
    flat: a nested table would be written after ``hash`` and land outside the hashed part's
    layout rules, so the writer refuses them (see ``seal_event``).
    """
    return b"\n" + EVENT_HEADER_LINE + tomli_w.dumps(entry).encode("utf-8")


def seal_event(entry: dict[str, Any]) -> tuple[bytes, str]:
    """(chunk bytes, hash) of ``entry`` (which has no ``hash`` key yet)."""
    nested = [k for k, v in entry.items() if isinstance(v, dict)]
    if nested:
        raise ValueError(
            f"event kind {entry.get('kind')!r} has table-valued fields {nested}: journal "
            "records are flat (use a tuple of pairs in spfp_console/events.py)"
        )
    body = render_event(entry)
    digest = sha256_hex(body)
    return body + hash_line(digest), digest


_EVENT_HASH_LINE = re.compile(rb'\nhash = "([0-9a-f]{64})"\n\Z')


def event_hash_of_chunk(chunk: bytes) -> tuple[str | None, str]:
    """(hash the chunk states, hash its bytes have); the first is None without a hash line."""
    found = _EVENT_HASH_LINE.match(chunk, len(chunk) - HASH_LINE_LENGTH - 1)
    actual = hashlib.sha256(memoryview(chunk)[:-HASH_LINE_LENGTH]).hexdigest()
    return (found.group(1).decode("ascii") if found else None), actual


def render_header(session: dict[str, Any]) -> tuple[bytes, str]:
    """(header bytes, header hash) for a ``[session]`` table without ``hash``.

    Scalars come first, then the hash line, then sub-tables (``target``, ``files``).
    """
    scalars = {k: v for k, v in session.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in session.items() if isinstance(v, dict)}
    placeholder = "0" * 64
    text = tomli_w.dumps({"session": {**scalars, HASH_KEY: placeholder, **tables}}).encode("utf-8")
    line = hash_line(placeholder)
    at = text.index(line)
    digest = sha256_hex(text[:at] + text[at + len(line):])
    return text[:at] + hash_line(digest) + text[at + len(line):], digest


def header_hash_of_chunk(chunk: bytes) -> tuple[str | None, str | None]:
    """(hash the header states, hash its bytes have); (None, None) without a hash line."""
    found = _HEADER_HASH_LINE.search(chunk)
    if found is None:
        return None, None
    stated = found.group(1).decode("ascii")
    return stated, sha256_hex(chunk[: found.start()] + chunk[found.end():])
