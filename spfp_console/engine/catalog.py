"""Read-only catalog look-ups shared by preflight, validation, claims and rollback impact.

Everything here only reads: the system catalogs, never user data (except where a caller
asks for it explicitly).  Each look-up returns plain Python values or ``None`` when the
object is absent; an absent object is a normal answer, not an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import psycopg
from psycopg import pq, sql

from spfp_console.lean_dataclass import lean_dataclass
from spfp_console.runbook.model import Check


READ_LOCK_TIMEOUT = "5s"
READ_STATEMENT_TIMEOUT = "5min"


@contextmanager
def read_only(
    conn: psycopg.Connection,
    *,
    repeatable_read: bool = False,
    lock_timeout: str = READ_LOCK_TIMEOUT,
    statement_timeout: str = READ_STATEMENT_TIMEOUT,
) -> Iterator[None]:
    """A transaction that cannot write, cannot wait forever, and is always rolled back.

    On an autocommit connection (the normal case) this is ``BEGIN READ ONLY`` ...
    ``ROLLBACK``.  When the caller already has a transaction open we can only nest a
    savepoint, which cannot change the access mode: the caller then owns that guarantee.

    ``lock_timeout``: reading a table that another session holds in ACCESS EXCLUSIVE mode
    (another migration's ALTER TABLE, say) would otherwise wait with no end; a check
    must report the lock, not hang behind it.
    """
    outer_idle = conn.info.transaction_status == pq.TransactionStatus.IDLE
    with conn.transaction(force_rollback=True):
        if outer_idle:
            mode = (
                "ISOLATION LEVEL REPEATABLE READ, READ ONLY"
                if repeatable_read
                else "READ ONLY"
            )
            conn.execute("SET TRANSACTION " + mode)  # type: ignore[arg-type]
            conn.execute(
                "SELECT set_config('lock_timeout', %s, true),"
                " set_config('statement_timeout', %s, true)",
                (lock_timeout, statement_timeout),
            )
        yield


# --------------------------------------------------------------------------- relations


def relation_kind(conn: psycopg.Connection, schema: str, name: str) -> str | None:
    """``pg_class.relkind`` of ``schema.name`` ('r', 'v', 'i', ...) or None when absent."""
    row = conn.execute(
        "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = %s",
        (schema, name),
    ).fetchone()
    return str(row[0]) if row else None


def relation_kinds(
    conn: psycopg.Connection, schema: str, names: Iterable[str]
) -> dict[str, str]:
    """``pg_class.relkind`` of each of ``names`` in ``schema`` that exists, in one query."""
    rows = conn.execute(
        "SELECT c.relname, c.relkind FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = ANY(%s)",
        (schema, sorted(set(names))),
    ).fetchall()
    return {str(name): str(kind) for name, kind in rows}


def columns_of(
    conn: psycopg.Connection, schema: str, relations: Iterable[str]
) -> dict[str, list[str]]:
    """:func:`column_names` of each of ``relations`` that exists, in one query."""
    rows = conn.execute(
        "SELECT c.relname, a.attname FROM pg_attribute a"
        " JOIN pg_class c ON c.oid = a.attrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = ANY(%s) AND a.attnum > 0"
        "   AND NOT a.attisdropped"
        " ORDER BY c.relname, a.attnum",
        (schema, sorted(set(relations))),
    ).fetchall()
    found: dict[str, list[str]] = {}
    for relation, column in rows:
        found.setdefault(str(relation), []).append(str(column))
    return found


def table_exists(conn: psycopg.Connection, schema: str, name: str) -> bool:
    return relation_kind(conn, schema, name) in ("r", "p")


def column_names(conn: psycopg.Connection, schema: str, table: str) -> list[str]:
    """The live columns of a table or view in order; empty when it does not exist."""
    rows = conn.execute(
        "SELECT a.attname FROM pg_attribute a"
        " JOIN pg_class c ON c.oid = a.attrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped"
        " ORDER BY a.attnum",
        (schema, table),
    ).fetchall()
    return [str(r[0]) for r in rows]


@lean_dataclass(frozen=True)
class IndexInfo:
    name: str
    table: str
    definition: str
    unique: bool
    valid: bool
    """False for an index left behind by a failed CREATE INDEX CONCURRENTLY: the planner
    ignores it and a unique one enforces nothing for existing rows."""


def index_info(conn: psycopg.Connection, schema: str, name: str) -> IndexInfo | None:
    return index_infos(conn, schema, [name]).get(name)


def index_infos(
    conn: psycopg.Connection, schema: str, names: Iterable[str]
) -> dict[str, IndexInfo]:
    """The indexes of ``schema`` among ``names``, by name, in one query (a runbook has
    dozens: one round trip each was most of the preflight's time); absent ones are
    left out."""
    rows = conn.execute(
        "SELECT c.relname, t.relname, pg_get_indexdef(c.oid), i.indisunique, i.indisvalid"
        " FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indexrelid"
        " JOIN pg_class t ON t.oid = i.indrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = ANY(%s)",
        (schema, sorted(set(names))),
    ).fetchall()
    return {
        str(row[0]): IndexInfo(str(row[0]), str(row[1]), str(row[2]), bool(row[3]),
                               bool(row[4]))
        for row in rows
    }


@lean_dataclass(frozen=True)
class ColumnInfo:
    data_type: str
    nullable: bool
    default: str | None


def column_info(
    conn: psycopg.Connection, schema: str, table: str, column: str
) -> ColumnInfo | None:
    row = conn.execute(
        "SELECT format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,"
        "       pg_get_expr(d.adbin, d.adrelid)"
        " FROM pg_attribute a"
        " JOIN pg_class c ON c.oid = a.attrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
        " WHERE n.nspname = %s AND c.relname = %s AND a.attname = %s"
        "   AND a.attnum > 0 AND NOT a.attisdropped",
        (schema, table, column),
    ).fetchone()
    if row is None:
        return None
    return ColumnInfo(
        str(row[0]), bool(row[1]), None if row[2] is None else str(row[2])
    )


def column_infos(
    conn: psycopg.Connection, schema: str, columns: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], ColumnInfo]:
    """:func:`column_info` of each ``(table, column)`` that exists, in one query."""
    pairs = sorted(set(columns))
    if not pairs:
        return {}
    rows = conn.execute(
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod),"
        "       NOT a.attnotnull, pg_get_expr(d.adbin, d.adrelid)"
        " FROM unnest(%s::text[], %s::text[]) AS wanted(tab, col)"
        " JOIN pg_namespace n ON n.nspname = %s"
        " JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = wanted.tab"
        " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = wanted.col"
        " LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
        " WHERE a.attnum > 0 AND NOT a.attisdropped",
        ([t for t, _ in pairs], [c for _, c in pairs], schema),
    ).fetchall()
    return {
        (str(row[0]), str(row[1])): ColumnInfo(
            str(row[2]), bool(row[3]), None if row[4] is None else str(row[4]))
        for row in rows
    }


def rls_enabled(conn: psycopg.Connection, schema: str, table: str) -> bool | None:
    row = conn.execute(
        "SELECT c.relrowsecurity FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')",
        (schema, table),
    ).fetchone()
    return None if row is None else bool(row[0])


@lean_dataclass(frozen=True)
class PolicyInfo:
    command: str
    using: str | None
    roles: tuple[str, ...]


def policy_info(
    conn: psycopg.Connection, schema: str, table: str, name: str
) -> PolicyInfo | None:
    row = conn.execute(
        "SELECT cmd, qual, roles::text[] FROM pg_policies"
        " WHERE schemaname = %s AND tablename = %s AND policyname = %s",
        (schema, table, name),
    ).fetchone()
    if row is None:
        return None
    return PolicyInfo(
        str(row[0]), None if row[1] is None else str(row[1]), tuple(row[2] or ())
    )


def function_returns(conn: psycopg.Connection, schema: str, name: str) -> list[str]:
    """Return types of every function ``schema.name`` (overloads included); empty if none."""
    rows = conn.execute(
        "SELECT format_type(p.prorettype, NULL) FROM pg_proc p"
        " JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = %s AND p.proname = %s ORDER BY p.oid",
        (schema, name),
    ).fetchall()
    return [str(r[0]) for r in rows]


@lean_dataclass(frozen=True)
class TriggerInfo:
    table: str
    function: str
    enabled: bool


def trigger_info(
    conn: psycopg.Connection, schema: str, table: str, name: str
) -> TriggerInfo | None:
    row = conn.execute(
        "SELECT c.relname, p.proname, t.tgenabled <> 'D'"
        " FROM pg_trigger t"
        " JOIN pg_class c ON c.oid = t.tgrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_proc p ON p.oid = t.tgfoid"
        " WHERE n.nspname = %s AND c.relname = %s AND t.tgname = %s AND NOT t.tgisinternal",
        (schema, table, name),
    ).fetchone()
    if row is None:
        return None
    return TriggerInfo(str(row[0]), str(row[1]), bool(row[2]))


# --------------------------------------------------------------------------- checks


@lean_dataclass(frozen=True)
class ChecksReading:
    """The objects a runbook's checks are about, read together: the indexes, columns,
    relations and views' columns (most of a runbook's checks) in four queries instead of
    one or two per check.
    Policies, functions and triggers, one or two per runbook, are read one by one."""

    schema: str
    indexes: dict[str, IndexInfo]
    columns: dict[tuple[str, str], ColumnInfo]
    relation_kinds: dict[str, str]
    view_columns: dict[str, list[str]]
    """The columns of each view a check names, in order."""

    def index(self, check: Check) -> IndexInfo | None:
        return self.indexes.get(check.name)

    def column(self, check: Check) -> ColumnInfo | None:
        return self.columns.get((check.table or "", check.name))

    def relation_kind(self, check: Check) -> str | None:
        return self.relation_kinds.get(check.name)

    def exists(self, conn: psycopg.Connection, check: Check) -> bool:
        """Whether the object ``check`` is about exists at all (right or wrong)."""
        if check.kind in ("index", "unique_rule"):
            return check.name in self.indexes
        if check.kind == "column":
            return self.column(check) is not None
        if check.kind == "view":
            return self.relation_kind(check) in ("v", "m")
        if check.kind == "table":
            return self.relation_kind(check) in ("r", "p")
        table = check.table or ""
        if check.kind == "policy":
            return policy_info(conn, self.schema, table, check.name) is not None
        if check.kind == "function":
            return bool(function_returns(conn, self.schema, check.name))
        if check.kind == "trigger":
            return trigger_info(conn, self.schema, table, check.name) is not None
        raise ValueError(f"check {check.id}: unknown kind {check.kind!r}")


def read_checks(
    conn: psycopg.Connection, checks: Iterable[Check], schema: str
) -> ChecksReading:
    checks = list(checks)
    return ChecksReading(
        schema=schema,
        indexes=index_infos(conn, schema, [c.name for c in checks
                                           if c.kind in ("index", "unique_rule")]),
        columns=column_infos(conn, schema, [(c.table or "", c.name) for c in checks
                                            if c.kind == "column"]),
        relation_kinds=relation_kinds(conn, schema, [c.name for c in checks
                                                     if c.kind in ("view", "table")]),
        view_columns=columns_of(conn, schema, [c.name for c in checks if c.kind == "view"]),
    )


def existing_checks(conn: psycopg.Connection, checks: Iterable[Check], schema: str) -> set[str]:
    """The ids of the checks whose object exists (right or wrong)."""
    checks = list(checks)
    reading = read_checks(conn, checks, schema)
    return {c.id for c in checks if reading.exists(conn, c)}


def qualified(schema: str, name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))


# --------------------------------------------------------------------------- other sessions


@lean_dataclass(frozen=True)
class LockHolder:
    """Another session holding (or queued for) a lock on a table we are about to lock."""

    relation: str
    """``schema.table``."""
    pid: int | None
    """None for a prepared transaction."""
    user: str | None
    mode: str
    """In LOCK TABLE's words (``ACCESS SHARE``), not pg_locks' (``AccessShareLock``)."""
    granted: bool
    since: str | None
    """When it began waiting, else when its transaction began (UTC, ISO 8601)."""
    query: str | None
    """Its current or last query, whitespace folded, at most 200 characters."""

    def describe(self) -> str:
        who = f"pid {self.pid}" if self.pid is not None else "a prepared transaction"
        if self.user:
            who += f" ({self.user})"
        verb = "holds" if self.granted else "waits for"
        since = f" since {self.since}" if self.since else ""
        return f"{who} {verb} {self.mode}{since}"


def lock_holders(conn: psycopg.Connection, relations: Iterable[str]) -> list[LockHolder]:
    """Who holds or waits for a lock, right now, on any of ``relations`` (``schema.table``),
    other than this session: whoever it is, a statement of ours that locks the table waits
    behind it up to lock_timeout, and every later query on the table queues behind us.
    The one reading of pg_locks and pg_stat_activity for the preflight and the rehearsal."""
    names = sorted(set(relations))
    if not names:
        return []
    rows = conn.execute(
        "SELECT n.nspname || '.' || c.relname, l.pid, a.usename, l.mode, l.granted,"
        "       to_char(coalesce(l.waitstart, a.xact_start) AT TIME ZONE 'UTC',"
        "               'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
        "       left(regexp_replace(a.query, '\\s+', ' ', 'g'), 200)"
        " FROM pg_locks l"
        " JOIN pg_class c ON c.oid = l.relation"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'relation'"
        "   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        "   AND l.pid IS DISTINCT FROM pg_backend_pid()"
        "   AND n.nspname || '.' || c.relname = ANY(%s)"
        " ORDER BY 1, 2",
        (names,),
    ).fetchall()
    return [
        LockHolder(str(rel), pid, user, lock_mode_words(str(mode)), bool(granted), since,
                   query)
        for rel, pid, user, mode, granted, since, query in rows
    ]


def lock_mode_words(pg_locks_mode: str) -> str:
    """``AccessShareLock`` (pg_locks) as ``ACCESS SHARE`` (LOCK TABLE's words)."""
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", pg_locks_mode.removesuffix("Lock"))
    return words.upper()
