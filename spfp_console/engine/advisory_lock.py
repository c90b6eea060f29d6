"""One deployment at a time per database: a session-level PostgreSQL advisory lock.

The lock lives in the executing session, so it is held for the whole run (across the
transaction's commit or rollback) and the server releases it by itself if the connection
dies.  The key is a fixed bigint, the ASCII of ``spfpcons``, so it is recognisable in
``pg_locks`` (classid ``0x73706670``, objid ``0x636f6e73``, objsubid 1).  Advisory locks
are per database: deployments to two databases of one server do not block each other.
"""

from __future__ import annotations

from typing import Any

import psycopg

from spfp_console.engine.errors import LockHeldError, LockHolder

DEFAULT_LOCK_KEY = int.from_bytes(b"spfpcons", "big")
"""0x73706670636f6e73: the key every spfp-console deployment takes."""

_HOLDER_SQL = """
select l.pid, a.usename, a.application_name, host(a.client_addr),
       a.backend_start, a.xact_start, a.state
from pg_locks l
left join pg_stat_activity a on a.pid = l.pid
where l.locktype = 'advisory'
  and l.database = (select oid from pg_database where datname = current_database())
  and l.classid::bigint = %(classid)s
  and l.objid::bigint = %(objid)s
  and l.objsubid = 1
  and l.granted
  and l.pid <> pg_backend_pid()
order by a.backend_start
limit 1
"""


def _split_key(key: int) -> tuple[int, int]:
    """How pg_locks shows a bigint key: high and low 32 bits as unsigned oids."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    return unsigned >> 32, unsigned & 0xFFFF_FFFF


def _iso(value: Any) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def find_holder(
    conn: psycopg.Connection[Any], key: int = DEFAULT_LOCK_KEY
) -> LockHolder | None:
    """The other session holding the lock, or None."""
    classid, objid = _split_key(key)
    row = conn.execute(_HOLDER_SQL, {"classid": classid, "objid": objid}).fetchone()
    if row is None:
        return None
    pid, user, app, addr, backend_start, xact_start, state = row
    return LockHolder(
        pid=pid,
        user=user,
        application_name=app or None,
        client_addr=addr,
        backend_start=_iso(backend_start),
        xact_start=_iso(xact_start),
        state=state,
    )


def acquire(conn: psycopg.Connection[Any], key: int = DEFAULT_LOCK_KEY) -> None:
    """Take the lock without waiting, or raise :class:`LockHeldError` naming the holder.

    ``conn`` must be in autocommit mode (the lock is session-level, not transactional).
    """
    got = conn.execute("select pg_try_advisory_lock(%s)", (key,)).fetchone()
    if got and got[0]:
        return
    holder = find_holder(conn, key)
    raise LockHeldError(conn.info.dbname, holder)


def release(conn: psycopg.Connection[Any], key: int = DEFAULT_LOCK_KEY) -> bool:
    """Release the lock if the connection is still usable.  True when released.

    A dead connection needs nothing: the server dropped the lock with the session.
    """
    if conn.closed or conn.broken:
        return False
    try:
        row = conn.execute("select pg_advisory_unlock(%s)", (key,)).fetchone()
    except psycopg.Error:
        return False
    return bool(row and row[0])
