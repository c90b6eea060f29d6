"""Data integrity: exact row counts and checksums of the tables a migration touches,
taken before its first statement and after its last, in the run's own transaction.

A schema migration should not change a row of the tables it alters, indexes or
references.  :class:`IntegrityCheck` proves that for one run:

* ``before`` (the executor's ``before_statements`` hook: after BEGIN and the run's
  ``lock_timeout``, before the first statement) takes ``LOCK TABLE ... IN SHARE MODE`` on
  every touched table that existed before the run, then a :class:`Fingerprint` of each;
* ``after`` (the first step of the ``before_commit`` hook: after the last statement,
  before COMMIT) takes them again and compares.  A difference raises
  :class:`IntegrityMismatch`, and the executor rolls the whole run back: nothing of a
  migration that changed data is ever committed.

Exact under concurrent writers: SHARE conflicts with the ROW EXCLUSIVE lock every
INSERT, UPDATE and DELETE takes, so from the LOCK on, the only writer of these tables is
the migration itself; writers that started earlier are waited for (up to
``lock_timeout``: then the run stops before its first statement, nothing changed), and
later ones wait until COMMIT.  The trade-off: writers wait from the start of the run,
not only from the statement that first locks each table, and for the two scans.  For a
migration whose ALTER TABLEs take ACCESS EXCLUSIVE in its first statements (as SPFP's
do), and whose CREATE INDEXes take SHARE anyway, that is little more; reads are never
blocked by SHARE.  Online mode commits step by step, so it cannot give this guarantee:
the session reports the check as not done there (:func:`not_checked_table`).

The fingerprint: ``count(*)`` and ``sum(hash_record_extended(ROW(c1, c2, ...), 0))``, a
sum of 64-bit hashes as ``numeric`` (exact, no overflow, independent of row order: a
multiset hash; two different changes that cancel out would need a 2**-64 coincidence).
Only the columns that existed before the run are listed, by name, so a column the
migration adds (``deleted_at``) does not change it; a column it drops is reported as
changed.  The binary hash reads ~4x faster than the text form (113 ms -> 29 ms for 40,000
transactions) and does not depend on output settings; it is used when every column is of
a type in :data:`BINARY_HASHED` (every type of the SPFP schema is) with a deterministic
collation (a case-insensitive one would hash 'a' and 'A' alike).  Values the type's ``=``
calls equal hash alike (numeric 1.0 and 1.00, interval '1 day' and '24 hours'): a change
from one to the other is not seen, which is no change to what queries compare.

Other tables fall back to ``sum(hashtextextended(ROW(...)::text, 0))``, and the row's
text form must then be stable between the two scans.  Given the same output settings it
is for the usual types; the migration could ``SET LOCAL`` one, so ``after`` restores the
ones that change text output (DateStyle, IntervalStyle, TimeZone, extra_float_digits,
bytea_output, lc_monetary, search_path) to their values at ``before``.  Types whose text
is not a function of the value alone would give false alarms: reg* types (regclass...
print names that follow renames and search_path), enums whose labels the migration
renames, and user types with volatile output functions.  An ALTER COLUMN ... TYPE shows
as changed data in either form.

It reads every row of every touched table twice, so its cost grows with the data (the
rest of ``run`` reads only the catalog): opt-in, with ``[settings] integrity_check`` or
``run --integrity``, and its result says how many rows it read and how long it took.
No Textual, no printing: results go out as a :class:`ResultTable` event.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from spfp_console.engine.errors import EngineError
from spfp_console.events import Event, IntegrityChecked, ResultTable
from spfp_console.lean_dataclass import lean_dataclass

if TYPE_CHECKING:
    from spfp_console.engine.executor import CancelToken

TITLE = "Data integrity: row counts and checksums"
SOURCE = "integrity"
COLUMNS = ("table", "rows before", "rows after", "checksum", "read", "status")

TEXT_OUTPUT_SETTINGS = ("DateStyle", "IntervalStyle", "TimeZone", "extra_float_digits",
                        "bytea_output", "lc_monetary", "search_path")
"""Settings that change how a row prints as text: held equal for both scans."""

ONLINE_REASON = "not checked: online mode is not one transaction"

BINARY_HASHED = ("bool", "int2", "int4", "int8", "numeric", "float4", "float8", "text",
                 "varchar", "bpchar", "name", "uuid", "date", "time", "timestamp",
                 "timestamptz", "interval", "jsonb", "bytea", "oid", "char", "inet")
"""Types whose values hash_record_extended hashes from their binary form (each has a
default hash operator class with extended hashing); a domain counts as its base type,
an array as its element type."""


class IntegrityMismatch(EngineError):
    """The migration changed rows of a table it touches (counts or checksums differ)."""


class IntegrityRefused(EngineError):
    """The check could not finish: a lock not granted within lock_timeout, or the
    operator cancelled a scan."""


@lean_dataclass(frozen=True)
class Fingerprint:
    """One table at one moment: exactly how many rows, and their checksum."""

    rows: int
    checksum: str
    """The numeric sum as text (exact, arbitrarily long)."""
    seconds: float


@lean_dataclass
class TableCheck:
    """One touched table: the columns fingerprinted and what each scan found."""

    name: str
    """Schema-qualified, as ``quote_ident`` writes it."""
    oid: int
    columns: tuple[str, ...]
    not_checked: str | None = None
    """Why this table cannot be checked exactly (privileges, row level security)."""
    before: Fingerprint | None = None
    after: Fingerprint | None = None
    missing_columns: tuple[str, ...] = ()
    """Columns fingerprinted before that no longer exist after the run."""
    binary_hash: bool = True
    """hash_record_extended (every column of a :data:`BINARY_HASHED` type), else the
    hash of the row's text form."""

    @property
    def status(self) -> str:
        if self.not_checked is not None:
            return "warn"
        if self.missing_columns:
            return "fail"
        if self.before is None or self.after is None:
            return "warn"
        same = (self.before.rows == self.after.rows
                and self.before.checksum == self.after.checksum)
        return "pass" if same else "fail"

    def problem(self) -> str:
        """What changed, for the mismatch message ("" when nothing did)."""
        if self.missing_columns:
            return f"{self.name}: column(s) {', '.join(self.missing_columns)} no longer exist"
        if self.before is None or self.after is None or self.status == "pass":
            return ""
        parts = [f"{self.before.rows} rows before, {self.after.rows} after"]
        if self.before.checksum != self.after.checksum:
            parts.append("checksum differs")
        return f"{self.name}: " + ", ".join(parts)


