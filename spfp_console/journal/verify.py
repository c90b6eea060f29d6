"""Is this log the one the console wrote?  Check the hash chain, then the seal.

The chain check streams the file once (plus, only after a gap in ``seq``, one look ahead
to tell *missing* from *reordered* from *duplicated*), so time is linear in the log size
and memory is flat.  It stops at the first bad event and names it:

* ``edited``: an event's content does not match its hash, its bytes are not what the
  writer writes, or it does not link to the event before it;
* ``missing``: a seq never appears; ``reordered``: it appears later;
* ``duplicated``: a seq appears twice;
* ``inserted``: an event after the session end record;
* ``truncated``: the file stops inside an event, or before the session end record;
* ``malformed``: the header is not a deployment log header at all.

``first_bad_seq`` is the seq the first bad position *should* hold (0 is the header).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spfp_console.journal.canonical import (
    HASH_KEY,
    PREV_KEY,
    header_hash,
    record_hash,
    render_event,
    render_header,
    tomli_w_version,
)
from spfp_console.journal.read import (
    Chunk,
    JournalFormatError,
    iter_chunks,
    parse_event,
    parse_header,
)
from spfp_console.journal.record import SESSION_ENDED
from spfp_console.journal.sign import DEFAULT_NAMESPACE, SignatureCheck, verify_signature


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
    layout_checked: bool = True
    """False when the log was written by another tomli-w version (see canonical.py)."""

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass
class VerifyResult:
    """Chain plus signature: what ``spfp-console verify`` reports."""

    chain: ChainResult
    signature: SignatureCheck
    require_signature: bool = False

    @property
    def ok(self) -> bool:
        if not self.chain.ok:
            return False
        if self.signature.status == "unsigned":
            return not self.require_signature
        if self.require_signature and not self.signature.signer_checked:
            return False
        return self.signature.ok

    def line(self) -> str:
        """The one line ``verify`` prints."""
        chain = self.chain
        if not chain.ok:
            intact = (
                f"chain intact through seq {chain.events}" if chain.events else "no event verified"
            )
            where = "header" if chain.first_bad_seq == 0 else f"seq {chain.first_bad_seq}"
            return f"FAILED: {where} {chain.problem}: {chain.detail} ({intact})"
        summary = f"{chain.events} events, chain intact, session {chain.outcome}"
        if not chain.layout_checked:
            summary += " (layout not checked: written with another tomli-w)"
        sig = self.signature
        if sig.status == "unsigned":
            if self.require_signature:
                return f"FAILED: unsigned: a signature is required ({summary})"
            return f"ok: {summary}; unsigned"
        if not sig.ok:
            return f"FAILED: {sig.status}: {sig.detail} ({summary})"
        if self.require_signature and not sig.signer_checked:
            return f"FAILED: signer not checked: pass --allowed-signers ({summary})"
        return f"ok: {summary}; {sig.detail}"


def _entries(chunks: Iterator[Chunk]) -> Iterator[dict[str, Any]]:
    """Lenient parse of the rest of a log, for looking ahead past a gap."""
    for chunk in chunks:
        try:
            yield parse_event(chunk)
        except JournalFormatError:
            continue


def _classify_gap(
    entry: dict[str, Any], expected: int, rest: Iterator[Chunk]
) -> tuple[str, str]:
    seq = entry["seq"]
    found_expected = False
    for later in _entries(rest):
        if later["seq"] == seq and later.get(HASH_KEY) == entry.get(HASH_KEY):
            return "duplicated", f"a copy of seq {seq} is inserted before seq {expected}"
        if later["seq"] == expected:
            found_expected = True
    if found_expected:
        return "reordered", f"found seq {seq} where seq {expected} belongs; seq {expected} comes later"
    return "missing", f"seq {expected} is missing (next is seq {seq})"


def verify_chain(path: Path | str) -> ChainResult:
    """Check the header hash and every event's hash, seq and link, streaming."""
    result = ChainResult()
    with open(path, "rb") as f:
        chunks = iter_chunks(f)
        head = next(chunks, None)
        if head is None:
            result.first_bad_seq, result.problem = 0, "truncated"
            result.detail = "the file is empty"
            return result
        try:
            session = parse_header(head)
        except JournalFormatError as exc:
            result.first_bad_seq = 0
            # A header is written in one go: only a cut file ends inside it.
            cut = head.is_last and not head.data.endswith(b"\n")
            result.problem = "truncated" if cut else "malformed"
            result.detail = str(exc)
            return result
        result.header = session
        result.layout_checked = session.get("tomli_w_version") == tomli_w_version()
        head_hash = header_hash(session)
        if session.get(HASH_KEY) != head_hash:
            result.first_bad_seq, result.problem = 0, "edited"
            result.detail = "the [session] header does not match its hash"
            return result
        if result.layout_checked and render_header(session) != head.data:
            result.first_bad_seq, result.problem = 0, "edited"
            result.detail = "the header's bytes differ from what the console wrote"
            return result

        expected, prev = 1, head_hash
        for chunk in chunks:
            try:
                prev = _check_event(chunk, expected, prev, result, chunks)
            except _Broken as broken:
                result.first_bad_seq = expected
                result.problem, result.detail = broken.problem, broken.detail
                return result
            expected += 1
            result.events += 1
        if result.outcome is None:
            result.first_bad_seq, result.problem = expected, "truncated"
            result.detail = (
                f"the log ends after seq {expected - 1} without a session end record "
                "(the session crashed, was killed, or is still running)"
            )
    return result


