"""Regenerate the SVG screenshots in this folder: ``python screenshots/make_screenshots.py``.

Each screenshot is what the headless CLI prints on a 100-column terminal for one
situation, rendered by rich's recording console from the very events a real run emits on
a real (throwaway) PostgreSQL.  Never edit the SVGs by hand.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import psycopg
from rich.console import Console

from spfp_console.deployment import DeploymentSession
from spfp_console.events import Event, ResultTable
from spfp_console.localpg import LocalCluster
from spfp_console.paths import DEFAULT_RUNBOOK, base_schema_files
from spfp_console.runbook import load_runbook
from spfp_console.sampledata import load_sample_data
from spfp_console.cli.terminal_output import EventPrinter

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
WIDTH = 100


def _database(cluster: LocalCluster, name: str, *, duplicates: bool = False) -> str:
    dsn = cluster.create_database(name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for path in base_schema_files():
            conn.execute(path.read_text())
    load_sample_data(dsn, scale=0.1, with_duplicate_categories=duplicates,
                     today=__import__("datetime").date(2026, 2, 16))
    return dsn


def _shoot(name: str, title: str, dsn: str,
           steps: Callable[[DeploymentSession], None],
           keep: Callable[[Event], bool] = lambda e: True) -> Path:
    console = Console(record=True, width=WIDTH, force_terminal=True, color_system="truecolor",
                      highlight=False, file=open("/dev/null", "w"))
    printer = EventPrinter("rich", console=console)
    session = DeploymentSession(runbook=load_runbook(DEFAULT_RUNBOOK), dsn=dsn,
                                journal_enabled=False,
                                listeners=[lambda e: printer(e) if keep(e) else None])
    session.operator = "operator"
    session.open()
    try:
        steps(session)
    finally:
        session.conn.close()  # type: ignore[union-attr]
    path = HERE / f"{name}.svg"
    console.save_svg(str(path), title=title)
    return path


def main() -> int:
    with LocalCluster() as cluster:
        dirty = _database(cluster, "with_duplicates", duplicates=True)
        clean = _database(cluster, "clean")

        def preflight(session: DeploymentSession) -> None:
            session.preflight()

        shots = [
            _shoot("cli-check-duplicates", "spfp-console check: duplicates block the run",
                   dirty, preflight,
                   lambda e: isinstance(e, ResultTable)
                   and e.title.startswith(("Uniqueness", "Duplicates"))),
        ]

        def rehearse_broken(session: DeploymentSession) -> None:
            session.rehearse(path=REPO_ROOT / "tests" / "fixtures" / "broken_migration.sql")

        shots.append(_shoot("cli-rehearse-broken", "spfp-console rehearse: every failure in"
                            " one pass", clean, rehearse_broken))

        def run_and_measure(session: DeploymentSession) -> None:
            before = session.measure_queries("before")
            session.run_migration()
            after = session.measure_queries("after")
            session.claims(speedups=session.compare_queries(before, after))

        shots.append(_shoot("cli-claims", "spfp-console run: the paper's claims, measured",
                            clean, run_and_measure,
                            lambda e: isinstance(e, ResultTable) and e.title.startswith("The paper")))
    for shot in shots:
        print(shot.relative_to(REPO_ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
