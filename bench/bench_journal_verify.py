"""Benchmark: verify and read 10k- and 100k-event deployment logs; what writing them costs.

    python bench/bench_journal_verify.py [--sizes 10000,100000] [--keep DIR] [--write-events N]

For each size it writes a realistic log with the real ``JournalWriter`` (statements,
index-build progress, notices, checklist ticks, result tables), then, each in a fresh
interpreter so that the peak RSS (``VmHWM``) belongs to that pass alone, times (wall
clock, and CPU time, which a busy machine disturbs less; the fastest of ``--repeat`` runs
counts):

* ``verify``: ``verify_chain`` (the chain over every event's bytes, no parsing);
* ``open``: ``LogReader(parse=False)``, every entry with its offset, records parsed only
  when shown (what a replay viewer does when it opens a log);
* ``read``: ``LogReader`` parsing every event with rtoml (what export does);
* the obvious alternatives on the same file: sha256 over its bytes (the floor: reading
  and hashing every byte once), and parsing the whole file with the standard library's
  ``tomllib`` and with ``rtoml``.

Then the cost of writing: the same event mix recorded with an fsync per event (the old
rule) and with the durability rules of ``record.DURABLE_KINDS`` (fdatasync only where a
crash must not lose the event), into a directory on the real disk.
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
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spfp_console import events as ev  # noqa: E402
from spfp_console.journal.record import JournalWriter, SessionHeader, Target  # noqa: E402


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


def _header(name: str) -> SessionHeader:
    return SessionHeader(runbook_id=name, target=Target(host="db", port=5432, database="app", user="u"),
                         operator={"os_user": "bench"})


def write_log(directory: Path, count: int) -> Path:
    writer = JournalWriter.create(_header(f"bench-{count}"), log_dir=directory, env={},
                                  progress_interval_s=0.0)
    # Generating the fixture is not what is measured here; skip the syncs.
    with mock.patch.object(os, "fdatasync", lambda fd: None):
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


def _child(task: str, path: Path) -> None:
    """One timed pass in a fresh interpreter: its RSS peak is that pass's alone."""
    import hashlib
    import tomllib

    import rtoml

    from spfp_console.journal.read import LogReader
    from spfp_console.journal.verify import verify_chain

    baseline = _peak_rss_kb()
    start = time.perf_counter()
    cpu_start = time.process_time()
    events = 0
    if task == "verify":
        result = verify_chain(path)
        assert result.ok, result
        events = result.events
    elif task == "read":
        reader = LogReader(path)
        events = sum(1 for _ in reader)
        assert reader.chain.ok, reader.chain
    elif task == "open":
        # What a replay viewer does on open: every entry, its record parsed when shown.
        reader = LogReader(path, parse=False)
        entries = [(e.seq, e.kind, e.offset) for e in reader]
        events = len(entries)
        assert reader.chain.ok, reader.chain
    elif task == "sha256":
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    elif task == "tomllib":
        with open(path, "rb") as f:
            events = len(tomllib.load(f)["event"])
    elif task == "rtoml":
        events = len(rtoml.loads(path.read_text(encoding="utf-8"))["event"])
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    peak = _peak_rss_kb()
    print(json.dumps({"events": events, "seconds": seconds, "cpu": cpu, "rss_kb": peak,
                      "rss_growth_kb": peak - baseline}))


