"""Gates and overrides, a failing statement, cancelling a running statement, a database
error in a worker, the key panel."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from console_kit import (
    open_session,
    settle,
    sql_log_rows,
    type_text,
    wait_for_screen,
    wait_until,
)
from textual.widgets import Static

from spfp_console.events import OverrideRecorded
from spfp_console.journal.verify import verify_log
from spfp_console.ui.app import ConsoleApp
from spfp_console.ui.screens.questions import ErrorScreen, PromptScreen, TypedConfirmScreen

BROKEN_SQL = Path(__file__).resolve().parent.parent / "fixtures" / "broken_migration.sql"
AUDIT_TABLE = "SELECT to_regclass('public.automation_permissions_audit') IS NOT NULL"


async def test_closed_gates_refuse_and_an_override_records_its_reason(base_db, base_session):
    app = ConsoleApp(base_session)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("r")  # nothing ticked, nothing rehearsed
        prompt = await wait_for_screen(app, pilot, PromptScreen)
        assert prompt.title_text == "The checklist gate is closed"
        assert any("pre-deployment/create-backup" in line for line in prompt.lines)
        await pilot.press("escape")  # no reason: stop there
        await settle(app, pilot)
        assert app.last_result.outcome == "refused_by_gate"
        assert base_db.scalar(AUDIT_TABLE) is False

        await pilot.press("r")
        await wait_for_screen(app, pilot, PromptScreen)
        await type_text(pilot, "dry run on staging")
        await pilot.press("enter")
        prompt = await wait_for_screen(app, pilot, PromptScreen)  # the next gate
        assert prompt.title_text == "The rehearsal gate is closed"
        await type_text(pilot, "rehearsed yesterday")
        await pilot.press("enter")
        await wait_for_screen(app, pilot, TypedConfirmScreen)
        await pilot.press("escape")  # and then declined
        await settle(app, pilot)
        assert app.state.workflows[-1].outcome == "not_confirmed"
        # One statement of what happened, not the general and the precise one side by side.
        assert [n.message for n in app._notifications][-1] == (
            "deploy: not confirmed: nothing was run")
        assert base_db.scalar(AUDIT_TABLE) is False
        overrides = [d for d in app.state.decisions if isinstance(d, OverrideRecorded)]
        assert [(o.what.split(":")[0], o.reason, o.who) for o in overrides] == [
            ("checklist", "dry run on staging", "alice"),
            ("rehearsal", "rehearsed yesterday", "alice"),
        ]


async def test_a_failing_statement_shows_its_sqlstate_and_line(base_db, tmp_path):
    runbook_session = open_session(base_db, tmp_path, migration=BROKEN_SQL)
    app = ConsoleApp(runbook_session)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            await pilot.press("h")
            await settle(app, pilot)
            assert app.last_result.outcome == "rehearsal_failed"
            assert [n.message for n in app._notifications][-1] == (
                "rehearse: rehearsal FAILED: the transaction was rolled back"
                " (3 failing statement(s))")
            failed = [row for row in sql_log_rows(app) if row[0] == "✘"]
            assert [(row[1], row[4].split()[0]) for row in failed] == [
                (":13", "42601"),
                (":18", "42703"),
                (":24", "42883"),
            ]
            label = str(app.screen.query_one("#run-label", Static).content)
            assert label.endswith("rehearsed: 4 ok, 3 failed, 2 skipped"), label
            assert sql_log_rows(app, headings=True) == [
                ["▶", "run 1", "rehearse broken_migration.sql", "", ""]]
            assert "marketing_posts" in failed[1][4] or "deleted_at" in failed[1][4]
    finally:
        runbook_session.close()


async def test_a_database_error_in_a_worker_is_one_line_in_a_modal(base_db, base_session):
    app = ConsoleApp(base_session)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        pid = base_session.conn.info.backend_pid
        base_db.scalar("SELECT pg_terminate_backend(%s)", (pid,))
        await pilot.press("v")
        await settle(app, pilot)
        error = await wait_for_screen(app, pilot, ErrorScreen)
        assert error.message.startswith("validation: lost the database connection")
        assert "\n" not in error.message and "Traceback" not in error.message
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ErrorScreen)


SLOW_SQL = Path(__file__).resolve().parent.parent / "fixtures" / "slow_migration.sql"


async def test_c_cancels_the_running_statement_and_nothing_changes(base_db, tmp_path):
    session = open_session(base_db, tmp_path, migration=SLOW_SQL)
    app = ConsoleApp(session)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            await pilot.press("h")
            await wait_until(pilot, lambda: app.state.current_statement is not None
                             and "pg_sleep" in app.state.current_statement.sql)
            # the running statement is on screen while it runs
            current = str(app.screen.query_one("#run-current", Static).content)
            assert "pg_sleep(10)" in current
            started = time.monotonic()
            await pilot.press("c")
            await settle(app, pilot)
            assert time.monotonic() - started < 5  # pg_sleep(10) did not run to its end
            assert app.state.current_run.outcome == "cancelled"
            assert app.last_result.outcome == "cancelled"
            assert [n.message for n in app._notifications][-1] == (
                "rehearse: cancelled: the transaction was rolled back, nothing changed"
                " (cancelled at statement 4)")
            assert base_db.scalar(
                "SELECT count(*) FROM information_schema.columns"
                " WHERE table_name = 'sent_atas' AND column_name = 'deleted_at'") == 0
    finally:
        session.close()


async def test_f1_shows_every_binding_and_hides_it_again(base_session):
    app = ConsoleApp(base_session)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("f1")
        await pilot.pause()
        assert app.screen.query("HelpPanel")
        await pilot.press("f1")
        await pilot.pause()
        assert not app.screen.query("HelpPanel")


async def test_a_hangup_mid_run_cancels_it_and_the_log_ends_with_the_truth(base_db, tmp_path):
    session = open_session(base_db, tmp_path, migration=SLOW_SQL)
    app = ConsoleApp(session)
    before = signal.getsignal(signal.SIGHUP)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            assert signal.getsignal(signal.SIGHUP) is not before
            await pilot.press("h")
            await wait_until(pilot, lambda: app.state.current_statement is not None
                             and "pg_sleep" in app.state.current_statement.sql)
            os.kill(os.getpid(), signal.SIGHUP)  # the SSH link drops
            await wait_until(pilot, lambda: app.return_code is not None, timeout=10)
        assert app.hung_up == "SIGHUP"
        assert app.idle.is_set()  # the worker ended before the app did
        assert app.last_result.outcome == "cancelled"
        session.close(app.last_result)
        assert session.state.ended.outcome == "cancelled"
        assert verify_log(session.log_path).chain.ok
    finally:
        session.close()
    # the handler was the console's only while it ran
    assert signal.getsignal(signal.SIGHUP) is before


async def test_square_brackets_in_sql_and_messages_are_text_not_markup(base_db, tmp_path):
    script = tmp_path / "brackets.sql"
    script.write_text("SELECT '[/]' AS closing_tag;\nSELECT 1 FROM \"[bold]missing\";\n")
    session = open_session(base_db, tmp_path, migration=script)
    app = ConsoleApp(session)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            await pilot.press("h")
            await settle(app, pilot)
            rows = sql_log_rows(app)
            assert rows[0][:3] == ["✔", ":1", "SELECT '[/]' AS closing_tag"]
            assert rows[1][0] == "✘" and '"[bold]missing"' in rows[1][4]
            assert app.last_result.outcome == "rehearsal_failed"
    finally:
        session.close()
