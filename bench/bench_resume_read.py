"""Benchmark: what reading an old log costs ``spfp-console resume``, next to ``verify``.

    python bench/bench_resume_read.py [--sizes 10000,100000] [--repeat 3]

For each size it writes a realistic log (``bench_journal_verify``'s event mix after a
``session_started``) with the real ``JournalWriter``, then times, side by side in this
process (the fastest of ``--repeat`` runs):

* ``verify``: ``verify_log`` (chain and signatures, no parsing): the floor, since resume
  must verify before it trusts anything;
* ``resume``: ``read_resume_point`` (verify, then parse every event and fold it into the
  session state): what ``resume`` pays before it connects;
* ``export read``: ``read_journal`` plus the same fold (the reader export and replay use).

Figures on a shared 2-core machine are noisy; the ratios, taken in one run, less so.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_journal_verify import _events, _header  # noqa: E402

from spfp_console import events as ev  # noqa: E402
from spfp_console.journal.read import read_journal  # noqa: E402
from spfp_console.journal.record import JournalWriter  # noqa: E402
from spfp_console.journal.verify import verify_log  # noqa: E402
from spfp_console.session.resume import read_resume_point  # noqa: E402
from spfp_console.session.state import fold  # noqa: E402


def write_log(directory: Path, count: int) -> Path:
    writer = JournalWriter.create(_header(f"bench-{count}"), log_dir=directory, env={},
                                  progress_interval_s=0.0)
    with mock.patch.object(os, "fdatasync", lambda fd: None):
        writer.record(ev.SessionStarted(operator="alice", runbook_id=f"bench-{count}"))
        for event in _events(count - 2):
            writer.record(event)
    writer.close()  # killed: no session end record, the case resume is for
    return writer.path


def best(task: Callable[[Path], object], path: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        task(path)
        times.append(time.perf_counter() - started)
    return min(times)


def export_read(path: Path) -> None:
    fold(e for e in (x.event() for x in read_journal(path).entries) if e)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            path = write_log(Path(tmp) / str(size), size)
            mib = path.stat().st_size / 2**20
            verify = best(verify_log, path, args.repeat)
            resume = best(read_resume_point, path, args.repeat)
            export = best(export_read, path, args.repeat)
            print(f"{size:>7} events, {mib:6.1f} MiB: verify {verify:6.2f} s,"
                  f" resume read {resume:6.2f} s ({resume / verify:4.1f}x verify,"
                  f" {size / resume:>8,.0f} events/s), read_journal+fold {export:6.2f} s"
                  f" ({export / resume:4.2f}x resume)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