def measure(task: str, path: Path, repeat: int) -> dict[str, float]:
    """The fastest of ``repeat`` runs: on a shared machine the others measure the neighbours."""
    runs = []
    for _ in range(repeat):
        proc = subprocess.run([sys.executable, __file__, "--child", task, str(path)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"{task} on {path} failed:\n{proc.stderr}")
        runs.append(json.loads(proc.stdout))
    return min(runs, key=lambda r: r["seconds"])  # type: ignore[no-any-return]


def write_cost(directory: Path, count: int) -> None:
    """Record ``count`` events with an fsync per event, then with the durability rules."""
    results = {}
    for label in ("fsync every event", "durable points only"):
        writer = JournalWriter.create(_header(f"write-{label[:5]}"), log_dir=directory, env={},
                                      progress_interval_s=0.0)
        every = label.startswith("fsync")
        start = time.perf_counter()
        for event in _events(count):
            writer.record(event)
            if every:
                writer.flush_durable()
        writer.end("committed")
        seconds = time.perf_counter() - start
        results[label] = (seconds, writer.syncs)
        writer.path.unlink()
    base_s, base_syncs = results["fsync every event"]
    new_s, new_syncs = results["durable points only"]
    print(f"write {count} events on {directory}: fsync every event {base_s * 1000:7.1f} ms "
          f"({base_syncs} syncs); durable points only {new_s * 1000:7.1f} ms ({new_syncs} syncs) "
          f"= {base_s / new_s:.1f}x faster, {base_syncs / max(new_syncs, 1):.1f}x fewer syncs")


def _sizes(text: str) -> list[int]:
    return [int(part) for part in text.replace(",", " ").split()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=_sizes, default=[10_000, 100_000],
                        help="event counts, comma-separated (default: 10000,100000)")
    parser.add_argument("--keep", type=Path, help="write the logs here and keep them")
    parser.add_argument("--write-events", type=int, default=2000,
                        help="events for the write-cost comparison (default: %(default)s)")
    parser.add_argument("--skip-tomllib", action="store_true", help="skip the slow tomllib pass")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per pass, the fastest counts (default: %(default)s; tomllib runs once)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], Path(args.child[1]))
        return 0
    disk = Path(__file__).resolve().parent / ".bench-tmp"
    disk.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=disk) as tmp:
        directory = args.keep or Path(tmp)
        verify_rows = []
        for size in args.sizes:
            path = write_log(directory, size)
            mb = path.stat().st_size / 1e6
            stats = {task: measure(task, path, 1 if task == "tomllib" else args.repeat) for task in
                     ("verify", "open", "read", "sha256", "rtoml",
                      *(() if args.skip_tomllib else ("tomllib",)))}
            verify, read = stats["verify"], stats["read"]
            print(f"{size:>7} events, {mb:5.1f} MB:")
            for task, label in (("verify", "verify (chain)"), ("open", "open for replay (lazy)"),
                                ("read", "read + parse every event"),
                                ("sha256", "sha256 over the file"), ("rtoml", "rtoml, whole file"),
                                ("tomllib", "tomllib, whole file")):
                if task not in stats:
                    continue
                s = stats[task]
                print(f"  {label:<26} {s['seconds']:7.3f} s (cpu {s['cpu']:6.3f} s) = "
                      f"{size / s['seconds']:>9,.0f} events/s  "
                      f"peak RSS {s['rss_kb'] / 1024:6.1f} MB (+{s['rss_growth_kb'] / 1024:5.1f} MB)  "
                      f"{s['cpu'] / verify['cpu']:6.2f}x verify (cpu)")
            line = (f"  cpu time: verify is {verify['cpu'] / stats['sha256']['cpu']:.1f}x a plain sha256; "
                    f"read is {read['cpu'] / stats['rtoml']['cpu']:.2f}x rtoml on the whole file")
            if "tomllib" in stats:
                line += f" and {stats['tomllib']['cpu'] / read['cpu']:.1f}x faster than tomllib"
            print(line, flush=True)
            verify_rows.append((size, verify["cpu"], verify["rss_kb"], read["cpu"], read["rss_kb"]))
            if not args.keep:
                path.unlink()
        if len(verify_rows) >= 2:
            verify_rows.sort()
            (e1, v1, m1, r1, rm1), (e2, v2, m2, r2, rm2) = verify_rows[0], verify_rows[-1]
            print(f"{e2 / 1000:g}k vs {e1 / 1000:g}k events ({e2 / e1:.0f}x): verify {v2 / v1:.2f}x cpu time, "
                  f"{m2 / m1:.2f}x peak RSS; read {r2 / r1:.2f}x cpu time, {rm2 / rm1:.2f}x peak RSS")
        write_cost(Path(tmp), args.write_events)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
