"""Benchmark: open a 100,000-event log for replay, then step and seek in it.

    python bench/bench_replay_timeline.py [--events 100000] [--seeks 200]

Writes a realistic log with the real ``JournalWriter`` (statements with index-build
progress and notices, checklist ticks, result tables), then measures in this process:

- open: reading and indexing the log (chain checked, markers placed, nothing folded:
  what replay waits for), then parsing and folding every event with seek points, against
  a bare fold of the parsed events (the floor any replay pays);
- seek: the state at random cursors (p50/p99/max ms), against re-folding from event 0
  (what a naive replay does per step);
- step: one event forward in place, and one event back (from a seek point).

Targets from the issue: open < 2 s, step and seek < 100 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spfp_console import events as ev  # noqa: E402
from spfp_console.journal.record import JournalWriter, SessionHeader, Target  # noqa: E402
from spfp_console.session.state import fold  # noqa: E402
from spfp_console.session.timeline import timeline_from_log  # noqa: E402

SCRIPT = "20260216_database_optimizations.sql"


def session_events(count: int) -> Iterator[ev.Event]:
    """A long session: statements with progress samples, ticks now and then, tables."""
    yield ev.SessionStarted(operator="alice", runbook_id="bench", phases=(("run", "Run"),),
                            items=tuple(("run", f"item-{i}", f"item {i}", "required", "", "")
                                        for i in range(20)))
    yield ev.RunStarted(mode="run", script=SCRIPT, statements=count // 7)
    produced, i = 2, 0
    while produced < count:
        batch: list[ev.Event] = [
            ev.StatementStarted(index=i, file=SCRIPT, line=10 + i,
                                sql=f"CREATE INDEX idx_{i} ON public.orders (user_id, created_at);")]
        batch += [ev.IndexBuildProgress(index=i, phase="building index: scanning table",
                                        blocks_done=s * 1000, blocks_total=3000,
                                        index_name=f"idx_{i}") for s in range(3)]
        batch.append(ev.ServerNotice(severity="NOTICE", message=f"built idx_{i}", index=i))
        batch.append(ev.StatementFinished(index=i, file=SCRIPT, line=10 + i, duration_s=0.5,
                                          status="CREATE INDEX"))
        if i % 50 == 0:
            batch.append(ev.ChecklistItemToggled(phase="run", item_id=f"item-{i % 20}",
                                                 checked=True, who="alice", when="10:00"))
        if i % 500 == 0:
            batch.append(ev.ResultTable(title=f"validation {i}", source="validation",
                                        columns=("check", "status"),
                                        rows=(("index valid", "pass"),), passed=True))
        for event in batch[: count - produced]:
            yield event
        produced += min(len(batch), count - produced)
        i += 1


def write_log(directory: Path, count: int) -> Path:
    header = SessionHeader(runbook_id="bench", target=Target(host="db", port=5432,
                                                               database="app", user="alice"))
    writer = JournalWriter.create(header, log_dir=directory, progress_interval_s=0.0, env={})
    for event in session_events(count):
        writer.record(event, durable=False)  # bulk write: no sync per event
    writer.end("committed")
    return Path(writer.path)


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"p50 {statistics.median(ordered) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms,"
            f" max {ordered[-1] * 1000:.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seeks", type=int, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        log = write_log(Path(tmp), args.events)
        print(f"wrote {args.events:,} events ({log.stat().st_size / 1e6:.1f} MB) in"
              f" {time.perf_counter() - started:.1f} s")

        started = time.perf_counter()
        loaded = timeline_from_log(log, fold=0)
        indexed = time.perf_counter() - started
        timeline = loaded.timeline
        started = time.perf_counter()
        timeline.fold_more(len(timeline))
        folded_in = time.perf_counter() - started
        opened = indexed + folded_in
        events = timeline.events  # parsed now: the bare fold below parses nothing
        started = time.perf_counter()
        fold(events)
        folded = time.perf_counter() - started
        print(f"open: {indexed:.2f} s to read, check and index {len(timeline):,} events and"
              f" place {len(timeline.markers)} markers (what replay waits for before its"
              f" first frame); parse + fold + seek points {folded_in:.2f} s more (a bare"
              f" fold of the parsed events: {folded:.2f} s)")

        rng = random.Random(42)
        positions = [rng.randrange(len(timeline) + 1) for _ in range(args.seeks)]
        seeks = []
        for position in positions:
            t0 = time.perf_counter()
            timeline.state_at(position)
            seeks.append(time.perf_counter() - t0)
        naive = []
        for position in positions[:5]:
            t0 = time.perf_counter()
            fold(timeline.events[:position])
            naive.append(time.perf_counter() - t0)
        print(f"seek to a random event: {_ms(seeks)}")
        print(f"  vs re-folding from event 0: p50 {statistics.median(naive) * 1000:.0f} ms"
              f" ({statistics.median(naive) / statistics.median(seeks):.0f}x slower)")

        state = timeline.state_at(len(timeline) // 2)
        forward = []
        position = len(timeline) // 2
        for _ in range(args.seeks):
            t0 = time.perf_counter()
            state = timeline.advance(state, position, position + 1)
            forward.append(time.perf_counter() - t0)
            position += 1
        back = []
        for _ in range(min(args.seeks, 50)):
            t0 = time.perf_counter()
            state = timeline.advance(state, position, position - 1)
            back.append(time.perf_counter() - t0)
            position -= 1
        print(f"step forward: {_ms(forward)}; step back: {_ms(back)}")
        ok = indexed < 2.0 and max(seeks) < 0.1 and max(back) < 0.1
        print(f"targets (open < 2 s, seek and step < 100 ms): {'met' if ok else 'NOT met'}"
              f" (all of it, read to folded: {opened:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
