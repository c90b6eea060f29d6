"""Preflight: what a DBA needs to know before pressing Run.  Read-only.

It answers, from the target database and the runbook:

- server: version against the runbook's minimum, a standby or read-only default (both
  blockers), and the settings that shape a migration run (timeouts, index build memory
  and workers);
- privileges: which role we are, CREATE on the schema, ownership of every table the script
  alters, indexes or puts a trigger/policy on, REFERENCES on every table a new foreign key
  points to (all derived from the migration script itself, parsed with pglast);
- trigger functions: present, or missing but created by the script, or missing (blocker);
- uniqueness rules: the rows that would make each new unique index fail (blocker);
- other sessions: long or idle-in-transaction transactions, and locks held on the tables
  the script touches (warnings: the run would wait behind them up to ``lock_timeout``);
- sizes: each touched table's size and a rough estimate of the index build time;
- current state: for every check, whether its object exists, hence not applied / applied
  / partially applied.

Every query runs in one READ ONLY transaction that is rolled back.  The duplicate search
reads the two tables with a GROUP BY (a full scan of each: the one check whose cost grows
with the data, so its row says how many rows it read and how long it took); everything
else reads only the catalog and the statistics views.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import field
from pathlib import Path
from typing import Any, Literal

import psycopg
from pglast import ast, parse_sql
from pglast.stream import RawStream
from psycopg import sql

from spfp_console.engine import catalog
from spfp_console.engine.catalog import qualified, read_only
from spfp_console.engine.executor import OnlinePolicy
from spfp_console.engine.script_analysis import (
    LOCK_EFFECT,
    ScriptRelations,
    script_creates_function,
    script_relations,
)
from spfp_console.errors import error_line
from spfp_console.events import Event, Finding, ResultTable
from spfp_console.lean_dataclass import lean_dataclass
from spfp_console.runbook.model import Check, Runbook

State = Literal["not_applied", "applied", "partial"]

INDEX_BUILD_MB_PER_S = 50.0
"""The index build estimate assumes a btree build reads and sorts the table's heap at
about 50 MB/s per index: a deliberately conservative figure for a cloud disk with the
default maintenance_work_mem.  It is an estimate, not a measurement (measuring would mean
building an index on production); rehearse on a copy for a real number."""

LONG_TRANSACTION = "5 minutes"
"""Transactions open longer than this are reported (idle-in-transaction ones always)."""

MAX_DUPLICATE_GROUPS = 200
"""Duplicate groups listed per rule; the count line says how many there are in all."""

SETTINGS = (
    ("lock_timeout", "how long a statement waits for a lock before failing"),
    ("statement_timeout", "how long a statement may run"),
    ("maintenance_work_mem", "memory each index build sorts in; larger builds faster"),
    ("max_parallel_maintenance_workers", "parallel workers per index build"),
    ("idle_in_transaction_session_timeout", "0 = idle transactions are never ended"),
)


@lean_dataclass(frozen=True)
class DuplicateGroup:
    """Rows sharing one key of a uniqueness rule: the new unique index would fail."""

    key: tuple[str, ...]
    count: int
    labels: tuple[str, ...]
    """The rows' ``name`` (or ``id`` when the table has no name column)."""


@lean_dataclass
class PreflightReport:
    tables: list[ResultTable] = field(default_factory=list)
    state: State = "not_applied"
    blockers: list[str] = field(default_factory=list)
    """Why the migration must not run now; empty when it may."""
    warnings: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    """Ids of the checks whose object exists already."""
    absent: list[str] = field(default_factory=list)
    duplicates: dict[str, list[DuplicateGroup]] = field(default_factory=dict)
    """Per uniqueness rule (index name): the groups of rows that violate it."""
    trigger_functions: dict[str, str] = field(default_factory=dict)
    """Per trigger function: "present", "created by the migration" or "missing"."""

    @property
    def passed(self) -> bool:
        return not self.blockers


