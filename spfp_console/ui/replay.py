"""``spfp-console replay``: a recorded (or still recording) session in the console, read-only.

The panes are the live console's own widgets, fed by ``timeline.state_at(cursor)``
instead of the engine: no database connection, no SQL files, and no key that acts
(the screen binds none of the console's actions; Enter on an item only says so).

A large saved log opens before it is folded: the panes show what is folded so far and the
rest is folded a slice at a time between keys and frames (:meth:`ReplayApp.load_rest`);
a move past the fold waits for it as the *goal* and is shown when the fold gets there.

Follow mode: the log is opened as a saved one is (indexed as it stands, folded after the
first frame), then a thread worker tails it from there with ``LogReader(follow=True,
resume=...)``; like the live console's listener it only queues entries and posts one
message per batch, and the UI thread appends the batch to the timeline at most every
:data:`REFRESH_S`.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from pathlib import Path
from typing import Any

from textual import work
from textual.binding import Binding
from textual.message import Message
from textual.timer import Timer

from spfp_console.events import Event
from spfp_console.session.presentation import outcome_text
from spfp_console.session.state import ItemState, SessionState
from spfp_console.session.timeline import (
    SPEEDS,
    Stamp,
    Timeline,
    TrustBadge,
    broken_chain_badge,
    live_badge,
    trust_badge,
)
from spfp_console.ui.screens.questions import PromptScreen
from spfp_console.ui.screens.replay import DECISION_KINDS, ReplayScreen
from spfp_console.ui.terminal import TerminalApp
from spfp_console.ui.widgets.replay_bars import TimelineBar, TrustBadgeLine, speed_label

REFRESH_S = 0.05
"""Longest delay between a followed event reaching the reader and its pixels."""

OPEN_FOLDED = 5_000
"""A log of up to this many events is folded before the first frame (well under 0.2 s);
a longer one opens unfolded and is folded by :meth:`ReplayApp.load_rest` after it."""

LOAD_SLICE_S = 0.004
"""Longest the fold of a loading log holds the event loop before keys and frames go by."""

LOAD_YIELD_S = 0.1
"""For this long after the cursor moves the fold waits between slices: the move's frame
goes through several hops of the event loop, and a slice at each would add up."""

LOAD_REDRAW_S = 0.25
"""While a log loads towards the cursor's goal, the panes follow the fold this often."""

SIGNATURE_WAIT_TRIES = 10
"""Checks, 0.2 s apart, for the signature of a followed session that has just ended."""

ALL_PANES = frozenset({"header", "runbook", "execution", "results"})


class LogGrew(Message):
    """The follow inbox has entries (posted once per batch, from the reader thread)."""


