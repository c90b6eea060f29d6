"""A recorded session as a timeline a reviewer can move through: the core of replay.

:class:`Timeline` holds the events of a log (with their recorded wall-clock ``at`` and
session offset ``t``), the markers a reviewer jumps between (errors, decisions,
overrides, workflows, checklist ticks), and seek points: a copy of the folded state every
``snapshot_every`` events.  The state at any cursor is the nearest seek point at or
before it plus at most ``snapshot_every`` events, never a fold from event 0; stepping
forward applies one event.  ``extend`` appends events of a log still being written
(``replay --follow``).

Pure and Textual-free: the console's replay screen renders :meth:`Timeline.state_at`.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from spfp_console.events import (
    ChecklistItemToggled,
    ConfirmationAnswered,
    Event,
    Finding,
    GateChecked,
    OverrideRecorded,
    RollbackDecision,
    RunFinished,
    StatementFailed,
    WorkflowStarted,
)
from spfp_console.session.state import SessionState

SNAPSHOT_EVERY = 256
"""Events between seek points: a seek applies at most this many events to a copy."""

MAX_IDLE_S = 2.0
"""Playback compresses any pause longer than this (a session idle for an hour plays in
two seconds at 1x)."""

SPEEDS: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, float("inf"))
"""The playback speeds a reviewer steps through; the last one is instant."""

FRAME_S = 0.03
"""Events played closer together than this share one frame: at 100x a burst of
statements is one redraw, not hundreds of timer callbacks."""

TIME_OF_DAY = re.compile(r"\d{1,2}:\d\d(:\d\d(\.\d+)?)?")
ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d(:\d\d(:\d\d(\.\d+)?)?)?Z?")

MARKER_KINDS = ("error", "decision", "override", "workflow", "tick")


@dataclass(frozen=True)
class Marker:
    """A place worth jumping to: ``position`` is the cursor just after the event."""

    position: int
    kind: str
    """error | decision | override | workflow | tick"""
    label: str


@dataclass(frozen=True)
class Stamp:
    at: str
    """UTC ISO 8601 as recorded."""
    t: float
    """Seconds since the session started."""
    seq: int = 0
    """The event's seq in the log's chain (0: not from a log).  Signed checkpoints are
    not replayed but have seqs too, so the badge's "event N" is a seq, not a position."""


def marker_of(event: Event, position: int) -> Marker | None:
    """The marker an event places on the timeline, if any."""
    if isinstance(event, StatementFailed):
        return Marker(position, "error", f"SQLSTATE {event.sqlstate} at line "
                                         f"{event.error_line or event.line}")
    if isinstance(event, RunFinished) and not event.ok:
        return Marker(position, "error", f"{event.mode} {event.outcome}")
    if isinstance(event, Finding) and event.severity == "blocker":
        return Marker(position, "error", f"blocker: {event.message[:60]}")
    if isinstance(event, OverrideRecorded):
        return Marker(position, "override", f"override: {event.what[:60]}")
    if isinstance(event, (ConfirmationAnswered, RollbackDecision)):
        what = "rollback" if isinstance(event, RollbackDecision) else event.action
        answer = "confirmed" if event.confirmed else "declined"
        return Marker(position, "decision", f"{what} {answer} by {event.who}")
    if isinstance(event, GateChecked) and not event.passed:
        return Marker(position, "decision", f"gate {event.gate} closed")
    if isinstance(event, WorkflowStarted):
        return Marker(position, "workflow", event.workflow)
    if isinstance(event, ChecklistItemToggled):
        return Marker(position, "tick", f"{'ticked' if event.checked else 'unticked'}"
                                        f" {event.phase}/{event.item_id}")
    return None


