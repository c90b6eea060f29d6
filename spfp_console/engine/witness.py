"""The database as witness: the target records each deployment in its own transaction.

A log's hash chain proves the log was not edited *unless* someone recomputed the chain;
its signature proves who sealed it, *if* it was signed.  The target database is a
second, independent witness: in the very transaction that commits a migration (or a
rollback), it records a row in ``spfp_console.deployments`` with the session's id (the
log header's hash), the operator, the runbook, the script's sha256, the log's chain
position just before COMMIT (seq and hash) and the outcome.  The row exists if and only
if the change committed.

``spfp-console verify LOG --dsn D`` then compares the log with the rows: a forged log with
a recomputed chain no longer has the recorded hash at the recorded seq, a log whose
outcome was edited contradicts the row, and rows whose logs are missing show up.
A runbook turns the witness off (``[witness] enabled = false``) for targets that must not
be written to.
"""

from __future__ import annotations

from typing import Any

import psycopg

from spfp_console.lean_dataclass import lean_dataclass

SCHEMA = "spfp_console"
TABLE = f"{SCHEMA}.deployments"

_CREATE = (
    f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        session_id text,
        log_file text,
        operator text NOT NULL,
        runbook_id text NOT NULL,
        workflow text NOT NULL,
        script text NOT NULL,
        script_sha256 text NOT NULL,
        scripts_sha256 text[] NOT NULL,
        chain_seq bigint,
        chain_hash text,
        outcome text NOT NULL
    )""",
    # Nobody but the deploying role should write (or read) the record.
    f"REVOKE ALL ON {TABLE} FROM PUBLIC",
)


@lean_dataclass(frozen=True)
class WitnessRow:
    """One recorded deployment (a migration's or a rollback's commit)."""

    id: int
    recorded_at: str
    session_id: str | None
    """The log header's hash; None when the session kept no log."""
    log_file: str | None
    operator: str
    runbook_id: str
    workflow: str
    script: str
    script_sha256: str
    scripts_sha256: tuple[str, ...]
    chain_seq: int | None
    chain_hash: str | None
    outcome: str


def record(conn: psycopg.Connection[Any], row: dict[str, Any]) -> None:
    """Inside the run's transaction, just before COMMIT: create the table where absent and
    append the row (keys: the columns of :class:`WitnessRow` but id and recorded_at)."""
    for statement in _CREATE:
        conn.execute(statement, prepare=False)
    columns = ("session_id", "log_file", "operator", "runbook_id", "workflow", "script",
               "script_sha256", "scripts_sha256", "chain_seq", "chain_hash", "outcome")
    conn.execute(
        f"INSERT INTO {TABLE} ({', '.join(columns)}) VALUES"
        f" ({', '.join('%(' + c + ')s' for c in columns)})",
        {c: row.get(c) for c in columns}, prepare=False)


def table_exists(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("select to_regclass(%s) is not null", (TABLE,),
                       prepare=False).fetchone()
    return bool(row and row[0])


def rows(conn: psycopg.Connection[Any], runbook_id: str | None = None) -> list[WitnessRow]:
    """Every recorded deployment (of one runbook), oldest first; [] without a table."""
    if not table_exists(conn):
        return []
    where = " where runbook_id = %s" if runbook_id is not None else ""
    cur = conn.execute(
        "select id, to_char(recorded_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
        " session_id, log_file, operator, runbook_id, workflow, script, script_sha256,"
        f" scripts_sha256, chain_seq, chain_hash, outcome from {TABLE}{where} order by id",
        (runbook_id,) if runbook_id is not None else None, prepare=False)
    return [WitnessRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], tuple(r[9]),
                       r[10], r[11], r[12]) for r in cur.fetchall()]
