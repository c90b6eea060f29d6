"""Replay's two extra lines: the trust badge (under the header) and the timeline bar."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.widgets import Static

from spfp_console.session.presentation import outcome_text
from spfp_console.session.state import SessionState
from spfp_console.session.timeline import Timeline, TrustBadge

BADGE_STYLE = {
    "trusted": "bold black on green",
    "unchecked": "bold black on yellow",
    "partial": "bold black on yellow",
    "unsigned": "bold black on yellow",
    "truncated": "bold white on dark_orange3",
    "tampered": "bold white on red",
    "live": "bold black on cyan",
}
"""A reviewer must tell a trustworthy record from a doubtful one at a glance."""


def speed_label(speed: float) -> str:
    return "instant" if speed == float("inf") else f"{speed:g}x"


def cursor_time(timeline: Timeline, cursor: int) -> str:
    """The recorded wall-clock time of the event just before the cursor."""
    if cursor <= 0 or not len(timeline):
        return "before the first event"
    at = timeline.stamp(min(cursor, len(timeline)) - 1).at
    return at[:19].replace("T", " ") + " UTC"


class TrustBadgeLine(Static):
    """The trust badge, always visible: what a reviewer must know before believing it."""

    DEFAULT_CSS = """
    TrustBadgeLine {
        height: 1;
    }
    """

    def show(self, badge: TrustBadge) -> None:
        text = Text(f" {badge.text} ", style=BADGE_STYLE.get(badge.level, "bold reverse"),
                    no_wrap=True, overflow="ellipsis")
        self.update(text)


class TimelineBar(Static):
    """Where the cursor is: playing or paused, speed, event n/N, the recorded time, the
    marker the cursor is on, and how many markers of each kind there are."""

    text = ""
    """What the bar says, as plain text (the tests read it)."""

    DEFAULT_CSS = """
    TimelineBar {
        height: 2;
        background: $panel;
        padding: 0 1;
    }
    """

    def show(self, timeline: Timeline, cursor: int, state: SessionState, *, playing: bool,
             speed: float, badge: TrustBadge, loading: str = "") -> None:
        total = len(timeline)
        first = Text.assemble(
            ("▶ playing" if playing else "❚❚ paused", "bold"),
            f" {speed_label(speed)} · ",
            (f"event {cursor}/{total}", "bold"),
            f" · {cursor_time(timeline, cursor)}",
        )
        marker = timeline.marker_at(cursor)
        if marker is not None:
            first.append(f" · {marker.kind}: {marker.label}", style="cyan")
        # The second line: what the first cannot lose at 80 columns, then the markers.
        second = Text()
        if loading:
            second.append(f"{loading} · ", style="bold yellow")
        if badge.bad_from is not None and timeline.seq_at(cursor) >= badge.bad_from:
            second.append(f"UNVERIFIED from event {badge.bad_from} · ", style="bold red")
        if state.ended is not None:
            second.append(f"session ended: {outcome_text(state.ended.outcome)} · ",
                          style="bold red" if state.ended.ok is False else "green")
        counts = timeline.marker_counts()
        second.append("markers: " + " · ".join(f"{n} {kind}" for kind, n in counts.items()),
                      style="dim")
        first.no_wrap = second.no_wrap = True  # cut at 80 columns, never wrapped
        first.overflow = second.overflow = "ellipsis"
        self.text = f"{first.plain}\n{second.plain}"
        self.update(Group(first, second))
