"""Benchmark: verify a 10k- and a 100k-event deployment log; show that cost grows linearly.

    python bench/bench_journal_verify.py [--sizes 10000 100000] [--keep DIR]

For each size it writes a realistic log with the real ``JournalWriter`` (statements,
index-build progress, notices, checklist ticks, result tables), then times
``verify_chain`` in a fresh interpreter and reports its peak RSS (``ru_maxrss``) over the
interpreter's own baseline.  ``--tracemalloc`` adds a second, traced pass for the peak of
Python allocations (tracing slows Python down, so it is not the timed pass).
Verification streams the file, so memory should stay flat while time grows ~10x from
10k to 100k.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spfp_console import events as ev  # noqa: E402
from spfp_console.journal.record import JournalWriter, SessionHeader, Target  # noqa: E402
from spfp_console.journal.verify import verify_chain  # noqa: E402


def _events(count: int) -> Iterator[ev.Event]:
    """``count`` events in the proportions of a long index-heavy deployment (lazily)."""
    produced = 0
    i = 0
    while produced < count:
        out: list[ev.Event] = []
        sql = f"CREATE INDEX CONCURRENTLY idx_orders_{i} ON public.orders (user_id, created_at) WHERE status <> 'archived';"
        out.append(ev.StatementStarted(index=i, file="20260216_database_optimizations.sql", line=10 + i, sql=sql))
        for step in range(5):
            out.append(ev.IndexBuildProgress(index=i, phase="building index: scanning table",
                                             blocks_done=step * 1000, blocks_total=5000,
                                             relation="public.orders", index_name=f"idx_orders_{i}"))
        out.append(ev.ServerNotice(severity="NOTICE", message=f"index idx_orders_{i} built", index=i))
        out.append(ev.StatementFinished(index=i, file="20260216_database_optimizations.sql", line=10 + i,
                                        duration_s=12.5 + i / 1000, status="CREATE INDEX"))
        out.append(ev.ChecklistItemToggled(phase="during", item_id=f"check-{i}", checked=True, who="alice",
                                           note="looked at pg_stat_activity", evidence="screenshot-1.png"))
        out.append(ev.ResultTable(title=f"validation {i}", source="validation",
                                  columns=("check", "status", "detail"),
                                  rows=(("index valid", "pass", "indisvalid = true"),
                                        ("row count", "pass", "1000000 = 1000000")),
                                  status_column="status", passed=True))
        i += 1
        for event in out[: count - produced]:
            yield event
        produced += len(out[: count - produced])


def write_log(directory: Path, count: int) -> Path:
    writer = JournalWriter.create(
        SessionHeader(runbook_id=f"bench-{count}", target=Target(host="db", port=5432, database="app", user="u"),
                      operator={"os_user": "bench"}),
        log_dir=directory, env={}, progress_interval_s=0.0,
    )
    # Generating the fixture is not what is measured; skip the per-event fsync here only.
    with mock.patch.object(os, "fsync", lambda fd: None):
        for event in _events(count - 1):
            writer.record(event)
        writer.end("committed")
    return writer.path


def _peak_rss_kb() -> int:
    # VmHWM starts afresh at exec; ru_maxrss would include the parent's peak on Linux.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _child(path: Path) -> None:
    """Run in a fresh interpreter: the RSS peak then belongs to verification alone."""
    baseline = _peak_rss_kb()
    start = time.perf_counter()
    result = verify_chain(path)
    seconds = time.perf_counter() - start
    peak = _peak_rss_kb()
    print(json.dumps({"ok": result.ok, "line": result.problem, "events": result.events,
                      "seconds": seconds, "rss_kb": peak, "rss_growth_kb": peak - baseline}))


def measure(path: Path) -> dict[str, float]:
    """seconds, events, rss_kb and rss_growth_kb of verify_chain on ``path``."""
    proc = subprocess.run([sys.executable, __file__, "--child", str(path)], capture_output=True,
                          text=True, check=True)
    stats = json.loads(proc.stdout)
    if not stats["ok"]:
        raise SystemExit(f"benchmark log does not verify: {stats}")
    return stats


def traced_peak(path: Path) -> int:
    tracemalloc.start()
    verify_chain(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--keep", type=Path, help="write the logs here and keep them")
    parser.add_argument("--tracemalloc", action="store_true", help="also report traced peak")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.keep or Path(tmp)
        rows = []
        for size in args.sizes:
            t0 = time.perf_counter()
            path = write_log(directory, size)
            written = time.perf_counter() - t0
            stats = measure(path)
            events, seconds = int(stats["events"]), stats["seconds"]
            line = (f"{events:>7} events  {path.stat().st_size / 1e6:6.1f} MB file  "
                    f"verify {seconds:6.2f} s = {events / seconds:7,.0f} events/s  "
                    f"peak RSS {stats['rss_kb'] / 1024:5.1f} MB "
                    f"(+{stats['rss_growth_kb'] / 1024:.1f} MB over the interpreter)")
            if args.tracemalloc:
                line += f"  traced peak {traced_peak(path) / 1e6:.2f} MB"
            print(f"{line}  [log written in {written:.1f} s]", flush=True)
            rows.append((events, seconds, stats["rss_kb"]))
    if len(rows) >= 2:
        rows.sort()
        (e1, t1, m1), (e2, t2, m2) = rows[0], rows[-1]
        print(f"{e2 / 1000:g}k vs {e1 / 1000:g}k events: {e2 / e1:.1f}x events -> {t2 / t1:.2f}x time "
              f"({(t2 / e2) / (t1 / e1):.2f}x per event: linear), {m2 / m1:.2f}x peak RSS (flat)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