# --------------------------------------------------------------------------- entry point


def finding(source: str, section: str, severity: str, text: str) -> Finding:
    """A finding from a check's one-line message: what is wrong; what to do about it.

    Messages put their advice after the last "; ", so the advice stands on its own.
    """
    message, sep, advice = text.rpartition("; ")
    if not sep:
        message, advice = text, ""
    return Finding(source=source, section=section, severity=severity, message=message,
                   advice=advice or None)


def run_preflight(
    conn: psycopg.Connection,
    runbook: Runbook,
    *,
    on_event: Callable[[Event], None] | None = None,
    online: bool | None = None,
) -> PreflightReport:
    """``online``: describe the run online mode makes (short lock_timeout per statement,
    retried; indexes built concurrently); None follows the runbook's ``execution_mode``."""
    if online is None:
        online = runbook.settings.execution_mode == "online"
    report = PreflightReport()
    schema = runbook.settings.schema
    script = runbook.script("migration")
    relations = script_relations(script, schema)
    lock_timeout = runbook.settings.lock_timeout
    with read_only(conn, lock_timeout=lock_timeout):
        for title, section in (
            ("server and settings", lambda: _server(conn, runbook, report, online)),
            ("privileges", lambda: _privileges(conn, runbook, relations, report)),
            ("trigger functions",
             lambda: _trigger_functions(conn, runbook, script, report)),
            ("uniqueness rules", lambda: _uniqueness(conn, runbook, report)),
            ("other sessions",
             lambda: _sessions(conn, runbook, relations, report, online)),
            ("table sizes", lambda: _sizes(conn, runbook, relations, report, online)),
            ("current state", lambda: _state(conn, runbook, report)),
        ):
            # A section that waits lock_timeout for a lock becomes a blocker, and the
            # others still run: the report then shows who holds the lock.
            tables, blockers, warnings = (len(report.tables), len(report.blockers),
                                          len(report.warnings))
            try:
                with conn.transaction():
                    section()
            except psycopg.errors.LockNotAvailable:
                report.blockers.append(
                    f"{title}: another session holds a lock on a table the migration"
                    f" touches (waited {lock_timeout}), and the run would wait behind it"
                    " too; see 'Other sessions' for who holds it"
                )
            # Each section's findings and tables go out as it finishes: a long duplicate
            # scan must not leave the operator looking at nothing.
            if on_event is not None:
                for text in report.blockers[blockers:]:
                    on_event(finding("preflight", title, "blocker", text))
                for text in report.warnings[warnings:]:
                    on_event(finding("preflight", title, "warning", text))
                for table in report.tables[tables:]:
                    on_event(table)
    return report


def _table(
    report: PreflightReport,
    title: str,
    columns: tuple[str, ...],
    rows: Iterable[tuple[str, ...]],
    *,
    status_column: str | None = "status",
) -> ResultTable:
    table = ResultTable.checked(title=title, source="preflight", columns=columns, rows=rows,
                                status_column=status_column)
    report.tables.append(table)
    return table


# --------------------------------------------------------------------------- server


def run_lock_timeout(runbook: Runbook, online: bool) -> str:
    """How long the run's statements wait for a lock, as the preflight says it."""
    settings = runbook.settings
    if not online:
        return f"the console sets {settings.lock_timeout} for the run"
    return (f"online: each DDL statement waits at most {settings.online_lock_timeout},"
            f" then retries with backoff (up to {OnlinePolicy.max_attempts} attempts);"
            f" concurrent index builds wait up to {settings.lock_timeout}")


