"""What a rehearsal does to the target that its final ROLLBACK does not take back.

A rehearsal runs the real statements on the real database and rolls them back, so it is
not free: while it runs it holds every lock the script takes (ACCESS EXCLUSIVE on each
altered table: reads and writes of production wait for the whole rehearsal), and some
effects are outside the transaction altogether, the way PostgreSQL defines them:

* sequences: ``nextval`` and ``setval`` are never rolled back (by design, so that
  concurrent transactions never wait on a sequence), neither are the values an INSERT
  draws for a serial or identity column;
* calls that act outside the transaction: ``dblink``/``dblink_exec`` (another session
  commits on its own), ``pg_terminate_backend``/``pg_cancel_backend``,
  ``pg_reload_conf``, session-level advisory locks (held until the session ends), server
  files written by ``COPY ... TO`` or ``lo_export``, programs run by ``COPY ... PROGRAM``.

:func:`irreversible_effects` finds these in a parsed :class:`Script`, inside DO blocks
too (their body is scanned for the same calls); calls hidden in functions the script
calls, or in dynamic SQL strings, cannot be seen statically.  :func:`rehearsal_locks`
reuses the lock analysis the preflight uses (:func:`script_relations`), so both report the same
lock for a table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
from pglast import ast, parse_sql, parser
from pglast.parser import ParseError

from spfp_console.engine import catalog
from spfp_console.engine.catalog import LockHolder
from spfp_console.engine.script_analysis import LOCK_EFFECT, LOCK_LEVELS, script_relations
from spfp_console.engine.script import Script, Statement
from spfp_console.events import ResultTable
from spfp_console.lean_dataclass import lean_dataclass

SEQUENCE_FUNCTIONS = frozenset({"nextval", "setval"})

OUTSIDE_TRANSACTION = {
    "dblink": "runs SQL in another session, which commits on its own",
    "dblink_exec": "runs SQL in another session, which commits on its own",
    "pg_terminate_backend": "ends another session",
    "pg_cancel_backend": "cancels another session's query",
    "pg_reload_conf": "reloads the server configuration",
    "pg_advisory_lock": "takes a session-level advisory lock, held after the rollback",
    "pg_advisory_lock_shared": "takes a session-level advisory lock, held after the rollback",
    "pg_try_advisory_lock": "takes a session-level advisory lock, held after the rollback",
    "pg_try_advisory_lock_shared": (
        "takes a session-level advisory lock, held after the rollback"
    ),
    "lo_export": "writes a file on the database server",
    "pg_file_write": "writes a file on the database server",
    "pg_switch_wal": "switches the server to a new WAL file",
    "pg_rotate_logfile": "rotates the server log",
    "pg_stat_reset": "resets statistics counters",
    "pg_stat_reset_shared": "resets statistics counters",
}
"""Functions whose effect a ROLLBACK does not undo, and what they do."""

_CALLS = SEQUENCE_FUNCTIONS | frozenset(OUTSIDE_TRANSACTION)


@lean_dataclass(frozen=True)
class IrreversibleEffect:
    """One thing a statement does that survives the rehearsal's ROLLBACK."""

    index: int
    """The statement (1-based, as in the run's events)."""
    file: str
    line: int
    call: str
    """What does it: ``setval``, ``INSERT``, ``COPY TO``, ``dblink_exec``..."""
    target: str | None
    """The sequence (or table, or file) it acts on, when the text names it."""
    effect: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def describe(self) -> str:
        on = f" {self.target}" if self.target else ""
        return f"{self.call}{on} ({self.effect}; statement {self.index} at {self.where})"


@lean_dataclass(frozen=True)
class RehearsalLock:
    relation: str
    """``schema.table``."""
    mode: str
    effect: str
    """What other sessions cannot do while it is held ("reads and writes wait")."""


def _func_name(node: ast.FuncCall) -> str:
    names = [getattr(n, "sval", "") for n in node.funcname or ()]
    return str(names[-1]).lower() if names else ""


def _string_arg(node: Any) -> str | None:
    """The literal text of a first argument like ``'public.s'`` or ``'s'::regclass``."""
    while isinstance(node, ast.TypeCast):
        node = node.arg
    if isinstance(node, ast.A_Const) and isinstance(node.val, ast.String):
        return str(node.val.sval)
    return None