class ReplayApp(TerminalApp):
    """The console on a :class:`Timeline`; ``follow`` tails the log as it is written."""

    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "spfp-console replay"
    BINDINGS = [Binding("ctrl+q", "quit", "quit", priority=True, show=False, id="app.quit")]

    def __init__(self, log_path: Path, timeline: Timeline, badge: TrustBadge, *,
                 follow: bool = False, allowed_signers: Path | None = None,
                 identity: str | None = None, start_at: int | None = None,
                 resume: Any = None, live_seq: int = 0) -> None:
        super().__init__()
        self.log_path = log_path
        self.timeline = timeline
        self.badge = badge
        self.follow = follow
        self.allowed_signers = allowed_signers
        self.identity = identity
        start = len(timeline) if start_at is None else max(0, min(start_at, len(timeline)))
        self.cursor = min(start, timeline.folded)
        """Events shown: the panes show the state after the first ``cursor`` events."""
        self.goal: int | None = start if start > self.cursor else None
        """Where the cursor goes once the fold of a loading log gets there."""
        self.state: SessionState = timeline.state_at(self.cursor)
        self.moved_at = 0.0
        """When the reviewer last moved the cursor (the fold makes way for a while)."""
        self.drawn: dict[str, object] = {}
        """What the checklist and the results pane were last drawn from."""
        self.playing = False
        self.speed = SPEEDS[0]
        self.play_timer: Timer | None = None
        self.stopping = threading.Event()
        self.inbox: list[tuple[Event, Stamp]] = []
        self.inbox_lock = threading.Lock()
        self.inbox_pending = False
        self.resume = resume
        """The ``journal.read.ResumePoint`` the follow reader starts from (None: the
        start of the file)."""
        self.live_seq = live_seq
        """The last seq the follow reader read (verified, until the chain breaks)."""
        self.follow_done = False
        self.broken: TrustBadge | None = None
        """The chain broke while following: what the badge says from then on."""
        self.shown_seq = live_seq
        """The last seq taken into the timeline: the live badge's N (checkpoints count)."""

    def get_default_screen(self) -> ReplayScreen:
        return ReplayScreen()

    @property
    def replay_screen(self) -> ReplayScreen:
        screen = self.screen_stack[0]
        assert isinstance(screen, ReplayScreen)
        return screen

    def on_mount(self) -> None:
        self.call_after_refresh(self.redraw)
        if not self.timeline.loaded:  # after the first frame, not in its way
            self.call_after_refresh(self.load_rest)
        if self.follow:
            self.follow_log()

    def on_unmount(self) -> None:
        self.stopping.set()

    # ------------------------------------------------------------------ drawing

    def redraw(self, panes: frozenset[str] = ALL_PANES) -> None:
        if not self.screen_stack:  # quitting: a followed batch may still arrive
            return
        screen = self.replay_screen
        screen.show(self.state, self.log_path, self.changed_panes(panes))
        screen.query_one(TrustBadgeLine).show(self.badge)
        self.show_timeline()

    def changed_panes(self, panes: frozenset[str]) -> frozenset[str]:
        """``panes`` less the checklist and the results when what they show is what
        they already show: most steps change neither, and redrawing every option of the
        checklist was a third of a step's frame."""
        state = self.state
        # Everything those panes draw from (the phases' clocks follow from the ticks, the
        # success criteria from the ticks, workflows and tables): keep it in step.
        checklist = tuple((phase.id, phase.title, phase.started_at, phase.completed_at,
                           phase.estimate, tuple((item.id, item.checked, item.who, item.when,
                                                  item.evidence, item.note,
                                                  item.ticked_by_action)
                                                 for item in phase.items))
                          for phase in state.phases)
        results = (tuple(id(table) for table in state.tables.values()), len(state.findings),
                   tuple(state.criteria))
        drawn, self.drawn = self.drawn, {"runbook": checklist, "results": results}
        return frozenset(pane for pane in panes
                         if pane not in drawn or drawn[pane] != self.drawn[pane])

    def show_timeline(self) -> None:
        if not self.screen_stack:
            return
        loading = ""
        if not self.timeline.loaded:
            done = self.timeline.folded * 100 // max(len(self.timeline), 1)
            going = f", going to event {self.goal}" if self.goal is not None else ""
            loading = f"loading: {done}% folded{going}"
        self.replay_screen.query_one(TimelineBar).show(
            self.timeline, self.cursor, self.state, playing=self.playing, speed=self.speed,
            badge=self.badge, loading=loading)

    # ------------------------------------------------------------------ moving

    def move_to(self, position: int) -> None:
        """Put the cursor at ``position`` (clamped) and show the state there; on a log
        still loading, a position past the fold is the goal, shown when the fold gets
        there (the keys and the screen stay live meanwhile)."""
        position = max(0, min(position, len(self.timeline)))
        self.moved_at = time.monotonic()
        if not self.timeline.can_show_at_once(position, self.cursor):
            self.goal = position
            self.show_timeline()
            return
        self.goal = None
        self.show_position(position)

    def show_position(self, position: int) -> None:
        if position != self.cursor:
            self.state = self.timeline.advance(self.state, self.cursor, position)
            self.cursor = position
        self.redraw()

    def jump_to_marker(self, direction: int, kind: str | None) -> None:
        kinds = None if kind is None else (DECISION_KINDS if kind == "decision" else (kind,))
        find = self.timeline.next_marker if direction > 0 else self.timeline.previous_marker
        marker = find(self.cursor, kinds)
        if marker is None:
            what = f"{kind} marker" if kind else "marker"
            where = "after" if direction > 0 else "before"
            self.notify(f"no {what} {where} event {self.cursor}")
            return
        self.pause()
        self.move_to(marker.position)

    def ask_seek(self) -> None:
        self.pause()

        def seek(text: str | None) -> None:
            if not text:
                return
            try:
                self.move_to(self.timeline.seek(text))
            except ValueError as exc:
                self.notify(str(exc), severity="warning")

        self.push_screen(PromptScreen("Go to", [f"{len(self.timeline)} events"],
                                      "Event number or time (HH:MM:SS)"), seek)

    # ------------------------------------------------------------------ playing

    def play_pause(self) -> None:
        if self.playing:
            self.pause()
            return
        if self.cursor >= len(self.timeline):
            self.move_to(0)  # play again from the start, as a player does
        self.playing = True
        self.schedule_frame()
        self.show_timeline()

    def pause(self) -> None:
        if self.play_timer is not None:
            self.play_timer.stop()
            self.play_timer = None
        if self.playing:
            self.playing = False
            self.show_timeline()

    def schedule_frame(self) -> None:
        to, wait = self.timeline.play_step(self.cursor, self.speed)
        self.play_timer = self.set_timer(max(wait, 0.001), lambda: self.play_frame(to))

    def play_frame(self, to: int) -> None:
        self.play_timer = None
        if not self.playing:
            return
        self.move_to(to)
        if self.cursor >= len(self.timeline) and not self.following_live:
            self.pause()
            return
        if self.cursor < len(self.timeline):
            self.schedule_frame()
        # Following a live log at its end: the next batch moves the cursor on.

    def change_speed(self, delta: int) -> None:
        index = max(0, min(SPEEDS.index(self.speed) + delta, len(SPEEDS) - 1))
        self.speed = SPEEDS[index]
        if self.playing and self.play_timer is not None:
            self.play_timer.stop()
            self.schedule_frame()
        self.show_timeline()
        self.notify(f"speed {speed_label(self.speed)}", timeout=1)

    # ------------------------------------------------------------------ read-only

    def toggle_item(self, item: ItemState) -> None:
        self.read_only_notice()

    def run_item(self, item: ItemState) -> None:
        self.read_only_notice()

    def read_only_notice(self) -> None:
        self.notify("replay is read-only: nothing can be ticked or run here",
                    severity="warning")

    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Messages carry recorded data: never markup (as in the live console)."""
        super().notify(message, title=title, severity=severity, timeout=timeout,
                       markup=markup)

    # ------------------------------------------------------------------ loading

    @work(exclusive=True, exit_on_error=False, group="load")
    async def load_rest(self) -> None:
        """Fold the rest of a large log a slice at a time, on the event loop between
        keys and frames (no thread: the timeline is the UI's alone)."""
        timeline = self.timeline
        drawn = time.monotonic()
        # The fold makes some 10^5 long-lived objects: the collector's full passes over
        # them while it runs, and later during a step, cost more than the fold itself.
        gc.disable()
        try:
            await self._fold_slices(timeline, drawn)
        finally:
            gc.freeze()
            gc.enable()
        if self.goal is not None:
            self.move_to(self.goal)
        self.show_timeline()

    async def _fold_slices(self, timeline: Timeline, drawn: float) -> None:
        while not timeline.loaded and not self.stopping.is_set():
            until = time.perf_counter() + LOAD_SLICE_S
            while not timeline.fold_more(64) and time.perf_counter() < until:
                pass
            if self.goal is not None and self.goal <= timeline.folded:
                self.move_to(self.goal)
            elif time.monotonic() - drawn >= LOAD_REDRAW_S:
                drawn = time.monotonic()
                if self.goal is not None:  # on the way there: the panes follow the fold
                    self.show_position(timeline.folded)
                else:
                    self.show_timeline()
            recently = time.monotonic() - self.moved_at < LOAD_YIELD_S
            await asyncio.sleep(0.01 if recently else 0)

    # ------------------------------------------------------------------ following

    @property
    def following_live(self) -> bool:
        """The follow reader is still tailing the log (it may be past a break)."""
        return self.follow and not self.follow_done

    @work(thread=True, exclusive=True, exit_on_error=False, group="follow")
    def follow_log(self) -> None:
        """Tail the log until its session ends (or the app quits); then verify it whole."""
        from spfp_console.events import UnknownEventKind
        from spfp_console.journal.read import LogReader

        # keep_going: past a break it reads on (unverified) as a saved log is shown.
        reader = LogReader(self.log_path, follow=True, poll_s=0.1, stop=self.stopping.is_set,
                           keep_going=True, resume=self.resume)
        try:
            for entry in reader:
                try:
                    event = entry.event()
                except (UnknownEventKind, TypeError, ValueError):
                    event = None
                with self.inbox_lock:
                    if not entry.verified and self.broken is None:
                        self.broken = broken_chain_badge(reader.chain)
                    self.live_seq = entry.seq
                    if event is not None:
                        self.inbox.append((event, Stamp(at=str(entry.at), t=float(entry.t),
                                                        seq=entry.seq)))
                    if self.inbox_pending:
                        continue
                    self.inbox_pending = True
                self.post_message(LogGrew())
        except OSError as exc:
            self.call_from_thread(self.follow_failed, f"cannot read {self.log_path}: {exc}")
            return
        if self.stopping.is_set():
            return
        self.call_from_thread(self.follow_ended, self.final_badge(reader.chain))

    def final_badge(self, chain: Any = None) -> TrustBadge:
        """The whole log verified, once its session has ended (or its chain broke);
        ``chain``: the follow reader's, which has read the whole file (from the resume
        point on, carrying the chain of what the index read), so it is not read again."""
        from spfp_console.journal.verify import verify_log

        try:
            result = verify_log(self.log_path, allowed_signers=self.allowed_signers,
                                identity=self.identity, chain=chain)
            # A signed session writes its signature just after the end record: give it
            # a moment rather than calling a signed log unsigned.
            for _ in range(SIGNATURE_WAIT_TRIES):
                if not (result.chain.ok and result.signature.status == "unsigned"
                        and result.checkpoints.count) or self.stopping.is_set():
                    break
                time.sleep(0.2)
                result = verify_log(self.log_path, allowed_signers=self.allowed_signers,
                                    identity=self.identity, chain=chain)
        except (OSError, ValueError) as exc:
            return TrustBadge("tampered", f"cannot verify {self.log_path}: {exc}")
        with self.inbox_lock:
            events = len(self.timeline) + len(self.inbox)
        return trust_badge(result, events=events)

    def on_log_grew(self, message: LogGrew) -> None:
        self.set_timer(REFRESH_S, self.take_inbox)

    def take_inbox(self) -> None:
        with self.inbox_lock:
            batch, self.inbox = self.inbox, []
            self.inbox_pending = False
            seq = self.live_seq
        # At the end, or on the way there while the log opened is still folded.
        at_end = (self.cursor if self.goal is None else self.goal) >= len(self.timeline)
        self.timeline.extend(batch)
        self.shown_seq = seq
        if self.broken is not None and self.badge.level == "live":
            self.badge = self.broken
        elif self.badge.level == "live":
            self.badge = live_badge(seq)
        if at_end:
            self.move_to(len(self.timeline))
        else:
            self.redraw(frozenset({"header"}))

    def follow_ended(self, badge: TrustBadge) -> None:
        self.follow_done = True
        self.take_inbox()
        self.badge = badge
        ended = self.timeline.head.ended
        if ended is not None:
            self.notify(f"the session ended: {outcome_text(ended.outcome)}", timeout=10)
        self.redraw(frozenset({"header"}))

    def follow_failed(self, message: str) -> None:
        self.follow_done = True
        self.badge = TrustBadge("tampered", message)
        self.redraw(frozenset({"header"}))

    async def action_quit(self) -> None:
        self.stopping.set()
        self.exit(0)


__all__ = ["LogGrew", "ReplayApp"]