def _server(
    conn: psycopg.Connection, runbook: Runbook, report: PreflightReport, online: bool = False
) -> None:
    version, version_num, in_recovery, read_only_default = conn.execute(
        "SELECT current_setting('server_version'), current_setting('server_version_num')::int,"
        "       pg_is_in_recovery(), current_setting('default_transaction_read_only')"
    ).fetchone()  # type: ignore[misc]
    minimum = runbook.settings.min_server_version_num
    rows: list[tuple[str, str, str, str]] = []
    ok = version_num >= minimum
    rows.append(
        (
            "server version",
            f"{version} ({version_num})",
            f">= {minimum}",
            "pass" if ok else "fail",
        )
    )
    if not ok:
        report.blockers.append(
            f"server version {version_num} is older than the runbook's minimum {minimum}:"
            " the migration's SQL is written for that version or later"
        )
    rows.append(
        (
            "primary (not a standby)",
            "standby" if in_recovery else "primary",
            "primary",
            "fail" if in_recovery else "pass",
        )
    )
    if in_recovery:
        report.blockers.append(
            "the server is a read-only standby; connect to the primary to run the migration"
        )
    rows.append(
        (
            "default_transaction_read_only",
            read_only_default,
            "off",
            "fail" if read_only_default == "on" else "pass",
        )
    )
    if read_only_default == "on":
        report.blockers.append(
            "default_transaction_read_only is on for this session, every write would be"
            " refused; connect with a role/database where it is off"
        )
    run_values = {
        "lock_timeout": run_lock_timeout(runbook, online),
        "statement_timeout":
            f"the console sets {runbook.settings.statement_timeout} for the run",
    }
    values = conn.execute(
        "SELECT " + ", ".join("current_setting(%s)" for _ in SETTINGS),
        [setting for setting, _ in SETTINGS],
    ).fetchone()
    assert values is not None
    for (setting, meaning), value in zip(SETTINGS, values):
        rows.append((setting, str(value), run_values.get(setting, meaning), "info"))
    _table(
        report, "Server and settings", ("check", "value", "expected", "status"), rows
    )


# --------------------------------------------------------------------------- privileges


def _yes_no_check(
    rows: list[tuple[str, str, str, str]], report: PreflightReport, check: str, ok: bool,
    blocker: str,
) -> None:
    """A privilege that must be "yes": a row, and a blocker when it is not."""
    rows.append((check, "yes" if ok else "no", "yes", "pass" if ok else "fail"))
    if not ok:
        report.blockers.append(blocker)


def _privileges(
    conn: psycopg.Connection,
    runbook: Runbook,
    rel: ScriptRelations,
    report: PreflightReport,
) -> None:
    schema = runbook.settings.schema
    user, superuser = conn.execute(
        "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user"
    ).fetchone()  # type: ignore[misc]
    rows: list[tuple[str, str, str, str]] = [
        (
            "connected as",
            str(user),
            "owner of the touched tables, or a superuser",
            "info",
        ),
        ("superuser", "yes" if superuser else "no", "not required", "info"),
    ]
    if rel.error:
        rows.append(("migration script parsed", rel.error, "parses", "warn"))
        report.warnings.append(
            f"could not parse the migration to list its tables: {rel.error}"
        )

    schemas = sorted({s for s, _ in rel.created} | {schema})
    for s in schemas:
        can_create = (
            _scalar(conn, "SELECT has_schema_privilege(%s, 'CREATE')", (s,))
            if _schema_exists(conn, s)
            else False
        )  # type: ignore[index]
        _yes_no_check(
            rows, report, f"CREATE on schema {s}", bool(can_create),
            f"{user} may not CREATE in schema {s}: the migration creates indexes,"
            f" views, a table and functions there; GRANT CREATE ON SCHEMA {s} TO {user}"
            " or connect as its owner",
        )

    owned = sorted(rel.owned) or sorted(
        {(schema, c.table) for c in runbook.checks if c.table}
    )
    for s, t in owned:
        created = rel.created | {(schema, c.name) for c in runbook.checks_of("table")}
        if (s, t) in created and not catalog.table_exists(conn, s, t):
            continue  # the migration creates it, so it will own it
        row = conn.execute(
            "SELECT pg_get_userbyid(c.relowner), pg_has_role(c.relowner, 'USAGE')"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = %s",
            (s, t),
        ).fetchone()
        if row is None:
            rows.append((f"owner of {s}.{t}", "table missing", "exists", "fail"))
            report.blockers.append(
                f"table {s}.{t} does not exist: the migration alters or indexes it;"
                " is this the right database?"
            )
            continue
        owner, is_member = row
        ok = bool(superuser or is_member)
        rows.append(
            (
                f"owner of {s}.{t}",
                str(owner),
                f"{user} or a role it belongs to",
                "pass" if ok else "fail",
            )
        )
        if not ok:
            report.blockers.append(
                f"{s}.{t} is owned by {owner}, not {user}: ALTER TABLE / CREATE INDEX on it"
                f" would be refused; connect as {owner} (or a member of that role)"
            )

    for s, t in sorted(rel.referenced):
        exists = catalog.table_exists(conn, s, t)
        if not exists:
            if (s, t) in rel.created:
                continue
            rows.append((f"REFERENCES on {s}.{t}", "table missing", "yes", "fail"))
            report.blockers.append(
                f"table {s}.{t} does not exist: a foreign key of the migration points to it"
            )
            continue
        ok = conn.execute(
            "SELECT has_schema_privilege(%s, 'USAGE')"
            " AND has_table_privilege(format('%%I.%%I', %s::text, %s::text), 'REFERENCES')",
            (s, s, t),
        ).fetchone()[0]  # type: ignore[index]
        _yes_no_check(
            rows, report, f"REFERENCES on {s}.{t}", bool(ok),
            f"{user} lacks REFERENCES on {s}.{t} (or USAGE on schema {s}): the"
            f" migration's foreign key to it would be refused",
        )
    _table(report, "Privileges", ("check", "value", "expected", "status"), rows)


