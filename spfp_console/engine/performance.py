"""Performance check: time the runbook's headline queries before and after the migration.

Each query runs under ``EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON)`` once to warm the
cache and then ``runs`` more times; the figure kept is the median of the server-reported
"Execution Time" (planning and network excluded, so the client's distance to the server
does not blur the comparison).  ``TIMING OFF`` drops the per-node clock calls that make
EXPLAIN ANALYZE slower than the query itself, the total is still measured.

Read this before quoting a number: the speedup of an index depends on the data, not on
the index alone.  On a few thousand rows a sequential scan takes a fraction of a
millisecond and the measured speedup is small (often 1-3x) whatever the paper claims; it
grows with the table and with how few of its rows belong to one user.  A query whose table
already had a usable index (transactions had ``idx_transactions_user_id``) gains little at
any size.  In our tests, 50,000 tasks over 200 users give 30-50x for the kanban and
overdue queries but about 3x for the transaction history.  Both phases must run on the
same data, with statistics up to date (ANALYZE), from the same client: the caller's job.

The queries are SELECTs and run in a READ ONLY transaction that is rolled back.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from typing import Any, Literal

import psycopg
from psycopg import sql

from spfp_console.engine.catalog import qualified, read_only, table_exists
from spfp_console.errors import error_line
from spfp_console.events import ResultTable
from spfp_console.lean_dataclass import lean_dataclass
from spfp_console.runbook.model import HeadlineQuery, Runbook

Phase = Literal["before", "after"]

NO_USER = "00000000-0000-0000-0000-000000000000"
"""Stands in for the user when a table is empty, so the plan can still be shown."""


@lean_dataclass(frozen=True)
class QueryTiming:
    """The measured execution time of one headline query in one phase."""

    query_id: str
    phase: str
    user_id: str
    """The user whose rows were queried (the busiest one of the query's table)."""
    runs_ms: tuple[float, ...] = ()
    """Server-side execution time of each measured run (warm-up excluded), in ms."""
    median_ms: float | None = None
    """None when the query could not run (then ``error`` says why)."""
    indexes_used: tuple[str, ...] = ()
    used_sql_before: bool = False
    """True when the pre-migration form of the query (``sql_before``) was timed."""
    error: str | None = None


# --------------------------------------------------------------------------- helpers


def busiest_user(conn: psycopg.Connection, schema: str, table: str) -> str | None:
    """The user_id with the most rows in ``table`` (ties broken by id), None if empty."""
    if not table_exists(conn, schema, table):
        return None
    row = conn.execute(
        sql.SQL(
            "SELECT user_id::text FROM {} GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
        ).format(qualified(schema, table))
    ).fetchone()
    return None if row is None else str(row[0])


def likely_busiest_user(conn: psycopg.Connection, schema: str, table: str) -> str | None:
    """The most common user_id by the planner's statistics (pg_stats), without reading
    the table; None when the table has no statistics for it yet.

    Validation only needs a representative parameter for EXPLAIN: reading the
    statistics keeps it as fast on a billion rows as on a thousand."""
    row = conn.execute(
        "SELECT (most_common_vals::text::text[])[1] FROM pg_stats"
        " WHERE schemaname = %s AND tablename = %s AND attname = 'user_id'",
        (schema, table),
    ).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def query_params(
    conn: psycopg.Connection,
    query: HeadlineQuery,
    schema: str,
    *,
    user_id: str | None = None,
    today: date | None = None,
) -> dict[str, Any]:
    """Parameters for a headline query: the busiest user of its table and today."""
    uid = user_id or busiest_user(conn, schema, query.user_table) or NO_USER
    if today is None:
        today = conn.execute("SELECT current_date").fetchone()[0]  # type: ignore[index]
    return {"user_id": uid, "today": today}


def _plan_nodes(node: Any) -> Iterator[dict[str, Any]]:
    """Every node of an EXPLAIN (FORMAT JSON) document, depth first, in plan order."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _plan_nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _plan_nodes(value)


def index_names_in_plan(plan: Any) -> list[str]:
    """Every "Index Name" in an EXPLAIN (FORMAT JSON) document, in plan order, unique."""
    found: list[str] = []
    for node in _plan_nodes(plan):
        name = node.get("Index Name")
        if isinstance(name, str) and name not in found:
            found.append(name)
    return found


def scan_summary(plan: Any) -> list[str]:
    """Short names of the scans in a plan, e.g. "Seq Scan on operational_tasks"."""
    scans: list[str] = []
    for node in _plan_nodes(plan):
        kind = node.get("Node Type")
        if isinstance(kind, str) and "Scan" in kind and "Relation Name" in node:
            label = f"{kind} on {node['Relation Name']}"
            if "Index Name" in node:
                label += f" using {node['Index Name']}"
            scans.append(label)
    return scans


def explain(
    conn: psycopg.Connection, text: str, params: Mapping[str, Any], *, analyze: bool
) -> Any:
    options = "ANALYZE, TIMING OFF, FORMAT JSON" if analyze else "FORMAT JSON"
    row = conn.execute(f"EXPLAIN ({options}) {text}", params).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return row[0]


# --------------------------------------------------------------------------- measuring


def measure_queries(
    conn: psycopg.Connection,
    runbook: Runbook,
    *,
    phase: Phase = "before",
    runs: int = 5,
    user_ids: Mapping[str, str] | None = None,
) -> dict[str, QueryTiming]:
    """Time every headline query; before the migration its ``sql_before`` form is used.

    ``user_ids`` (query id -> user id) pins the user; by default each query takes the
    busiest user of its table, which on unchanged data is the same before and after.  A
    query the server rejects yields a timing with ``error`` set (e.g. the "after" form on
    a database where the migration's columns do not exist yet).
    """
    if phase not in ("before", "after"):
        raise ValueError(f"phase must be 'before' or 'after', not {phase!r}")
    if runs < 1:
        raise ValueError("runs must be at least 1")
    schema = runbook.settings.schema
    timings: dict[str, QueryTiming] = {}
    for query in runbook.queries:
        use_before = phase == "before" and query.sql_before is not None
        text = query.sql_before if use_before and query.sql_before else query.sql
        with read_only(conn):
            params = query_params(
                conn, query, schema, user_id=(user_ids or {}).get(query.id)
            )
            try:
                with conn.transaction():
                    explain(conn, text, params, analyze=True)  # warm-up, not counted
                    plans = [
                        explain(conn, text, params, analyze=True) for _ in range(runs)
                    ]
            except psycopg.Error as exc:
                if conn.broken:
                    raise
                timings[query.id] = QueryTiming(
                    query.id,
                    phase,
                    str(params["user_id"]),
                    used_sql_before=use_before,
                    error=error_line(exc),
                )
                continue
        runs_ms = tuple(float(p[0]["Execution Time"]) for p in plans)
        timings[query.id] = QueryTiming(
            query_id=query.id,
            phase=phase,
            user_id=str(params["user_id"]),
            runs_ms=runs_ms,
            median_ms=_median(runs_ms),
            indexes_used=tuple(index_names_in_plan(plans[-1])),
            used_sql_before=use_before,
        )
    return timings


def speedups(
    before: Mapping[str, QueryTiming], after: Mapping[str, QueryTiming]
) -> dict[str, float]:
    """before/after median ratio per query measured in both phases."""
    result: dict[str, float] = {}
    for qid, b in before.items():
        a = after.get(qid)
        if a is None or b.median_ms is None or a.median_ms is None or a.median_ms <= 0:
            continue
        result[qid] = b.median_ms / a.median_ms
    return result


def compare(
    before: Mapping[str, QueryTiming],
    after: Mapping[str, QueryTiming],
    runbook: Runbook,
) -> ResultTable:
    """Claimed vs measured speedup per headline query.

    pass: measured >= claimed; warn: faster but below the claim; fail: slower (or the
    query failed in a phase).
    """
    ratios = speedups(before, after)
    rows: list[tuple[str, ...]] = []
    for query in runbook.queries:
        b, a = before.get(query.id), after.get(query.id)
        before_ms = _ms(b)
        after_ms = _ms(a)
        ratio = ratios.get(query.id)
        if ratio is None:
            errors = [t.error for t in (b, a) if t is not None and t.error]
            measured = "error: " + "; ".join(errors) if errors else "not measured"
            status = "fail" if errors else "warn"
        else:
            measured = f"{ratio:.1f}x"
            if ratio >= query.claimed_speedup:
                status = "pass"
            elif ratio >= 1.0:
                status = "warn"
            else:
                status = "fail"
        rows.append(
            (
                query.id,
                f"{query.claimed_speedup:g}x",
                before_ms,
                after_ms,
                measured,
                status,
            )
        )
    return ResultTable(
        title="Headline queries: claimed vs measured speedup (median server execution time)",
        source="performance",
        columns=(
            "query",
            "claimed speedup",
            "before ms",
            "after ms",
            "measured speedup",
            "status",
        ),
        rows=tuple(rows),
        status_column="status",
        passed=all(r[-1] != "fail" for r in rows),
    )


def _ms(timing: QueryTiming | None) -> str:
    if timing is None:
        return "not measured"
    if timing.median_ms is None:
        return "error"
    return f"{timing.median_ms:.3f}"


def timings_table(timings: Iterable[QueryTiming]) -> ResultTable:
    """One phase's timings as a table (for the journal and the CLI)."""
    rows = []
    for t in timings:
        rows.append(
            (
                t.query_id,
                t.phase + (" (sql_before)" if t.used_sql_before else ""),
                _ms(t),
                ", ".join(f"{r:.3f}" for r in t.runs_ms),
                ", ".join(t.indexes_used) or "none",
                t.error or "",
            )
        )
    return ResultTable(
        title="Headline query timings (EXPLAIN ANALYZE, median of runs after a warm-up)",
        source="performance",
        columns=("query", "phase", "median ms", "runs ms", "indexes used", "error"),
        rows=tuple(rows),
    )


def _median(values: tuple[float, ...]) -> float:
    # Not statistics.median: the statistics module (and fractions under it) would be
    # imported by every headless start, for one median of a handful of timings.
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
