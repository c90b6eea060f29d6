"""The paper's numeric claims next to what the console measured.

The paper runbook asserts numbers ("14 indexes", "5 soft-delete columns", "30-60 s",
"30x faster").  The console does not repeat them: each claim of the runbook is measured
(counts from the catalog, the run's duration and speedups from the caller) and shown with
its status.

- ``equal``: pass when the measured number is the claimed one, warn otherwise (the paper
  says 14 indexes; the migration as written creates 20: worth knowing, not a failure);
- ``at_least`` / ``at_most``: pass when the bound holds, warn when not; a speedup below
  1x (slower than before) is a fail;
- ``about``: pass within 10 %, warn otherwise;
- a measure the caller did not supply is ``not measured``.

Read-only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import psycopg

from spfp_console.engine import catalog
from spfp_console.engine.catalog import read_only
from spfp_console.events import Event, ResultTable
from spfp_console.runbook.model import Check, Claim, Runbook

ABOUT_TOLERANCE = 0.10
NOT_MEASURED = "not measured"


def measure_counts(
    conn: psycopg.Connection, runbook: Runbook
) -> dict[str, tuple[int, int]]:
    """measure -> (objects present, objects the runbook checks) for the count measures."""
    schema = runbook.settings.schema
    checks = runbook.checks
    soft_delete = [
        c
        for c in checks
        if c.kind == "column" and c.name == "deleted_at" and c.added_by_migration
    ]
    with read_only(conn):
        reading = catalog.read_checks(conn, checks, schema)

        def present(of: Iterable[Check]) -> tuple[int, int]:
            of = list(of)
            return sum(reading.exists(conn, c) for c in of), len(of)

        unique_rules = runbook.checks_of("unique_rule")
        return {
            "index_count": present(runbook.checks_of("index")),
            "unique_rule_count": (
                sum(info is not None and info.unique
                    for info in map(reading.index, unique_rules)),
                len(unique_rules)),
            "soft_delete_column_count": present(soft_delete),
            "view_count": present(runbook.checks_of("view")),
        }


def _fmt(value: float, unit: str) -> str:
    if float(value).is_integer():
        number = f"{value:g}"
    elif abs(value) < 1:
        number = f"{value:.2g}"  # 0.04 s, not "0.0 s"
    else:
        number = f"{value:.1f}"
    if not unit:
        return number
    return f"{number}{unit}" if unit == "x" else f"{number} {unit}"


def _judge(claim: Claim, measured: float, *, speedup: bool) -> str:
    if speedup and measured < 1.0:
        return "fail"
    if claim.kind == "equal":
        ok = measured == claim.claimed
    elif claim.kind == "at_least":
        ok = measured >= claim.claimed
    elif claim.kind == "at_most":
        ok = measured <= claim.claimed
    else:  # about
        ok = abs(measured - claim.claimed) <= ABOUT_TOLERANCE * abs(claim.claimed)
    return "pass" if ok else "warn"


_KIND_TEXT = {"equal": "", "at_least": ">= ", "at_most": "<= ", "about": "~"}


def measure_claims(
    conn: psycopg.Connection,
    runbook: Runbook,
    *,
    migration_seconds: float | None = None,
    speedups: Mapping[str, float] | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> ResultTable:
    """One row per runbook claim: claim, claimed, measured, status, note."""
    counts = measure_counts(conn, runbook)
    rows: list[tuple[str, str, str, str, str]] = []
    for claim in runbook.claims:
        claimed = _KIND_TEXT.get(claim.kind, "") + _fmt(claim.claimed, claim.unit)
        measure = claim.measure
        value: float | None = None
        note = ""
        if measure in counts:
            present, total = counts[measure]
            value = float(present)
            note = f"{present} of the runbook's {total} checked objects exist"
            if present != claim.claimed and present == total:
                note += f"; the migration has {total}, the paper says {claim.claimed:g}"
        elif measure == "migration_seconds":
            value = migration_seconds
            note = "duration of the committed run" if value is not None else ""
        elif measure.startswith("speedup:"):
            query_id = measure.split(":", 1)[1]
            value = (speedups or {}).get(query_id)
            note = (
                f"median before / after of query {query_id}"
                if value is not None
                else ""
            )
        else:
            rows.append(
                (
                    claim.text,
                    claimed,
                    NOT_MEASURED,
                    NOT_MEASURED,
                    f"unknown measure {measure!r}",
                )
            )
            continue
        if value is None:
            rows.append((claim.text, claimed, NOT_MEASURED, NOT_MEASURED, note))
            continue
        status = _judge(claim, value, speedup=measure.startswith("speedup:"))
        rows.append(
            (claim.text, claimed, _fmt(value, claim.unit), status, note)
        )
    table = ResultTable.checked(
        title="The paper's claims, measured",
        source="claims",  # measured and shown, never a verdict on the database
        columns=("claim", "claimed", "measured", "status", "note"),
        rows=rows,
    )
    if on_event is not None:
        on_event(table)
    return table