def _scalar(conn: psycopg.Connection, query: str, params: tuple[Any, ...] = ()) -> Any:
    row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
    return None if row is None else row[0]


def _schema_exists(conn: psycopg.Connection, schema: str) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)
        ).fetchone()
        is not None
    )


# --------------------------------------------------------------------------- trigger functions


def _trigger_functions(
    conn: psycopg.Connection, runbook: Runbook, script: Path, report: PreflightReport
) -> None:
    schema = runbook.settings.schema
    names: list[str] = []
    for check in runbook.checks:
        if check.kind == "trigger" and check.function and check.function not in names:
            names.append(check.function)
    rows: list[tuple[str, str, str]] = []
    for name in names:
        present = bool(catalog.function_returns(conn, schema, name))
        if present:
            state, text, status = (
                "present",
                "present (the migration leaves it alone)",
                "pass",
            )
        elif script_creates_function(script, name):
            state, text, status = (
                "created by the migration",
                "missing — the migration creates it",
                "pass",
            )
        else:
            state, text, status = (
                "missing",
                "missing — and the migration does not create it",
                "fail",
            )
            report.blockers.append(
                f"trigger function {schema}.{name}() does not exist and the migration does"
                " not create it: the CREATE TRIGGER would fail; create the function first"
            )
        report.trigger_functions[name] = state
        rows.append((f"{name}()", text, status))
    _table(report, "Trigger functions", ("function", "state", "status"), rows)


# --------------------------------------------------------------------------- uniqueness


@lean_dataclass(frozen=True)
class _Rule:
    table_schema: str
    table: str
    keys: tuple[str, ...]
    headers: tuple[str, ...]
    predicate: str | None
    nulls_not_distinct: bool


