"""The replay screen: the console's own panes, read-only, with a trust badge and a timeline.

| Key | Action |
| :- | :- |
| space | play / pause |
| right, left | one event forward / back |
| ] [ | next / previous marker (error, decision, override, workflow, tick) |
| e E | next / previous error |
| d D | next / previous decision (or override) |
| + - | faster / slower (1x to 100x, then instant) |
| g | go to an event number or a time |
| home, end | the first / last event |
| 1 2 3 | runbook, execution, results |
| q, ctrl+q | quit |

The keys that move the cursor are priority bindings: the checklist's own space (tick)
and the SQL log's home/end never see them, so nothing in the panes can act.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer

from spfp_console.session.state import ItemState, PhaseState, SessionState
from spfp_console.ui.screens.console import ConsoleScreen
from spfp_console.ui.widgets.replay_bars import TimelineBar, TrustBadgeLine
from spfp_console.ui.widgets.runbook_navigator import Checklist
from spfp_console.ui.widgets.session_header import SessionHeader

if TYPE_CHECKING:
    from spfp_console.ui.replay import ReplayApp

DECISION_KINDS = ("decision", "override")


class ReplayScreen(ConsoleScreen, inherit_bindings=False):
    """The console screen without its actions, plus the trust badge and the timeline."""

    BINDINGS = [
        Binding("space", "play_pause", "play/pause", priority=True, id="replay.play"),
        Binding("right", "step(1)", "step", priority=True, id="replay.forward"),
        Binding("left", "step(-1)", "back", show=False, priority=True, id="replay.back"),
        Binding("right_square_bracket", "marker(1)", "marker", priority=True,
                id="replay.next-marker"),
        Binding("left_square_bracket", "marker(-1)", "previous marker", show=False,
                priority=True, id="replay.previous-marker"),
        Binding("e", "marker(1, 'error')", "error", priority=True, id="replay.next-error"),
        Binding("E", "marker(-1, 'error')", "previous error", show=False, priority=True,
                id="replay.previous-error"),
        Binding("d", "marker(1, 'decision')", "decision", show=False, priority=True,
                id="replay.next-decision"),
        Binding("D", "marker(-1, 'decision')", "previous decision", show=False,
                priority=True, id="replay.previous-decision"),
        Binding("plus,equals_sign", "speed(1)", "faster", priority=True, id="replay.faster"),
        Binding("minus", "speed(-1)", "slower", priority=True, id="replay.slower"),
        Binding("g", "seek_prompt", "go to", priority=True, id="replay.seek"),
        Binding("home", "jump('start')", "first", show=False, priority=True,
                id="replay.first"),
        Binding("end", "jump('end')", "last", show=False, priority=True, id="replay.last"),
        Binding("1", "tab('runbook')", "runbook", show=False, id="console.tab-runbook"),
        Binding("2", "tab('execution')", "execution", show=False, id="console.tab-execution"),
        Binding("3", "tab('results')", "results", show=False, id="console.tab-results"),
        Binding("q", "app.quit", "quit", id="console.quit"),
        Binding("f1,question_mark", "toggle_help", "help", show=False, id="console.help"),
    ]

    SHOW_PALETTE = False  # nothing to run here: its keys need the footer's width

    DEFAULT_CSS = """
    /* The results come and go as the reviewer moves (none at the start, dozens at the
       end): a scrollbar coming and going with them would lay every table out again at
       a new width, a third of the end key's frame. */
    ReplayScreen ResultsPane {
        scrollbar-gutter: stable;
    }
    """

    @property
    def replay(self) -> ReplayApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        # The console's layout, with the badge under the header and the timeline above
        # the footer: the same widgets, so replay shows what the executor saw.
        for widget in super().compose():
            if isinstance(widget, Footer):
                yield TimelineBar(id="timeline")
            yield widget
            if isinstance(widget, Checklist):
                # The console's "space tick · ⏎ run its action" would offer keys that
                # replay refuses (space plays here).
                widget.border_subtitle = "read-only: ticks as the log recorded them"
            if isinstance(widget, SessionHeader):
                badge = TrustBadgeLine(id="badge")
                badge.show(self.replay.badge)  # from the first frame: the badge is the point
                yield badge

    def show(self, state: SessionState, log_path: Path | None,
             panes: frozenset[str] = frozenset({"header", "runbook", "execution", "results"}),
             ) -> None:
        super().show(state, log_path, panes)
        if "runbook" in panes and not state.phases:
            # Before the session's first event there is no checklist: the console's
            # screen never goes back there, replay does (home).
            self.query_one(Checklist).show(PhaseState(id="", title=""))

    def refresh_runbook(self) -> None:
        self.show(self.replay.state, self.replay.log_path, frozenset({"runbook"}))

    def ticked_by_hand(self, item: ItemState) -> bool:
        # No runbook here: the log's profile says whether approvals were signed ones.
        profile = self.replay.state.profile
        return item.action is None or (item.action == "approvals" and (
            profile is None or profile.approvals_required <= 0))

    def phase_changed(self, index: int) -> None:
        """Replay leaves no phase: the navigator only shows."""

    # ------------------------------------------------------------------ actions

    def action_play_pause(self) -> None:
        self.replay.play_pause()

    def action_step(self, delta: int) -> None:
        self.replay.pause()
        self.replay.move_to(self.replay.cursor + delta)

    def action_marker(self, direction: int, kind: str | None = None) -> None:
        self.replay.jump_to_marker(direction, kind)

    def action_speed(self, delta: int) -> None:
        self.replay.change_speed(delta)

    def action_jump(self, where: str) -> None:
        self.replay.pause()
        self.replay.move_to(0 if where == "start" else len(self.replay.timeline))

    def action_seek_prompt(self) -> None:
        self.replay.ask_seek()
