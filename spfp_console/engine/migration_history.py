"""Supabase's migration history: ``supabase_migrations.schema_migrations``.

``supabase migration list`` and ``supabase db push`` decide what is applied from this
table alone.  A migration the console ran must be in it (or the CLI would apply it a
second time), and a migration it rolled back must not be (or the CLI would never apply it
again).  So the row is written in the run's own transaction, just before COMMIT, and
deleted in the rollback's: the history can never disagree with the schema.

The table is created the way the Supabase CLI creates it when it is absent (a schema, a
``version`` primary key, then the ``statements`` and ``name`` columns added separately,
as the CLI's successive versions did), so the CLI later finds the table it expects.
"""

from __future__ import annotations

from typing import Any

import psycopg

from spfp_console.engine.script import Script
from spfp_console.lean_dataclass import lean_dataclass

SCHEMA = "supabase_migrations"
TABLE = f"{SCHEMA}.schema_migrations"

_CREATE = (
    "CREATE SCHEMA IF NOT EXISTS supabase_migrations",
    "CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations"
    " (version text NOT NULL PRIMARY KEY)",
    "ALTER TABLE supabase_migrations.schema_migrations"
    " ADD COLUMN IF NOT EXISTS statements text[]",
    "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS name text",
)


@lean_dataclass(frozen=True)
class RecordedVersion:
    """A row of the history table."""

    version: str
    name: str | None
    statements: int


def table_exists(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("select to_regclass(%s) is not null", (TABLE,),
                       prepare=False).fetchone()
    return bool(row and row[0])


def recorded(conn: psycopg.Connection[Any], version: str) -> RecordedVersion | None:
    """The history row of ``version``, or None (no row, or no history table at all)."""
    if not table_exists(conn):
        return None
    row = conn.execute(
        f"select version, name, coalesce(cardinality(statements), 0) from {TABLE}"
        " where version = %s", (version,), prepare=False).fetchone()
    return RecordedVersion(row[0], row[1], int(row[2])) if row else None


def record(conn: psycopg.Connection[Any], version: str, name: str | None,
           script: Script) -> None:
    """Create the table if absent and record ``version`` with the script's statements.

    Run inside the migration's transaction.  A row that is already there (the CLI applied
    this version, then someone dropped part of it) is updated, not duplicated: the run
    that just succeeded is what the history must describe.
    """
    for statement in _CREATE:
        conn.execute(statement, prepare=False)
    statements = [stmt.sql for stmt in script.executable]
    conn.execute(
        f"INSERT INTO {TABLE} (version, name, statements) VALUES (%s, %s, %s)"
        " ON CONFLICT (version) DO UPDATE"
        " SET name = excluded.name, statements = excluded.statements",
        (version, name, statements), prepare=False)


def remove(conn: psycopg.Connection[Any], version: str) -> bool:
    """Delete ``version`` from the history (inside the rollback's transaction).
    True when a row was deleted; no table means nothing to remove."""
    if not table_exists(conn):
        return False
    cur = conn.execute(f"DELETE FROM {TABLE} WHERE version = %s", (version,),
                       prepare=False)
    return bool(cur.rowcount)


def can_record(conn: psycopg.Connection[Any]) -> str | None:
    """Why the executing role could not write the history, or None when it can."""
    if table_exists(conn):
        row = conn.execute(
            "select has_table_privilege(%(t)s, 'INSERT') and has_table_privilege(%(t)s,"
            " 'UPDATE') and has_table_privilege(%(t)s, 'DELETE')", {"t": TABLE},
            prepare=False).fetchone()
        if row and row[0]:
            return None
        return f"the executing role cannot write {TABLE} (INSERT, UPDATE, DELETE)"
    row = conn.execute(
        "select case when to_regnamespace(%s) is null"
        " then has_database_privilege(current_database(), 'CREATE')"
        " else has_schema_privilege(%s, 'CREATE') end",
        (SCHEMA, SCHEMA), prepare=False).fetchone()
    if row and row[0]:
        return None
    return f"the executing role cannot create {TABLE} in this database"