class _Broken(Exception):
    def __init__(self, problem: str, detail: str) -> None:
        super().__init__(problem, detail)
        self.problem = problem
        self.detail = detail


def _check_event(
    chunk: Chunk,
    expected: int,
    prev: str,
    result: ChainResult,
    rest: Iterator[Chunk],
) -> str:
    """The hash of the chunk's event when it is the right next one; else raise _Broken."""
    torn = chunk.is_last and chunk.torn
    try:
        entry = parse_event(chunk)
    except JournalFormatError as exc:
        if torn:
            raise _Broken(
                "truncated", f"the file ends inside an event ({len(chunk.data)} bytes)"
            ) from None
        raise _Broken("edited", f"unreadable event at byte {chunk.offset}: {exc}") from None
    if result.layout_checked and render_event(entry) != chunk.data:
        if torn:
            raise _Broken("truncated", "the file ends inside an event")
        raise _Broken("edited", f"the event's bytes differ from what the console wrote (byte {chunk.offset})")
    if record_hash(entry) != entry[HASH_KEY]:
        raise _Broken("edited", "content does not match its hash")
    seq = entry["seq"]
    if result.outcome is not None:
        if seq < expected:
            raise _Broken("duplicated", f"seq {seq} appears again after the session end")
        raise _Broken("inserted", f"seq {seq} follows the session end record")
    if seq < expected:
        raise _Broken("duplicated", f"seq {seq} appears again")
    if seq > expected:
        raise _Broken(*_classify_gap(entry, expected, rest))
    if entry[PREV_KEY] != prev:
        what = "the header" if expected == 1 else f"seq {expected - 1}"
        raise _Broken("edited", f"prev does not match the hash of {what} (event replaced or re-hashed)")
    if entry["kind"] == SESSION_ENDED:
        result.outcome = str(entry.get("outcome", "ended"))
    return str(entry[HASH_KEY])


def verify_log(
    path: Path | str,
    *,
    allowed_signers: Path | str | None = None,
    identity: str | None = None,
    namespace: str = DEFAULT_NAMESPACE,
    require_signature: bool = False,
) -> VerifyResult:
    """Chain first; the signature is only worth checking on an intact chain."""
    chain = verify_chain(path)
    if not chain.ok:
        return VerifyResult(chain, SignatureCheck("unsigned", "not checked"), require_signature)
    signature = verify_signature(
        path, allowed_signers=allowed_signers, identity=identity, namespace=namespace
    )
    return VerifyResult(chain, signature, require_signature)