def tables_to_check(script: Path, schema: str = "public") -> list[tuple[str, str]]:
    """The tables the migration alters, indexes, gives a trigger or policy, or references
    with a new foreign key; not the ones it creates (they have no "before")."""
    from spfp_console.engine.script_analysis import script_relations

    relations = script_relations(script, schema)
    return sorted((relations.owned | relations.referenced) - relations.created)


def not_checked_table(reason: str = ONLINE_REASON) -> ResultTable:
    """The result when the check could not run at all (online mode): said, never passed."""
    return ResultTable.checked(title=TITLE, source=SOURCE, columns=COLUMNS,
                               rows=[("every touched table", "-", "-", reason, "-", "warn")])


_RESOLVE = """
SELECT c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind,
       has_table_privilege(c.oid, 'SELECT'),
       pg_has_role(c.relowner, 'USAGE') OR has_table_privilege(c.oid, 'UPDATE')
           OR has_table_privilege(c.oid, 'DELETE') OR has_table_privilege(c.oid, 'TRUNCATE'),
       row_security_active(c.oid),
       ARRAY(SELECT a.attname::text FROM pg_attribute a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum),
       NOT EXISTS (
           SELECT 1 FROM pg_attribute a
           JOIN pg_type t ON t.oid = a.atttypid
           JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
           JOIN pg_type e ON e.oid = CASE WHEN b.typcategory = 'A' THEN b.typelem ELSE b.oid END
           LEFT JOIN pg_collation co ON co.oid = a.attcollation
           WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
             AND (e.typnamespace <> 'pg_catalog'::regnamespace
                  OR NOT e.typname = ANY(%s::text[])
                  OR NOT coalesce(co.collisdeterministic, true)))
FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS wanted(nspname, relname, at)
JOIN pg_namespace n ON n.nspname = wanted.nspname
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = wanted.relname
ORDER BY wanted.at
"""