@dataclass
class Timeline:
    """Events with their stamps, markers and seek points."""

    snapshot_every: int = SNAPSHOT_EVERY
    events: list[Event] = field(default_factory=list)
    stamps: list[Stamp] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    _seek_points: list[SessionState] = field(default_factory=list)
    """_seek_points[i] is the state after i * snapshot_every events."""
    _head: SessionState = field(default_factory=SessionState)
    """The state after every event (the live end of a followed log)."""

    def __post_init__(self) -> None:
        if not self._seek_points:
            self._seek_points.append(self._head.snapshot())

    @classmethod
    def of(cls, events: Iterable[tuple[Event, Stamp]], *,
           snapshot_every: int = SNAPSHOT_EVERY) -> Timeline:
        timeline = cls(snapshot_every=snapshot_every)
        timeline.extend(events)
        return timeline

    def __len__(self) -> int:
        return len(self.events)

    def extend(self, events: Iterable[tuple[Event, Stamp]]) -> None:
        """Append events (a followed log grows)."""
        for event, stamp in events:
            self.events.append(event)
            self.stamps.append(stamp)
            self._head.apply(event)
            position = len(self.events)
            marker = marker_of(event, position)
            if marker is not None:
                self.markers.append(marker)
            if position % self.snapshot_every == 0:
                self._seek_points.append(self._head.snapshot())

    @property
    def head(self) -> SessionState:
        """The state after the last event (do not modify)."""
        return self._head

    def state_at(self, position: int) -> SessionState:
        """A fresh state after the first ``position`` events (0 <= position <= len)."""
        position = max(0, min(position, len(self.events)))
        point = position // self.snapshot_every
        state = self._seek_points[point].snapshot()
        for event in self.events[point * self.snapshot_every:position]:
            state.apply(event)
        return state

    def advance(self, state: SessionState, position: int, to: int) -> SessionState:
        """Move a state at ``position`` to ``to``: in place when moving forward a little,
        from a seek point otherwise."""
        if position <= to <= position + self.snapshot_every:
            for event in self.events[position:to]:
                state.apply(event)
            return state
        return self.state_at(to)

    # ------------------------------------------------------------------ navigation

    def next_marker(self, position: int, kinds: Iterable[str] | None = None) -> Marker | None:
        wanted = set(kinds) if kinds is not None else None
        start = bisect.bisect_right([m.position for m in self.markers], position)
        for marker in self.markers[start:]:
            if wanted is None or marker.kind in wanted:
                return marker
        return None

    def previous_marker(self, position: int,
                        kinds: Iterable[str] | None = None) -> Marker | None:
        wanted = set(kinds) if kinds is not None else None
        end = bisect.bisect_left([m.position for m in self.markers], position)
        for marker in reversed(self.markers[:end]):
            if wanted is None or marker.kind in wanted:
                return marker
        return None

    def position_at(self, when: str | float) -> int:
        """The cursor at a time: seconds since the start, or an ISO timestamp (or its
        ``HH:MM:SS`` part).  The position just after the last event at or before it."""
        if isinstance(when, (int, float)):
            return bisect.bisect_right([s.t for s in self.stamps], float(when))
        text = when.strip()
        if "T" not in text:  # a time of day: match against the time part of each stamp
            return bisect.bisect_right([s.at.split("T", 1)[-1][: len(text)]
                                        for s in self.stamps], text)
        return bisect.bisect_right([s.at[: len(text)] for s in self.stamps], text)

    def seq_at(self, position: int) -> int:
        """The log seq of the event just before the cursor (0 at the start); the position
        itself for events not read from a log."""
        if position <= 0 or not self.stamps:
            return 0
        position = min(position, len(self.stamps))
        return self.stamps[position - 1].seq or position

    def seek(self, text: str) -> int:
        """The cursor a reviewer typed: an event number (``37``) or a time (``10:03``,
        ``10:03:12``, an ISO timestamp).  Raises ValueError with what to type instead."""
        text = text.strip()
        if text.isdigit():
            return min(int(text), len(self.events))
        if TIME_OF_DAY.fullmatch(text):
            return self.position_at(text.zfill(len(text) + (text.index(":") == 1)))
        if ISO_TIME.fullmatch(text):
            return self.position_at(text)
        raise ValueError(f"cannot seek to {text!r}: type an event number (1-{len(self.events)})"
                         " or a time (HH:MM, HH:MM:SS or an ISO timestamp)")

    def marker_counts(self) -> dict[str, int]:
        """How many markers of each kind (every kind listed, zero included)."""
        counts = dict.fromkeys(MARKER_KINDS, 0)
        for marker in self.markers:
            counts[marker.kind] = counts.get(marker.kind, 0) + 1
        return counts

    def marker_at(self, position: int) -> Marker | None:
        """The marker of the event just before the cursor, if it placed one."""
        index = bisect.bisect_left([m.position for m in self.markers], position)
        if index < len(self.markers) and self.markers[index].position == position:
            return self.markers[index]
        return None

    def play_step(self, position: int, speed: float, frame_s: float = FRAME_S,
                  ) -> tuple[int, float]:
        """The next frame of playback from ``position``: wait the returned seconds, then
        show the returned cursor.  Events less than ``frame_s`` apart (after idle
        compression and speed) share the frame; at infinite speed every event does."""
        end = len(self.events)
        if position >= end:
            return end, 0.0
        wait = self.delay_before(position, speed)
        to, extra = position + 1, 0.0
        while to < end:
            gap = self.delay_before(to, speed)
            if extra + gap >= frame_s:
                break
            extra += gap
            to += 1
        return to, wait + extra

    def delay_before(self, position: int, speed: float = 1.0) -> float:
        """Seconds to wait before playing event ``position`` (0-based) at ``speed``; idle
        stretches are compressed to MAX_IDLE_S."""
        if position <= 0 or position >= len(self.stamps) or speed <= 0:
            return 0.0
        gap = self.stamps[position].t - self.stamps[position - 1].t
        return max(0.0, min(gap, MAX_IDLE_S)) / speed


