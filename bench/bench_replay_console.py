"""Benchmark: ``spfp-console replay`` on a 100,000-event log, through the real app.

    python bench/bench_replay_console.py [--events 100000] [--steps 40]

The log is written by ``bench_replay_timeline.write_log`` (the real JournalWriter). Measured
in this process, with Textual's Pilot driving the app headless (keys as a reviewer presses
them, each until its frame is drawn):

- open: ``open_replay`` (read, verify, build the timeline) until the first frame;
- keys: right / left (one event), ] (next marker), home / end, each until its frame is
  drawn, against a key with no binding (what Pilot itself costs);
- seek: the cursor moved to random events with every pane updated, against the obvious
  alternative: folding the log from event 0 to the same cursor (a replay without seek
  points).  Targets from the issue: open
< 2 s, stepping and seeking < 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_replay_timeline import write_log  # noqa: E402

from spfp_console.session.state import fold  # noqa: E402
from spfp_console.ui.launch import open_replay  # noqa: E402


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"p50 {statistics.median(ordered) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms,"
            f" max {ordered[-1] * 1000:.1f} ms")


async def measure(log: Path, steps: int) -> None:
    started = time.perf_counter()
    app = open_replay(log)
    loaded = time.perf_counter() - started
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        opened = time.perf_counter() - started
        total = len(app.timeline)
        print(f"open: {opened:.2f} s to the first frame ({loaded:.2f} s reading, verifying"
              f" and indexing {total} events)")
        rng = random.Random(7)
        keys: dict[str, list[float]] = {}
        for _ in range(steps):
            for key in ("x", "home", "end", "left", "right", "right_square_bracket"):
                if key == "left":  # from somewhere in the middle, not from the end
                    app.move_to(rng.randrange(1, total))
                t0 = time.perf_counter()
                await pilot.press(key)
                await pilot.pause()
                keys.setdefault(key, []).append(time.perf_counter() - t0)
        for key, samples in keys.items():
            what = "(no binding: Pilot's own cost)" if key == "x" else ""
            print(f"key {key:<22} {_ms(samples)} {what}")
        # The work per key without Pilot: move the cursor and redraw every pane's data,
        # against folding from event 0 to the same cursor.
        moves: list[float] = []
        naive: list[float] = []
        events = app.timeline.events
        for _ in range(steps):
            cursor = rng.randrange(1, total)
            t0 = time.perf_counter()
            app.move_to(cursor)
            moves.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            fold(events[:cursor])
            naive.append(time.perf_counter() - t0)
        print(f"seek to a random event + update every pane: {_ms(moves)}")
        print(f"fold from event 0 to it (no seek points):   {_ms(naive)}")
        print(f"ratio: seeking {statistics.median(naive) / statistics.median(moves):.1f}x"
              " faster than re-folding from event 0 (median; the seek includes the panes)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        log = write_log(Path(directory), args.events)
        asyncio.run(measure(log, args.steps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
