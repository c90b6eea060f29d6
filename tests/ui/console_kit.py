"""Helpers to drive the console with Textual's Pilot (no fixtures here: see conftest)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from spfp_console.deployment import DeploymentSession
from spfp_console.paths import DEFAULT_RUNBOOK
from spfp_console.runbook import load_runbook
from spfp_console.runbook.model import ScriptRef

OPERATOR = "alice"


def open_session(db: Any, log_dir: Path, *, migration: Path | None = None) -> DeploymentSession:
    """An opened session of the SPFP runbook on ``db`` (its migration replaced, if given)."""
    runbook = load_runbook(DEFAULT_RUNBOOK)
    if migration is not None:
        runbook = dataclasses.replace(
            runbook, scripts={**runbook.scripts, "migration": ScriptRef("migration", migration)})
    session = DeploymentSession(runbook=runbook, dsn=db.dsn, log_dir=log_dir,
                                operator=OPERATOR, environment="staging")
    session.open()
    return session


# ---------------------------------------------------------------------- driving the app


async def settle(app: Any, pilot: Any) -> None:
    """Wait for the running workflow, then for its events to reach the widgets.

    Events cross from worker threads as messages, and the panes redraw at most every
    REFRESH_S: wait until the console has folded every event the session emitted and
    no redraw is pending.
    """
    await app.workers.wait_for_complete()
    await wait_until(pilot, lambda: app.state.events == app.session.state.events
                     and not app.refresh_pending)


async def wait_until(pilot: Any, condition: Any, timeout: float = 60.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {condition}")
        await pilot.pause(0.05)
    await pilot.pause()


async def wait_for_screen(app: Any, pilot: Any, screen_type: type) -> Any:
    """Wait until a modal of that type is the active screen (asked from a worker)."""
    await wait_until(pilot, lambda: isinstance(app.screen, screen_type))
    return app.screen


async def highlight_item(app: Any, pilot: Any, item_id: str) -> None:
    """Move the checklist's highlight to an item with the keyboard, as an operator would."""
    from spfp_console.ui.widgets.runbook_navigator import Checklist

    checklist = app.screen.query_one(Checklist)
    index = [item.id for item in checklist.items].index(item_id)
    await pilot.press("home", *["down"] * index)
    assert checklist.current_item.id == item_id


async def tick(app: Any, pilot: Any, item_id: str, evidence: str | None = None) -> None:
    """Space on an item; type its evidence when the console asks for it."""
    from spfp_console.ui.screens.questions import PromptScreen

    await highlight_item(app, pilot, item_id)
    await pilot.press("space")
    if evidence is not None:
        await wait_for_screen(app, pilot, PromptScreen)
        await type_text(pilot, evidence)
        await pilot.press("enter")
    await settle(app, pilot)


async def type_text(pilot: Any, text: str) -> None:
    await pilot.press(*["space" if c == " " else c for c in text])


def checklist_prompts(app: Any) -> list[str]:
    """The checklist's lines as the widget holds them (its data, not pixels)."""
    from spfp_console.ui.widgets.runbook_navigator import Checklist

    checklist = app.screen_stack[0].query_one(Checklist)
    return [str(checklist.get_option_at_index(i).prompt) for i in range(checklist.option_count)]


def sql_log_rows(app: Any, *, headings: bool = False) -> list[list[str]]:
    """The SQL log's statement rows (or only its run headings) as the table holds them."""
    from spfp_console.ui.widgets.execution import SqlLog

    rows = app.screen_stack[0].query_one(SqlLog).rows()
    return [row for row in rows if (row[0] == "▶") == headings]


def result_tables(app: Any) -> dict[tuple[str, str], list[list[str]]]:
    """Every DataTable of the results pane, by (source, title), as its cells."""
    from spfp_console.ui.widgets.results import ResultsPane

    pane = app.screen_stack[0].query_one(ResultsPane)
    return {key: [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
            for key, table in pane.tables.items()}
