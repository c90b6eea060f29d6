"""Benchmark what the data integrity check adds to a run of the migration, at several data
scales, against the same run without it, side by side in one process.

    python bench/bench_integrity_check.py [--scales 0.1,1] [--runs N]

Per scale: a template database with the base schema and sample data; every timed run gets
a fresh clone (the migration changes its target).  The two variants take turns, so a
drift of the machine spreads over both.  Timed in-process: ``session.run_migration``
(connect and log are outside the timing) with ``integrity=True`` and ``integrity=False``;
also printed: how many rows the check read and its own scan time, as its result says.

The check reads every row of the touched tables twice (before the first statement and
after the last), so unlike the rest of ``run`` its cost grows with the data.  Its scans
ask for parallel plans; a third variant runs it on a clone whose database says
``max_parallel_workers_per_gather = 0`` (serial scans: what the check cost before, and
what it costs on a server that allows no workers), so the gain is measured side by side.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from benchdb import Clones, prepare_template
from psycopg import sql

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
        print("| scale (rows) | run without | with the check | x | check, serial scans | x |"
              " check's own scans (parallel; serial) |")
        print("|---|---:|---:|---:|---:|---:|---|")
        variants = ("without", "check", "serial")
        for scale in scales:
            template = f"bench_integrity_s{str(scale).replace('.', '_')}"
            rows = prepare_template(cluster, template, scale)
            clones = Clones(cluster, template)
            samples: dict[str, list[float]] = {v: [] for v in variants}
            evidence: dict[str, str] = {}
            for i in range(args.runs + 1):  # the first round is an untimed warm-up
                for variant in variants[i % 3:] + variants[:i % 3]:
                    db = clones.fresh()
                    try:
                        if variant == "serial":
                            with psycopg.connect(cluster.dsn(db), autocommit=True) as conn:
                                conn.execute(sql.SQL("ALTER DATABASE {} SET"
                                                     " max_parallel_workers_per_gather = 0")
                                             .format(sql.Identifier(db)))
                        elapsed, said = timed_run(cluster, db, Path(tmp), variant != "without")
                    finally:
                        clones.drop(db)
                    if i:
                        samples[variant].append(elapsed)
                    evidence[variant] = said or evidence.get(variant, "")
            ms = {v: statistics.median(samples[v]) * 1000 for v in variants}
            scans = "; ".join(evidence[v].split("; ", 1)[-1] if evidence.get(v) else "?"
                              for v in ("check", "serial"))
            print(f"| {scale:g} ({rows:,}) | {ms['without']:,.0f} ms | {ms['check']:,.0f} ms |"
                  f" {ms['check'] / ms['without']:.2f} | {ms['serial']:,.0f} ms |"
                  f" {ms['serial'] / ms['without']:.2f} | {scans} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
