"""Is this connection pinned to one server session?  Refuse a transaction-mode pooler.

The engine relies on session state that outlives a transaction: the deployment's advisory
lock is taken before BEGIN and released after COMMIT, and the preflight and the monitor
assume the backend they talk to stays theirs.  Behind a pooler in transaction mode
(Supabase's pooled connection string, port 6543; PgBouncer or Supavisor with
``pool_mode = transaction``) each transaction may run on another server connection, and
another client may be handed ours in between: the lock would be held by a stranger's
session, and nothing would stop a second deployment.

A pooler cannot be asked which mode it is in (PgBouncer answers ``SHOW`` only on its
admin console), so we look at what a pooler does instead:

1. *Proof of a direct connection*: the server sees our own socket's address and port
   (``inet_client_addr()``/``inet_client_port()`` equal to ``getsockname()``).  No
   proxy sits in between, so nothing else needs checking.
2. Otherwise *the sharing probe*, a few rounds of: this connection asks for its backend
   pid (and, in autocommit, ends its transaction), then a second client of the same
   target opens a transaction and asks for its own.  A pinned session (direct, or a
   pooler in session mode) keeps one pid for this connection and never lends it to the
   other client.  A transaction-mode pooler shows itself either way: the other client gets
   the backend we just used (PgBouncer reuses idle servers last-in-first-out by default),
   or this connection's pid changes between transactions (round-robin pools).

Positive evidence is conclusive (two clients on one backend, or one client on two); its
absence after every round is what a pinned session looks like.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from typing import Any

import psycopg

from spfp_console.errors import ConsoleError
from spfp_console.lean_dataclass import lean_dataclass

PROBE_ROUNDS = 3
PROBE_WAIT_S = 5.0
"""How long the second client may wait for a server.  A pooler in session mode whose pool
is full makes it wait (our connection keeps its server even while idle): that is pinning,
not an error."""

_SUPABASE_POOLER = re.compile(r"\.pooler\.supabase\.com$", re.IGNORECASE)


class TransactionPoolerError(ConsoleError):
    """The target is reached through a pooler in transaction (or statement) mode.
    Nothing was attempted (exit 2): the operator must use another connection string."""


@lean_dataclass(frozen=True)
class SessionPinning:
    """What the check found: ``verdict`` is ``direct``, ``pinned``, ``transaction`` or
    ``unverified`` (the probe could not open its second connection)."""

    verdict: str
    evidence: str

    @property
    def pinned(self) -> bool:
        """False only on evidence of a transaction-mode pooler."""
        return self.verdict != "transaction"


def check_session_pinning(conn: psycopg.Connection[Any], *, rounds: int = PROBE_ROUNDS,
                          wait_s: float = PROBE_WAIT_S) -> SessionPinning:
    """How ``conn`` (open, autocommit, idle) reaches the server; see the module docstring."""
    direct = _server_sees_our_socket(conn)
    if direct is not None:
        return SessionPinning("direct", direct)

    from spfp_console.engine.errors import ConnectError

    ours: list[int] = []
    theirs: list[int] = []
    try:
        other = _second_client(conn, wait_s)
    except ConnectError as exc:
        # No second connection (max_connections reached...): the run's own monitor will
        # miss it too, but that is no reason to refuse; say the check could not be made.
        return SessionPinning("unverified", f"the probe's second connection failed: {exc}")
    if other is None:
        return SessionPinning("pinned", "a second client waited for a server while this"
                              " connection was idle")
    try:
        for _ in range(rounds):
            ours.append(_backend_pid(conn))
            pid = _pid_in_a_transaction(other, wait_s)
            if pid is None:
                # The other client waits for a server while ours sits idle: our server is
                # ours alone (a session-mode pool that is full).
                return SessionPinning("pinned", "a second client waited for a server "
                                      "while this connection was idle")
            theirs.append(pid)
            if pid in ours:
                return SessionPinning(
                    "transaction", f"a second client was served by this connection's "
                    f"backend (pid {pid}) as soon as our transaction ended")
            if len(set(ours)) > 1:
                return SessionPinning(
                    "transaction", "this connection was served by backends "
                    + ", ".join(str(p) for p in sorted(set(ours)))
                    + " in successive transactions")
        ours.append(_backend_pid(conn))
        if len(set(ours)) > 1:
            return SessionPinning(
                "transaction", "this connection was served by backends "
                + ", ".join(str(p) for p in sorted(set(ours))) + " in successive transactions")
    finally:
        _close_quietly(other)
    return SessionPinning(
        "pinned", f"backend pid {ours[0]} kept across {len(ours)} transactions and never "
        "lent to a second client")


def refuse_transaction_pooling(conn: psycopg.Connection[Any], display: str) -> SessionPinning:
    """The pinning check, raising :class:`TransactionPoolerError` when not pinned."""
    pinning = check_session_pinning(conn)
    if not pinning.pinned:
        raise TransactionPoolerError(
            f"refusing {display}: it is reached through a connection pooler in transaction "
            f"mode ({pinning.evidence}), where the deployment lock, lock_timeout and "
            f"prepared statements do not hold; {direct_connection_advice(conn.info.host)}; "
            "nothing was changed")
    return pinning


def direct_connection_advice(host: str | None) -> str:
    """What to connect to instead, in Supabase's terms when the host is Supabase's."""
    host = host or ""
    if _SUPABASE_POOLER.search(host):
        return (f"use the session-mode connection string ({host} port 5432) or the direct "
                "connection (db.<project-ref>.supabase.co port 5432)")
    return ("connect directly to the database server, or through the pooler's session mode "
            "(pool_mode = session; on Supabase: port 5432 instead of 6543)")


# ---------------------------------------------------------------------- helpers


def _server_sees_our_socket(conn: psycopg.Connection[Any]) -> str | None:
    """Evidence of a direct TCP connection, or None when it cannot be shown."""
    row = conn.execute("select host(inet_client_addr()), inet_client_port()",
                       prepare=False).fetchone()
    if row is None or row[0] is None:
        return None  # a unix socket (ours or a pooler's): no address to compare
    try:
        fd = os.dup(conn.pgconn.socket)
    except (OSError, psycopg.Error):
        return None
    with socket.socket(fileno=fd) as sock:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return None
        local = sock.getsockname()
    if str(local[0]) == str(row[0]) and int(local[1]) == int(row[1]):
        return f"the server sees this client's own address {row[0]}:{row[1]}"
    return None


def _second_client(conn: psycopg.Connection[Any], wait_s: float
                   ) -> psycopg.Connection[Any] | None:
    """A second connection to the same target, or None when opening it waited longer than
    ``wait_s`` (opening runs a query, which a full session-mode pool makes wait)."""
    from spfp_console.engine.connect import side_connection

    opened: list[psycopg.Connection[Any]] = []
    failed: list[BaseException] = []
    lock = threading.Lock()
    gave_up = threading.Event()

    def open_it() -> None:
        try:
            other = side_connection(conn, application_name="spfp-console pooler probe")
        except BaseException as exc:  # noqa: BLE001 - reported to the caller's thread
            failed.append(exc)
            return
        with lock:
            if gave_up.is_set():  # too late: nobody will use or close it but us
                _close_quietly(other)
            else:
                opened.append(other)

    worker = threading.Thread(target=open_it, name="spfp-pooler-connect", daemon=True)
    worker.start()
    worker.join(wait_s)
    with lock:
        if worker.is_alive():
            gave_up.set()  # the pooler ends its wait (query_wait_timeout) in its own time
            return None
    if failed:
        raise failed[0]
    return opened[0]


def _backend_pid(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("select pg_backend_pid()", prepare=False).fetchone()
    assert row is not None
    return int(row[0])


def _pid_in_a_transaction(other: psycopg.Connection[Any], wait_s: float) -> int | None:
    """The other client's backend inside a transaction (ended again), or None when it
    waited longer than ``wait_s`` for a server."""
    found: list[int] = []
    failed: list[BaseException] = []

    def probe() -> None:
        try:
            with other.transaction():
                found.append(_backend_pid(other))
        except BaseException as exc:  # noqa: BLE001 - reported to the caller's thread
            failed.append(exc)

    worker = threading.Thread(target=probe, name="spfp-pooler-probe", daemon=True)
    worker.start()
    worker.join(wait_s)
    if worker.is_alive():
        # Shutting the socket down under the waiting client ends its wait (a duplicate
        # descriptor, so libpq still owns and closes its own).
        try:
            with socket.socket(fileno=os.dup(other.pgconn.socket)) as sock:
                sock.shutdown(socket.SHUT_RDWR)
        except (OSError, psycopg.Error):
            pass
        worker.join(2.0)
        return None
    if failed:
        raise failed[0]
    return found[0]


def _close_quietly(conn: psycopg.Connection[Any]) -> None:
    try:
        conn.close()
    except (OSError, psycopg.Error):
        pass
