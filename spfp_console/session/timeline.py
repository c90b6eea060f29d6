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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

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
    event_kinds,
)
from spfp_console.session.state import SessionState

if TYPE_CHECKING:
    from spfp_console.journal.read import ChainResult

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


MARKER_EVENT_KINDS = frozenset(cls.kind for cls in (
    StatementFailed, RunFinished, Finding, OverrideRecorded, ConfirmationAnswered,
    RollbackDecision, GateChecked, WorkflowStarted, ChecklistItemToggled))
"""The kinds :func:`marker_of` can place a marker for: a timeline on a log parses only
these when it opens (keep the two in step)."""


class EventSource(Protocol):
    """Events read from a log on demand (``journal.read.LogIndex``): a timeline built on
    one parses an event only when it is folded or looked at."""

    def __len__(self) -> int: ...
    def kind(self, i: int) -> str: ...
    def seq(self, i: int) -> int: ...
    def at(self, i: int) -> str: ...
    def t(self, i: int) -> float: ...
    def event(self, i: int) -> Event | None: ...


class Timeline:
    """Events with their stamps, markers and seek points.

    Built from pairs (``of``, ``extend``: a followed log) or on an :class:`EventSource`
    (``on_source``: a saved log), whose events are parsed when first needed.  The fold
    that makes the seek points may lag behind: ``folded`` says how far it has got,
    ``fold_more`` takes it further (the replay app does that a slice at a time while the
    reviewer already looks), and ``state_at`` takes it as far as it must.
    """

    def __init__(self, snapshot_every: int = SNAPSHOT_EVERY) -> None:
        self.snapshot_every = snapshot_every
        self._events: list[Event | None] = []
        """Parsed events; None where the source has not been asked yet (or could not
        make one: such an event folds as nothing)."""
        self._stamps: list[Stamp | None] = []
        self._source: EventSource | None = None
        self._rows: list[int] = []
        """Position -> row of the source (the source's checkpoints and unknown kinds are
        not positions)."""
        self._asked: bytearray = bytearray()
        """1 where the source has been asked for the event."""
        self.markers: list[Marker] = []
        self._marker_positions: list[int] = []
        self._by_kind: dict[str, tuple[list[int], list[Marker]]] = {}
        self._seek_points: list[SessionState] = []
        """_seek_points[i] is the state after i * snapshot_every events."""
        self._head = SessionState()
        """The state after the first ``folded`` events."""
        self._folded = 0
        self._seek_points.append(self._head.snapshot())
        self._times: tuple[int, list[float], list[str]] | None = None

    @classmethod
    def of(cls, events: Iterable[tuple[Event, Stamp]], *,
           snapshot_every: int = SNAPSHOT_EVERY) -> Timeline:
        timeline = cls(snapshot_every=snapshot_every)
        timeline.extend(events)
        return timeline

    @classmethod
    def on_source(cls, source: EventSource, *, snapshot_every: int = SNAPSHOT_EVERY,
                  known_kinds: Iterable[str] | None = None) -> Timeline:
        """A timeline on ``source`` with nothing folded yet.  Its markers are placed at
        once: only events of the few kinds that can place one are parsed for that."""
        known = frozenset(event_kinds() if known_kinds is None else known_kinds)
        timeline = cls(snapshot_every=snapshot_every)
        timeline._source = source
        kinds = [source.kind(i) for i in range(len(source))]
        timeline._rows = rows = [i for i, kind in enumerate(kinds) if kind in known]
        timeline._events = [None] * len(rows)
        timeline._stamps = [None] * len(rows)
        timeline._asked = bytearray(len(rows))
        for position, row in enumerate(rows):
            if kinds[row] in MARKER_EVENT_KINDS:
                event = timeline.event(position)
                marker = None if event is None else marker_of(event, position + 1)
                if marker is not None:
                    timeline._add_marker(marker)
        return timeline

    def __len__(self) -> int:
        return len(self._events)

    # ------------------------------------------------------------------ events

    def event(self, position: int) -> Event | None:
        """The event at ``position`` (0-based), parsed on first use; None when the log's
        record does not make one (a record a different console version wrote)."""
        event = self._events[position]
        if event is None and self._source is not None and not self._asked[position]:
            self._asked[position] = 1
            try:
                event = self._source.event(self._rows[position])
            except (TypeError, ValueError):  # JournalFormatError, UnknownEventKind
                event = None
            self._events[position] = event
        return event

    @property
    def events(self) -> list[Event]:
        """Every event, parsed (for tests and benchmarks: replay itself asks one at a time)."""
        return [e for e in (self.event(i) for i in range(len(self))) if e is not None]

    def stamp(self, position: int) -> Stamp:
        """When event ``position`` (0-based) was recorded."""
        stamp = self._stamps[position]
        if stamp is None:
            assert self._source is not None
            row = self._rows[position]
            stamp = Stamp(at=self._source.at(row), t=self._source.t(row),
                          seq=self._source.seq(row))
            self._stamps[position] = stamp
        return stamp

    @property
    def stamps(self) -> list[Stamp]:
        return [self.stamp(i) for i in range(len(self))]

    def extend(self, events: Iterable[tuple[Event, Stamp]]) -> None:
        """Append events (a followed log grows); folded at once when the fold has caught up."""
        caught_up = self.loaded
        for event, stamp in events:
            self._events.append(event)
            self._stamps.append(stamp)
            self._asked.append(1)
            marker = marker_of(event, len(self._events))
            if marker is not None:
                self._add_marker(marker)
        if caught_up:
            self.fold_more(len(self) - self._folded)

    def _add_marker(self, marker: Marker) -> None:
        self.markers.append(marker)
        self._marker_positions.append(marker.position)
        positions, markers = self._by_kind.setdefault(marker.kind, ([], []))
        positions.append(marker.position)
        markers.append(marker)

    # ------------------------------------------------------------------ folding

    @property
    def folded(self) -> int:
        """Events folded into seek points so far (``len(self)`` once loaded)."""
        return self._folded

    @property
    def loaded(self) -> bool:
        return self._folded >= len(self._events)

    def fold_more(self, count: int) -> bool:
        """Fold up to ``count`` more events into the head and the seek points; True
        once every event is folded."""
        head, every = self._head, self.snapshot_every
        end = min(len(self._events), self._folded + max(count, 0))
        for position in range(self._folded, end):
            event = self._events[position]
            if event is None:
                event = self.event(position)
            if event is not None:
                head.apply(event)
            if (position + 1) % every == 0:
                self._seek_points.append(head.snapshot())
        self._folded = end
        return self.loaded

    @property
    def head(self) -> SessionState:
        """The state after the last folded event (do not modify)."""
        return self._head

    def state_at(self, position: int) -> SessionState:
        """A fresh state after the first ``position`` events (0 <= position <= len);
        folds as far as it must first."""
        position = max(0, min(position, len(self)))
        if position > self._folded:
            self.fold_more(position - self._folded)
        point = position // self.snapshot_every
        state = self._seek_points[point].snapshot()
        self._apply(state, point * self.snapshot_every, position)
        return state

    def _apply(self, state: SessionState, start: int, end: int) -> None:
        for position in range(start, end):
            event = self._events[position]
            if event is None:
                event = self.event(position)
            if event is not None:
                state.apply(event)

    def can_show_at_once(self, position: int, cursor: int) -> bool:
        """Whether moving a state at ``cursor`` to ``position`` is a short job now (no more
        than one seek point's worth of events), rather than waiting for the fold."""
        return position <= self._folded or cursor <= position <= cursor + self.snapshot_every

    def advance(self, state: SessionState, position: int, to: int) -> SessionState:
        """Move a state at ``position`` to ``to``: in place when moving forward a little,
        from a seek point otherwise."""
        if position <= to <= position + self.snapshot_every:
            self._apply(state, position, to)
            return state
        return self.state_at(to)

    # ------------------------------------------------------------------ navigation

    def _wanted(self, kinds: Iterable[str] | None) -> list[tuple[list[int], list[Marker]]]:
        if kinds is None:
            return [(self._marker_positions, self.markers)]
        return [self._by_kind[kind] for kind in set(kinds) if kind in self._by_kind]

    def next_marker(self, position: int, kinds: Iterable[str] | None = None) -> Marker | None:
        found: Marker | None = None
        for positions, markers in self._wanted(kinds):
            at = bisect.bisect_right(positions, position)
            if at < len(markers) and (found is None or markers[at].position < found.position):
                found = markers[at]
        return found

    def previous_marker(self, position: int,
                        kinds: Iterable[str] | None = None) -> Marker | None:
        found: Marker | None = None
        for positions, markers in self._wanted(kinds):
            at = bisect.bisect_left(positions, position)
            if at > 0 and (found is None or markers[at - 1].position > found.position):
                found = markers[at - 1]
        return found

    def _time_lists(self) -> tuple[list[float], list[str]]:
        if self._times is None or self._times[0] != len(self):
            stamps = self.stamps
            self._times = (len(self), [s.t for s in stamps], [s.at for s in stamps])
        return self._times[1], self._times[2]

    def position_at(self, when: str | float) -> int:
        """The cursor at a time: seconds since the start, or an ISO timestamp (or its
        ``HH:MM:SS`` part).  The position just after the last event at or before it."""
        seconds, stamps = self._time_lists()
        if isinstance(when, (int, float)):
            return bisect.bisect_right(seconds, float(when))
        text = when.strip()
        if "T" not in text:  # a time of day: match against the time part of each stamp
            return bisect.bisect_right([at.split("T", 1)[-1][: len(text)] for at in stamps],
                                       text)
        return bisect.bisect_right([at[: len(text)] for at in stamps], text)

    def seq_at(self, position: int) -> int:
        """The log seq of the event just before the cursor (0 at the start); the position
        itself for events not read from a log."""
        if position <= 0 or not len(self):
            return 0
        position = min(position, len(self))
        return self.stamp(position - 1).seq or position

    def seek(self, text: str) -> int:
        """The cursor a reviewer typed: an event number (``37``) or a time (``10:03``,
        ``10:03:12``, an ISO timestamp).  Raises ValueError with what to type instead."""
        text = text.strip()
        if text.isdigit():
            return min(int(text), len(self))
        if TIME_OF_DAY.fullmatch(text):
            return self.position_at(text.zfill(len(text) + (text.index(":") == 1)))
        if ISO_TIME.fullmatch(text):
            return self.position_at(text)
        raise ValueError(f"cannot seek to {text!r}: type an event number (1-{len(self)})"
                         " or a time (HH:MM, HH:MM:SS or an ISO timestamp)")

    def start_position(self, where: str) -> int:
        """The cursor ``replay --start-at`` names: ``start``, ``end``, ``first-error``
        (or the first of another marker kind: ``first-decision``, ``first-tick`` ...), an
        event number, or a time (``HH:MM[:SS]`` or ISO).  Raises ValueError saying what
        the log has and what to give instead."""
        text = where.strip().lower()
        if text == "start":
            return 0
        if text == "end":
            return len(self)
        if text.startswith("first-") and text[len("first-"):] in MARKER_KINDS:
            kind = text[len("first-"):]
            marker = self.next_marker(0, [kind])
            if marker is None:
                raise ValueError(f"the log has no {kind} marker (it has "
                                 f"{self._count_text()}); start at start or end instead")
            return marker.position
        if text.isdigit():
            if int(text) > len(self):
                raise ValueError(f"event {int(text)} is past the end (the log has {len(self)}"
                                 " events)")
            return int(text)
        if TIME_OF_DAY.fullmatch(text) or ISO_TIME.fullmatch(where.strip()):
            return self.seek(where)
        raise ValueError(f"cannot start at {where!r}: give start, end, "
                         + ", ".join(f"first-{kind}" for kind in MARKER_KINDS)
                         + f", an event number (0-{len(self)}) or a time (HH:MM:SS or ISO)")

    def _count_text(self) -> str:
        counts = self.marker_counts()
        return ", ".join(f"{n} {kind}" for kind, n in counts.items() if n) or "no markers"

    def marker_counts(self) -> dict[str, int]:
        """How many markers of each kind (every kind listed, zero included)."""
        counts = dict.fromkeys(MARKER_KINDS, 0)
        for kind, (positions, _) in self._by_kind.items():
            counts[kind] = len(positions)
        return counts

    def marker_at(self, position: int) -> Marker | None:
        """The marker of the event just before the cursor, if it placed one."""
        index = bisect.bisect_left(self._marker_positions, position)
        if index < len(self.markers) and self.markers[index].position == position:
            return self.markers[index]
        return None

    def play_step(self, position: int, speed: float, frame_s: float = FRAME_S,
                  ) -> tuple[int, float]:
        """The next frame of playback from ``position``: wait the returned seconds, then
        show the returned cursor.  Events less than ``frame_s`` apart (after idle
        compression and speed) share the frame; at infinite speed every event does."""
        end = len(self)
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
        if position <= 0 or position >= len(self) or speed <= 0:
            return 0.0
        gap = self.stamp(position).t - self.stamp(position - 1).t
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


