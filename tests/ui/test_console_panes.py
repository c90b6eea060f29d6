"""The console's panes and layout, driven with the keyboard (Pilot): the wide layout and
the tabs, the lock-wait panel and the index-build bar on a real lock and a real build,
sorting and filtering the result tables, the command palette, the key panel, the
approvals item, the profile in the header, and leaving a phase under sign-offs."""

from __future__ import annotations

import dataclasses
import io
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from console_kit import (
    OPERATOR,
    checklist_prompts,
    highlight_item,
    open_session,
    result_tables,
    settle,
    type_text,
    wait_for_screen,
    wait_until,
)
from console_scenes import CHECKLIST, VALIDATED, WAITING, console_on, run_started
from rich.console import Console
from textual.widgets import Static, Tabs

from spfp_console.deployment import DeploymentSession
from spfp_console.events import GateChecked
from spfp_console.journal.approval import APPROVAL_NAMESPACE
from spfp_console.paths import DEFAULT_RUNBOOK, MIGRATION_SQL, ROLLBACK_SQL
from spfp_console.runbook import load_runbook
from spfp_console.ui.app import ConsoleApp
from spfp_console.ui.screens.console import Pane
from spfp_console.ui.screens.questions import PromptScreen
from spfp_console.ui.widgets.execution import LockWaitPanel, RunProgress, SqlLog
from spfp_console.ui.widgets.results import ResultsPane
from spfp_console.ui.widgets.runbook_navigator import Checklist, PhaseNavigator
from spfp_console.ui.widgets.session_header import SessionHeader

VALIDATION = ("validation", "Validation: 20260216_database_optimizations applied")


def shown_panes(app: ConsoleApp) -> list[str]:
    return [pane.id or "" for pane in app.screen.query(Pane) if pane.display
            and pane.region.area > 0]


def footer_keys(app: ConsoleApp) -> set[str]:
    return {key.key for key in app.screen.query("FooterKey")}  # type: ignore[attr-defined]


def static_text(app: ConsoleApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).content)


# ---------------------------------------------------------------------- layout


async def test_tabs_at_80x24_every_pane_from_120x36_and_the_keys_follow_on_resize():
    app = console_on([*CHECKLIST, *run_started(), *WAITING, *VALIDATED])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert not screen.has_class("-wide")
        assert shown_panes(app) == ["runbook"] and screen.query_one(Tabs).display
        assert isinstance(app.focused, Checklist)
        await pilot.press("2")
        assert shown_panes(app) == ["execution"] and isinstance(app.focused, SqlLog)
        assert screen.query_one(Tabs).active == "execution"

        await pilot.resize_terminal(120, 36)
        await pilot.pause()
        assert screen.has_class("-wide")
        assert shown_panes(app) == ["runbook", "execution", "results"]
        assert not screen.query_one(Tabs).display
        assert isinstance(app.focused, SqlLog)  # the focus stays where it was
        await pilot.press("3")
        assert isinstance(app.focused, ResultsPane)
        await pilot.press("1")
        assert isinstance(app.focused, Checklist)
        # Tab walks through the panes; the current pane follows the focus...
        for _ in range(4):
            await pilot.press("tab")
            if app.screen.current_pane == "execution":
                break
        assert app.screen.current_pane == "execution"

        # ... so the pane the operator was in is the one shown when the terminal shrinks.
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert not screen.has_class("-wide") and shown_panes(app) == ["execution"]
        assert screen.query_one(Tabs).active == "execution"

        await pilot.resize_terminal(200, 60)
        await pilot.pause()
        assert shown_panes(app) == ["runbook", "execution", "results"]
        # A wrapped checklist item is measured again at its new width (not cut).
        checklist = screen.query_one(Checklist)
        heights = dict(checklist._line_cache.heights)
        checklist._clear_caches()  # measured afresh at the width it has now
        await pilot.pause()
        assert checklist._line_cache.heights == heights


async def test_the_tab_bar_switches_panes_with_the_arrow_keys():
    app = console_on(CHECKLIST)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.screen.query_one(Tabs).focus()
        await pilot.press("right")
        await pilot.pause()
        assert shown_panes(app) == ["execution"]
        await pilot.press("right")
        await pilot.pause()
        assert shown_panes(app) == ["results"]


# ---------------------------------------------------------------------- results