def _parse_rule(check: Check, default_schema: str) -> _Rule:
    if not check.definition:
        raise ValueError(f"{check.id}: no definition to derive the key from")
    stmt = parse_sql(check.definition)[0].stmt
    if not isinstance(stmt, ast.IndexStmt):
        raise ValueError(f"{check.id}: the definition is not a CREATE INDEX")  # noqa: TRY004
    relation: Any = stmt.relation
    stream = RawStream()
    keys: list[str] = []
    for elem in stmt.indexParams or ():
        if elem.name:
            keys.append(str(sql.Identifier(elem.name).as_string(None)))
        else:
            keys.append(f"({stream(elem.expr)})")
    headers = tuple(_header(k) for k in keys)
    predicate = stream(stmt.whereClause) if stmt.whereClause is not None else None
    return _Rule(
        table_schema=str(relation.schemaname or default_schema),
        table=str(relation.relname),
        keys=tuple(keys),
        headers=headers,
        predicate=predicate,
        nulls_not_distinct=bool(getattr(stmt, "nulls_not_distinct", False)),
    )


def _header(key: str) -> str:
    text = key.strip()
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
    text = re.sub(r"CAST\((\w+) AS [\w ]+\)", r"\1", text)
    return text.strip('"')


def find_duplicates(
    conn: psycopg.Connection, check: Check, default_schema: str = "public"
) -> tuple[tuple[str, ...], list[DuplicateGroup], int]:
    """The rows that would make a uniqueness rule's CREATE UNIQUE INDEX fail.

    Returns (key headers, the first MAX_DUPLICATE_GROUPS groups, the number of groups).
    The query is derived from the index definition: same keys, same predicate, and rows
    with a NULL key left out (a unique index lets NULLs repeat unless NULLS NOT DISTINCT).
    """
    rule = _parse_rule(check, default_schema)
    columns = catalog.column_names(conn, rule.table_schema, rule.table)
    label = "name" if "name" in columns else "id"
    key_list = sql.SQL(", ").join(sql.SQL(k) for k in rule.keys)  # type: ignore[arg-type]
    conditions: list[sql.Composable] = []
    if rule.predicate:
        conditions.append(sql.SQL("(" + rule.predicate + ")"))  # type: ignore[arg-type]
    if not rule.nulls_not_distinct:
        conditions.extend(sql.SQL(k + " IS NOT NULL") for k in rule.keys)  # type: ignore[arg-type]
    where = (
        sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions)
        if conditions
        else sql.SQL("")
    )
    text_keys = sql.SQL(", ").join(
        sql.SQL("({})::text").format(sql.SQL(k))
        for k in rule.keys  # type: ignore[arg-type]
    )
    query = sql.SQL(
        "SELECT {text_keys}, count(*) AS n,"
        " array_agg(coalesce({label}::text, '') ORDER BY {label}) AS labels,"
        " count(*) OVER () AS groups"
        " FROM {table}{where} GROUP BY {keys} HAVING count(*) > 1"
        " ORDER BY n DESC, {keys} LIMIT {limit}"
    ).format(
        text_keys=text_keys,
        label=sql.Identifier(label),
        table=qualified(rule.table_schema, rule.table),
        where=where,
        keys=key_list,
        limit=sql.Literal(MAX_DUPLICATE_GROUPS),
    )
    groups: list[DuplicateGroup] = []
    total = 0
    n_keys = len(rule.keys)
    for row in conn.execute(query).fetchall():
        key = tuple("" if v is None else str(v) for v in row[:n_keys])
        groups.append(DuplicateGroup(key, int(row[n_keys]), tuple(row[n_keys + 1])))
        total = int(row[n_keys + 2])
    return rule.headers, groups, total