def _sequence_effect(call: str) -> str:
    if call == "setval":
        return "sets the sequence; a rollback does not reset it"
    return "advances the sequence; a rollback does not take the values back"


def _statement_effects(stmt: Statement) -> list[tuple[str, str | None, str]]:
    """(call, target, effect) for one statement, in the order they appear."""
    try:
        raw = parse_sql(stmt.sql)
    except ParseError:
        return []
    found: list[tuple[str, str | None, str]] = []

    def walk(node: Any) -> None:
        if isinstance(node, (list, tuple)):
            for item in node:
                walk(item)
            return
        if not isinstance(node, ast.Node):
            return
        if isinstance(node, ast.FuncCall):
            name = _func_name(node)
            if name in SEQUENCE_FUNCTIONS:
                found.append((name, _string_arg((node.args or (None,))[0]),
                              _sequence_effect(name)))
            elif name in OUTSIDE_TRANSACTION:
                found.append((name, None, OUTSIDE_TRANSACTION[name]))
        elif isinstance(node, ast.CopyStmt) and not node.is_from and (
            node.filename or node.is_program
        ):
            if node.is_program:
                found.append(("COPY TO PROGRAM", node.filename, "runs a program on the "
                              "database server"))
            else:
                found.append(("COPY TO", node.filename, "writes a file on the database "
                              "server"))
        elif isinstance(node, ast.CopyStmt) and node.is_program:
            found.append(("COPY FROM PROGRAM", node.filename,
                          "runs a program on the database server"))
        elif isinstance(node, ast.DoStmt):
            found.extend(_do_block_effects(node))
        for slot in getattr(type(node), "__slots__", ()):
            walk(getattr(node, slot, None))

    for item in raw:
        walk(item.stmt)
    return found


def _do_block_effects(node: ast.DoStmt) -> list[tuple[str, str | None, str]]:
    """Calls in a DO block's body, found with the SQL scanner (comments and string
    literals are tokens of their own, so ``-- nextval(`` is not a call)."""
    body = next(
        (str(d.arg.sval) for d in node.args or ()
         if getattr(d, "defname", None) == "as" and isinstance(d.arg, ast.String)),
        None,
    )
    if body is None:
        return []
    try:
        tokens = [t for t in parser.scan(body) if t.name not in ("SQL_COMMENT", "C_COMMENT")]
    except ParseError:
        return []
    found: list[tuple[str, str | None, str]] = []
    for i, tok in enumerate(tokens[:-1]):
        word = body[tok.start:tok.end + 1].lower()
        if tok.name != "IDENT" or word not in _CALLS or tokens[i + 1].name != "ASCII_40":
            continue
        target = None
        if i + 2 < len(tokens) and tokens[i + 2].name == "SCONST":
            literal = body[tokens[i + 2].start:tokens[i + 2].end + 1]
            target = literal[1:-1].replace("''", "'") if literal.startswith("'") else None
        if word in SEQUENCE_FUNCTIONS:
            found.append((word, target, _sequence_effect(word) + " (in a DO block)"))
        else:
            found.append((word, None, OUTSIDE_TRANSACTION[word] + " (in a DO block)"))
    return found


def _insert_targets(stmt: Statement) -> list[tuple[str | None, str]]:
    try:
        raw = parse_sql(stmt.sql)
    except ParseError:
        return []
    targets: list[tuple[str | None, str]] = []
    for item in raw:
        if isinstance(item.stmt, ast.InsertStmt) and item.stmt.relation is not None:
            relation = item.stmt.relation
            targets.append((relation.schemaname, str(relation.relname)))
    return targets


def _sequence_backed(
    conn: psycopg.Connection[Any], schema: str | None, table: str, default_schema: str
) -> str | None:
    """The first sequence an INSERT into the table draws from, if it exists now."""
    row = conn.execute(
        "select pg_get_serial_sequence(format('%%I.%%I', n.nspname, c.relname), a.attname)"
        " from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped"
        " where n.nspname = %s and c.relname = %s"
        " and pg_get_serial_sequence(format('%%I.%%I', n.nspname, c.relname), a.attname)"
        " is not null order by a.attnum limit 1",
        (schema or default_schema, table),
    ).fetchone()
    return str(row[0]) if row else None


