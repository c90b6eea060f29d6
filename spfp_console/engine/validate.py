"""Validation: does the database hold exactly what the runbook's checks expect?

``run_validation`` compares every check of the runbook with the catalog and returns one
row per check (check, expected, actual, status).  After a migration (``expect="applied"``)
an object must exist and match; after a rollback (``expect="absent"``) every object the
migration added must be gone, and objects it did not add (``added_by_migration=False``,
e.g. a trigger function the project may already have had) are reported as ``info``.

Statuses: ``pass``, ``fail``, ``warn`` (present but not as strictly expected, e.g. a view
with an extra column) and ``info`` (reported, never a failure).  A missing or wrong object
is a ``fail`` row, never an exception; errors about the connection itself propagate.

Also here: the paper's quick health query, an RLS probe of the audit table (the one check
that writes, inside a transaction that is always rolled back) and the plans of the
headline queries (which index each one uses).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Literal

import psycopg
from psycopg import sql

from spfp_console.engine import catalog
from spfp_console.engine.catalog import qualified, read_only
from spfp_console.engine.performance import (
    explain,
    likely_busiest_user,
    index_names_in_plan,
    query_params,
    scan_summary,
)
from spfp_console.errors import error_line
from spfp_console.events import Event, ResultTable
from spfp_console.runbook.model import Check, Runbook

Expect = Literal["applied", "absent"]
Row = tuple[str, str, str, str]

VIEW_PROBE_TIMEOUT = "30s"
"""How long ``SELECT * FROM view LIMIT 1`` may take: an aggregate view scans its whole
table, and validation must not hang on a large production table."""

COLUMNS = ("check", "expected", "actual", "status")


def run_validation(
    conn: psycopg.Connection,
    runbook: Runbook,
    *,
    expect: Expect = "applied",
    on_event: Callable[[Event], None] | None = None,
) -> ResultTable:
    """One row per runbook check, in runbook order.  Read-only."""
    if expect not in ("applied", "absent"):
        raise ValueError(f"expect must be 'applied' or 'absent', not {expect!r}")
    schema = runbook.settings.schema
    rows: list[Row] = []
    with read_only(conn):
        # The indexes, columns, relations and view columns (most of the checks) in four
        # queries, not one per check.
        reading = catalog.read_checks(conn, runbook.checks, schema)
        for check in runbook.checks:
            if expect == "applied":
                rows.append(_validate_applied(conn, check, reading))
            else:
                rows.append(_validate_absent(conn, check, reading))
    title = (
        f"Validation: {runbook.id} applied"
        if expect == "applied"
        else f"Validation after rollback: every object {runbook.id} added is gone"
    )
    table = ResultTable.checked(title=title, source="validation", columns=COLUMNS, rows=rows)
    if on_event is not None:
        on_event(table)
    return table


# --------------------------------------------------------------------------- applied


def _validate_applied(
    conn: psycopg.Connection, check: Check, reading: catalog.ChecksReading
) -> Row:
    validator = _APPLIED.get(check.kind)
    if validator is None:
        return (check.id, check.kind, f"unknown check kind {check.kind!r}", "fail")
    return validator(conn, check, reading)


def _index(conn: psycopg.Connection, check: Check, reading: catalog.ChecksReading) -> Row:
    return _index_row(check, reading.index(check))


def _index_row(check: Check, info: catalog.IndexInfo | None) -> Row:
    expected = check.definition or f"an index {check.name} on {check.table}"
    if info is None:
        return (check.id, expected, "missing", "fail")
    problems = []
    if check.table and info.table != check.table:
        problems.append(f"on table {info.table}, expected {check.table}")
    if check.definition and info.definition != check.definition:
        problems.append("definition differs")
    if check.kind == "unique_rule" and not info.unique:
        problems.append("not unique")
    if not info.valid:
        problems.append("INVALID (a failed concurrent build): the planner ignores it")
    if problems:
        return (
            check.id,
            expected,
            f"{info.definition} [{'; '.join(problems)}]",
            "fail",
        )
    return (check.id, expected, info.definition, "pass")


def _describe_column(
    data_type: str | None, nullable: bool | None, default: str | None
) -> str:
    parts = [data_type or "any type"]
    if nullable is not None:
        parts.append("NULL" if nullable else "NOT NULL")
    if default is not None:
        parts.append(f"DEFAULT {default}")
    return " ".join(parts)


def _column(conn: psycopg.Connection, check: Check, reading: catalog.ChecksReading) -> Row:
    expected = _describe_column(check.data_type, check.nullable, check.default)
    label = f"{check.table}.{check.name}"
    info = reading.column(check)
    if info is None:
        return (check.id, expected, f"{label} missing", "fail")
    actual = _describe_column(info.data_type, info.nullable, info.default)
    problems = []
    if check.data_type is not None and info.data_type != check.data_type:
        problems.append("type")
    if check.nullable is not None and info.nullable != check.nullable:
        problems.append("nullability")
    if check.default is not None and info.default != check.default:
        problems.append("default")
    if problems:
        return (check.id, expected, f"{actual} [{', '.join(problems)} differ]", "fail")
    return (check.id, expected, actual, "pass")


def _view(conn: psycopg.Connection, check: Check, reading: catalog.ChecksReading) -> Row:
    schema = reading.schema
    expected = (
        f"view ({len(check.columns)} columns: {', '.join(check.columns)}); SELECT runs"
    )
    kind = reading.relation_kind(check)
    if kind is None:
        return (check.id, expected, "missing", "fail")
    if kind not in ("v", "m"):
        return (
            check.id,
            expected,
            f"{check.name} exists but is not a view (relkind {kind})",
            "fail",
        )
    actual_columns = reading.view_columns.get(check.name, [])
    missing = [c for c in check.columns if c not in actual_columns]
    extra = [c for c in actual_columns if c not in check.columns]
    probe = _probe_select(conn, schema, check.name)
    notes = []
    status = "pass"
    if missing:
        notes.append(f"missing columns: {', '.join(missing)}")
        status = "fail"
    if probe is not None:
        notes.append(f"SELECT failed: {probe}")
        status = "fail"
    if extra:
        notes.append(f"extra columns: {', '.join(extra)}")
        status = "warn" if status == "pass" else status
    if not missing and not extra and actual_columns != list(check.columns):
        notes.append("columns in a different order")
        status = "warn" if status == "pass" else status
    actual = f"view ({len(actual_columns)} columns)"
    actual += "; " + "; ".join(notes) if notes else "; SELECT ok"
    return (check.id, expected, actual, status)


def _probe_select(conn: psycopg.Connection, schema: str, name: str) -> str | None:
    """Run ``SELECT`` of the view's first row in a savepoint; the error text, or None if
    ok."""
    try:
        with conn.transaction():
            conn.execute(
                sql.SQL("SET LOCAL statement_timeout = {}").format(
                    sql.Literal(VIEW_PROBE_TIMEOUT)
                )
            )
            # The whole row as text: every column is still computed, but the client
            # decodes one text value (decoding a uuid column imports uuid and platform,
            # a cost every run would pay for a probe that only asks "does it run?").
            conn.execute(
                sql.SQL("SELECT probed::text FROM {} AS probed LIMIT 1").format(
                    qualified(schema, name))
            )
    except psycopg.Error as exc:
        if conn.broken:
            raise
        return error_line(exc)
    return None


def _table(
    conn: psycopg.Connection, check: Check, reading: catalog.ChecksReading
) -> Row:
    schema = reading.schema
    expected = "table" + (
        "" if check.rls is None else ", RLS enabled" if check.rls else ", RLS disabled"
    )
    rls = catalog.rls_enabled(conn, schema, check.name)
    if rls is None:
        return (check.id, expected, "missing", "fail")
    actual = "table, RLS enabled" if rls else "table, RLS disabled"
    if check.rls is not None and rls != check.rls:
        return (check.id, expected, actual, "fail")
    return (check.id, expected, actual, "pass")


def _describe_policy(command: str | None, using: str | None) -> str:
    text = f"FOR {command or 'any command'}"
    if using is not None:
        text += f" USING {using}"
    return text


def _policy(
    conn: psycopg.Connection, check: Check, reading: catalog.ChecksReading
) -> Row:
    schema = reading.schema
    expected = f"on {check.table} " + _describe_policy(check.command, check.using)
    info = catalog.policy_info(conn, schema, check.table or "", check.name)
    if info is None:
        return (check.id, expected, "missing", "fail")
    actual = f"on {check.table} " + _describe_policy(info.command, info.using)
    problems = []
    if check.command is not None and info.command.upper() != check.command.upper():
        problems.append("command")
    if check.using is not None and info.using != check.using:
        problems.append("USING expression")
    if problems:
        return (check.id, expected, f"{actual} [{', '.join(problems)} differ]", "fail")
    return (check.id, expected, actual, "pass")


def _function(
    conn: psycopg.Connection, check: Check, reading: catalog.ChecksReading
) -> Row:
    schema = reading.schema
    expected = f"{check.name}() returns {check.returns or 'anything'}"
    returns = catalog.function_returns(conn, schema, check.name)
    if not returns:
        return (check.id, expected, "missing", "fail")
    actual = f"{check.name}() returns {' | '.join(returns)}"
    if check.returns is not None and check.returns not in returns:
        return (check.id, expected, actual, "fail")
    return (check.id, expected, actual, "pass")


def _trigger(
    conn: psycopg.Connection, check: Check, reading: catalog.ChecksReading
) -> Row:
    schema = reading.schema
    expected = (
        f"on {check.table}, executes {check.function or 'any function'}(), enabled"
    )
    info = catalog.trigger_info(conn, schema, check.table or "", check.name)
    if info is None:
        return (check.id, expected, "missing", "fail")
    actual = f"on {info.table}, executes {info.function}(), " + (
        "enabled" if info.enabled else "DISABLED"
    )
    if (
        check.function is not None and info.function != check.function
    ) or not info.enabled:
        return (check.id, expected, actual, "fail")
    return (check.id, expected, actual, "pass")


_APPLIED: dict[str, Callable[[psycopg.Connection, Check, catalog.ChecksReading], Row]] = {
    "index": _index,
    "unique_rule": _index,
    "column": _column,
    "view": _view,
    "table": _table,
    "policy": _policy,
    "function": _function,
    "trigger": _trigger,
}


# --------------------------------------------------------------------------- absent


def _validate_absent(
    conn: psycopg.Connection, check: Check, reading: catalog.ChecksReading
) -> Row:
    exists = reading.exists(conn, check)
    what = _object_label(check)
    if not check.added_by_migration:
        actual = (
            f"{what} present (not added by the migration: the rollback leaves it)"
            if exists
            else f"{what} absent (the migration had created it; the rollback dropped it)"
        )
        return (check.id, "left as the migration found it", actual, "info")
    if exists:
        return (check.id, "absent", f"{what} still present", "fail")
    return (check.id, "absent", "absent", "pass")


def _object_label(check: Check) -> str:
    if check.kind == "column":
        return f"column {check.table}.{check.name}"
    if check.table and check.kind in ("index", "unique_rule", "policy", "trigger"):
        return f"{check.kind} {check.name} on {check.table}"
    return f"{check.kind} {check.name}"


# --------------------------------------------------------------------------- quick health


def run_quick_health_check(
    conn: psycopg.Connection, schema: str = "public"
) -> ResultTable:
    """The paper runbook's "quick health check": how many idx_* indexes and views exist.

    The paper's query counts every index whose name starts with ``idx_``, so indexes the
    base schema already had are included: compare it with validation, not with a claim.
    """
    with read_only(conn):
        row = conn.execute(
            r"SELECT (SELECT count(*) FROM pg_indexes"
            r"         WHERE schemaname = %(s)s AND indexname LIKE 'idx\_%%'),"
            r"       (SELECT count(*) FROM pg_views WHERE schemaname = %(s)s)",
            {"s": schema},
        ).fetchone()
    assert row is not None
    return ResultTable(
        title=f"Quick health check (schema {schema})",
        source="validation",
        columns=("measure", "value", "note"),
        rows=(
            (
                "indexes named idx_*",
                str(row[0]),
                "includes idx_* indexes that existed before the migration",
            ),
            ("views", str(row[1]), "every view in the schema"),
        ),
    )


# --------------------------------------------------------------------------- RLS probe


def check_audit_rls(
    conn: psycopg.Connection,
    *,
    schema: str = "public",
    table: str = "automation_permissions_audit",
    role: str = "authenticated",
) -> ResultTable:
    """Prove the audit table's RLS: a signed-in user sees only their own rows.

    This check writes: inside one transaction it creates two users (auth.users and
    automation_permissions rows) and audit rows for each as the connected (owner) role,
    then switches to ``role`` with a JWT whose ``sub`` is user A, counts what is visible
    and tries to write; the transaction is always rolled back, so nothing stays.  It needs
    the right to insert into auth.users and to ``SET ROLE``; where that is refused the
    check reports a fail row with the server's message.
    """
    title = f"RLS: a user sees only their own {table} rows"
    columns = COLUMNS
    with read_only(conn):
        exists = catalog.table_exists(conn, schema, table)
        has_role = (
            conn.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)
            ).fetchone()
            is not None
        )
    if not exists or not has_role:
        missing = f"table {schema}.{table}" if not exists else f"role {role}"
        rows: list[Row] = [("RLS probe", "runs", f"{missing} does not exist", "fail")]
    else:
        try:
            with conn.transaction(force_rollback=True):
                rows = _rls_probe(conn, schema, table, role)
        except psycopg.Error as exc:
            if conn.broken:
                raise
            rows = [("RLS probe", "runs", f"could not run: {error_line(exc)}", "fail")]
    return ResultTable.checked(title=title, source="validation", columns=columns, rows=rows)


def _random_uuid() -> str:
    """A random uuid for the probe's throwaway users (not the uuid module: it imports
    platform, a cost every headless start would pay)."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _rls_probe(
    conn: psycopg.Connection, schema: str, table: str, role: str
) -> list[Row]:
    audit = qualified(schema, table)
    user_a, user_b = _random_uuid(), _random_uuid()
    per_user = {user_a: 2, user_b: 1}
    for uid, count in per_user.items():
        conn.execute("INSERT INTO auth.users (id) VALUES (%s)", (uid,))
        conn.execute(
            sql.SQL("INSERT INTO {} (user_id) VALUES (%s)").format(
                qualified(schema, "automation_permissions")
            ),
            (uid,),
        )
        for _ in range(count):
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (user_id, changed_by, change_type)"
                    " VALUES (%s, 'spfp-console rls probe', 'enabled')"
                ).format(audit),
                (uid,),
            )

    conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
    conn.execute(
        "SELECT set_config('request.jwt.claims', %s, true)",
        (json.dumps({"sub": user_a, "role": role}),),
    )
    visible: dict[str, int] = dict(
        conn.execute(
            sql.SQL("SELECT user_id::text, count(*) FROM {} GROUP BY 1").format(audit)
        ).fetchall()
    )
    seen_a = int(visible.get(user_a, 0))
    seen_b = int(visible.get(user_b, 0))
    others = sum(int(n) for uid, n in visible.items() if uid not in per_user)
    rows: list[Row] = [
        (
            "user A sees own audit rows",
            str(per_user[user_a]),
            str(seen_a),
            "pass" if seen_a == per_user[user_a] else "fail",
        ),
        (
            "user A sees user B's audit rows",
            "0",
            str(seen_b),
            "pass" if seen_b == 0 else "fail",
        ),
        (
            "user A sees other users' audit rows",
            "0",
            str(others),
            "pass" if others == 0 else "fail",
        ),
    ]

    try:
        with conn.transaction():
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (user_id, changed_by, change_type)"
                    " VALUES (%s, 'spfp-console rls probe', 'enabled')"
                ).format(audit),
                (user_a,),
            )
        rows.append(("user A writes an audit row", "refused", "accepted", "fail"))
    except psycopg.errors.InsufficientPrivilege as exc:
        rows.append(
            (
                "user A writes an audit row",
                "refused",
                f"refused: {error_line(exc)}",
                "pass",
            )
        )

    conn.execute("SELECT set_config('request.jwt.claims', '', true)")
    anonymous = conn.execute(
        sql.SQL("SELECT count(*) FROM {}").format(audit)
    ).fetchone()
    n_anon = int(anonymous[0]) if anonymous else 0
    rows.append(
        ("no JWT sees audit rows", "0", str(n_anon), "pass" if n_anon == 0 else "fail")
    )
    return rows


