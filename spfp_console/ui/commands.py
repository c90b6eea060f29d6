"""The command palette (ctrl+p): the runbook's actions, the panes, the results' views, help.

Every command does what its key does (the key is in its help line), through the same
code: the palette is a second way in for an operator who does not know the keys yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, NamedTuple

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from spfp_console.ui.app import ConsoleApp


class ConsoleCommand(NamedTuple):
    name: str
    """"group: action", as the palette lists it."""
    help: str
    """What it does, and its key."""
    run: Callable[[ConsoleApp], object]


def _workflow(name: str) -> Callable[[ConsoleApp], object]:
    return lambda app: app.start_workflow(name)


def _pane(pane: str) -> Callable[[ConsoleApp], object]:
    return lambda app: app.console_screen.show_tab(pane)


def _results(action: str) -> Callable[[ConsoleApp], object]:
    def run(app: ConsoleApp) -> object:
        from spfp_console.ui.widgets.results import ResultsPane

        app.console_screen.show_tab("results")
        pane = app.console_screen.query_one(ResultsPane)
        return getattr(pane, f"action_{action}")()
    return run


COMMANDS = (
    ConsoleCommand("runbook: preflight", "check the target before anything changes (p)",
                   _workflow("check")),
    ConsoleCommand("runbook: rehearse", "every statement in a savepoint, all rolled back (h)",
                   _workflow("rehearse")),
    ConsoleCommand("runbook: scratch rehearsal", "the script on a scratch copy of the schema",
                   _workflow("scratch-rehearse")),
    ConsoleCommand("runbook: run the migration", "gates, then a typed confirmation (r)",
                   _workflow("deploy")),
    ConsoleCommand("runbook: validate", "every object of the migration, and the claims (v)",
                   _workflow("validate")),
    ConsoleCommand("runbook: roll back", "impact, export, then a typed confirmation (b)",
                   _workflow("rollback")),
    ConsoleCommand("runbook: cancel the running statement",
                   "its transaction is rolled back (c)", lambda app: app.cancel_running()),
    ConsoleCommand("runbook: escalation contacts", "who to call, in which order (e)",
                   lambda app: app.console_screen.action_contacts()),
    ConsoleCommand("pane: runbook", "the phases and the checklist (1)", _pane("runbook")),
    ConsoleCommand("pane: execution", "progress, lock waits and the live SQL log (2)",
                   _pane("execution")),
    ConsoleCommand("pane: results", "findings and result tables (3)", _pane("results")),
    ConsoleCommand("results: failures only or every row", "in every table (f)",
                   _results("toggle_failures")),
    ConsoleCommand("results: sort by the next column", "of the focused table (s)",
                   _results("sort_next")),
    ConsoleCommand("help: every key", "the key panel (f1, ?)",
                   lambda app: app.console_screen.action_toggle_help()),
)
"""The console's commands, in the order the palette lists them before anything is typed."""


class ConsoleCommands(Provider):
    """The console's commands for Textual's command palette."""

    def _commands(self) -> Iterator[tuple[ConsoleCommand, Callable[[], object]]]:
        app: ConsoleApp = self.app  # type: ignore[assignment]
        for command in COMMANDS:
            yield command, partial(command.run, app)

    async def discover(self) -> Hits:
        for command, run in self._commands():
            yield DiscoveryHit(command.name, run, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command, run in self._commands():
            score = matcher.match(command.name)
            if score > 0:
                yield Hit(score, matcher.highlight(command.name), run, text=command.name,
                          help=command.help)