def estimated_size(conn: psycopg.Connection[Any],
                   tables: Iterable[tuple[str, str]]) -> str:
    """What the check will read, from the catalog (counting would read it all once
    more): "~12,345 rows (3 MB) in 14 tables"; the size alone for tables never analyzed.
    What the operator is told before confirming."""
    wanted = sorted(set(tables))
    row = conn.execute(
        "SELECT count(*), sum(greatest(c.reltuples, 0))::bigint, bool_or(c.reltuples < 0),"
        "       pg_size_pretty(sum(pg_table_size(c.oid)))"
        " FROM unnest(%s::text[], %s::text[]) AS wanted(nspname, relname)"
        " JOIN pg_namespace n ON n.nspname = wanted.nspname"
        " JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = wanted.relname"
        " WHERE c.relkind IN ('r', 'p', 'm')",
        ([s for s, _ in wanted], [t for _, t in wanted])).fetchone()
    if row is None or not row[0]:
        return "no existing table"
    count, rows, unanalyzed, size = row
    amount = size if unanalyzed else f"~{rows:,} rows ({size})"
    return f"{amount} in {count} table{'s' * (count != 1)}"


_COLUMNS_NOW = """
SELECT ARRAY(SELECT a.attname::text FROM pg_attribute a
             WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped)
"""