def _uniqueness(
    conn: psycopg.Connection, runbook: Runbook, report: PreflightReport
) -> None:
    schema = runbook.settings.schema
    summary: list[tuple[str, str, str, str, str]] = []
    details: list[tuple[str, tuple[str, ...], list[DuplicateGroup], int, Check]] = []
    for check in runbook.checks_of("unique_rule"):
        existing = catalog.index_info(conn, schema, check.name)
        if existing is not None and existing.unique and existing.valid:
            report.duplicates[check.name] = []
            summary.append(
                (
                    check.name,
                    check.table or "",
                    "0",
                    "enforced by the existing unique index",
                    "pass",
                )
            )
            continue
        try:
            with conn.transaction():
                started = time.perf_counter()
                headers, groups, total = find_duplicates(conn, check, schema)
                scanned = _scanned(conn, schema, check, time.perf_counter() - started)
        except (psycopg.Error, ValueError) as exc:
            if isinstance(exc, psycopg.errors.LockNotAvailable) or (
                isinstance(exc, psycopg.Error) and conn.broken
            ):
                raise
            text = error_line(exc) if isinstance(exc, psycopg.Error) else str(exc)
            summary.append(
                (check.name, check.table or "", "?", f"could not check: {text}", "warn")
            )
            report.warnings.append(
                f"{check.name}: duplicates could not be checked: {text}"
            )
            continue
        report.duplicates[check.name] = groups
        if groups:
            rows_involved = sum(g.count for g in groups)
            summary.append(
                (
                    check.name,
                    check.table or "",
                    str(total),
                    f"{rows_involved} rows share a key; {scanned}",
                    "fail",
                )
            )
            report.blockers.append(
                f"{check.name}: {total} group(s) of rows in {check.table} share a key"
                f" ({scanned}); the unique index would fail; merge or rename them first"
                " (listed in the preflight)"
            )
            details.append((check.name, headers, groups, total, check))
        else:
            summary.append(
                (check.name, check.table or "", "0", f"no duplicates; {scanned}", "pass")
            )
    _table(
        report,
        "Uniqueness rules: existing rows that would violate them (the one check that"
        " reads the tables' rows, not only the catalog)",
        ("rule", "table", "duplicate groups", "detail", "status"),
        summary,
    )
    for name, headers, groups, total, check in details:
        shown = f" (first {len(groups)} of {total})" if total > len(groups) else ""
        _table(
            report,
            f"Duplicates blocking {name} on {check.table}{shown}",
            (*headers, "count", "rows (name or id)", "status"),
            [(*g.key, str(g.count), ", ".join(g.labels), "fail") for g in groups],
        )


def _scanned(conn: psycopg.Connection, schema: str, check: Check, seconds: float) -> str:
    """What the duplicate search read: it is the one preflight check that reads data, so
    it says how much (the planner's row estimate: counting would read the table again)."""
    estimate = conn.execute(
        "SELECT c.reltuples::bigint FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = %s",
        (schema, check.table),
    ).fetchone()
    rows = (f"~{estimate[0]:,} rows" if estimate is not None and estimate[0] >= 0
            else "every row")
    return f"read {rows} of {schema}.{check.table} in {seconds * 1000:,.0f} ms"


# --------------------------------------------------------------------------- sessions


def _touched(rel: ScriptRelations, runbook: Runbook) -> list[str]:
    names = rel.owned | rel.referenced | rel.read | rel.created
    if not names:
        names = {(runbook.settings.schema, c.table) for c in runbook.checks if c.table}
    return sorted(f"{s}.{t}" for s, t in names)