def irreversible_effects(
    script: Script,
    *,
    conn: psycopg.Connection[Any] | None = None,
    default_schema: str = "public",
) -> list[IrreversibleEffect]:
    """What the script does that a ROLLBACK leaves in place (see the module docstring).

    With ``conn`` (idle, autocommit), INSERTs into existing tables with a serial or
    identity column are listed too: they advance its sequence.  Only reads the catalog.
    """
    effects: list[IrreversibleEffect] = []
    for stmt in script.statements:
        if stmt.kind not in ("statement", "no_transaction"):
            continue
        for call, target, effect in _statement_effects(stmt):
            effects.append(IrreversibleEffect(stmt.index, stmt.file, stmt.line, call,
                                              target, effect))
        if conn is None:
            continue
        for schema, table in _insert_targets(stmt):
            sequence = _sequence_backed(conn, schema, table, default_schema)
            if sequence is not None:
                effects.append(IrreversibleEffect(
                    stmt.index, stmt.file, stmt.line, "INSERT", sequence,
                    f"draws values from the sequence of {schema or default_schema}.{table};"
                    " a rollback does not take them back"))
    return effects


def rehearsal_locks(path: Path, default_schema: str = "public") -> list[RehearsalLock]:
    """The locks a rehearsal of the script holds until it ends, strongest first.

    Only locks that make other sessions wait (stronger than ACCESS SHARE and ROW
    EXCLUSIVE, which plain reads and writes take themselves), on tables that exist before
    the script: the ones it creates are invisible to others until COMMIT.
    """
    relations = script_relations(path, default_schema)
    locks = [
        RehearsalLock(f"{schema}.{table}", mode, LOCK_EFFECT[mode])
        for (schema, table), mode in relations.locks.items()
        if mode in LOCK_EFFECT and (schema, table) not in relations.created
    ]
    locks.sort(key=lambda lock: (-LOCK_LEVELS.index(lock.mode), lock.relation))
    return locks


def lock_holders(
    conn: psycopg.Connection[Any], locks: list[RehearsalLock]
) -> list[LockHolder]:
    """Who holds or waits for a lock, right now, on the tables the rehearsal will lock.

    Any of them makes the rehearsal's first ALTER or CREATE INDEX on that table wait up
    to lock_timeout, and while it waits every later query on the table queues behind
    it: the lock preflight of a rehearsal, as ``check`` does for the migration.
    """
    return catalog.lock_holders(conn, [lock.relation for lock in locks])


def describe_irreversible(effects: list[IrreversibleEffect]) -> str:
    """One clause naming what a rollback cannot undo, for a run's final message."""
    return "; ".join(effect.describe() for effect in effects)


def rehearsal_warning_table(
    locks: list[RehearsalLock],
    effects: list[IrreversibleEffect],
    holders: list[LockHolder] | None = None,
) -> ResultTable:
    """What the operator should know before a rehearsal on a live database: the locks it
    holds for its whole duration, who holds a lock on those tables now (the rehearsal
    would queue behind them), and what its final ROLLBACK will not undo."""
    rows: list[tuple[str, ...]] = [
        (lock.relation, f"{lock.mode} lock until the rehearsal ends", lock.effect, "warn")
        for lock in locks
    ]
    rows.extend(
        (holder.relation, holder.describe(),
         "the rehearsal waits behind it up to lock_timeout, and every later query on the"
         " table waits behind the rehearsal", "warn")
        for holder in holders or ()
    )
    rows.extend(
        (effect.target or "-", f"{effect.call} at {effect.where}", effect.effect, "warn")
        for effect in effects
    )
    return ResultTable(
        title=(
            f"Before rehearsing: {len(locks)} table lock(s) held for the whole rehearsal, "
            + (f"{len(holders)} lock(s) other sessions hold on those tables now, "
               if holders else "")
            + f"{len(effects)} effect(s) a rollback cannot undo"
        ),
        source="rehearsal",
        columns=("object", "what", "effect", "status"),
        rows=tuple(rows),
        status_column="status",
        # Information before a choice, not a check: no PASS above rows that warn.
        passed=None,
    )