class IntegrityCheck:
    """The before and after fingerprints of one run (see the module docstring).

    ``before`` is the executor's ``before_statements`` hook, ``after`` the first step of
    its ``before_commit`` hook; both run on the run's connection, inside its transaction.
    ``after`` emits the result table and raises :class:`IntegrityMismatch` on a
    difference.  :attr:`checks` holds each table's result; :attr:`passed` is True only
    when every table was checked and none changed.
    """

    def __init__(self, tables: Iterable[tuple[str, str]], *,
                 on_event: Callable[[Event], None] | None = None,
                 cancel: CancelToken | None = None, mode: str = "run") -> None:
        """``cancel``: the run's token; a cancel stops a scan (the executor cancels only
        its statements, and a scan of a big table takes a while).  ``mode``: run or
        rehearse, as its :class:`IntegrityChecked` event says."""
        self.cancel = cancel
        self.mode = mode
        self.locked_at: float | None = None
        self.writers_held_seconds = 0.0
        self.tables = sorted(set(tables))
        self.on_event = on_event
        self.checks: list[TableCheck] = []
        self.settings: dict[str, str] = {}
        self.lock_seconds = 0.0
        self.done = False
        """The after scan ran (the migration's statements all succeeded)."""

    # ------------------------------------------------------------------ the hooks

    def before(self, conn: psycopg.Connection[Any]) -> None:
        self.checks = self._resolve(conn)
        lockable = [check for check in self.checks if check.not_checked is None]
        values = conn.execute(sql.SQL("SELECT {}").format(sql.SQL(", ").join(
            sql.SQL("current_setting({})").format(sql.Literal(name))
            for name in (*TEXT_OUTPUT_SETTINGS, "lock_timeout")))).fetchone()
        assert values is not None
        self.settings = dict(zip(TEXT_OUTPUT_SETTINGS, map(str, values), strict=False))
        timeout = values[-1]
        if lockable:
            started = time.perf_counter()
            try:
                conn.execute(sql.SQL("LOCK TABLE {} IN SHARE MODE").format(
                    sql.SQL(", ").join(sql.SQL(c.name) for c in lockable)), prepare=False)
            except pg_errors.LockNotAvailable:
                raise IntegrityRefused(
                    f"data integrity check: could not lock {', '.join(c.name for c in lockable)}"
                    f" in SHARE mode within lock_timeout {timeout}"
                    " (a transaction writing to one of them is still open); see"
                    " `spfp-console check` for who holds it, and run again") from None
            self.locked_at = time.perf_counter()
            self.lock_seconds = self.locked_at - started
            with _parallel_scans(conn):
                for check in lockable:
                    check.before = self._scan(conn, check)

    def after(self, conn: psycopg.Connection[Any]) -> None:
        for name, value in self.settings.items():
            # Local to the transaction, which ends right after: nothing leaks.
            conn.execute("SELECT set_config(%s, %s, true)", (name, value))
        for check in self.checks:
            if check.not_checked is not None:
                continue
            now = conn.execute(_COLUMNS_NOW, (check.oid,)).fetchone()
            present = set(now[0]) if now is not None else set()
            check.missing_columns = tuple(c for c in check.columns if c not in present)
        with _parallel_scans(conn):
            for check in self.checks:
                if check.not_checked is None and not check.missing_columns:
                    check.after = self._scan(conn, check)
        self.done = True
        if self.locked_at is not None:
            # The writers wait on until COMMIT or the rollback, which follows at once.
            self.writers_held_seconds = time.perf_counter() - self.locked_at
        if self.on_event is not None:
            self.on_event(self.table())
            self.on_event(self.cost())
        problems = [p for p in (check.problem() for check in self.checks) if p]
        if problems:
            raise IntegrityMismatch(
                "data integrity check failed: the migration changed rows of "
                + "; ".join(problems))

    def _scan(self, conn: psycopg.Connection[Any], check: TableCheck) -> Fingerprint:
        if self.cancel is None:
            return _fingerprint(conn, check)

        def cancel_scan() -> None:  # called in the canceller's thread: must not block
            threading.Thread(target=conn.cancel_safe, kwargs={"timeout": 2.0},
                             name="spfp-integrity-cancel", daemon=True).start()

        unsubscribe = self.cancel.subscribe(cancel_scan)
        try:
            if self.cancel.cancelled:  # a request sent before the scan started is lost
                raise pg_errors.QueryCanceled("cancelled before the scan")
            return _fingerprint(conn, check)
        except pg_errors.QueryCanceled:
            if not self.cancel.cancelled:
                raise  # statement_timeout: the executor words it
            raise IntegrityRefused(
                f"data integrity check cancelled by the operator while reading {check.name}"
            ) from None
        finally:
            unsubscribe()

    # ------------------------------------------------------------------ results

    @property
    def passed(self) -> bool:
        return self.done and all(check.status == "pass" for check in self.checks)

    @property
    def rows_read(self) -> int:
        return sum((c.before.rows if c.before else 0) + (c.after.rows if c.after else 0)
                   for c in self.checks)

    @property
    def seconds(self) -> float:
        return sum((c.before.seconds if c.before else 0.0)
                   + (c.after.seconds if c.after else 0.0) for c in self.checks)

    def summary(self) -> str:
        """One line: the evidence a ticked checklist item carries."""
        checked = [c for c in self.checks if c.not_checked is None]
        skipped = [c for c in self.checks if c.not_checked is not None]
        failing = [c for c in checked if c.status == "fail"]
        if failing:
            text = f"{len(failing)}/{len(checked)} table(s) changed: " + ", ".join(
                c.name for c in failing)
        else:
            rows = sum(c.before.rows for c in checked if c.before is not None)
            text = (f"{len(checked)} table(s), {rows:,} rows: counts and checksums"
                    " unchanged")
        text += (f"; read {self.rows_read:,} rows in {self.seconds * 1000:,.0f} ms"
                 " under a SHARE lock")
        if skipped:
            text += "; not checked: " + ", ".join(f"{c.name} ({c.not_checked})"
                                                  for c in skipped)
        return text

    def cost(self) -> IntegrityChecked:
        return IntegrityChecked(
            mode=self.mode, tables=sum(1 for c in self.checks if c.before is not None),
            rows_read=self.rows_read, read_s=round(self.seconds, 6),
            lock_wait_s=round(self.lock_seconds, 6),
            writers_held_s=round(self.writers_held_seconds, 6), passed=self.passed)

    def table(self) -> ResultTable:
        rows = []
        for check in self.checks:
            before, after = check.before, check.after
            if check.not_checked is not None:
                checksum = check.not_checked
            elif check.missing_columns:
                checksum = "columns dropped: " + ", ".join(check.missing_columns)
            elif before is None or after is None:
                checksum = "not compared"
            else:
                checksum = "unchanged" if before.checksum == after.checksum else "DIFFERS"
            read = (before.rows if before else 0) + (after.rows if after else 0)
            seconds = (before.seconds if before else 0.0) + (after.seconds if after else 0.0)
            rows.append((
                check.name,
                f"{before.rows:,}" if before else "-",
                f"{after.rows:,}" if after else "-",
                checksum,
                f"{read:,} rows in {seconds * 1000:,.0f} ms" if before else "-",
                check.status,
            ))
        return ResultTable.checked(title=TITLE, source=SOURCE, columns=COLUMNS, rows=rows)

    # ------------------------------------------------------------------ catalog

    def _resolve(self, conn: psycopg.Connection[Any]) -> list[TableCheck]:
        checks = []
        # A table not there before the run has no row: nothing to compare it with.
        found = conn.execute(_RESOLVE, (list(BINARY_HASHED), [s for s, _ in self.tables],
                                        [t for _, t in self.tables])).fetchall()
        for row in found:
            oid, name, relkind, readable, lockable, rls, columns, binary = row
            if relkind not in ("r", "p", "m"):
                continue  # views, sequences, foreign tables hold no rows of their own here
            reason = None
            if not (readable and lockable):
                reason = ("not checked: this role may not read it and lock it in SHARE"
                          " mode (needs SELECT, and UPDATE, DELETE or TRUNCATE)")
            elif rls:
                reason = ("not checked: row level security hides rows from this role"
                          " (counts would not be exact)")
            checks.append(TableCheck(name=name, oid=oid, columns=tuple(columns),
                                     binary_hash=bool(binary),
                                     not_checked=reason))
        return checks


