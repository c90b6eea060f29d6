"""The whole runbook through the console on a real database: tick, rehearse, run through
the typed confirmation, validate, then roll back through its dialog."""

from __future__ import annotations

from console_kit import (
    result_tables,
    settle,
    sql_log_rows,
    tick,
    type_text,
    wait_for_screen,
)
from textual.widgets import Button, Input

from spfp_console.events import RollbackDecision
from spfp_console.journal.read import read_journal
from spfp_console.journal.verify import verify_log
from spfp_console.session.state import fold
from spfp_console.ui.app import ConsoleApp
from spfp_console.ui.screens.questions import RollbackConfirmScreen, TypedConfirmScreen
from spfp_console.ui.widgets.execution import SqlLog

MANUAL_ITEMS = [
    ("read-runbook", None),
    ("create-backup", "snapshot 42"),
    ("notify-team", "#ops at 10:00"),
    ("low-traffic-window", "10:00-11:00 UTC"),
    ("approvals", "bob"),
    ("monitoring-ready", None),
]

AUDIT_TABLE = "SELECT to_regclass('public.automation_permissions_audit') IS NOT NULL"


async def test_deploy_validate_and_roll_back_from_the_console(base_db, base_session, tmp_path):
    export_dir = tmp_path / "export"
    app = ConsoleApp(base_session, export_dir=export_dir)
    dbname = base_session.info.dbname
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        for item_id, evidence in MANUAL_ITEMS:
            await tick(app, pilot, item_id, evidence)

        await pilot.press("h")  # rehearse: every statement, all rolled back
        await settle(app, pilot)
        assert app.last_result.outcome == "rehearsed"
        rehearsed = len(sql_log_rows(app))
        rows = sql_log_rows(app)
        # every statement ran (✔); BEGIN/COMMIT are skipped (-): the engine owns the transaction
        assert rehearsed > 20 and {row[0] for row in rows} == {"✔", "-"}
        assert sum(row[0] == "✔" for row in rows) == app.state.current_run.statements_ok
        assert base_db.scalar(AUDIT_TABLE) is False

        await pilot.press("r")  # run: preflight, gates (all open), typed confirmation
        confirm = await wait_for_screen(app, pilot, TypedConfirmScreen)
        assert app.focused.id == "cancel"
        run_button = confirm.query_one("#confirm", Button)
        assert run_button.disabled
        await pilot.press("shift+tab")
        assert isinstance(app.focused, Input)
        await type_text(pilot, dbname + "x")
        assert run_button.disabled
        await pilot.press("backspace")
        assert not run_button.disabled
        await pilot.press("enter")
        await settle(app, pilot)

        assert app.last_result.outcome == "committed", app.last_result
        assert base_db.scalar(AUDIT_TABLE) is True
        rows = sql_log_rows(app)
        run = app.state.current_run
        assert run.mode == "run" and run.statements_done == run.statements
        assert len(rows) == rehearsed + run.statements
        assert {row[0] for row in rows} == {"✔", "-"}
        assert rows[-1][1].startswith(":")
        log = app.screen.query_one(SqlLog)  # it follows the newest row
        assert log.max_scroll_y > 0 and log.scroll_y == log.max_scroll_y
        assert [row[2] for row in sql_log_rows(app, headings=True)] == [
            "rehearse 20260216_database_optimizations.sql",
            "run 20260216_database_optimizations.sql"]
        for item_id in ("run-migration", "wait-for-completion", "success-message"):
            assert app.state.item("execution", item_id).checked, item_id
        tables = result_tables(app)
        validation = [key for key in tables if key[0] == "validation"]
        assert validation
        for key in validation:
            status = app.state.tables[key].status_column
            if status:
                column = app.state.tables[key].columns.index(status)
                assert "fail" not in {row[column] for row in tables[key]}, key
            assert app.state.tables[key].passed is not False, key

        await pilot.press("b")  # rollback: impact, export, then the dialog
        dialog = await wait_for_screen(app, pilot, RollbackConfirmScreen)
        assert app.focused.id == "cancel"
        impact_rows = dialog.query_one("#impact").row_count
        assert impact_rows == len(base_session.state.tables_of("rollback-impact")[0].rows)
        roll_back = dialog.query_one("#confirm", Button)
        assert str(roll_back.label) == "Roll back" and roll_back.disabled
        await pilot.press("shift+tab")
        await type_text(pilot, f"rollback {dbname}-prod")
        assert roll_back.disabled
        await pilot.press("escape")
        await settle(app, pilot)
        assert app.state.workflows[-1].outcome == "not_confirmed"
        assert app.last_result.outcome == "committed"  # a declined dialog hides nothing
        decision = app.state.decisions[-1]
        assert isinstance(decision, RollbackDecision) and not decision.confirmed
        exported_to = decision.exported_to
        assert exported_to and [n.message for n in app._notifications][-1] == (
            "rollback: not confirmed: nothing was rolled back; the data exported for it"
            f" stays in {exported_to}")
        assert base_db.scalar(AUDIT_TABLE) is True

        await pilot.press("b")
        dialog = await wait_for_screen(app, pilot, RollbackConfirmScreen)
        await pilot.press("shift+tab")
        await type_text(pilot, f"rollback {dbname}")
        roll_back = dialog.query_one("#confirm", Button)
        assert not roll_back.disabled
        await pilot.press("tab", "tab")  # past Cancel to the enabled Roll back
        assert app.focused is roll_back
        await pilot.press("enter")
        await settle(app, pilot)

        assert app.last_result.outcome == "rolled_back", app.last_result
        assert base_db.scalar(AUDIT_TABLE) is False
        assert app.state.item("rollback", "run-rollback").checked
        assert export_dir.is_dir()
        assert sql_log_rows(app, headings=True)[-1][2] == "run 20260216_rollback.sql"

    base_session.close(app.last_result)
    assert verify_log(base_session.log_path).chain.ok  # intact and complete (unsigned)
    # What the console showed is what the log says (the checklist, the statements).
    entries = read_journal(base_session.log_path).entries
    logged = fold(event for event in (entry.event() for entry in entries) if event is not None)
    assert [(i.id, i.checked, i.evidence) for p in logged.phases for i in p.items] == \
        [(i.id, i.checked, i.evidence) for p in app.state.phases for i in p.items]
    assert [(r.line, r.status) for r in logged.statements] == \
        [(r.line, r.status) for r in app.state.statements]
