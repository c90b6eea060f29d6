"""Benchmark: what the transaction-pooler check adds to opening a session.

    python bench/bench_pooler_check.py [--rounds 30]

Every session proves, before anything else, that its connection is pinned to one server
session (engine/pooler.py).  Over TCP to the server itself the proof is one query (the
server sees our own address); over a unix socket, or through a pooler, it is a probe with
a second client (three rounds).  This times, in the same run and on a throwaway local
PostgreSQL (plus a session-mode PgBouncer when installed), connecting alone against
connecting and checking, and prints the difference and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spfp_console.engine.connect import Target  # noqa: E402
from spfp_console.engine.pooler import check_session_pinning  # noqa: E402
from spfp_console.localpg import LocalCluster  # noqa: E402
from spfp_console.localpg.pgbouncer import LocalPgBouncer, find_pgbouncer  # noqa: E402


def _median_ms(action: Callable[[], None], rounds: int) -> float:
    action()  # warm-up: first connections pay for catalog caches
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def _compare(label: str, dsn: str, rounds: int) -> None:
    target = Target(dsn)
    verdicts: set[str] = set()

    def connect_only() -> None:
        target.connect().close()

    def connect_and_check() -> None:
        with target.connect() as conn:
            verdicts.add(check_session_pinning(conn).verdict)

    base = _median_ms(connect_only, rounds)
    checked = _median_ms(connect_and_check, rounds)
    print(f"{label:<28} connect {base:6.1f} ms   connect+check {checked:6.1f} ms"
          f"   +{checked - base:5.1f} ms   {checked / base:4.1f}x   ({', '.join(sorted(verdicts))})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with LocalCluster() as cluster:
        print(f"median of {args.rounds} opens each")
        _compare("direct, TCP", cluster.tcp_dsn(), args.rounds)
        _compare("direct, unix socket", cluster.dsn(), args.rounds)
        if find_pgbouncer() is not None:
            with LocalPgBouncer(cluster, pool_mode="session") as bouncer:
                _compare("PgBouncer, session mode", bouncer.dsn("postgres"), args.rounds)
        else:
            print("PgBouncer, session mode: skipped (pgbouncer not installed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
