"""Online mode's plan: which statements run together in a short transaction, and which
run alone outside one (each index, built CONCURRENTLY).

Pure (pglast only); :mod:`spfp_console.engine.online` executes the plan.

Why the engine rewrites the script instead of the runbook naming an online variant of it:
the reviewed file stays the one source of truth (its sha256 is in the deployment log, and
the lint and validation read the same statements), and a second file would drift from the
first the day someone edits one of them.  The rewrite is a single, mechanical change the
log shows verbatim: ``CREATE [UNIQUE] INDEX`` gains ``CONCURRENTLY`` (inserted after the
INDEX keyword, so lines and everything else stay as written).

Order is kept exactly: consecutive statements between two index builds form one
transaction; each index build is a step of its own.  A later statement can depend on an
earlier index (``ADD CONSTRAINT ... USING INDEX``, a foreign key on a unique index), so
the indexes are not moved to the end.  The price: the migration is no longer atomic; a
failure leaves the steps before it committed, and a re-run resumes only because every
statement of an online migration is idempotent (the lint's ``prefer-robust-stmts``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from pglast import ast, parser

from spfp_console.engine.script import Script, Statement

StepKind = Literal["transaction", "concurrent", "alone"]

ONLINE_INDEX_NOTE = "CREATE INDEX CONCURRENTLY (online mode): runs outside a transaction"


@dataclass(frozen=True)
class Step:
    """Statements the online executor runs as one unit."""

    kind: StepKind
    """``transaction``: the statements in one short transaction, retried whole on a lock
    timeout; ``concurrent``: one CREATE INDEX CONCURRENTLY in autocommit, INVALID
    leftovers dropped before a retry; ``alone``: another statement that cannot run in a
    transaction block (VACUUM, DROP INDEX CONCURRENTLY...), in autocommit."""
    statements: tuple[Statement, ...]
    index_name: str | None = None
    """For ``concurrent``: the index's name as written (None when the SQL names none)."""
    schema: str | None = None
    table: str | None = None


def online_statement(stmt: Statement) -> Statement:
    """``stmt`` as online mode sends it: a plain CREATE INDEX becomes CONCURRENTLY."""
    node = _parse(stmt)
    if not isinstance(node, ast.IndexStmt) or node.concurrent:
        return stmt
    sql = _insert_concurrently(stmt.sql)
    if sql is None:
        return stmt
    return dataclasses.replace(stmt, sql=sql, kind="no_transaction", note=ONLINE_INDEX_NOTE)


def online_statements(script: Script) -> tuple[Statement, ...]:
    """The statements online mode sends, in order (the script's BEGIN/COMMIT skipped)."""
    return tuple(
        online_statement(s) for s in script.statements if s.kind != "transaction_control"
    )


def online_plan(script: Script) -> tuple[Step, ...]:
    """The steps of ``script`` in online mode, in script order."""
    steps: list[Step] = []
    pending: list[Statement] = []

    def flush() -> None:
        if pending:
            steps.append(Step("transaction", tuple(pending)))
            pending.clear()

    for stmt in online_statements(script):
        node = _parse(stmt)
        if isinstance(node, ast.IndexStmt) and node.concurrent:
            flush()
            relation = node.relation
            steps.append(Step(
                "concurrent", (stmt,), index_name=node.idxname,
                schema=getattr(relation, "schemaname", None),
                table=getattr(relation, "relname", None),
            ))
        elif stmt.kind == "no_transaction":
            flush()
            steps.append(Step("alone", (stmt,)))
        else:
            pending.append(stmt)
    flush()
    return tuple(steps)


def _parse(stmt: Statement) -> Any:
    if stmt.kind == "syntax_error":
        return None
    try:
        raw = parser.parse_sql(stmt.sql)
    except parser.ParseError:
        return None
    return raw[0].stmt if len(raw) == 1 else None


def _insert_concurrently(sql: str) -> str | None:
    """Insert `` CONCURRENTLY`` after the INDEX keyword of a CREATE [UNIQUE] INDEX."""
    for token in parser.scan(sql):
        if token.name == "INDEX":
            at = token.end + 1
            return f"{sql[:at]} CONCURRENTLY{sql[at:]}"
        if token.name not in ("CREATE", "UNIQUE", "SQL_COMMENT", "C_COMMENT"):
            return None
    return None