# --------------------------------------------------------------------------- plans


def explain_headline_queries(
    conn: psycopg.Connection, runbook: Runbook, user_id: str | None = None
) -> ResultTable:
    """``EXPLAIN (FORMAT JSON)`` of each headline query: which index does it use?

    The parameters are the busiest user of the query's table (or ``user_id``) and the
    server's current date.  pass: the expected index is used; warn: it is not (on small
    tables a sequential scan is the planner's right choice, so this is not a failure);
    fail: the query does not run.  Statistics must be current (ANALYZE) for a fair plan.
    """
    schema = runbook.settings.schema
    rows: list[tuple[str, ...]] = []
    users: dict[str, str | None] = {}
    with read_only(conn):
        today = conn.execute("SELECT current_date").fetchone()[0]  # type: ignore[index]
        for query in runbook.queries:
            # The statistics name a representative user without a scan; a table never
            # analyzed (small, new) is scanned instead.  Headline queries share tables:
            # each is looked up once.
            if query.user_table not in users:
                users[query.user_table] = likely_busiest_user(conn, schema, query.user_table)
            params = query_params(conn, query, schema, user_id=user_id or users[query.user_table],
                                  today=today)
            try:
                with conn.transaction():
                    plan = explain(conn, query.sql, params, analyze=False)
            except psycopg.Error as exc:
                if conn.broken:
                    raise
                rows.append(
                    (query.id, query.expected_index, f"error: {error_line(exc)}", "fail")
                )
                continue
            used = index_names_in_plan(plan)
            shown = (
                ", ".join(used)
                if used
                else "none (" + "; ".join(scan_summary(plan)) + ")"
            )
            status = "pass" if query.expected_index in used else "warn"
            rows.append((query.id, query.expected_index, shown, status))
    return ResultTable.checked(
        title="Headline queries: the index each plan uses (EXPLAIN)",
        source="validation",
        columns=("query", "expected index", "indexes used", "status"),
        rows=rows,
    )


def run_full_validation(
    conn: psycopg.Connection,
    runbook: Runbook,
    *,
    on_event: Callable[[Event], None] | None = None,
) -> list[ResultTable]:
    """Everything validation shows after a run: the checks, the RLS probe, the plans."""
    tables = [
        run_validation(conn, runbook),
        check_audit_rls(conn, schema=runbook.settings.schema),
        explain_headline_queries(conn, runbook),
    ]
    if on_event is not None:
        for table in tables:
            on_event(table)
    return tables