async def test_f_shows_only_failures_and_s_cycles_the_sort_column():
    app = console_on([*CHECKLIST, *VALIDATED])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("3")
        pane = app.screen.query_one(ResultsPane)
        everything = result_tables(app)[VALIDATION]
        assert len(everything) == 8

        await pilot.press("f")
        failing = result_tables(app)[VALIDATION]
        assert [row[0] for row in failing] == ["index idx_operational_tasks_due",
                                              "column marketing_posts.deleted_at"]
        assert "failures only: 2 of 8 rows" in str(pane.titles[VALIDATION].content)
        assert "FAILURES ONLY" in str(pane.query_one("#results-view", Static).content)

        await pilot.press("s")  # by the first column, the check
        assert [row[0] for row in result_tables(app)[VALIDATION]] == [
            "column marketing_posts.deleted_at", "index idx_operational_tasks_due"]
        assert "sorted by check ▲" in str(pane.titles[VALIDATION].content)
        await pilot.press("S")
        assert "sorted by check ▼" in str(pane.titles[VALIDATION].content)
        assert [row[0] for row in result_tables(app)[VALIDATION]] == [
            "index idx_operational_tasks_due", "column marketing_posts.deleted_at"]

        await pilot.press("f")  # every row again, still sorted
        rows = result_tables(app)[VALIDATION]
        assert len(rows) == 8 and [r[0] for r in rows] == sorted(
            (r[0] for r in everything), key=str.lower, reverse=True)
        assert "failures only" not in str(pane.titles[VALIDATION].content)

        # s on through the columns: by status puts failures first, then back to as-run
        await pilot.press("s", "s", "s")
        title = str(pane.titles[VALIDATION].content)
        assert "sorted by status ▲" in title
        assert [r[3] for r in result_tables(app)[VALIDATION]] == [
            "fail", "fail", "warn", "pass", "pass", "pass", "pass", "pass"]
        await pilot.press("s")
        assert "sorted by" not in str(pane.titles[VALIDATION].content)
        assert result_tables(app)[VALIDATION] == everything


async def test_a_new_validation_keeps_the_view_the_operator_chose():
    from spfp_console.events import ResultTable

    app = console_on([*CHECKLIST, *VALIDATED])
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("3", "f")
        again = ResultTable.checked(title=VALIDATION[1], source="validation",
                                    columns=("check", "expected", "actual", "status"),
                                    rows=[("index a", "x", "x", "pass"),
                                          ("index b", "x", "missing", "fail")])
        app.listen(again)
        await wait_until(pilot, lambda: app.state.tables[VALIDATION] is again)
        assert result_tables(app)[VALIDATION] == [["index b", "x", "missing", "fail"]]


async def test_results_opened_after_a_step_show_its_newest_table_first():
    """The operator is on the runbook tab when validation ends; opening Results shows
    the validation, not the top of a long preflight table above it."""
    from spfp_console.events import ResultTable

    preflight = ResultTable.checked(
        title="Sizes and locks", source="preflight", columns=("table", "rows", "status"),
        rows=[(f"public.table_{n}", str(n), "pass") for n in range(40)])
    app = console_on([*CHECKLIST, preflight])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert shown_panes(app) == ["runbook"]
        for table in VALIDATED:
            app.listen(table)
        # both tables: under load the second can come in a later fold, and the pane then
        # rightly scrolls to it, the newest (CI saw the first title above the view)
        await wait_until(pilot, lambda: all((t.source, t.title) in app.state.tables
                                            for t in VALIDATED))
        await pilot.press("3")
        pane = app.screen.query_one(ResultsPane)
        await wait_until(pilot, lambda: pane.newest is None)  # scrolled, after a refresh
        title = pane.titles[VALIDATION]
        assert pane.scroll_offset.y > 0
        assert pane.region.contains_region(title.region), (pane.region, title.region)
        # once there, the operator's own scrolling is left alone
        await pilot.press("home")
        await pilot.press("1", "3")
        await pilot.pause(0.2)
        assert pane.scroll_offset.y == 0


# ---------------------------------------------------------------------- palette, help


async def test_the_command_palette_runs_a_runbook_action(migrated_session):
    app = ConsoleApp(migrated_session)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await type_text(pilot, "validate")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.last_result is not None and app.last_result.workflow == "validate"
        assert app.last_result.outcome == "validation_passed"

        await pilot.press("ctrl+p")
        await pilot.pause()
        await type_text(pilot, "pane results")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert shown_panes(app) == ["results"]


async def test_the_footer_offers_the_palette_and_the_key_panel_lists_every_binding():
    app = console_on(CHECKLIST)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        palette_key = app.screen.query(".-command-palette")
        assert palette_key and palette_key.first().region.right <= 80
        # Idle: the steps (not cancel), all within 80 columns beside the palette's key.
        assert {"p", "h", "r", "v", "b", "q"} <= footer_keys(app)
        assert "c" not in footer_keys(app)
        keys = [key for key in app.screen.query("FooterKey")
                if not key.has_class("-command-palette")]
        assert max(key.region.right for key in keys) <= palette_key.first().region.x
        await pilot.press("3", "question_mark")
        await pilot.pause()
        table = app.screen.query_one("BindingsTable")
        console = Console(width=100, record=True, file=io.StringIO())
        console.print(table.render())
        listed = console.export_text()
        for description in ("check", "rehearse", "run", "validate", "rollback", "cancel",
                            "runbook", "execution", "results", "sort", "failures only",
                            "help", "quit"):
            assert re.search(rf"\b{description}\b", listed), description
        await pilot.press("f1")
        await pilot.pause()
        assert not app.screen.query("HelpPanel")


