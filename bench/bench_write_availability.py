"""Write availability during the migration: the default one-transaction run vs online mode.

    python bench/bench_write_availability.py [--scale 1] [--runs 3]

Starts a throwaway PostgreSQL, builds a template with the base schema and sample data, and
for every run clones a fresh database (not timed).  A writer thread in this process
connects over loopback TCP and, paced at ``--rate`` writes a second, updates and inserts rows of tables the
migration touches (sent_atas, operational_tasks, sales_leads, transactions), one short
autocommit statement each, timing every write.  While it writes, ``spfp-console run --yes
--no-log`` (preflight, run, validation, claims) runs in a child process, in the default
mode or with ``--online``; the modes take turns.

Per mode, over the writes that started while the command ran: how many, their p50, p99 and
max latency, how many took over 100 ms, the share of the run the writer spent stalled in
them, and the same writer alone for comparison.  A blocked writer issues no writes while
it waits, so the p99 over writes hides a stall; the max and the stalled share show it.  The lock_timeout printed is the
runbook's ``online_lock_timeout``: online mode's promise is that no write waits much
longer than that.  The ratios (default / online) are the point: the default mode holds
SHARE / ACCESS EXCLUSIVE locks on the touched tables until its COMMIT.

The cluster runs with fsync off, as the tests do.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

from benchdb import prepare_template, spfp_console_argv
from spfp_console.localpg import LocalCluster
from spfp_console.paths import DEFAULT_RUNBOOK
from spfp_console.runbook import load_runbook

TEMPLATE = "bench_template"
IDLE_SECONDS = 2.0

WRITES = (
    ("sent_atas", "UPDATE public.sent_atas SET subject = 'written' WHERE id = %s"),
    ("operational_tasks",
     "INSERT INTO public.operational_tasks (user_id, title, status, priority)"
     " SELECT user_id, 'written during the run', 'todo', 'low'"
     " FROM public.operational_tasks WHERE id = %s"),
    ("sales_leads", "UPDATE public.sales_leads SET probability = 50 WHERE id = %s"),
    ("transactions", "UPDATE public.transactions SET paid = NOT paid WHERE id = %s"),
)


class Writer:
    """Writes until stopped; ``samples`` holds (start time, latency) of every write."""

    def __init__(self, dsn: str, rate: float) -> None:
        self.dsn = dsn
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.samples: list[tuple[float, float]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> Writer:
        self._thread.start()
        while not self.samples and not self.errors:
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _loop(self) -> None:
        rng = random.Random(7)
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            # Ids sampled once: ORDER BY random() per write would scan the table and time
            # the scan, not the wait for a lock.
            ids = {
                table: [r[0] for r in conn.execute(
                    f"SELECT id FROM public.{table} TABLESAMPLE SYSTEM (10) LIMIT 500"
                ).fetchall()] or [r[0] for r in conn.execute(
                    f"SELECT id FROM public.{table} LIMIT 500").fetchall()]
                for table, _ in WRITES
            }
            i = 0
            next_at = time.perf_counter()
            while not self._stop.is_set():
                table, sql = WRITES[i % len(WRITES)]
                # Paced like an application, not a tight loop that would take a core from
                # the migration; a write that was held up is not made up for by a burst.
                next_at = max(next_at + self.interval, time.perf_counter())
                pause = next_at - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                started = time.perf_counter()
                try:
                    conn.execute(sql, (rng.choice(ids[table]),))
                except psycopg.Error as exc:
                    self.errors.append(f"{table}: {str(exc).strip().splitlines()[0]}")
                self.samples.append((started, time.perf_counter() - started))
                i += 1


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def stalled(latencies: list[float], seconds: float) -> float:
    """The share of the time the writer spent inside writes slower than 100 ms.  A blocked
    writer issues no further writes, so percentiles over writes hide a long stall; this
    does not."""
    return sum(x for x in latencies if x > 0.1) / seconds if seconds else 0.0


def one_run(cluster: LocalCluster, db: str, online: bool, workdir: Path, rate: float
            ) -> tuple[list[float], float, list[str]]:
    """Latencies of the writes that started while the command ran, its duration, errors."""
    writer = Writer(cluster.tcp_dsn(db), rate).start()
    time.sleep(0.3)
    # Without the data integrity check (it reads the touched tables under a SHARE lock,
    # and online mode cannot make it): this compares how the two modes take locks.
    argv = [*spfp_console_argv(), "run", "--yes", "--no-log", "--no-integrity",
            "--dsn", cluster.dsn(db)]
    if online:
        argv.append("--online")
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=workdir, env=cluster.env(), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, check=False)
    ended = time.perf_counter()
    time.sleep(0.3)
    writer.stop()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}"
                         f"\n{proc.stderr[-2000:]}")
    during = [lat for t, lat in writer.samples if started <= t <= ended]
    return during, ended - started, writer.errors


def idle_writer(cluster: LocalCluster, db: str, rate: float) -> list[float]:
    writer = Writer(cluster.tcp_dsn(db), rate).start()
    time.sleep(IDLE_SECONDS)
    writer.stop()
    return [lat for _, lat in writer.samples]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="sample data scale")
    parser.add_argument("--runs", type=int, default=3, help="runs per mode")
    parser.add_argument("--rate", type=float, default=500,
                        help="writes per second the writer aims at (0: as fast as it can)")
    args = parser.parse_args(argv)
    lock_timeout = load_runbook(DEFAULT_RUNBOOK).settings.online_lock_timeout

    modes = (("default (one transaction)", False), ("online (--online)", True))
    results: dict[str, dict[str, list]] = {
        label: {"lat": [], "dur": [], "n": [], "err": []} for label, _ in modes}
    with LocalCluster() as cluster, tempfile.TemporaryDirectory(prefix="spfp-bench-") as tmp:
        started = time.perf_counter()
        rows = prepare_template(cluster, TEMPLATE, args.scale)
        print(f"template: base schema + sample data scale {args.scale} ({rows} rows) in"
              f" {time.perf_counter() - started:.1f} s; writer over 127.0.0.1:{cluster.port}")
        cluster.create_database("bench_idle", template=TEMPLATE)
        idle = idle_writer(cluster, "bench_idle", args.rate)
        cluster.drop_database("bench_idle")
        for i in range(args.runs):
            order = modes if i % 2 == 0 else modes[::-1]
            for label, online in order:
                db = f"bench_{i}_{int(online)}"
                cluster.create_database(db, template=TEMPLATE)
                try:
                    lat, dur, errors = one_run(cluster, db, online, Path(tmp), args.rate)
                finally:
                    cluster.drop_database(db)
                r = results[label]
                r["lat"] += lat
                r["dur"].append(dur)
                r["n"].append(len(lat))
                r["err"] += errors

    print(f"\nA writer ({args.rate:g} writes/s aimed) during `spfp-console run` at scale"
          f" {args.scale}, {args.runs} runs per mode (online lock_timeout {lock_timeout}):")
    print(f"  {'mode':<28} {'run':>7} {'writes':>7} {'writes/s':>9} {'p50':>8} {'p99':>8}"
          f" {'max':>8} {'>100ms':>6} {'stalled':>8} {'errors':>6}")
    print(f"  {'writer alone':<28} {IDLE_SECONDS:>6.1f}s {len(idle):>7}"
          f" {len(idle) / IDLE_SECONDS:>9.0f} {percentile(idle, .5) * 1000:>6.1f}ms"
          f" {percentile(idle, .99) * 1000:>6.1f}ms {max(idle) * 1000:>6.1f}ms"
          f" {sum(x > 0.1 for x in idle):>6} {stalled(idle, IDLE_SECONDS):>7.0%} {0:>6}")
    stats = {}
    for label, _ in modes:
        r = results[label]
        lat, dur = r["lat"], statistics.median(r["dur"])
        n = statistics.median(r["n"])
        stats[label] = (percentile(lat, .99), max(lat), n / dur)
        print(f"  {label:<28} {dur:>6.1f}s {n:>7.0f} {n / dur:>9.0f}"
              f" {percentile(lat, .5) * 1000:>6.1f}ms {percentile(lat, .99) * 1000:>6.1f}ms"
              f" {max(lat) * 1000:>6.1f}ms {sum(x > 0.1 for x in lat):>6}"
              f" {stalled(lat, sum(r['dur'])):>7.0%} {len(r['err']):>6}")
    (d99, dmax, drate), (o99, omax, orate) = stats[modes[0][0]], stats[modes[1][0]]
    print(f"\n  default / online: p99 {d99 / o99:.1f}x, max {dmax / omax:.1f}x;"
          f" writes/s online / default {orate / drate:.1f}x")
    print(f"  online: p99 {o99 * 1000:.0f} ms (target < 100 ms), max {omax * 1000:.0f} ms"
          f" (lock_timeout {lock_timeout})")
    for label, _ in modes:
        if results[label]["err"]:
            print(f"  {label}: first write error: {results[label]['err'][0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
