"""Benchmark the sample-data loader against the server's own INSERT ... SELECT speed.

    python bench/bench_sample_data.py [--scales 1 10] [--migrated]

Starts a throwaway PostgreSQL (spfp_console.localpg), and for each scale loads the sample
data into a fresh database with the base schema, then inserts the same number of rows with
a plain ``INSERT ... SELECT generate_series`` into a table of similar width (uuid primary
key, a few text columns, a timestamp) as the baseline: what this server does with no client
at all.  Also times generating the rows in Python alone, the usual bottleneck.

The throwaway cluster runs with fsync off (as the tests do), so these numbers are the
generator's and COPY's, not a disk's.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date

import psycopg

from spfp_console.localpg import LocalCluster
from spfp_console.paths import MIGRATION_SQL, base_schema_files
from spfp_console.sampledata import TABLES, SampleDataset, load_sample_data

TODAY = date(2026, 2, 16)

BASELINE_SQL = """
CREATE TABLE bench_baseline (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL,
    title text NOT NULL,
    status text NOT NULL,
    amount numeric(19,2) NOT NULL,
    created_at timestamptz NOT NULL
);
"""

BASELINE_INSERT = """
INSERT INTO bench_baseline (user_id, title, status, amount, created_at)
SELECT gen_random_uuid(), 'Tarefa ' || g, (ARRAY['todo','in_progress','done'])[1 + g %% 3],
       (g %% 100000) / 100.0, now() - (g %% 180) * interval '1 day'
FROM generate_series(1, %s) AS g
"""


def generate_only(scale: float) -> tuple[int, float]:
    started = time.perf_counter()
    dataset = SampleDataset(scale=scale, today=TODAY)
    rows = sum(1 for spec in TABLES for _ in dataset.rows(spec, spec.optional))
    return rows, time.perf_counter() - started


def baseline(dsn: str, rows: int) -> float:
    with psycopg.connect(dsn) as conn:
        conn.execute(BASELINE_SQL)
        conn.commit()
        started = time.perf_counter()
        conn.execute(BASELINE_INSERT, (rows,))
        conn.execute("ANALYZE bench_baseline")
        conn.commit()
        return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--migrated", action="store_true",
                        help="also load into a migrated schema (more indexes to maintain)")
    args = parser.parse_args()

    print(f"cpus: {os.cpu_count()}, python {sys.version.split()[0]}")
    header = (f"{'scale':>6} {'schema':>8} {'rows':>10} {'load s':>8} {'rows/s':>9}"
              f" {'gen-only s':>10} {'baseline s':>10} {'ratio':>6}")
    with LocalCluster() as cluster:
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
        print(f"server: PostgreSQL {version} (fsync off)")
        print(header)
        print("-" * len(header))
        for scale in args.scales:
            _, gen_seconds = generate_only(scale)
            for migrated in ([False, True] if args.migrated else [False]):
                name = f"bench_{str(scale).replace('.', '_')}_{'mig' if migrated else 'base'}"
                cluster.create_database(name)
                dsn = cluster.dsn(name)
                with psycopg.connect(dsn, autocommit=True) as conn:
                    for path in base_schema_files():
                        conn.execute(path.read_text())
                    if migrated:
                        conn.execute(MIGRATION_SQL.read_text())
                report = load_sample_data(dsn, scale=scale, today=TODAY)
                base_seconds = baseline(dsn, report.total_rows)
                print(f"{scale:>6g} {'migrated' if migrated else 'base':>8}"
                      f" {report.total_rows:>10,} {report.seconds:>8.2f}"
                      f" {report.rows_per_second:>9,.0f} {gen_seconds:>10.2f}"
                      f" {base_seconds:>10.2f} {report.seconds / base_seconds:>5.1f}x",
                      flush=True)
                cluster.drop_database(name)
    print("ratio: sample-data load time / INSERT ... SELECT generate_series of as many rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