def _sessions(
    conn: psycopg.Connection,
    runbook: Runbook,
    rel: ScriptRelations,
    report: PreflightReport,
    online: bool = False,
) -> None:
    touched = _touched(rel, runbook)
    lock_timeout = runbook.settings.lock_timeout
    rows: list[tuple[str, ...]] = []
    long_tx = conn.execute(
        "SELECT a.pid, a.usename, a.state, a.xact_start,"
        "       date_trunc('second', clock_timestamp() - a.xact_start)::text,"
        "       left(regexp_replace(a.query, '\\s+', ' ', 'g'), 200)"
        " FROM pg_stat_activity a"
        " WHERE a.pid <> pg_backend_pid() AND a.datname = current_database()"
        "   AND a.backend_type = 'client backend'"
        "   AND (a.state LIKE 'idle in transaction%%'"
        "        OR clock_timestamp() - a.xact_start > %s::interval)"
        " ORDER BY a.xact_start",
        (LONG_TRANSACTION,),
    ).fetchall()
    for pid, user, state, since, age, query in long_tx:
        what = f"{state}, transaction open {age}"
        rows.append(
            (str(pid), str(user or ""), what, _iso(since), "", str(query or ""), "warn")
        )
        report.warnings.append(
            f"session {pid} ({user}) is {state} with a transaction open for {age}:"
            " it may hold locks the migration needs and holds back vacuum"
        )
    if online:
        waits = (f"would wait behind it up to {runbook.settings.online_lock_timeout} per"
                 " attempt and retry with backoff (online mode), failing if it still holds"
                 " the lock after the last attempt")
    else:
        waits = (f"would wait behind it for up to lock_timeout ({lock_timeout}) and then"
                 " fail")
    for holder in catalog.lock_holders(conn, touched):
        what = f"{'holds' if holder.granted else 'waits for'} {holder.mode} on {holder.relation}"
        rows.append(
            (
                str(holder.pid) if holder.pid is not None else "prepared xact",
                str(holder.user or ""),
                what,
                holder.since or "",
                holder.relation,
                str(holder.query or ""),
                "warn",
            )
        )
        report.warnings.append(
            f"session {holder.pid} ({holder.user}) {what}: the migration's ALTER TABLE /"
            f" CREATE INDEX {waits}"
        )
    if not rows:
        rows.append(
            (
                "",
                "",
                "no long transactions and no locks on the touched tables",
                "",
                "",
                "",
                "pass",
            )
        )
    _table(
        report,
        f"Other sessions: transactions open > {LONG_TRANSACTION} or idle in transaction,"
        " and locks on the tables the migration touches",
        ("pid", "user", "what", "since", "relation", "query", "status"),
        rows,
    )


def _iso(value: Any) -> str:
    return value.isoformat(timespec="seconds") if value is not None else ""


# --------------------------------------------------------------------------- sizes


def _sizes(
    conn: psycopg.Connection,
    runbook: Runbook,
    rel: ScriptRelations,
    report: PreflightReport,
    online: bool = False,
) -> None:
    schema = runbook.settings.schema
    new_indexes: dict[str, int] = {}
    index_checks = [c for c in runbook.checks if c.kind in ("index", "unique_rule")]
    existing = catalog.index_infos(conn, schema, [c.name for c in index_checks])
    for check in index_checks:
        if check.table and check.name not in existing:
            key = f"{schema}.{check.table}"
            new_indexes[key] = new_indexes.get(key, 0) + 1
    locks = {f"{s}.{t}": mode for (s, t), mode in rel.locks.items()}
    if online:
        # Online mode builds every index CONCURRENTLY; in the script's analysis only a
        # plain CREATE INDEX takes SHARE.
        locks = {name: "SHARE UPDATE EXCLUSIVE" if mode == "SHARE" else mode
                 for name, mode in locks.items()}
    altered = set(locks) | set(new_indexes)
    rows: list[tuple[str, ...]] = []
    total_seconds = 0.0
    for name, total, heap, tuples in conn.execute(
        "SELECT n.nspname || '.' || c.relname, pg_total_relation_size(c.oid),"
        "       pg_relation_size(c.oid), c.reltuples"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind IN ('r', 'p') AND n.nspname || '.' || c.relname = ANY(%s)"
        " ORDER BY pg_total_relation_size(c.oid) DESC, 1",
        (sorted(altered),),
    ).fetchall():
        count = new_indexes.get(name, 0)
        seconds = count * (heap / 1_048_576) / INDEX_BUILD_MB_PER_S
        total_seconds += seconds
        rows.append(
            (
                name,
                _bytes(total),
                _bytes(heap),
                "unknown (never analyzed)"
                if tuples is None or tuples < 0
                else f"{int(tuples)}",
                str(count),
                _duration(seconds) if count else "-",
                _lock_text(locks.get(name)),
            )
        )
    rows.append(
        (
            "total",
            "",
            "",
            "",
            str(sum(new_indexes.values())),
            _duration(total_seconds),
            "online: each step is a short transaction (its locks end at its COMMIT);"
            " indexes are built concurrently, outside any transaction" if online
            else "the run is one transaction: every lock is held until COMMIT",
        )
    )
    _table(
        report,
        f"Table sizes and index build estimate (an estimate at {INDEX_BUILD_MB_PER_S:g} MB/s"
        " of heap per index, not a measurement)",
        (
            "table",
            "total size",
            "heap size",
            "rows (estimate)",
            "new indexes",
            "estimated build time",
            "lock held until its step commits" if online else "lock held until COMMIT",
        ),
        rows,
        status_column=None,
    )