# ---------------------------------------------------------------------- small fixes


async def test_the_approvals_item_is_ticked_by_hand_and_says_so(base_session):
    app = ConsoleApp(base_session)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        prompt = next(p for p in checklist_prompts(app) if "required approvals" in p)
        assert "⏎" not in prompt and "evidence: who approved" in prompt
        assert "⏎ preflight" in next(p for p in checklist_prompts(app)
                                     if p.startswith("[ ] Run the preflight"))
        await highlight_item(app, pilot, "approvals")
        await pilot.press("space")
        await wait_for_screen(app, pilot, PromptScreen)
        await type_text(pilot, "bob, CAB-42")
        await pilot.press("enter")
        await settle(app, pilot)
        item = app.state.item("pre-deployment", "approvals")
        assert item.checked and item.evidence == "bob, CAB-42" and item.who == OPERATOR


async def test_the_header_names_the_profile(base_session):
    app = ConsoleApp(base_session)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        header = app.screen.query_one(SessionHeader)
        console = Console(width=200, record=True, file=io.StringIO())
        console.print(header.content)
        text = console.export_text()
        assert "profile Guided (recommended) (" in text and "required items)" in text


SSH_KEYGEN = shutil.which("ssh-keygen")


@pytest.mark.skipif(SSH_KEYGEN is None, reason="ssh-keygen (OpenSSH) not installed")
async def test_moving_on_from_a_done_phase_judges_its_sign_off(base_db, tmp_path):
    """Enterprise: leaving a phase needs a signed sign-off; the console asks the session
    when the operator moves from a finished phase to the next one."""
    key = tmp_path / "bob"
    subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", "bob", "-f",
                    str(key)], check=True)
    key_type, blob = Path(f"{key}.pub").read_text().split()[:2]
    (tmp_path / "allowed_signers").write_text(
        f'bob@example.com namespaces="{APPROVAL_NAMESPACE}" {key_type} {blob}\n')
    migration, rollback = tmp_path / "migration.sql", tmp_path / "rollback.sql"
    shutil.copy(MIGRATION_SQL, migration)
    shutil.copy(ROLLBACK_SQL, rollback)
    text = DEFAULT_RUNBOOK.read_text(encoding="utf-8")
    text = re.sub(r'(?m)^migration = ".*"$', f'migration = "{migration}"', text)
    text = re.sub(r'(?m)^rollback = ".*"$', f'rollback = "{rollback}"', text)
    text = text.replace("\n[[phases]]", '\n[approvals]\nrequired = 0\nallowed_signers ='
                        ' "allowed_signers"\ndirectory = "approvals"\n\n[[phases]]', 1)
    (tmp_path / "runbook.toml").write_text(text, encoding="utf-8")
    session = DeploymentSession(runbook=load_runbook(tmp_path / "runbook.toml"),
                                dsn=base_db.dsn, log_dir=tmp_path / "logs",
                                operator=OPERATOR, profile="enterprise")
    session.open()
    try:
        app = ConsoleApp(session)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            navigator = app.screen.query_one(PhaseNavigator)
            navigator.focus()
            await pilot.press("down")  # moving on from an unfinished phase: not leaving
            await settle(app, pilot)
            assert not [g for g in app.state.gates if g.gate.startswith("sign-off")]
            await pilot.press("up")
            for item in session.state.phases[0].required_open:
                session.toggle_item(item.phase, item.id, True, evidence="done")
            await settle(app, pilot)
            await pilot.press("down")
            await settle(app, pilot)
            gates = [g for g in app.state.gates if isinstance(g, GateChecked)]
            assert [(g.gate, g.passed) for g in gates] == [("sign-off pre-deployment", False)]
            assert gates[0].reasons[0].startswith("0 valid sign-off(s) of phase"
                                                  " pre-deployment")
            assert any("needs a sign-off" in n.message for n in app._notifications)
    finally:
        session.close()


# ---------------------------------------------------------------------- a real lock, a real build


def long_lock_session(db: Any, tmp_path: Path, sql: str) -> DeploymentSession:
    """A session whose migration is ``sql``, with a lock_timeout long enough that only
    the operator ends a wait."""
    script = tmp_path / "wait.sql"
    script.write_text(sql)
    session = open_session(db, tmp_path / "logs", migration=script)
    session.runbook = dataclasses.replace(session.runbook, settings=dataclasses.replace(
        session.runbook.settings, lock_timeout="60s"))
    return session


