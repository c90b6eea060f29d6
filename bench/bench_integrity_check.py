"""Benchmark what the data integrity check adds to a run of the migration, at several data
scales, against the same run without it, side by side in one process.

    python bench/bench_integrity_check.py [--scales 0.1,1] [--runs N]

Per scale: a template database with the base schema and sample data; every timed run gets
a fresh clone (the migration changes its target).  The two variants take turns, so a
drift of the machine spreads over both.  Timed in-process: ``session.run_migration``
(connect and log are outside the timing) with ``integrity=True`` and ``integrity=False``;
also printed: how many rows the check read and its own scan time, as its result says.

The check reads every row of the touched tables twice (before the first statement and
after the last), so unlike the rest of ``run`` its cost grows with the data.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchdb import Clones, prepare_template

from spfp_console.deployment import DeploymentSession
from spfp_console.localpg import LocalCluster
from spfp_console.paths import DEFAULT_RUNBOOK
from spfp_console.runbook import load_runbook


def timed_run(cluster: LocalCluster, db: str, tmp: Path, integrity: bool) -> tuple[float, str]:
    runbook = load_runbook(DEFAULT_RUNBOOK)
    with DeploymentSession(runbook=runbook, dsn=cluster.dsn(db), journal_enabled=False,
                           log_dir=tmp) as session:
        session.open()
        started = time.perf_counter()
        result = session.run_migration(integrity=integrity)
        elapsed = time.perf_counter() - started
        if not result.ok:
            raise SystemExit(f"run failed: {result.message}")
        item = session.state.item("post-deployment", "data-integrity")
        evidence = item.evidence if item is not None and item.checked else ""
    return elapsed, evidence or ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", default="0.1,1", help="sample data scales (default 0.1,1)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per variant (default 5)")
    args = parser.parse_args(argv)
    scales = sorted(float(s) for s in args.scales.split(","))
    with LocalCluster() as cluster, tempfile.TemporaryDirectory(prefix="spfp-bench-") as tmp:
        print(f"{os.cpu_count()} cores; load average at start {os.getloadavg()[0]:.1f}"
              " (a shared machine: compare the ratio, not the milliseconds)")
        print("| scale (rows) | run without | run with the check | x | check's own scans |")
        print("|---|---:|---:|---:|---|")
        for scale in scales:
            template = f"bench_integrity_s{str(scale).replace('.', '_')}"
            rows = prepare_template(cluster, template, scale)
            clones = Clones(cluster, template)
            samples: dict[bool, list[float]] = {False: [], True: []}
            evidence = ""
            for i in range(args.runs + 1):  # the first round is an untimed warm-up
                for integrity in ((False, True) if i % 2 else (True, False)):
                    db = clones.fresh()
                    try:
                        elapsed, said = timed_run(cluster, db, Path(tmp), integrity)
                    finally:
                        clones.drop(db)
                    if i:
                        samples[integrity].append(elapsed)
                    evidence = said or evidence
            without = statistics.median(samples[False]) * 1000
            with_check = statistics.median(samples[True]) * 1000
            scans = evidence.split("; ", 1)[-1] if evidence else "?"
            print(f"| {scale:g} ({rows:,}) | {without:,.0f} ms | {with_check:,.0f} ms |"
                  f" {with_check / without:.2f} | {scans} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
