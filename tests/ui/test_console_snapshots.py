"""Snapshot tests of the dialogs at 80x24 and 120x40 (pytest-textual-snapshot).

The dialogs render a ConfirmationRequest (and, for the rollback, the engine's impact
report), so they can be shown with fixed data: no database, nothing random.  The main screens are
in test_console_main_snapshots.py, on fixed events.
Update after a deliberate change: ``pytest tests/ui/test_console_snapshots.py
--snapshot-update``, then look at the SVGs.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.app import App

from spfp_console.engine.rollback_impact import AtRisk, RollbackImpact
from spfp_console.session.operator import ConfirmationRequest
from spfp_console.ui.screens.questions import (
    PromptScreen,
    RollbackConfirmScreen,
    TypedConfirmScreen,
)

RUN_REQUEST = ConfirmationRequest(
    action="run",
    title="Run on postgres in one transaction · 20260216_database_optimizations.sql"
          " · postgres@db.staging:5432",
    expected="postgres",
    summary=(
        "current state: not applied",
        "held until COMMIT: automation_permissions_audit ACCESS EXCLUSIVE (reads and"
        " writes wait), sent_atas ACCESS EXCLUSIVE (reads and writes wait)",
        "creates: 20 indexes, 6 columns, 6 views, 1 table, 1 function, 1 trigger",
    ),
)

IMPACT = RollbackImpact(items=[
    AtRisk("public", "automation_permissions_audit", None, "every row (the table is dropped)",
           412),
    AtRisk("public", "sent_atas", "deleted_at", "non-null values (soft-deleted rows)", 37),
    AtRisk("public", "operational_tasks", "deleted_at", "non-null values (soft-deleted rows)",
           5),
    AtRisk("public", "marketing_posts", "deleted_at", "non-null values (soft-deleted rows)",
           0),
], total=454)

ROLLBACK_REQUEST = ConfirmationRequest(
    action="rollback",
    title="Roll back 20260216_database_optimizations on postgres · postgres@db.staging:5432",
    expected="rollback postgres",
    summary=("destroys 454 rows/values",
             "exported 3 file(s) to deploy-logs/rollback-export-20260216T103200Z"),
    impact=IMPACT,
    exported_to="deploy-logs/rollback-export-20260216T103200Z",
)


class DialogHost(App[Any]):
    """An empty app that shows one dialog, as the console pushes it."""

    def __init__(self, screen_factory: Any) -> None:
        super().__init__()
        self.screen_factory = screen_factory
        self.answers: list[Any] = []

    def on_mount(self) -> None:
        self.push_screen(self.screen_factory(), self.answers.append)


SIZES = [(80, 24), (120, 40)]


@pytest.mark.parametrize("size", SIZES)
def test_run_confirmation(snap_compare, size):
    assert snap_compare(DialogHost(lambda: TypedConfirmScreen(RUN_REQUEST)),
                        terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_rollback_dialog_with_a_wrong_name_typed(snap_compare, size):
    assert snap_compare(DialogHost(lambda: RollbackConfirmScreen(ROLLBACK_REQUEST)),
                        press=["shift+tab", *"rollback", "space", *"prod"],
                        terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_override_reason(snap_compare, size):
    reasons = ["required item not ticked: pre-deployment/create-backup",
               "required item not ticked: pre-deployment/approvals"]
    assert snap_compare(DialogHost(lambda: PromptScreen(
        "The checklist gate is closed", reasons,
        "Type why you go past it (recorded in the log), or Escape to stop:", alarming=True)),
        terminal_size=size)


async def test_tab_from_cancel_reaches_the_field_to_type_in():
    """Keyboard only: focus starts on Cancel; one Tab goes to the field (the summary
    scrolls with PageUp/PageDown and is not in the way); typing the name enables Run."""
    from textual.widgets import Button, Input

    host = DialogHost(lambda: TypedConfirmScreen(RUN_REQUEST))
    async with host.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = host.screen
        assert host.focused is screen.query_one("#cancel", Button)
        await pilot.press("pagedown", "tab")
        assert host.focused is screen.query_one("#typed", Input)
        await pilot.press(*"postgres")
        assert not screen.query_one("#confirm", Button).disabled


async def test_typing_with_the_focus_on_cancel_types_into_the_field():
    """Over SSH an operator reads "Type 'postgres' to confirm" and types: the keys go to
    the field (not to the app's single-letter bindings), Enter then runs; Enter before
    anything was typed still declines."""
    from textual.widgets import Button, Input

    host = DialogHost(lambda: TypedConfirmScreen(RUN_REQUEST))
    async with host.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = host.screen
        assert host.focused is screen.query_one("#cancel", Button)
        await pilot.press(*"postgres")
        assert host.focused is screen.query_one("#typed", Input)
        assert screen.query_one("#typed", Input).value == "postgres"
        assert not screen.query_one("#confirm", Button).disabled
        await pilot.press("enter")
        await pilot.pause()
    assert host.answers == ["postgres"]

    host = DialogHost(lambda: TypedConfirmScreen(RUN_REQUEST))
    async with host.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
    assert host.answers == [""]


# ---------------------------------------------------------------------- replay


def replay_of_a_fixed_session() -> Any:
    """The replay app on fixed events (the real runbook's checklist, a failed run), with
    a tampered badge: every part of the replay screen, nothing that differs per run."""
    from pathlib import Path

    from spfp_console import events as ev
    from spfp_console.deployment import checklist_of
    from spfp_console.paths import DEFAULT_RUNBOOK
    from spfp_console.runbook import load_runbook
    from spfp_console.session.timeline import Stamp, Timeline, TrustBadge
    from spfp_console.ui.replay import ReplayApp

    from spfp_console.session.runbook_guide import paper_package_of

    runbook = load_runbook(DEFAULT_RUNBOOK)
    phases, items = checklist_of(runbook)
    script = "20260216_database_optimizations.sql"
    sql = "ALTER TABLE public.sent_atas ADD COLUMN deleted_at timestamptz;"
    recorded = [
        ev.SessionStarted(operator="alice", runbook_id="20260216-optimizations",
                          target="postgres@db.prod:5432/postgres", server_version="16.4",
                          supabase=True, environment="production", phases=phases,
                          items=items, started_at="2026-02-16T10:00:00Z",
                          **paper_package_of(runbook)),
        ev.ChecklistItemToggled(phase="pre-deployment", item_id="read-runbook", checked=True,
                                who="alice", when="2026-02-16T10:01:00Z"),
        ev.ChecklistItemToggled(phase="pre-deployment", item_id="create-backup",
                                checked=True, who="alice", evidence="snapshot 42",
                                when="2026-02-16T10:02:00Z"),
        ev.RunStarted(mode="run", script=script, statements=2, script_sha256="1" * 64),
        ev.StatementStarted(index=0, file=script, line=3, sql=sql),
        ev.StatementFinished(index=0, file=script, line=3, duration_s=0.25,
                             status="ALTER TABLE"),
        ev.StatementStarted(index=1, file=script, line=9,
                            sql="CREATE INDEX idx_sent_atas_deleted ON public.sent_atas"
                                " (deleted_at);"),
        ev.StatementFailed(index=1, file=script, line=9, sql="CREATE INDEX ...",
                           sqlstate="42703", message='column "deleted_at" does not exist',
                           duration_s=0.01),
        ev.RunFinished(mode="run", outcome="rolled_back", duration_s=0.5, statements_ok=1,
                       statements_failed=1, message="rolled back after failure"),
    ]
    timeline = Timeline.of((event, Stamp(at=f"2026-02-16T10:0{i}:00.000000Z", t=60.0 * i))
                           for i, event in enumerate(recorded))
    badge = TrustBadge("tampered", "TAMPERED at event 7: edited: its hash does not match"
                                   " its content", bad_from=7)
    return ReplayApp(Path("deploy-logs/20260216_database_optimizations.deploy-log.toml"),
                     timeline, badge)


@pytest.mark.parametrize("size", SIZES)
def test_replay_at_a_failed_statement(snap_compare, size):
    async def at_the_error(pilot: Any) -> None:
        await pilot.press("home", "e", "2")
        await pilot.pause()

    assert snap_compare(replay_of_a_fixed_session(), terminal_size=size,
                        run_before=at_the_error)
