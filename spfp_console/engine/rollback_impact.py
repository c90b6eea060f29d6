"""What a rollback would destroy, and a CSV export of it before anything is dropped.

The rollback drops the tables and columns the migration added.  Whatever accrued in them
since is lost: every row of a dropped table (the permission audit) and every value of a
dropped column that carries information (a non-null ``deleted_at``: a soft-deleted row
comes back to life; a ``sent_atas.updated_at`` that differs from ``created_at``).  The
objects come from the runbook's checks (``table`` and ``column`` checks with
``added_by_migration``), so a new runbook needs no code here.

Both functions only read, in one REPEATABLE READ, READ ONLY transaction, so the counts and
the exported files describe the same snapshot.  Objects already absent (a rollback that
ran half-way, a column dropped by hand) are reported as such and skipped.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from spfp_console.engine import catalog
from spfp_console.engine.catalog import qualified, read_only
from spfp_console.events import Event, ResultTable
from spfp_console.runbook.model import Check, Runbook


@dataclass(frozen=True)
class AtRisk:
    """One table or column the rollback drops, and how much data it holds."""

    schema: str
    table: str
    column: str | None
    """None: the whole table is dropped."""
    what: str
    count: int | None
    """None when the table or column is already absent."""
    condition: str | None = None
    """SQL condition selecting the rows whose value is lost (for the export)."""


@dataclass
class RollbackImpact:
    items: list[AtRisk] = field(default_factory=list)
    audit_rows: int = 0
    """Rows of the tables the rollback drops (the permission audit)."""
    deleted_at: dict[str, int] = field(default_factory=dict)
    """Per table: non-null deleted_at values (soft-deleted rows that would reappear)."""
    updated_at_lost: int = 0
    """sent_atas rows whose updated_at differs from created_at: values that are lost.
    Rows that existed before the migration count too (their updated_at is the time the
    column was added), so this is an upper bound of real edits."""
    total: int = 0
    table: ResultTable | None = None


def _items(conn: psycopg.Connection, runbook: Runbook) -> list[AtRisk]:
    schema = runbook.settings.schema
    items: list[AtRisk] = []
    for check in runbook.checks:
        if not check.added_by_migration:
            continue
        if check.kind == "table":
            items.append(_table_item(conn, schema, check))
        elif check.kind == "column" and check.table:
            items.append(_column_item(conn, schema, check))
    return items


def _table_item(conn: psycopg.Connection, schema: str, check: Check) -> AtRisk:
    what = "every row (the table is dropped)"
    if not catalog.table_exists(conn, schema, check.name):
        return AtRisk(schema, check.name, None, what, None)
    count = conn.execute(
        sql.SQL("SELECT count(*) FROM {}").format(qualified(schema, check.name))
    ).fetchone()[0]  # type: ignore[index]
    return AtRisk(schema, check.name, None, what, int(count), "true")


def _column_item(conn: psycopg.Connection, schema: str, check: Check) -> AtRisk:
    table, column = check.table or "", check.name
    info = catalog.column_info(conn, schema, table, column)
    ident = sql.Identifier(column).as_string(conn)
    if info is not None and info.nullable:
        condition = f"{ident} IS NOT NULL"
        what = (
            "non-null values (soft-deleted rows reappear)"
            if column == "deleted_at"
            else ("non-null values")
        )
    elif info is not None and "created_at" in catalog.column_names(conn, schema, table):
        condition = f"{ident} IS DISTINCT FROM created_at"
        what = "values that differ from created_at"
    else:
        condition = "true"
        what = "every value"
    if info is None:
        return AtRisk(schema, table, column, what, None)
    count = conn.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE {}").format(
            qualified(schema, table),
            sql.SQL(condition),  # type: ignore[arg-type]
        )
    ).fetchone()[0]  # type: ignore[index]
    return AtRisk(schema, table, column, what, int(count), condition)


def rollback_impact(
    conn: psycopg.Connection,
    runbook: Runbook,
    *,
    on_event: Callable[[Event], None] | None = None,
) -> RollbackImpact:
    """Count the rows and values the rollback would destroy.  Read-only."""
    with read_only(conn, repeatable_read=True):
        items = _items(conn, runbook)
    impact = RollbackImpact(items=items)
    rows: list[tuple[str, ...]] = []
    for item in items:
        n = item.count or 0
        if item.column is None:
            impact.audit_rows += n
        elif item.column == "deleted_at":
            if item.count is not None:
                impact.deleted_at[item.table] = n
        elif item.column == "updated_at":
            impact.updated_at_lost += n
        impact.total += n
        if item.count is None:
            count, status, note = "-", "info", "already absent: nothing to lose"
        else:
            count, status = str(n), "warn" if n else "pass"
            note = "export it first: rollback --export-dir DIR" if n else ""
            if item.column == "updated_at" and n:
                note = "includes rows older than the migration (upper bound)"
        rows.append(
            (
                f"{item.schema}.{item.table}",
                item.column or "(whole table)",
                item.what,
                count,
                status,
                note,
            )
        )
    impact.table = ResultTable(
        title=f"Data the rollback would destroy: {impact.total} rows and values",
        source="rollback-impact",
        columns=("table", "column", "what is lost", "count", "status", "note"),
        rows=tuple(rows),
        status_column="status",
        passed=True,
    )
    if on_event is not None:
        on_event(impact.table)
    return impact


def _default_runbook() -> Runbook:
    from spfp_console.paths import DEFAULT_RUNBOOK
    from spfp_console.runbook import load_runbook

    return load_runbook(DEFAULT_RUNBOOK)


def export_at_risk(
    conn: psycopg.Connection, out_dir: Path | str, runbook: Runbook | None = None
) -> list[Path]:
    """Write the data the rollback would destroy as CSV files, one per table or column.

    ``<table>.csv`` holds every column of a dropped table; ``<table>.<column>.csv`` holds
    ``id`` and the value for the rows whose value is lost.  Files are created mode 0600
    (they hold user data) in ``out_dir`` (created 0700 if missing) and overwritten if they
    exist.  Absent tables and columns are skipped.  Returns the paths written.
    """
    runbook = runbook or _default_runbook()
    out = Path(out_dir)
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    paths: list[Path] = []
    with read_only(conn, repeatable_read=True):
        for item in _items(conn, runbook):
            if item.count is None or item.condition is None:
                continue
            columns = catalog.column_names(conn, item.schema, item.table)
            order = (
                sql.SQL(" ORDER BY {}").format(sql.Identifier("id"))
                if "id" in columns
                else sql.SQL("")
            )
            if item.column is None:
                select = sql.SQL("SELECT * FROM {}").format(
                    qualified(item.schema, item.table)
                )
                name = f"{item.table}.csv"
            else:
                keep = [sql.Identifier(c) for c in ("id",) if c in columns]
                keep.append(sql.Identifier(item.column))
                select = sql.SQL("SELECT {} FROM {} WHERE {}").format(
                    sql.SQL(", ").join(keep),
                    qualified(item.schema, item.table),
                    sql.SQL(item.condition),  # type: ignore[arg-type]
                )
                name = f"{item.table}.{item.column}.csv"
            query = sql.SQL("COPY ({}{}) TO STDOUT WITH (FORMAT csv, HEADER)").format(
                select, order
            )
            path = out / name
            _copy_to_file(conn, query, path)
            paths.append(path)
    return paths


def _copy_to_file(conn: psycopg.Connection, query: sql.Composed, path: Path) -> None:
    fd = os.open(
        path,
        os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0),
        0o600,
    )
    # The mode given to open() only applies to a new file; an existing one keeps its own.
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "wb") as f, conn.cursor() as cur, cur.copy(query) as copy:
        for data in copy:
            f.write(data)
