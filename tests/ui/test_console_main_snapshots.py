"""Snapshot tests of the console's main screens at 80x24 (tabs) and 120x40 (every pane),
on fixed events (see console_scenes): the checklist, a running migration with an index
build and with a lock wait, a failed statement, the validation tables (and only their
failures).

Update after a deliberate change: ``pytest tests/ui/test_console_main_snapshots.py
--snapshot-update``, then look at the SVGs.
"""

from __future__ import annotations

import pytest

from console_scenes import (
    BUILDING,
    CHECKLIST,
    FAILED,
    VALIDATED,
    WAITING,
    console_on,
    run_started,
)

SIZES = [(80, 24), (120, 40)]


@pytest.mark.parametrize("size", SIZES)
def test_checklist(snap_compare, size):
    assert snap_compare(console_on(CHECKLIST), terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_running_with_an_index_build(snap_compare, size):
    app = console_on([*CHECKLIST, *run_started(), *BUILDING], running=True)
    assert snap_compare(app, press=["2"], terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_running_and_waiting_for_a_lock(snap_compare, size):
    app = console_on([*CHECKLIST, *run_started(), *WAITING], running=True)
    assert snap_compare(app, press=["2"], terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_a_failed_statement(snap_compare, size):
    app = console_on([*CHECKLIST, *run_started(), *FAILED])
    assert snap_compare(app, press=["2"], terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_validation_tables(snap_compare, size):
    app = console_on([*CHECKLIST, *VALIDATED])
    assert snap_compare(app, press=["3"], terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_validation_tables_failures_only_sorted_by_check(snap_compare, size):
    app = console_on([*CHECKLIST, *VALIDATED])
    assert snap_compare(app, press=["3", "f", "s"], terminal_size=size)
