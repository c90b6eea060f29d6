"""Stream the generated rows into PostgreSQL: COPY per table, one transaction, ANALYZE."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date

import psycopg
from psycopg import sql

from spfp_console.errors import ConsoleError
from spfp_console.sampledata.generator import DEFAULT_SEED, TABLES, SampleDataset, TableSpec

_CHUNK_LINES = 4_000
"""Lines joined per copy.write: big enough to amortise the call, small enough to stream."""


class SampleDataError(ConsoleError, RuntimeError):
    """The sample data cannot be loaded into this database (and nothing was loaded)."""


@dataclass
class SampleDataReport:
    """What :func:`load_sample_data` loaded."""

    rows: dict[str, int]
    """Rows loaded per table (qualified name), in load order."""
    seconds: float
    """Wall-clock time of generation + COPY + ANALYZE."""
    seed: int
    scale: float
    today: date
    migrated: bool
    """True when the migration's columns were found and soft-deleted rows were written."""
    heaviest_user_id: str
    """The user with the most rows: the worst case for per-user queries."""
    median_user_id: str
    """A typical user: the common case for per-user queries."""
    skipped: list[str] = field(default_factory=list)
    """Tables not in this database (the migration's audit table before the migration)."""

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def rows_per_second(self) -> float:
        return self.total_rows / self.seconds if self.seconds > 0 else float("inf")


def load_sample_data(
    conn_or_dsn: psycopg.Connection | str,
    *,
    scale: float = 1,
    seed: int = DEFAULT_SEED,
    today: date | None = None,
    with_duplicate_categories: bool = False,
) -> SampleDataReport:
    """Load deterministic sample data into every SPFP table, in one transaction.

    Scale 1 is about 100k rows over 50 users, scale 10 about 1M over 500.  When the
    migration's columns are present (``deleted_at`` on sent_atas & co, the audit table)
    they are filled too; otherwise they are left alone.  ``with_duplicate_categories``
    adds category names that differ only by case for some users: the data the migration's
    ``unique_user_category_name`` must reject.  Raises :class:`SampleDataError` when the
    schema is missing a table or column, or when this seed was already loaded.
    """
    started = time.perf_counter()
    dataset = SampleDataset(
        seed=seed, scale=scale, today=today,
        with_duplicate_categories=with_duplicate_categories,
    )
    if isinstance(conn_or_dsn, str):
        with psycopg.connect(conn_or_dsn, connect_timeout=10) as conn:
            report = _load(conn, dataset, started)
        return report
    return _load(conn_or_dsn, dataset, started)


def _load(conn: psycopg.Connection, dataset: SampleDataset, started: float) -> SampleDataReport:
    columns = _existing_columns(conn)
    plan: list[tuple[TableSpec, list[str]]] = []
    skipped: list[str] = []
    for spec in TABLES:
        present = columns.get(spec.name)
        if present is None:
            if spec.needs_migration:
                skipped.append(spec.name)
                continue
            raise SampleDataError(
                f"table {spec.name} does not exist: apply the SPFP base schema first"
            )
        missing = [c for c in spec.columns if c not in present]
        if missing:
            raise SampleDataError(
                f"table {spec.name} lacks column(s) {', '.join(missing)}: "
                "this is not the SPFP schema the generator knows"
            )
        plan.append((spec, [c for c in spec.optional if c in present]))
    migrated = any(optional for _, optional in plan)

    rows: dict[str, int] = {}
    with conn.transaction():
        if conn.execute(
            "SELECT 1 FROM auth.users WHERE id = %s", (dataset.heaviest_user_id,)
        ).fetchone():
            raise SampleDataError(
                f"sample data with seed {dataset.seed} and scale {dataset.scale:g} is already "
                "loaded here: use a fresh database or another --seed"
            )
        # COPY text format carries our UTF-8 literally; never let a client encoding mangle it.
        conn.execute("SET LOCAL client_encoding TO 'UTF8'")
        for spec, optional in plan:
            rows[spec.name] = _copy(conn, dataset, spec, optional)
        for spec, _ in plan:
            conn.execute(sql.SQL("ANALYZE {}").format(_ident(spec.name)))
    return SampleDataReport(
        rows=rows,
        seconds=time.perf_counter() - started,
        seed=dataset.seed,
        scale=dataset.scale,
        today=dataset.clock.today,
        migrated=migrated,
        heaviest_user_id=dataset.heaviest_user_id,
        median_user_id=dataset.median_user_id,
        skipped=skipped,
    )


def _copy(conn: psycopg.Connection, dataset: SampleDataset, spec: TableSpec,
          optional: list[str]) -> int:
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        _ident(spec.name),
        sql.SQL(", ").join(sql.Identifier(c) for c in (*spec.columns, *optional)),
    )
    count = 0
    buffer: list[str] = []
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for line in dataset.rows(spec, optional):
            buffer.append(line)
            if len(buffer) >= _CHUNK_LINES:
                copy.write("".join(buffer))
                count += len(buffer)
                buffer.clear()
        if buffer:
            copy.write("".join(buffer))
            count += len(buffer)
    return count


def _existing_columns(conn: psycopg.Connection) -> dict[str, set[str]]:
    """Columns of the tables we fill, by qualified name; absent tables are absent keys."""
    wanted = [spec.name for spec in TABLES]
    found: dict[str, set[str]] = {}
    for schema, table, column in conn.execute(
        """
        SELECT table_schema, table_name, column_name
        FROM information_schema.columns
        WHERE table_schema || '.' || table_name = ANY(%s)
        """,
        (wanted,),
    ):
        found.setdefault(f"{schema}.{table}", set()).add(column)
    return found


def _ident(qualified: str) -> sql.Identifier:
    return sql.Identifier(*qualified.split(".", 1))
