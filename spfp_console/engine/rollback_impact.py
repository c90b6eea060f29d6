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

Each export goes into a folder of its own (``rollback-<UTC time>`` under the directory
given), never over an earlier one: a second rollback must not destroy the only copy of
what the first one saved.

Between that export and the operator's confirmation, the application keeps writing.
:class:`ImpactRecheck` closes the gap: it runs inside the rollback's own transaction
(the executor's ``before_statements`` hook), locks the tables the rollback drops from,
counts again, exports what is there now when an export was asked for, and stops the
rollback when more data would be lost than the operator confirmed and nothing keeps a
copy of it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from spfp_console.engine import catalog
from spfp_console.engine.catalog import qualified, read_only
from spfp_console.engine.errors import EngineError
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
    impact = _impact(items, title="Data the rollback would destroy")
    if on_event is not None and impact.table is not None:
        on_event(impact.table)
    return impact


def _impact(items: list[AtRisk], *, title: str) -> RollbackImpact:
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
        title=f"{title}: {impact.total} rows and values",
        source="rollback-impact",
        columns=("table", "column", "what is lost", "count", "status", "note"),
        rows=tuple(rows),
        status_column="status",
        passed=True,
    )
    return impact


def _default_runbook() -> Runbook:
    from spfp_console.paths import DEFAULT_RUNBOOK
    from spfp_console.runbook import load_runbook

    return load_runbook(DEFAULT_RUNBOOK)


@dataclass(frozen=True)
class AtRiskExport:
    """Where one export of the data at risk went."""

    folder: Path
    """A folder of its own, created for this export."""
    files: list[Path]
    rows: dict[Path, int] = field(default_factory=dict)
    """Rows in each file (the count of the same snapshot)."""

    def table(self, title: str | None = None) -> ResultTable:
        """The export as a result table: where it went, what each file holds.  Front
        ends print it even when nobody is asked to confirm (``--yes``)."""
        return ResultTable(
            title=title or f"Exported {len(self.files)} file(s) to {self.folder}",
            source="rollback-impact",
            columns=("file", "rows"),
            rows=tuple((path.name, str(self.rows.get(path, "?"))) for path in self.files),
        )


def new_export_folder(out_dir: Path | str) -> Path:
    """Create and return a folder no earlier export used, under ``out_dir``.

    ``rollback-<UTC time>``, with ``-2``, ``-3``... when two exports start within the same
    second; ``mkdir`` without ``exist_ok`` makes the choice race-free.  Mode 0700 (the
    files hold user data), ``out_dir`` created 0700 too when missing.
    """
    out = Path(out_dir)
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for n in range(1, 1000):
        folder = out / (f"rollback-{stamp}" if n == 1 else f"rollback-{stamp}-{n}")
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            continue
        return folder
    raise EngineError(f"{out}: cannot create a new export folder (1000 exports this "
                      "second?); choose another --export-dir")


def export_at_risk(
    conn: psycopg.Connection, out_dir: Path | str, runbook: Runbook | None = None
) -> AtRiskExport:
    """Write the data the rollback would destroy as CSV files, one per table or column.

    ``<table>.csv`` holds every column of a dropped table; ``<table>.<column>.csv`` holds
    ``id`` and the value for the rows whose value is lost.  Files are created mode 0600
    (they hold user data) in a new folder under ``out_dir`` (see
    :func:`new_export_folder`); nothing is ever overwritten.  Absent tables and columns
    are skipped.
    """
    runbook = runbook or _default_runbook()
    folder = new_export_folder(out_dir)
    with read_only(conn, repeatable_read=True):
        written = _export_items(conn, _items(conn, runbook), folder)
    return AtRiskExport(folder, list(written), written)


def _export_items(
    conn: psycopg.Connection, items: list[AtRisk], out: Path
) -> dict[Path, int]:
    """COPY each item out, in the caller's transaction (one snapshot for all); the
    files written and the rows in each."""
    paths: dict[Path, int] = {}
    for item in items:
        if item.count is None or item.condition is None:
            continue
        columns = catalog.column_names(conn, item.schema, item.table)
        order = (
            sql.SQL(" ORDER BY {}").format(sql.Identifier("id"))
            if "id" in columns
            else sql.SQL("")
        )
        if item.column is None:
            select = sql.SQL("SELECT * FROM {}").format(qualified(item.schema, item.table))
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
        paths[path] = item.count
    return paths


def _copy_to_file(conn: psycopg.Connection, query: sql.Composed, path: Path) -> None:
    # O_EXCL: an export never replaces a file, whatever is already there (a symlink
    # included: O_EXCL fails on one rather than following it).
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f, conn.cursor() as cur, cur.copy(query) as copy:
        for data in copy:
            f.write(data)


