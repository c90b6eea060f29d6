"""The main screen: header, the runbook / execution / results panes, and the footer.

Two layouts, switched on resize by the screen class ``-wide``: below
:data:`WIDE_AT` (an SSH session at 80x24) the panes are tabs, one at a time, with the
tab bar on top; from there up (120x36, 200x60) every pane shows at once, the runbook on
the left and the execution over the results on the right, without a tab bar.  The keys
are the same in both: 1, 2, 3 show (or focus) a pane.  The layout itself is in
``app.tcss``.

| Key | Action |
| :- | :- |
| space | tick or untick the highlighted item (its evidence is asked when the runbook wants it) |
| enter | run the highlighted item's action (preflight, rehearse, run, validate, rollback) |
| p | preflight |
| h | rehearse (every statement in a savepoint, all rolled back) |
| r | run the migration (gates, typed confirmation) |
| v | validate |
| b | roll back (impact, export, typed confirmation) |
| c | cancel the running statement |
| e | the escalation contacts (who to call, in which order) |
| 1 2 3 | runbook, execution, results |
| s, S | results: sort the focused table by its next column / reverse it |
| f | results: failures only, or every row |
| ctrl+p | the command palette (the runbook's actions, the panes, help) |
| q, ctrl+q | quit (cancels a running step first) |
| f1, ? | the key panel: every binding |
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, OptionList, Tab, Tabs

from spfp_console.session.state import ItemState, PhaseState, SessionState
from spfp_console.ui.screens.contacts import ContactsScreen
from spfp_console.ui.widgets.execution import LockWaitPanel, RunProgress, SqlLog
from spfp_console.ui.widgets.paper_package import FailureGuide, SuccessCriteria
from spfp_console.ui.widgets.results import ResultsPane
from spfp_console.ui.widgets.runbook_navigator import Checklist, PhaseNavigator
from spfp_console.ui.widgets.session_header import SessionHeader

if TYPE_CHECKING:
    from spfp_console.ui.app import ConsoleApp, SessionOpening

WIDE_AT = (120, 32)
"""Columns and rows from which every pane shows at once (below: tabs)."""

PANE_TITLES = {"runbook": "1 Runbook", "execution": "2 Execution", "results": "3 Results"}
"""Each pane's tab label (and border title in the wide layout), by the pane's id."""

PANE_FOCUS = {"runbook": "#checklist", "execution": "#sql-log", "results": "#results-pane"}
"""The widget that takes the focus when a pane is shown (else its first focusable one)."""

ALL_PANES = frozenset({"header", "runbook", "execution", "results"})


class Pane(Vertical):
    """One pane of the console: a tab at 80x24, a bordered box in the wide layout."""

    def __init__(self, *children: Widget, id: str) -> None:
        super().__init__(*children, id=id, classes="pane")
        self.border_title = PANE_TITLES.get(id, id)


class ConsoleScreen(Screen[None]):
    """Renders the app's folded state; every key that acts goes to the app."""

    BINDINGS = [
        Binding("p", "workflow('check')", "check", id="console.preflight"),
        Binding("h", "workflow('rehearse')", "rehearse", id="console.rehearse"),
        Binding("r", "workflow('deploy')", "run", id="console.run"),
        Binding("v", "workflow('validate')", "validate", id="console.validate"),
        Binding("b", "workflow('rollback')", "rollback", id="console.rollback"),
        Binding("c", "cancel", "cancel", id="console.cancel"),
        Binding("e", "contacts", "contacts", id="console.contacts"),
        Binding("1", "tab('runbook')", "runbook", show=False, id="console.tab-runbook"),
        Binding("2", "tab('execution')", "execution", show=False, id="console.tab-execution"),
        Binding("3", "tab('results')", "results", show=False, id="console.tab-results"),
        Binding("q", "app.quit", "quit", id="console.quit"),
        # Not in the footer: at 80 columns it holds the keys above and the palette's.
        Binding("f1,question_mark", "toggle_help", "help", show=False, id="console.help"),
    ]

    SHOW_PALETTE = True
    """The footer names ctrl+p: the console's palette offers the runbook's actions."""

    current_pane = "runbook"
    """The pane shown at 80x24 (and the one with the focus in the wide layout)."""

    @property
    def console(self) -> ConsoleApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield SessionHeader(id="header")
        yield Tabs(*(Tab(title, id=pane) for pane, title in PANE_TITLES.items()),
                   id="pane-tabs")
        with Container(id="panes"):
            with Pane(id="runbook"):
                yield PhaseNavigator(id="phases")
                yield Checklist(id="checklist")
            with Pane(id="execution"):
                yield RunProgress(id="progress")
                yield LockWaitPanel(id="lock-wait")
                yield SqlLog(id="sql-log")
                yield FailureGuide(id="failure-guide")
            with Pane(id="results"):
                yield SuccessCriteria(id="criteria")
                yield ResultsPane(id="results-pane")
        yield Footer(compact=True, show_command_palette=self.SHOW_PALETTE)

    def __init__(self, connecting: SessionOpening | None = None) -> None:
        super().__init__()
        self.connecting = connecting
        """The session being opened, when the first frame comes before it."""

    def on_mount(self) -> None:
        self.set_layout(self.app.size.width, self.app.size.height)
        self.show_tab(self.current_pane)
        if self.connecting is not None:
            self.show_connecting(self.connecting)

    def on_resize(self, event: events.Resize) -> None:
        self.set_layout(event.size.width, event.size.height)

    def set_layout(self, width: int, height: int) -> None:
        wide = width >= WIDE_AT[0] and height >= WIDE_AT[1]
        self.set_class(wide, "-wide")
        # An OptionList keeps the heights of its wrapped options from a width it had in
        # between (Textual 8.2): items would be cut after a resize.  Measure them again
        # once the new layout is in place.
        self.call_after_refresh(self.remeasure_lists)
        # Wide, the runbook pane has no border of its own (see app.tcss): its title
        # goes on the phases' box.
        for navigator in self.query(PhaseNavigator):
            navigator.border_title = PANE_TITLES["runbook"] if wide else None

    def remeasure_lists(self) -> None:
        for option_list in self.query(OptionList):
            option_list._clear_caches()

    @property
    def wide(self) -> bool:
        """Every pane is on screen (no tabs)."""
        return self.has_class("-wide")

    # ------------------------------------------------------------------ rendering

    def selected_phase(self, state: SessionState) -> PhaseState | None:
        navigator = self.query_one(PhaseNavigator)
        index = navigator.highlighted
        if index is None or not 0 <= index < len(state.phases):
            return state.phases[0] if state.phases else None
        return state.phases[index]

    def ticked_by_hand(self, item: ItemState) -> bool:
        """May the operator tick this item (rather than an action's result)?"""
        session = self.console.session
        return session is not None and session.ticked_by_hand(item)

    def show(self, state: SessionState, log_path: Path | None,
             panes: frozenset[str] = ALL_PANES) -> None:
        """Bring ``panes`` up to date with ``state`` (each cheap when little changed)."""
        if "header" in panes:
            self.query_one(SessionHeader).show(state, log_path)
        if "runbook" in panes:
            phase = self.selected_phase(state)
            self.query_one(PhaseNavigator).show(state.phases, phase.id if phase else None)
            if phase is not None:
                self.query_one(Checklist).show(phase, self.ticked_by_hand)
        if "execution" in panes:
            self.query_one(RunProgress).show(state)
            self.query_one(LockWaitPanel).show(state.lock_wait)
            self.query_one(SqlLog).show(state.statements, state.runs)
            self.query_one(FailureGuide).show(state)
        if "results" in panes:
            self.query_one(ResultsPane).show(state.tables, state.findings)
            self.query_one(SuccessCriteria).show(state)

    def show_connecting(self, opening: SessionOpening) -> None:
        """The first frame, while the session is still being opened."""
        self.query_one(SessionHeader).show_connecting(opening)

    @on(OptionList.OptionHighlighted, "#phases")
    def phase_highlighted(self, message: OptionList.OptionHighlighted) -> None:
        self.refresh_runbook()
        self.phase_changed(message.option_index)

    def phase_changed(self, index: int) -> None:
        """The operator moved to the phase at ``index`` (replay: nothing to judge)."""
        self.console.phase_changed(index)

    def refresh_runbook(self) -> None:
        """Show the highlighted phase's checklist (replay shows its own state here)."""
        self.show(self.console.state, self.console.log_path, frozenset({"runbook"}))

    # ------------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The footer shows the keys that act now: the steps while none runs, cancel while
        # one does (80 columns do not hold both, and neither does anything meanwhile).
        # The key panel (f1) lists every binding.  (It is mounted on the screen itself:
        # its children only, not the whole tree, once per binding after every key.)
        if self.query_children("HelpPanel"):
            return True
        if action == "workflow":
            return not self.console.busy
        if action == "cancel":
            return self.console.busy
        return True

    @on(Checklist.ToggleRequested)
    def toggle_requested(self, message: Checklist.ToggleRequested) -> None:
        self.console.toggle_item(message.item)

    @on(Checklist.ActionRequested)
    def action_requested(self, message: Checklist.ActionRequested) -> None:
        self.console.run_item(message.item)

    def action_workflow(self, workflow: str) -> None:
        self.console.start_workflow(workflow)

    def action_cancel(self) -> None:
        self.console.cancel_running()

    def action_contacts(self) -> None:
        self.app.push_screen(ContactsScreen(self.console.state.contacts))

    def action_toggle_help(self) -> None:
        """Every binding of the focused widget and the screen, in Textual's key panel."""
        if self.query("HelpPanel"):
            self.app.action_hide_help_panel()
        else:
            self.app.action_show_help_panel()
        self.call_after_refresh(self.refresh_bindings)  # every key listed, or the current

    # ------------------------------------------------------------------ panes

    def action_tab(self, tab: str) -> None:
        self.show_tab(tab)

    def show_tab(self, tab: str) -> None:
        """Show a pane (the wide layout shows them all) and focus its main widget."""
        self.show_pane(tab)
        pane = self.query_one(f"#{tab}", Pane)
        selector = PANE_FOCUS.get(tab)
        target = next(iter(self.query(selector)), None) if selector else None
        if target is None or not target.focusable:
            target = next((w for w in pane.query("*") if w.focusable), None)
        if target is not None:
            target.focus()

    def show_pane(self, pane_id: str) -> None:
        """Make ``pane_id`` the current pane: the one shown at 80x24."""
        self.current_pane = pane_id
        for pane in self.query(Pane):
            pane.set_class(pane.id == pane_id, "-current")
        tabs = self.query_one("#pane-tabs", Tabs)
        if tabs.active != pane_id:
            tabs.active = pane_id

    @on(Tabs.TabActivated, "#pane-tabs")
    def tab_activated(self, message: Tabs.TabActivated) -> None:
        """The tab bar moved (left/right on it, or a click)."""
        if message.tab.id and message.tab.id != self.current_pane:
            self.show_pane(message.tab.id)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        # Tab through the wide layout moves the current pane with the focus, so the pane
        # the operator was in stays shown when the terminal shrinks to tabs.
        pane = next((a for a in event.widget.ancestors if isinstance(a, Pane)), None)
        if pane is not None and pane.id and pane.id != self.current_pane:
            self.show_pane(pane.id)
