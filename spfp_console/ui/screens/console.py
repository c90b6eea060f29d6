"""The main screen: header, the runbook / execution / results tabs, and the footer.

Tabs at every size for this first cut: at 80x24 nothing is clipped, and the operator
switches with 1, 2, 3.  (A wide layout showing all three panes at once is the next step.)

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
| q, ctrl+q | quit (cancels a running step first) |
| f1, ? | the key panel: every binding |
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, OptionList, TabbedContent, TabPane

from spfp_console.session.state import PhaseState, SessionState
from spfp_console.ui.screens.contacts import ContactsScreen
from spfp_console.ui.widgets.execution import RunProgress, SqlLog
from spfp_console.ui.widgets.paper_package import FailureGuide, SuccessCriteria
from spfp_console.ui.widgets.results import ResultsPane
from spfp_console.ui.widgets.runbook_navigator import Checklist, PhaseNavigator
from spfp_console.ui.widgets.session_header import SessionHeader

if TYPE_CHECKING:
    from spfp_console.ui.app import ConsoleApp


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
        Binding("f1,question_mark", "toggle_help", "help", show=False, id="console.help"),
    ]

    @property
    def console(self) -> ConsoleApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield SessionHeader(id="header")
        with TabbedContent(initial="runbook", id="tabs"):
            with TabPane("1 Runbook", id="runbook"):
                yield PhaseNavigator(id="phases")
                yield Checklist(id="checklist")
            with TabPane("2 Execution", id="execution"):
                yield RunProgress(id="progress")
                yield SqlLog(id="sql-log")
                yield FailureGuide(id="failure-guide")
            with TabPane("3 Results", id="results"):
                yield SuccessCriteria(id="criteria")
                yield ResultsPane(id="results-pane")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one(Checklist).focus()

    # ------------------------------------------------------------------ rendering

    def selected_phase(self, state: SessionState) -> PhaseState | None:
        navigator = self.query_one(PhaseNavigator)
        index = navigator.highlighted
        if index is None or not 0 <= index < len(state.phases):
            return state.phases[0] if state.phases else None
        return state.phases[index]

    def show(self, state: SessionState, log_path: Path | None,
             panes: frozenset[str] = frozenset({"header", "runbook", "execution", "results"}),
             ) -> None:
        """Bring ``panes`` up to date with ``state`` (each cheap when little changed)."""
        if "header" in panes:
            self.query_one(SessionHeader).show(state, log_path)
        if "runbook" in panes:
            phase = self.selected_phase(state)
            self.query_one(PhaseNavigator).show(state.phases, phase.id if phase else None)
            if phase is not None:
                self.query_one(Checklist).show(phase)
        if "execution" in panes:
            self.query_one(RunProgress).show(state)
            self.query_one(SqlLog).show(state.statements, state.runs)
            self.query_one(FailureGuide).show(state)
        if "results" in panes:
            self.query_one(ResultsPane).show(state.tables, state.findings)
            self.query_one(SuccessCriteria).show(state)

    @on(OptionList.OptionHighlighted, "#phases")
    def phase_highlighted(self) -> None:
        self.refresh_runbook()

    def refresh_runbook(self) -> None:
        """Show the highlighted phase's checklist (replay shows its own state here)."""
        self.show(self.console.state, self.console.session.log_path, frozenset({"runbook"}))

    # ------------------------------------------------------------------ actions

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

    def action_tab(self, tab: str) -> None:
        self.show_tab(tab)

    def show_tab(self, tab: str) -> None:
        # Focus moves with the tab: a focused widget left in a hidden pane would take
        # focus back to its own pane (TabbedContent follows focus).
        self.query_one(TabbedContent).active = tab
        target = {"runbook": Checklist, "execution": SqlLog, "results": ResultsPane}[tab]
        self.query_one(target).focus()