class ImpactGrew(EngineError):
    """More data would be destroyed than the operator confirmed, and no copy was asked
    for: the rollback stops so that they can look again."""


class ImpactRecheck:
    """The rollback's ``before_statements`` hook: count again under lock, in the
    rollback's own transaction, so that what is counted (and exported) is exactly what
    the rollback then destroys.

    ``confirmed``: what the operator saw and confirmed (the impact, or its total).
    ``export_folder``: the folder of the export made before the confirmation, or None
    when they chose not to keep a copy.  With a folder, everything at risk is exported
    again into its ``at-rollback/`` subfolder from inside the transaction (rows written
    after the first export included); without one, a total larger than the confirmed
    one stops the rollback (:class:`ImpactGrew`).  Either way the count under lock is
    emitted as a result table, so the log records the real number, and kept in
    :attr:`total`.
    """

    def __init__(
        self,
        runbook: Runbook,
        *,
        confirmed: RollbackImpact | int,
        export_folder: Path | None,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.runbook = runbook
        self.before = confirmed if isinstance(confirmed, RollbackImpact) else None
        self.confirmed = confirmed.total if isinstance(confirmed, RollbackImpact) else confirmed
        self.export_folder = export_folder
        self.on_event = on_event
        self.total: int | None = None
        """The count under lock, once the hook ran."""
        self.exported: AtRiskExport | None = None
        """What was written under lock (with an export folder)."""

    def __call__(self, conn: psycopg.Connection[Any]) -> None:
        self._lock_tables(conn)
        items = _items(conn, self.runbook)
        total = sum(item.count or 0 for item in items)
        self.total = total
        if self.export_folder is not None:
            under_lock = self.export_folder / "at-rollback"
            under_lock.mkdir(mode=0o700)
            written = _export_items(conn, items, under_lock)
            self.exported = AtRiskExport(under_lock, list(written), written)
        if self.on_event is not None:
            self.on_event(self._table(items, total))
            if self.exported is not None:
                self.on_event(ResultTable(
                    title=(f"Exported under lock, what the rollback destroys: "
                           f"{len(self.exported.files)} file(s), "
                           f"{sum(self.exported.rows.values())} rows, to "
                           f"{self.exported.folder}"),
                    source="rollback-impact", columns=("file", "rows")))
        grew = total - self.confirmed
        if grew > 0 and self.export_folder is None:
            raise ImpactGrew(
                f"{total} rows/values would be destroyed, {grew} more than the "
                f"{self.confirmed} you confirmed (written since the count); the rollback "
                "stopped before dropping anything: run rollback again to review them, "
                "with --export-dir DIR to keep a copy"
            )

    def _table(self, items: list[AtRisk], total: int) -> ResultTable:
        """The count under lock: only what changed since the confirmation is listed (the
        table before the confirmation has every row)."""
        grew = total - self.confirmed
        title = f"Data the rollback destroys, counted again under lock: {total} rows and values"
        title += f", {grew:+d} since the {self.confirmed} confirmed" if grew else ", as confirmed"
        before = {(i.schema, i.table, i.column): i.count for i in
                  (self.before.items if self.before is not None else [])}
        rows = []
        for item in items:
            then = before.get((item.schema, item.table, item.column))
            if self.before is not None and then == item.count:
                continue
            if self.before is None and not item.count:
                continue
            rows.append((f"{item.schema}.{item.table}", item.column or "(whole table)",
                         "-" if then is None else str(then),
                         "-" if item.count is None else str(item.count),
                         "warn" if (item.count or 0) > (then or 0) else "info"))
        return ResultTable(
            title=title, source="rollback-impact",
            columns=("table", "column", "confirmed", "under lock", "status"),
            rows=tuple(rows), status_column="status",
        )

    def _lock_tables(self, conn: psycopg.Connection[Any]) -> None:
        # The rollback takes ACCESS EXCLUSIVE on these tables anyway when it drops; taking
        # it first means no row can be written between this count and the DROP.  The
        # executor's lock_timeout bounds the wait.
        schema = self.runbook.settings.schema
        tables: set[str] = set()
        for check in self.runbook.checks:
            if check.added_by_migration and check.kind == "table":
                tables.add(check.name)
            elif check.added_by_migration and check.kind == "column" and check.table:
                tables.add(check.table)
        present = [t for t in sorted(tables) if catalog.table_exists(conn, schema, t)]
        if present:
            conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
                sql.SQL(", ").join(qualified(schema, t) for t in present)))