# ---------------------------------------------------------------------- trust


@dataclass(frozen=True)
class TrustBadge:
    """What a reviewer must know before believing a log, in one line."""

    level: str
    """trusted | unsigned | unchecked | tampered | truncated | live"""
    text: str
    bad_from: int | None = None
    """The first event (1-based seq) that cannot be trusted, when there is one."""


def live_badge(events: int) -> TrustBadge:
    """The badge while a followed log is still being written."""
    return TrustBadge("live", f"live, chain intact up to event {events}")


def trust_badge(result: object, *, events: int, live: bool = False) -> TrustBadge:
    """The badge for a :class:`~spfp_console.journal.verify.VerifyResult`."""
    status = result.status  # type: ignore[attr-defined]
    chain = result.chain  # type: ignore[attr-defined]
    signature = result.signature  # type: ignore[attr-defined]
    points = result.checkpoints  # type: ignore[attr-defined]
    unfinished = not chain.ok and chain.problem == "truncated"
    if live and (chain.ok or unfinished) and chain.outcome is None:
        return live_badge(chain.events)
    signed = ""
    if points.signed_through is not None and points.bad is None:
        signed = (f"; signed up to event {points.signed_through}" if points.signed_through
                  else "; only the header is signed")
    if unfinished and status in ("partial", "unsigned", "failed") and points.bad is None:
        return TrustBadge("truncated", f"TRUNCATED after event {chain.events} (the console"
                                       f" was killed, or the file was cut){signed}",
                          bad_from=chain.events + 1)
    if status == "failed":
        if points.bad is not None:
            return TrustBadge("tampered", f"TAMPERED: checkpoint at event {points.bad_seq}"
                                          f" {points.bad.status}: {points.bad.detail}",
                              bad_from=points.bad_seq)
        if not chain.ok:
            seq = chain.first_bad_seq
            return TrustBadge("tampered", f"TAMPERED at event {seq}: {chain.problem}:"
                                          f" {chain.detail}", bad_from=seq)
        return TrustBadge("tampered", f"BAD SIGNATURE: {signature.status}: {signature.detail}")
    if status == "partial":
        after = chain.events - (points.signed_through or 0)
        return TrustBadge("partial", f"PARTIALLY SIGNED{signed.replace(';', ':', 1)},"
                                     f" {after} event(s) after it unsigned",
                          bad_from=(points.signed_through or 0) + 1)
    if status == "unsigned":
        return TrustBadge("unsigned", f"UNSIGNED: anyone could have written this"
                                      f" ({events} events, chain intact)")
    if status == "unchecked":
        return TrustBadge("unchecked", f"signed, signer NOT checked (pass --allowed-signers):"
                                       f" {signature.detail}; chain intact, {events} events")
    who = signature.signer or "an allowed signer"
    key = f" ({signature.fingerprint})" if signature.fingerprint else ""
    return TrustBadge("trusted", f"signed by {who}{key}, chain intact, {events} events")


# ---------------------------------------------------------------------- from a log


@dataclass
class LoadedLog:
    timeline: Timeline
    stopped: str | None
    """Why reading stopped early (a torn or unreadable event), None when it read to the end."""
    unknown: int = 0
    """Events of kinds this console does not know (skipped, counted)."""


def timeline_from_log(path: object, *, snapshot_every: int = SNAPSHOT_EVERY) -> LoadedLog:
    """Read a log (as far as it parses) into a timeline.  Never raises on a bad event:
    a tampered or cut log is still replayable up to where it stops making sense."""
    from spfp_console.events import UnknownEventKind
    from spfp_console.journal.read import read_journal

    journal = read_journal(path)  # type: ignore[arg-type]
    pairs: list[tuple[Event, Stamp]] = []
    unknown = 0
    for entry in journal.entries:
        try:
            event = entry.event()
        except (UnknownEventKind, TypeError, ValueError):
            unknown += 1
            continue
        if event is not None:
            pairs.append((event, Stamp(at=str(entry.at), t=float(entry.t), seq=entry.seq)))
    return LoadedLog(Timeline.of(pairs, snapshot_every=snapshot_every), journal.stopped,
                     unknown)
