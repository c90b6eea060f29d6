"""Canonical form and hashes of journal records, and the exact TOML text the writer emits.

A record's hash must not depend on how TOML happens to lay it out (tables, array
wrapping, quoting), so it is computed over canonical JSON instead: keys sorted, no
insignificant whitespace, UTF-8, datetimes as ISO 8601 strings.  The same record read back
by ``tomllib`` yields the same canonical bytes, hence the same hash.

The *layout* is checked separately (``render_event`` / ``render_header``): a reader
re-renders every parsed record and compares bytes, so that edits which TOML considers
equivalent (a space turned into a newline inside an array, ``seq =+1``) are still caught.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import tomli_w

FORMAT = "spfp-console-journal"
"""Value of ``session.format``: tells a reader what kind of file this is."""

FORMAT_VERSION = 1
"""Bumped when the layout or the hashing rules change."""

HASH_KEY = "hash"
PREV_KEY = "prev"

EVENT_HEADER_LINE = b"[[event]]\n"
"""Each event starts with this line, preceded by a blank line."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def canonical_bytes(record: dict[str, Any]) -> bytes:
    """Canonical JSON of ``record``: sorted keys, compact separators, UTF-8."""
    return json.dumps(
        _jsonable(record),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=True,
    ).encode("utf-8")


def record_hash(record: dict[str, Any]) -> str:
    """sha256 (hex) of the canonical form of ``record`` minus its own ``hash`` key."""
    body = {k: v for k, v in record.items() if k != HASH_KEY}
    return hashlib.sha256(canonical_bytes(body)).hexdigest()


def header_hash(session: dict[str, Any]) -> str:
    """Hash of the ``[session]`` table; it is the ``prev`` of event 1."""
    body = {k: v for k, v in session.items() if k != HASH_KEY}
    return hashlib.sha256(canonical_bytes({"session": body})).hexdigest()


def render_header(session: dict[str, Any]) -> bytes:
    """The exact bytes the writer puts at the top of a log."""
    return tomli_w.dumps({"session": session}).encode("utf-8")


def render_event(entry: dict[str, Any]) -> bytes:
    """The exact bytes of one appended event: a blank line, then ``[[event]]`` and keys.

    The leading blank line makes the chunk boundary ``\\n\\n[[event]]\\n`` unambiguous:
    tomli-w escapes newlines inside strings and indents array items, so that sequence
    never occurs inside a record.
    """
    if any(isinstance(v, dict) for v in entry.values()):
        return b"\n" + tomli_w.dumps({"event": [entry]}).encode("utf-8")
    # Same bytes for a flat record, without tomli-w first trying (and failing) to fit the
    # whole event on one inline line: this halves the cost of the verify layout check.
    return b"\n[[event]]\n" + tomli_w.dumps(entry).encode("utf-8")


def tomli_w_version() -> str:
    """The installed tomli-w version, recorded in headers (the layout check depends on it)."""
    try:
        return version("tomli-w")
    except PackageNotFoundError:  # pragma: no cover - vendored or renamed distribution
        return "unknown"