def _lock_text(mode: str | None) -> str:
    if mode is None:
        return ""
    effect = LOCK_EFFECT.get(mode)
    return f"{mode} ({effect})" if effect else mode


def _bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def _duration(seconds: float) -> str:
    if seconds < 1:
        return "< 1 s"
    if seconds < 120:
        return f"~{seconds:.0f} s"
    return f"~{seconds / 60:.0f} min"


# --------------------------------------------------------------------------- state


def current_state(
    conn: psycopg.Connection, runbook: Runbook
) -> tuple[State, list[str], list[str]]:
    """(state, present check ids, absent check ids) over the checks the migration adds."""
    schema = runbook.settings.schema
    existing = catalog.existing_checks(conn, runbook.checks, schema)
    present = [c.id for c in runbook.checks if c.id in existing]
    absent = [c.id for c in runbook.checks if c.id not in existing]
    added = {c.id for c in runbook.checks if c.added_by_migration}
    n_present = len([c for c in present if c in added])
    state: State
    if n_present == 0:
        state = "not_applied"
    elif n_present == len(added):
        state = "applied"
    else:
        state = "partial"
    return state, present, absent


def read_current_state(conn: psycopg.Connection, runbook: Runbook) -> PreflightReport:
    """Only the preflight's "current state" section (applied, partially, not at all), in
    a read-only transaction: what a resumed session shows of the database before the
    operator decides anything.  The report's ``tables`` and ``warnings`` say it."""
    report = PreflightReport()
    with read_only(conn, lock_timeout=runbook.settings.lock_timeout), conn.transaction():
        _state(conn, runbook, report)
    return report


def _state(conn: psycopg.Connection, runbook: Runbook, report: PreflightReport) -> None:
    state, present, absent = current_state(conn, runbook)
    report.state, report.present, report.absent = state, present, absent
    added = {c.id for c in runbook.checks if c.added_by_migration}
    n_present = len([c for c in present if c in added])
    if state == "partial":
        report.warnings.append(
            f"the migration is partially applied: {n_present} of {len(added)} objects exist"
            " (" + ", ".join(c for c in present if c in added) + "). Its IF NOT EXISTS"
            " statements will keep those as they are: validate them after the run"
        )
    label = {
        "not_applied": "not applied",
        "applied": "fully applied",
        "partial": "partially applied",
    }[state]
    rows = []
    if state != "partial":
        # All or nothing: one line says so; only the exceptions are listed one by one
        # (an operator on an 80x24 terminal does not need 40 identical rows).
        word = "present" if state == "applied" else "absent"
        rows.append((f"all {len(added)} objects of the migration", word, "", "info"))
    for check in runbook.checks:
        exists = check.id in present
        if state != "partial" and check.added_by_migration:
            continue
        note = (
            ""
            if check.added_by_migration
            else "not counted: may exist before the migration"
        )
        status = "info"
        if state == "partial" and check.added_by_migration and exists:
            status = "warn"
        rows.append((check.id, "present" if exists else "absent", note, status))
    _table(
        report,
        f"Current state: {label} ({n_present} of {len(added)} objects of the migration exist)",
        ("check", "object", "note", "status"),
        rows,
    )
