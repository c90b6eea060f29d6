"""The link from a resumed session's log back to the log of the session it resumed.

``spfp-console resume OLD`` starts a new log whose ``session_started`` carries
``resumed_from = "<old log path> <old final hash>"``: the chain hash of the last event of
the old log that verified when the session was resumed.  A reviewer follows the chain
across both files: the new log's chain covers the link (it is inside a hashed event), and
the old log's own chain must still end on that hash.  Had the old file been edited,
re-hashed or extended since, it would not.

``check_link`` says which: ``intact`` (the old log is there and ends on the recorded
hash), ``broken`` (it is there and does not: a verify failure), ``missing`` (not found
next to the new log nor at its recorded path: nothing to compare, said so) or ``none``
(the log resumes nothing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from spfp_console.journal.read import LogReader

INTACT, BROKEN, MISSING, NONE = "intact", "broken", "missing", "none"

_HASH = re.compile(r"[0-9a-f]{64}")


def format_link(path: Path | str, final_hash: str) -> str:
    """The ``resumed_from`` value: the old log's path and its final chain hash."""
    return f"{path} {final_hash}"


def parse_link(resumed_from: str) -> tuple[str, str] | None:
    """(old log path, final hash) of a ``resumed_from`` value, or None when malformed.
    The hash is the last word: a path may hold spaces."""
    path, _, final_hash = resumed_from.strip().rpartition(" ")
    if not path or not _HASH.fullmatch(final_hash):
        return None
    return path, final_hash


@dataclass(frozen=True)
class LinkCheck:
    """What ``verify`` says about a log's link to the log it resumed."""

    status: str
    """intact, broken, missing or none."""
    old_log: str | None = None
    """The old log's path as recorded (or as found next to the new log)."""
    final_hash: str | None = None
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status == BROKEN

    def line(self) -> str:
        if self.status == NONE:
            return "not a resumed session"
        short = (self.final_hash or "")[:12]
        if self.status == INTACT:
            return f"resumes {self.old_log} (final hash {short}..., link intact: {self.detail})"
        if self.status == MISSING:
            return (f"resumes {self.old_log} (final hash {short}...), link NOT CHECKED:"
                    f" {self.detail}; put the old log next to this one to check it")
        return f"resumes {self.old_log}, LINK BROKEN: {self.detail}"


def resumed_from_of(log: Path | str) -> str | None:
    """The ``resumed_from`` of a log's ``session_started`` (None: it resumes nothing, or
    its chain breaks before that event)."""
    reader = LogReader(log, parse=False)
    for entry in reader:
        if entry.kind == "session_started":
            value = entry.record.get("resumed_from")
            return str(value) if value is not None else None
        if entry.kind not in ("checkpoint",):
            return None  # session_started is the first domain event of every log
    return None


def _locate(recorded: str, new_log: Path) -> Path | None:
    """The old log: next to the new one (logs are archived together), else where it was."""
    beside = new_log.parent / Path(recorded).name
    for candidate in (beside, Path(recorded)):
        if candidate.is_file():
            return candidate
    return None


def check_link(log: Path | str, resumed_from: str | None = None) -> LinkCheck:
    """Check the link of ``log`` (its ``resumed_from``, read from it when not given)."""
    log = Path(log)
    if resumed_from is None:
        resumed_from = resumed_from_of(log)
    if resumed_from is None:
        return LinkCheck(NONE)
    parsed = parse_link(resumed_from)
    if parsed is None:
        return LinkCheck(BROKEN, resumed_from, None,
                         f"resumed_from {resumed_from!r} is not '<log path> <sha256>'")
    recorded, final_hash = parsed
    old = _locate(recorded, log)
    if old is None:
        return LinkCheck(MISSING, recorded, final_hash, f"{recorded} is not found")
    try:
        chain = LogReader(old, parse=False).run()
    except OSError as exc:
        return LinkCheck(MISSING, str(old), final_hash,
                         f"cannot read {old}: {exc.strerror or exc}")
    if chain.last_hash == final_hash and (chain.ok or chain.intact_but_unfinished):
        ended = (f"session {chain.outcome}" if chain.ok
                 else "its session never ended (no session end record)")
        return LinkCheck(INTACT, str(old), final_hash,
                         f"{chain.events} events, chain ends on it, {ended}")
    if not (chain.ok or chain.intact_but_unfinished):
        where = "header" if chain.first_bad_seq == 0 else f"seq {chain.first_bad_seq}"
        return LinkCheck(BROKEN, str(old), final_hash,
                         f"the old log's chain breaks at {where} ({chain.problem}:"
                         f" {chain.detail}); it was altered after it was resumed")
    return LinkCheck(BROKEN, str(old), final_hash,
                     f"the old log ends on {str(chain.last_hash)[:12]}..., not on the"
                     f" {final_hash[:12]}... this log recorded: it was rewritten or"
                     " extended after it was resumed")
