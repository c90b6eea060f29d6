"""The runbook pane: ticking by hand (with evidence), ticking by an action's result."""

from __future__ import annotations

from console_kit import checklist_prompts, highlight_item, settle, tick, wait_for_screen

from spfp_console.ui.app import ConsoleApp
from spfp_console.ui.screens.questions import PromptScreen
from spfp_console.ui.widgets.runbook_navigator import PhaseNavigator


async def test_space_ticks_and_unticks_an_item_and_the_log_records_who(base_session):
    app = ConsoleApp(base_session)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await tick(app, pilot, "read-runbook")
        item = app.state.item("pre-deployment", "read-runbook")
        assert item.checked and item.who == "alice"
        assert checklist_prompts(app)[0].startswith("[x] Read the runbook")
        assert base_session.state.item("pre-deployment", "read-runbook").checked

        await pilot.press("space")  # again: untick
        await settle(app, pilot)
        assert not app.state.item("pre-deployment", "read-runbook").checked
        assert checklist_prompts(app)[0].startswith("[ ] Read the runbook")


async def test_an_item_asking_for_evidence_is_ticked_only_with_it(base_session):
    app = ConsoleApp(base_session)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await highlight_item(app, pilot, "create-backup")
        await pilot.press("space")
        await wait_for_screen(app, pilot, PromptScreen)
        await pilot.press("escape")  # no evidence: not ticked
        await settle(app, pilot)
        assert not app.state.item("pre-deployment", "create-backup").checked

        await tick(app, pilot, "create-backup", evidence="snapshot 42")
        item = app.state.item("pre-deployment", "create-backup")
        assert item.checked and item.evidence == "snapshot 42"
        assert "snapshot 42" in checklist_prompts(app)[1]


async def test_action_items_are_ticked_by_the_preflight_not_by_hand(base_session):
    app = ConsoleApp(base_session)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await highlight_item(app, pilot, "preflight")
        await pilot.press("space")  # refused: its result ticks it
        await settle(app, pilot)
        assert not app.state.item("pre-deployment", "preflight").checked

        await pilot.press("enter")  # runs the preflight
        await settle(app, pilot)
        assert app.last_result is not None and app.last_result.outcome == "preflight_passed"
        for item_id in ("verify-access", "preflight"):
            item = app.state.item("pre-deployment", item_id)
            assert item.checked and item.ticked_by_action == "preflight"
            assert item.evidence.startswith("preflight passed")
        navigator = app.screen.query_one(PhaseNavigator)
        assert "Pre-deployment  2/10" in str(navigator.get_option_at_index(0).prompt)
        # the preflight's tables are in the results pane
        await pilot.press("3")
        tables = app.screen.query_one("ResultsPane").tables
        assert any(source == "preflight" for source, _ in tables)
        assert all(table.row_count > 0 for table in tables.values())