def broken_chain_badge(chain: ChainResult) -> TrustBadge:
    """The badge of a chain that broke: at once while a followed log goes on past the
    break, and for a saved log."""
    seq = chain.first_bad_seq
    return TrustBadge("tampered", f"TAMPERED at event {seq}: {chain.problem}:"
                                  f" {chain.detail}", bad_from=seq)


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
            return broken_chain_badge(chain)
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
    chain: Any = None
    """The ``journal.read.ChainResult`` found while reading (``verify_log`` takes it, so
    the file is read once)."""
    resume: Any = None
    """The ``journal.read.ResumePoint`` after the last event read: a followed log is
    tailed from there."""
    last_seq: int = 0
    """The seq of the last record read (checkpoints too): a live badge's "event N"."""


def timeline_from_log(path: object, *, snapshot_every: int = SNAPSHOT_EVERY,
                      fold: int | None = None, growing: bool = False) -> LoadedLog:
    """Read a log (as far as it parses) into a timeline.  Never raises on a bad event:
    a tampered or cut log is still replayable up to where it stops making sense.

    Events are parsed when first needed; ``fold`` events are folded now (None: all of
    them), the rest by ``Timeline.fold_more`` or on the first ``state_at`` past them.
    ``growing``: the log is still being written; an event not yet whole at its end is
    left out (``LoadedLog.resume`` says where to tail it from)."""
    from spfp_console.journal.canonical import CHECKPOINT
    from spfp_console.journal.read import index_log

    index = index_log(path, growing=growing)  # type: ignore[arg-type]
    known = frozenset(event_kinds())
    timeline = Timeline.on_source(index, snapshot_every=snapshot_every, known_kinds=known)
    timeline.fold_more(len(timeline) if fold is None else fold)
    skipped = len(index) - len(timeline)
    checkpoint = CHECKPOINT.encode("ascii")
    checkpoints = sum(1 for keys in index.keys if keys[4] == checkpoint)
    return LoadedLog(timeline, index.stopped, skipped - checkpoints, index.chain,
                     index.resume_point(), index.seq(len(index) - 1) if len(index) else 0)
