"""The paper's claims next to what a real run measures, at a scale where indexes matter.

    python bench/bench_claims.py [--scale 10]

Loads the sample data at ``--scale`` (10: about 1M rows) into a throwaway PostgreSQL,
then runs ``spfp-console run --yes --performance --json`` on a fresh copy: the headline
queries are timed (EXPLAIN ANALYZE, median of 5 after a warm-up) before and after the
migration, and every claim of the runbook is judged (counts from the catalog, the run's
duration, the speedups).  Prints both tables, README-ready.

The speedups depend on the data: the sample data's distribution (users, rows per user)
and the indexes the base schema already has.  At scale 0.1 most tables are small enough
that a sequential scan is cheap and the claimed 17-30x cannot show.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from typing import Any

from benchdb import Clones, prepare_template, spfp_console_argv

from spfp_console.localpg import LocalCluster


def markdown(columns: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |"
              for row in rows]
    return "\n".join(lines)


def tables_of(stdout: str, source: str) -> list[dict[str, Any]]:
    found = []
    for line in stdout.splitlines():
        record = json.loads(line)
        if record.get("kind") == "result_table" and record.get("source") == source:
            found.append(record)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=10.0,
                        help="sample data scale (default 10: about 1M rows)")
    args = parser.parse_args(argv)
    started_at = datetime.now(timezone.utc)
    with LocalCluster() as cluster, tempfile.TemporaryDirectory(prefix="spfp-bench-") as tmp:
        machine = (f"{platform.machine()}, {os.cpu_count()} cores, Linux"
                   f" {platform.release()}, PostgreSQL {cluster.bindir.parent.name}")
        loading = time.perf_counter()
        rows = prepare_template(cluster, "bench_claims", args.scale)
        print(f"scale {args.scale:g}: {rows:,} rows loaded in"
              f" {time.perf_counter() - loading:.1f} s", flush=True)
        clones = Clones(cluster, "bench_claims")
        db = clones.fresh()
        proc = subprocess.run(
            [*spfp_console_argv(), "run", "--yes", "--performance", "--json", "--no-log",
             "--dsn", cluster.dsn(db)],
            env=cluster.env(), cwd=tmp, stdin=subprocess.DEVNULL, capture_output=True,
            text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"run failed ({proc.returncode}): {proc.stderr.strip()}")
    speedups = [t for t in tables_of(proc.stdout, "performance")
                if "claimed vs measured" in t["title"]]
    [claims] = tables_of(proc.stdout, "claims")
    print(f"\n`spfp-console run --performance` at scale {args.scale:g} ({rows:,} rows),"
          f" {started_at:%Y-%m-%d %H:%M} UTC, {machine}:\n")
    for table in speedups:
        print(markdown(table["columns"], table["rows"]) + "\n")
    print(markdown(claims["columns"], claims["rows"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