ALTER_SENT_ATAS = "ALTER TABLE public.sent_atas ADD COLUMN IF NOT EXISTS deleted_at timestamptz;\n"


async def wait_for_the_lock_panel(app: ConsoleApp, pilot: Any) -> LockWaitPanel:
    panel = app.screen.query_one(LockWaitPanel)
    await wait_until(pilot, lambda: panel.has_class("-waiting") and panel.display,
                     timeout=30)
    return panel


async def test_the_lock_wait_panel_names_the_blocker_and_goes_when_the_lock_is_freed(
        base_db, tmp_path):
    session = long_lock_session(base_db, tmp_path, ALTER_SENT_ATAS)
    try:
        with base_db.connect(application_name="reporting") as blocker:
            blocker.execute("BEGIN")
            blocker.execute("SELECT count(*) FROM public.sent_atas")
            app = ConsoleApp(session)
            async with app.run_test(size=(80, 24)) as pilot:
                await settle(app, pilot)
                await pilot.press("h")
                panel = await wait_for_the_lock_panel(app, pilot)
                text = str(panel.content)
                assert f"pid {blocker.info.backend_pid}" in text
                assert "user postgres" in text
                assert "SELECT count(*) FROM public.sent_atas" in text
                assert re.search(r"since \d\d:\d\d:\d\d", text)
                assert "c cancel the statement" in text
                assert panel.region.area > 0  # on screen at 80x24, in the execution tab
                blocker.execute("COMMIT")  # the wait ends
                await settle(app, pilot)
                assert not panel.display
                assert app.last_result.outcome == "rehearsed"
    finally:
        session.close()


async def test_c_stops_a_statement_waiting_for_a_lock_within_a_second(base_db, tmp_path):
    session = long_lock_session(base_db, tmp_path, ALTER_SENT_ATAS)
    try:
        with base_db.connect() as blocker:
            blocker.execute("BEGIN")
            blocker.execute("LOCK TABLE public.sent_atas IN ACCESS SHARE MODE")
            app = ConsoleApp(session)
            async with app.run_test(size=(120, 40)) as pilot:
                await settle(app, pilot)
                await pilot.press("h")
                panel = await wait_for_the_lock_panel(app, pilot)
                # Running: the footer offers cancel instead of the steps.
                assert "c" in footer_keys(app) and "r" not in footer_keys(app)
                pressed = time.monotonic()
                await pilot.press("c")
                # The session's own state: the statement has stopped (the panes follow
                # within REFRESH_S).
                await wait_until(pilot, lambda: session.state.current_run.outcome
                                 is not None, timeout=10)
                took = time.monotonic() - pressed
                assert took < 1.0, f"the cancel took {took:.2f} s"
                await settle(app, pilot)
                assert app.state.current_run.outcome == "cancelled"
                assert not panel.display
                assert "r" in footer_keys(app) and "c" not in footer_keys(app)
            blocker.execute("ROLLBACK")
        assert base_db.scalar("SELECT count(*) FROM information_schema.columns WHERE"
                              " table_name = 'sent_atas' AND column_name = 'deleted_at'") == 0
    finally:
        session.close()


async def test_an_index_build_shows_its_bar_and_c_stops_it_within_a_second(base_db,
                                                                           tmp_path):
    with base_db.connect() as conn:
        conn.execute("CREATE TABLE public.big AS SELECT i, md5(i::text) AS s"
                     " FROM generate_series(1, 2000000) i")
        conn.execute("ANALYZE public.big")
    session = long_lock_session(base_db, tmp_path,
                                "CREATE INDEX big_s ON public.big (s, i);\n")
    try:
        app = ConsoleApp(session)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            await pilot.press("h")
            progress = app.screen.query_one(RunProgress)
            box = progress.query_one("#index-progress")
            await wait_until(pilot, lambda: box.has_class("-building")
                             and re.search(r"\d+/\d+ (blocks|tuples)",
                                           static_text(app, "#index-label")), timeout=30)
            label = static_text(app, "#index-label")
            assert "index on big" in label and "building index" in label
            assert box.region.area > 0  # beside the script's bar, at 80x24
            pressed = time.monotonic()
            await pilot.press("c")
            await wait_until(pilot, lambda: session.state.current_run.outcome is not None,
                             timeout=10)
            took = time.monotonic() - pressed
            assert took < 1.0, f"the cancel took {took:.2f} s"
            await settle(app, pilot)
            assert app.state.current_run.outcome == "cancelled"
            assert not box.has_class("-building")
        assert base_db.scalar("SELECT to_regclass('public.big_s')") is None
    finally:
        session.close()