# The planner prices a hash function like an addition (procost 1), so a checksum of a
# table never looks worth a parallel plan, though reading and hashing every row is
# CPU-bound: on PostgreSQL 15, a 120,000-row (22 MB) table took 178 ms serial and 69 ms
# with one worker beside the leader.  Around the scans, the run's transaction is told
# that workers cost nothing to start or per row; tables under min_parallel_table_scan_size
# still get none, and max_parallel_workers_per_gather (0 on a server that wants none)
# still caps them.  Both settings are put back after the scans, so the migration's own
# statements are planned as they would be without the check.
_PARALLEL_SCAN_COSTS = ("parallel_setup_cost", "parallel_tuple_cost")


@contextlib.contextmanager
def _parallel_scans(conn: psycopg.Connection[Any]) -> Iterator[None]:
    names = [sql.Literal(name) for name in _PARALLEL_SCAN_COSTS]
    were = conn.execute(sql.SQL("SELECT {}").format(sql.SQL(", ").join(
        sql.SQL("current_setting({})").format(name) for name in names))).fetchone()
    assert were is not None
    conn.execute(sql.SQL("SELECT {}").format(sql.SQL(", ").join(
        sql.SQL("set_config({}, '0', true)").format(name) for name in names)))
    yield  # an error aborts the transaction, and its local settings end with it
    conn.execute(sql.SQL("SELECT {}").format(sql.SQL(", ").join(
        sql.SQL("set_config({}, {}, true)").format(name, sql.Literal(str(value)))
        for name, value in zip(names, were, strict=True))))


def _fingerprint(conn: psycopg.Connection[Any], check: TableCheck) -> Fingerprint:
    """Exact count and checksum of the table over the columns of before (by name)."""
    row_expr = sql.SQL("ROW({})").format(
        sql.SQL(", ").join(map(sql.Identifier, check.columns)))
    hashed = (sql.SQL("hash_record_extended({}, 0)").format(row_expr) if check.binary_hash
              else sql.SQL("hashtextextended(({})::text, 0)").format(row_expr))
    query = sql.SQL("SELECT count(*), coalesce(sum({}), 0)::text FROM {}").format(
        hashed, sql.SQL(check.name))
    started = time.perf_counter()
    result = conn.execute(query, prepare=False).fetchone()
    assert result is not None
    return Fingerprint(rows=int(result[0]), checksum=str(result[1]),
                       seconds=time.perf_counter() - started)
