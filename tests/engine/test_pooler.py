"""Pooler safety against a real PgBouncer the tests start (Debian package ``pgbouncer``).

Through a transaction-mode pooler the deployment lock and the session settings do not
hold: the session refuses before anything changes, naming the connection to use instead.
Through session mode (or directly) the deployment works.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from spfp_console.deployment import DeploymentSession
from spfp_console.engine.connect import Target
from spfp_console.engine.pooler import (
    TransactionPoolerError,
    check_session_pinning,
    direct_connection_advice,
)
from spfp_console.events import Finding
from spfp_console.journal.read import read_journal
from spfp_console.localpg.cluster import SUPERUSER_PASSWORD
from spfp_console.localpg.pgbouncer import LocalPgBouncer, find_pgbouncer
from spfp_console.paths import DEFAULT_RUNBOOK
from spfp_console.runbook import load_runbook
from spfp_console.session.operator import ScriptedOperator

pytestmark = pytest.mark.skipif(
    find_pgbouncer() is None,
    reason="pgbouncer is not installed (apt-get install pgbouncer; .ci/install does it)")


@pytest.fixture(scope="module")
def transaction_pooler(pg_cluster: Any) -> Iterator[LocalPgBouncer]:
    with LocalPgBouncer(pg_cluster, pool_mode="transaction") as bouncer:
        yield bouncer


@pytest.fixture(scope="module")
def session_pooler(pg_cluster: Any) -> Iterator[LocalPgBouncer]:
    with LocalPgBouncer(pg_cluster, pool_mode="session") as bouncer:
        yield bouncer


def _session(dsn: str, tmp_path: Path) -> DeploymentSession:
    return DeploymentSession(runbook=load_runbook(DEFAULT_RUNBOOK), dsn=dsn,
                             log_dir=tmp_path / "logs", operator="alice")


def _migration_objects(db: Any) -> int:
    return int(db.scalar(  # type: ignore[arg-type]
        "select count(*) from pg_indexes where indexname = 'idx_transactions_user_date_paid'")
        or 0) + int(db.scalar(  # type: ignore[arg-type]
        "select count(*) from pg_namespace where nspname = 'supabase_migrations'") or 0)


def test_transaction_mode_is_refused_before_any_change(
    base_db: Any, transaction_pooler: LocalPgBouncer, tmp_path: Path
) -> None:
    session = _session(transaction_pooler.dsn(base_db.name), tmp_path)
    with pytest.raises(TransactionPoolerError) as refused:
        with session:
            session.open()
            session.deploy(ScriptedOperator(name="alice", typed=[base_db.name]))
    message = str(refused.value)
    assert refused.value.exit_code == 2
    assert "transaction mode" in message and "served by this connection's backend" in message
    assert "connect directly" in message and "session mode" in message
    assert "nothing was changed" in message
    assert _migration_objects(base_db) == 0
    assert not (tmp_path / "logs").exists() or not any((tmp_path / "logs").iterdir())
    assert session.conn is not None and session.conn.closed


def test_the_cli_refuses_a_transaction_pooler_with_one_line_and_exit_2(
    base_db: Any, transaction_pooler: LocalPgBouncer, tmp_path: Path
) -> None:
    # The password travels in PGPASSWORD, as the CLI advises (not in --dsn).
    dsn = transaction_pooler.dsn(base_db.name).replace(f":{SUPERUSER_PASSWORD}@", "@")
    proc = subprocess.run(
        [sys.executable, "-m", "spfp_console", "run", "--yes", "--dsn", dsn],
        cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
        check=False, env={**os.environ, "PGPASSWORD": SUPERUSER_PASSWORD})
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("spfp-console: refusing"), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert _migration_objects(base_db) == 0


def test_a_round_robin_transaction_pool_is_refused_too(
    pg_cluster: Any, base_db: Any
) -> None:
    with LocalPgBouncer(pg_cluster, pool_mode="transaction",
                        settings={"server_round_robin": "1"}) as bouncer:
        # Several idle server connections, so round robin has somewhere else to go.
        warm = [psycopg.connect(bouncer.dsn(base_db.name), autocommit=True) for _ in range(3)]
        for conn in warm:
            conn.execute("begin")
            conn.execute("select 1")
        for conn in warm:
            conn.execute("commit")
            conn.close()
        with Target(bouncer.dsn(base_db.name)).connect() as conn:
            pinning = check_session_pinning(conn)
    assert pinning.verdict == "transaction", pinning


def test_session_mode_deploys_and_says_the_session_is_pinned(
    base_db: Any, session_pooler: LocalPgBouncer, tmp_path: Path
) -> None:
    with _session(session_pooler.dsn(base_db.name), tmp_path) as session:
        session.open()
        result = session.deploy(ScriptedOperator(name="alice", typed=[base_db.name]))
        session.close(result)
    assert result.outcome == "committed", result.message
    assert base_db.scalar("select count(*) from pg_indexes"
                          " where indexname = 'idx_transactions_user_date_paid'") == 1
    assert session.log_path is not None
    events = [entry.event() for entry in read_journal(session.log_path).entries]
    pooler = [e for e in events if isinstance(e, Finding) and e.section == "pooler"]
    assert len(pooler) == 1 and pooler[0].message.startswith("session pinned (pinned)")


def test_a_full_session_pool_is_pinning_not_a_hang(pg_cluster: Any, base_db: Any) -> None:
    with LocalPgBouncer(pg_cluster, pool_mode="session", pool_size=1) as bouncer:
        with Target(bouncer.dsn(base_db.name)).connect() as conn:
            pinning = check_session_pinning(conn, wait_s=1.0)
            # The probe's client is gone: this connection still works.
            assert conn.execute("select 1").fetchone() == (1,)
    assert pinning.verdict == "pinned" and "waited for a server" in pinning.evidence


def test_direct_connections_pass(base_db: Any) -> None:
    with Target(base_db.tcp_dsn()).connect() as conn:
        tcp = check_session_pinning(conn)
    with Target(base_db.dsn).connect() as conn:
        unix = check_session_pinning(conn)
    assert tcp.verdict == "direct" and "own address 127.0.0.1:" in tcp.evidence
    assert unix.verdict == "pinned"  # no address over a unix socket: the probe decides


def test_advice_names_supabase_session_mode_for_a_supabase_pooler_host() -> None:
    advice = direct_connection_advice("aws-0-eu-central-1.pooler.supabase.com")
    assert "port 5432 instead of 6543" in direct_connection_advice("db.internal")
    assert "aws-0-eu-central-1.pooler.supabase.com port 5432" in advice
    assert "db.<project-ref>.supabase.co" in advice


def test_a_probe_that_cannot_connect_is_unverified_not_refused(
    pg_cluster: Any, base_db: Any
) -> None:
    with LocalPgBouncer(pg_cluster, pool_mode="session",
                        settings={"max_client_conn": "1"}) as bouncer:
        with Target(bouncer.dsn(base_db.name)).connect() as conn:
            pinning = check_session_pinning(conn)
    assert pinning.verdict == "unverified" and pinning.pinned
    assert "second connection failed" in pinning.evidence
    assert "max_client_conn" in pinning.evidence or "no more connections" in pinning.evidence
