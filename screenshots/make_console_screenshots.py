"""Regenerate the console's SVG screenshots: ``python screenshots/make_console_screenshots.py``.

The real console (Textual's Pilot drives it with keys, as an operator would) on a real
throwaway PostgreSQL with the SPFP base schema and sample data, saved with
``app.save_screenshot()``.  Never edit the SVGs by hand.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from spfp_console.deployment import DeploymentSession
from spfp_console.localpg import LocalCluster
from spfp_console.paths import DEFAULT_RUNBOOK, base_schema_files
from spfp_console.runbook import load_runbook
from spfp_console.runbook.model import ScriptRef
from spfp_console.sampledata import load_sample_data
from spfp_console.ui.app import ConsoleApp
from spfp_console.ui.screens.questions import PromptScreen, RollbackConfirmScreen, TypedConfirmScreen

HERE = Path(__file__).resolve().parent
REPO_ROOT = Path(__file__).resolve().parent.parent
BROKEN_SQL = REPO_ROOT / "tests" / "fixtures" / "broken_migration.sql"
MANUAL_ITEMS = [("read-runbook", None), ("create-backup", "snapshot 2026-02-16 10:05"),
                ("notify-team", "#ops 09:30"), ("low-traffic-window", "10:00-11:00 UTC"),
                ("approvals", "bob (tech lead)"), ("monitoring-ready", None)]


def _database(cluster: LocalCluster, name: str) -> str:
    dsn = cluster.create_database(name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for path in base_schema_files():
            conn.execute(path.read_text())
    load_sample_data(dsn, scale=0.1, today=__import__("datetime").date(2026, 2, 16))
    return dsn


async def _until(pilot: Any, condition: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the console did not get there")
        await pilot.pause(0.05)
    await pilot.pause(0.2)


async def _settle(app: ConsoleApp, pilot: Any) -> None:
    await app.workers.wait_for_complete()
    await _until(pilot, lambda: app.state.events == app.session.state.events
                 and not app.refresh_pending)


async def _type(pilot: Any, text: str) -> None:
    await pilot.press(*["space" if c == " " else c for c in text])


async def _tick_manual_items(app: ConsoleApp, pilot: Any) -> None:
    from spfp_console.ui.widgets.runbook_navigator import Checklist

    checklist = app.screen.query_one(Checklist)
    for item_id, evidence in MANUAL_ITEMS:
        index = [item.id for item in checklist.items].index(item_id)
        await pilot.press("home", *["down"] * index, "space")
        if evidence:
            await _until(pilot, lambda: isinstance(app.screen, PromptScreen))
            await _type(pilot, evidence)
            await pilot.press("enter")
        await _settle(app, pilot)


def _save(app: ConsoleApp, name: str) -> None:
    app.save_screenshot(f"{name}.svg", path=str(HERE))
    print(f"wrote {HERE / name}.svg")


async def _walk(dsn: str, log_dir: Path, size: tuple[int, int], suffix: str) -> None:
    session = DeploymentSession(runbook=load_runbook(DEFAULT_RUNBOOK), dsn=dsn,
                                log_dir=log_dir, operator="alice", environment="staging")
    session.open()
    app = ConsoleApp(session, export_dir=log_dir / "export")
    try:
        async with app.run_test(size=size) as pilot:
            await _settle(app, pilot)
            await _tick_manual_items(app, pilot)
            await pilot.press("p")
            await _settle(app, pilot)
            _save(app, f"console-checklist-{suffix}")
            await pilot.press("h")
            await _settle(app, pilot)
            await pilot.press("r")
            await _until(pilot, lambda: isinstance(app.screen, TypedConfirmScreen))
            _save(app, f"console-run-confirmation-{suffix}")
            await pilot.press("shift+tab")
            await _type(pilot, session.info.dbname)  # type: ignore[union-attr]
            await pilot.press("enter")
            await _settle(app, pilot)
            _save(app, f"console-execution-{suffix}")
            # A validation of its own: the results pane scrolls to the newest table.
            await pilot.press("v")
            await _settle(app, pilot)
            await pilot.press("3")
            await pilot.pause(0.3)
            _save(app, f"console-results-{suffix}")
            await pilot.press("b")
            await _until(pilot, lambda: isinstance(app.screen, RollbackConfirmScreen))
            await pilot.press("shift+tab")
            await _type(pilot, "rollback wrong")
            _save(app, f"console-rollback-dialog-{suffix}")
            await pilot.press("escape")
            await _settle(app, pilot)
    finally:
        session.close(app.last_result)


async def _failed_statement(dsn: str, log_dir: Path) -> Path:
    runbook = load_runbook(DEFAULT_RUNBOOK)
    runbook = dataclasses.replace(
        runbook, scripts={**runbook.scripts, "migration": ScriptRef("migration", BROKEN_SQL)})
    session = DeploymentSession(runbook=runbook, dsn=dsn, log_dir=log_dir, operator="alice",
                                environment="production")
    session.open()
    app = ConsoleApp(session)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await _settle(app, pilot)
            await pilot.press("h")
            await _settle(app, pilot)
            await pilot.pause(9)  # let the outcome notification fade
            _save(app, "console-failed-statement-120x40")
    finally:
        session.close(app.last_result)
    assert session.log_path is not None
    return session.log_path


async def _replay(log: Path, size: tuple[int, int], suffix: str) -> None:
    """``spfp-console replay`` on that session's log, at its first failed statement."""
    from spfp_console.ui.launch import open_replay

    app = open_replay(log)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await pilot.press("home", "e", "2")
        await pilot.pause(0.3)
        _save(app, f"replay-failed-statement-{suffix}")


def main() -> int:
    with LocalCluster() as cluster, tempfile.TemporaryDirectory() as logs:
        log_dir = Path(logs)
        asyncio.run(_walk(_database(cluster, "spfp"), log_dir, (80, 24), "80x24"))
        asyncio.run(_walk(_database(cluster, "spfp_wide"), log_dir, (120, 40), "120x40"))
        log = asyncio.run(_failed_statement(_database(cluster, "spfp_broken"), log_dir))
        asyncio.run(_replay(log, (80, 24), "80x24"))
        asyncio.run(_replay(log, (120, 40), "120x40"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
