"""Watch the running statement from a side connection: index build progress, lock waits.

The executing session is busy inside its statement, so it cannot report on itself.  A
thread with its own connection samples, every ``interval`` seconds while a statement runs:

* ``pg_stat_progress_create_index`` for our backend -> :class:`IndexBuildProgress`;
* ``pg_blocking_pids(our pid)`` -> one :class:`LockWait` per session blocking us (its
  pid, user, query, since when, and how long we have waited).

The monitor is an observer: if it cannot connect or a sample fails, it says so once (a
WARNING :class:`ServerNotice`) and stops; the run itself goes on untouched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Self

import psycopg

from spfp_console.errors import first_line
from spfp_console.events import Event, IndexBuildProgress, LockWait, ServerNotice

_PROGRESS_SQL = """
select p.phase, p.blocks_done, p.blocks_total, p.tuples_done, p.tuples_total,
       p.relid::regclass::text, c.relname
from pg_stat_progress_create_index p
left join pg_class c on c.oid = p.index_relid
where p.pid = %(pid)s
"""

# waitstart (PostgreSQL 14+) is when our backend began waiting for the lock; before the
# wait is recorded fall back to the statement start.
_BLOCKERS_SQL = """
select b.pid, b.usename, left(b.query, 1000), coalesce(b.xact_start, b.query_start),
       extract(epoch from clock_timestamp() - coalesce(
           (select min(l.waitstart) from pg_locks l where l.pid = me.pid and not l.granted),
           me.query_start))::float8
from pg_stat_activity me
cross join lateral unnest(pg_blocking_pids(me.pid)) as bp(pid)
join pg_stat_activity b on b.pid = bp.pid
where me.pid = %(pid)s
order by b.pid
"""


class StatementMonitor:
    """Samples progress and lock waits of ``backend_pid`` in a background thread.

    The executor calls :meth:`statement_started` / :meth:`statement_finished` around each
    statement; samples are only taken (and attributed) while one runs.
    """

    def __init__(
        self,
        open_connection: Callable[[], psycopg.Connection[Any]],
        backend_pid: int,
        emit: Callable[[Event], None],
        *,
        interval: float = 0.5,
    ) -> None:
        self._open = open_connection
        self._pid = backend_pid
        self._emit = emit
        self._interval = max(0.02, interval)
        self._current: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"spfp-monitor-{backend_pid}", daemon=True
        )
        self._conn: psycopg.Connection[Any] | None = None
        self.samples = 0
        """How many samples were taken (for tests and diagnostics)."""
        self.failed: str | None = None
        """Why the monitor stopped early, if it did."""

    def start(self) -> Self:
        self._thread.start()
        return self

    def statement_started(self, index: int) -> None:
        self._current = index

    def statement_finished(self) -> None:
        self._current = None

    def stop(self, timeout: float = 5.0) -> None:
        """Stop sampling and close the side connection."""
        self._current = None
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ thread

    def _run(self) -> None:
        try:
            self._conn = self._open()
        except Exception as exc:  # noqa: BLE001 - an observer never breaks the run
            self._give_up(f"could not open its connection: {exc}")
            return
        try:
            while not self._stop.wait(self._interval):
                index = self._current
                if index is None:
                    continue
                try:
                    self._sample(index)
                except Exception as exc:  # noqa: BLE001 - idem
                    if not self._stop.is_set():
                        self._give_up(f"a sample failed: {exc}", index)
                    return
        finally:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001, S110 - closing a broken side connection
                pass

    def _sample(self, index: int) -> None:
        assert self._conn is not None
        params = {"pid": self._pid}
        progress = self._conn.execute(_PROGRESS_SQL, params).fetchall()
        blockers = self._conn.execute(_BLOCKERS_SQL, params).fetchall()
        self.samples += 1
        # The statement may have finished while we queried: do not attribute stale data.
        if self._current != index:
            return
        for phase, bdone, btotal, tdone, ttotal, relation, index_name in progress:
            self._emit(
                IndexBuildProgress(
                    index=index,
                    phase=phase,
                    blocks_done=int(bdone or 0),
                    blocks_total=int(btotal or 0),
                    tuples_done=int(tdone or 0),
                    tuples_total=int(ttotal or 0),
                    relation=relation,
                    index_name=index_name,
                )
            )
        for pid, user, query, since, waited in blockers:
            self._emit(
                LockWait(
                    index=index,
                    blocker_pid=pid,
                    blocker_user=user,
                    blocker_query=query,
                    blocker_since=since.isoformat(timespec="seconds") if since else None,
                    waited_s=round(float(waited or 0.0), 3),
                )
            )

    def _give_up(self, why: str, index: int | None = None) -> None:
        self.failed = why
        try:
            self._emit(
                ServerNotice(
                    severity="WARNING",
                    message=f"progress monitor stopped ({first_line(why)}); "
                    "the run continues without progress or lock-wait reports",
                    index=index,
                )
            )
        except Exception:  # noqa: BLE001, S110 - a consumer failing on our warning
            pass
