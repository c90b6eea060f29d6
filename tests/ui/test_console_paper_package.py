"""The paper package in the console (Pilot, real database): a failed statement shows its
troubleshooting entry beside the SQL log, `e` opens the escalation contacts, validation
ticks the success criteria, the navigator shows each phase's estimate; replay shows the
same from the log alone."""

from __future__ import annotations

from pathlib import Path

from console_kit import open_session, settle, tick, wait_for_screen

from spfp_console.ui.app import ConsoleApp
from spfp_console.ui.launch import open_replay
from spfp_console.ui.screens.contacts import ContactsScreen
from spfp_console.ui.widgets.paper_package import FailureGuide, SuccessCriteria
from spfp_console.ui.widgets.runbook_navigator import PhaseNavigator

BROKEN_SQL = Path(__file__).resolve().parent.parent / "fixtures" / "broken_migration.sql"


def _prompts(app) -> list[str]:
    navigator = app.screen_stack[0].query_one(PhaseNavigator)
    return [str(navigator.get_option_at_index(i).prompt) for i in range(navigator.option_count)]


async def test_a_failed_statement_shows_its_guide_entry_and_e_opens_the_contacts(
        base_db, tmp_path):
    session = open_session(base_db, tmp_path / "logs", migration=BROKEN_SQL)
    app = ConsoleApp(session)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            guide = app.screen.query_one(FailureGuide)
            assert not guide.display or not guide.has_class("-failed")  # nothing failed yet
            await pilot.press("h")
            await settle(app, pilot)
            assert app.last_result.outcome == "rehearsal_failed"
            assert guide.has_class("-failed") and guide.region.height > 0  # on screen
            assert [(r.sqlstate, r.error_line) for r in guide.rows] == [
                ("42601", 13), ("42703", 18), ("42883", 24)]
            text = guide.text
            assert "SQLSTATE 42883 at broken_migration.sql:24" in text
            after = text.split("SQLSTATE 42883", 1)[1]
            assert "guide for 42883: Function missing" in after
            assert "update_updated_at_column()" in after and "what to do: " in after
            assert "guide for 42703: Column missing" in text

            await pilot.press("e")
            contacts = await wait_for_screen(app, pilot, ContactsScreen)
            listed = str(contacts.query_one("#contacts-list").content)
            assert listed.splitlines()[0] == "1. DevOps Engineer (Gage), Slack #devops-deployment"
            assert "3. CTO, no channel given" in listed
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, ContactsScreen)
            # what the footer and the key panel (f1) list
            assert app.screen.active_bindings["e"].binding.description == "contacts"
    finally:
        session.close()

    # Replay, from the log alone, shows the same guide beside the same failures.
    replay = open_replay(session.log_path)
    async with replay.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        replayed = replay.screen_stack[0].query_one(FailureGuide)
        assert replayed.text == text


async def test_validation_ticks_the_success_criteria_and_phases_show_estimates(
        base_session, tmp_path):
    app = ConsoleApp(base_session)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        prompts = _prompts(app)
        assert "est. 10-15 min · started " in prompts[0]
        assert prompts[1].endswith("est. 30-60 s") and prompts[2].endswith("est. 40+ min")
        criteria = app.screen.query_one(SuccessCriteria)
        assert criteria.text.splitlines()[0] == "Success criteria: 0 of 10 met, 10 not yet"

        await pilot.press("v")  # the base schema: nothing of the migration is there
        await settle(app, pilot)
        lines = criteria.text.splitlines()
        assert lines[0] == "Success criteria: 0 of 10 met, 6 NOT met, 4 not yet"
        assert lines[3].startswith("✘ All indexes created") and "NOT met: 20/20 fail" in lines[3]
        assert lines[1].startswith("· Execution completes without errors · not yet")

        await tick(app, pilot, "read-runbook")
        await settle(app, pilot)
        assert app.state.phases[0].items[0].checked
        assert _prompts(app)[0].startswith("▶ Pre-deployment  1/10  est. 10-15 min · started")
