"""Benchmark ``spfp-console run`` against ``psql -f`` applying the same migration.

    python bench/bench_run_vs_psql.py [--runs 5] [--scale 0.2]

Starts a throwaway PostgreSQL (spfp_console.localpg), builds a template database with the
base schema and sample data, and for every timed run clones a fresh database from it
(``CREATE DATABASE ... TEMPLATE``, not timed): the migration changes its target, so no two
runs may share one.  The variants take turns (a, b, c, ... then again) so that a drift of
the machine during the benchmark spreads over all of them.

What is timed, wall clock, each in its own process unless it says in-process:

* ``psql -f``: ``psql -X -q -v ON_ERROR_STOP=1 -f MIGRATION`` (the baseline; the script has
  its own BEGIN/COMMIT, so it is one transaction there too);
* ``spfp-console run --no-log``: preflight, the run, validation and claims, no log;
* ``spfp-console run``: the same with the signed-log journal on (unsigned here);
* ``engine only``: a Python process that imports the engine and calls ``run_script``:
  connect, advisory lock, one transaction, statement by statement, progress monitor;
* ``engine in-process``: ``run_script`` alone, no interpreter start-up nor imports.

Then where a full ``run`` spends its time (in-process ``DeploymentSession`` steps) and the
start-up costs (``python -c pass``, ``import spfp_console.cli``, ``spfp-console --help``,
``psql --version``).  The difference between ``spfp-console run`` and ``engine only`` is
what the extra checks cost (preflight, validation, claims); the difference between
``engine only`` and ``psql -f`` is interpreter start-up plus per-statement round trips.

The cluster runs with fsync off (as the tests do): these numbers are CPU and round trips,
not a disk's.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from spfp_console.localpg import LocalCluster
from spfp_console.paths import DEFAULT_RUNBOOK, MIGRATION_SQL, base_schema_files
from spfp_console.sampledata import load_sample_data

TEMPLATE = "bench_template"

ENGINE_ONLY = """
import sys
from spfp_console.engine.connect import Target
from spfp_console.engine.executor import run_script
from spfp_console.engine.script import load_script
result = run_script(Target(sys.argv[1]), load_script(sys.argv[2]), mode="run",
                    lock_timeout="5s", statement_timeout="10min")
sys.exit(0 if result.ok else 1)
"""


def spfp_console_argv() -> list[str]:
    found = shutil.which("spfp-console")
    return [found] if found else [sys.executable, "-m", "spfp_console"]


class Bench:
    def __init__(self, cluster: LocalCluster, workdir: Path) -> None:
        self.cluster = cluster
        self.workdir = workdir
        self.env = cluster.env()
        self.psql = cluster.client_tool("psql")
        self._n = 0

    def fresh(self) -> str:
        self._n += 1
        name = f"bench_{self._n}"
        self.cluster.create_database(name, template=TEMPLATE)
        return name

    def drop(self, name: str) -> None:
        self.cluster.drop_database(name)

    def timed_process(self, argv: list[str]) -> float:
        started = time.perf_counter()
        proc = subprocess.run(
            argv,
            env=self.env,
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(
                f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr}"
            )
        return elapsed

    # ------------------------------------------------------------------ variants

    def psql_f(self, db: str) -> float:
        return self.timed_process(
            [
                self.psql,
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                self.cluster.dsn(db),
                "-f",
                str(MIGRATION_SQL),
            ]
        )

    def console_no_log(self, db: str) -> float:
        return self.timed_process(
            [
                *spfp_console_argv(),
                "run",
                "--yes",
                "--no-log",
                "--dsn",
                self.cluster.dsn(db),
            ]
        )

    def console_log(self, db: str) -> float:
        return self.timed_process(
            [
                *spfp_console_argv(),
                "run",
                "--yes",
                "--log-dir",
                str(self.workdir / "logs"),
                "--dsn",
                self.cluster.dsn(db),
            ]
        )

    def engine_only(self, db: str) -> float:
        return self.timed_process(
            [
                sys.executable,
                "-c",
                ENGINE_ONLY,
                self.cluster.dsn(db),
                str(MIGRATION_SQL),
            ]
        )

    def engine_in_process(self, db: str) -> float:
        from spfp_console.engine.connect import Target
        from spfp_console.engine.executor import run_script
        from spfp_console.engine.script import load_script

        started = time.perf_counter()
        result = run_script(
            Target(self.cluster.dsn(db)),
            load_script(MIGRATION_SQL),
            mode="run",
            lock_timeout="5s",
            statement_timeout="10min",
        )
        elapsed = time.perf_counter() - started
        if not result.ok:
            raise SystemExit(f"run_script failed: {result.message}")
        return elapsed

    def session_steps(self, db: str) -> dict[str, float]:
        """Where ``spfp-console run`` spends its time, step by step, in-process."""
        from spfp_console.deployment import DeploymentSession
        from spfp_console.runbook import load_runbook

        steps: dict[str, float] = {}

        def step(name: str, fn: Callable[[], object]) -> object:
            started = time.perf_counter()
            value = fn()
            steps[name] = time.perf_counter() - started
            return value

        runbook = step("load runbook", lambda: load_runbook(DEFAULT_RUNBOOK))
        with DeploymentSession(
            runbook=runbook,
            dsn=self.cluster.dsn(db),  # type: ignore[arg-type]
            journal_enabled=False,
        ) as session:
            step("connect", session.open)
            step("preflight", session.preflight)
            result = step("run (engine)", session.run)
            assert result.ok, result  # type: ignore[attr-defined]
            step("validation", session.validate)
            step("claims", session.claims)
        return steps


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def prepare(cluster: LocalCluster, scale: float) -> int:
    cluster.create_database(TEMPLATE)
    with psycopg.connect(cluster.dsn(TEMPLATE), autocommit=True) as conn:
        for path in base_schema_files():
            conn.execute(path.read_text())
    report = load_sample_data(cluster.dsn(TEMPLATE), scale=scale)
    with psycopg.connect(cluster.dsn(TEMPLATE), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return sum(report.rows.values())


def startup_times(runs: int) -> list[tuple[str, float, float]]:
    commands = [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        (
            "python -c 'import spfp_console.cli'",
            [sys.executable, "-c", "import spfp_console.cli"],
        ),
        (
            "python -c 'import ...engine.executor'",
            [sys.executable, "-c", "import spfp_console.engine.executor"],
        ),
        ("spfp-console --help", [*spfp_console_argv(), "--help"]),
    ]
    psql = shutil.which("psql")
    if psql:
        commands.append(("psql --version", [psql, "--version"]))
    out = []
    for label, argv in commands:
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run(
                argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True
            )
            samples.append(time.perf_counter() - started)
        out.append((label, median_ms(samples), min(samples) * 1000))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per variant")
    parser.add_argument("--scale", type=float, default=0.2, help="sample data scale")
    args = parser.parse_args(argv)

    with (
        LocalCluster() as cluster,
        tempfile.TemporaryDirectory(prefix="spfp-bench-") as tmp,
    ):
        print(
            f"PostgreSQL {cluster.bindir.parent.name} in {cluster.root}; "
            f"python {sys.version.split()[0]}"
        )
        started = time.perf_counter()
        rows = prepare(cluster, args.scale)
        print(
            f"template: base schema + sample data scale {args.scale}"
            f" ({rows} rows) in {time.perf_counter() - started:.1f} s"
        )
        bench = Bench(cluster, Path(tmp))
        variants: list[tuple[str, Callable[[str], float]]] = [
            ("psql -f (baseline)", bench.psql_f),
            ("spfp-console run --no-log", bench.console_no_log),
            ("spfp-console run (log on)", bench.console_log),
            ("engine only (python + run_script)", bench.engine_only),
            ("engine in-process (run_script)", bench.engine_in_process),
        ]
        samples: dict[str, list[float]] = {label: [] for label, _ in variants}
        # one untimed warm-up of each, so the first timed run does not pay for cold caches
        for _, fn in variants:
            db = bench.fresh()
            fn(db)
            bench.drop(db)
        for i in range(args.runs):
            order = variants[i % len(variants) :] + variants[: i % len(variants)]
            for label, fn in order:
                db = bench.fresh()
                try:
                    samples[label].append(fn(db))
                finally:
                    bench.drop(db)

        steps: dict[str, list[float]] = {}
        for _ in range(args.runs):
            db = bench.fresh()
            try:
                for name, seconds in bench.session_steps(db).items():
                    steps.setdefault(name, []).append(seconds)
            finally:
                bench.drop(db)

    base = median_ms(samples["psql -f (baseline)"])
    print(
        f"\nApplying {MIGRATION_SQL.name} to a fresh copy, {args.runs} runs each (median):"
    )
    print(
        f"  {'variant':<36} {'median':>9} {'min':>9} {'max':>9} {'x psql':>7} {'+ms':>8}"
    )
    for label, _ in variants:
        values = samples[label]
        med = median_ms(values)
        print(
            f"  {label:<36} {med:>7.0f}ms {min(values) * 1000:>7.0f}ms "
            f"{max(values) * 1000:>7.0f}ms {med / base:>6.2f}x {med - base:>+7.0f}"
        )

    no_log = median_ms(samples["spfp-console run --no-log"])
    with_log = median_ms(samples["spfp-console run (log on)"])
    engine = median_ms(samples["engine only (python + run_script)"])
    in_proc = median_ms(samples["engine in-process (run_script)"])
    print("\nWhere the overhead over psql -f comes from (differences of medians):")
    print(
        f"  interpreter start-up + imports (engine only - in-process)  {engine - in_proc:>+7.0f} ms"
    )
    print(
        f"  engine execution vs psql (in-process - psql -f)            {in_proc - base:>+7.0f} ms"
        "  (psql's own start-up included on its side)"
    )
    print(
        f"  preflight + validation + claims (run --no-log - engine)    {no_log - engine:>+7.0f} ms"
    )
    print(
        f"  deployment log (log on - --no-log)                         {with_log - no_log:>+7.0f} ms"
    )

    print(f"\nspfp-console run, step by step in-process ({args.runs} runs, median):")
    for name, values in steps.items():
        print(f"  {name:<16} {median_ms(values):>7.1f} ms")
    print(f"  {'total':<16} {sum(median_ms(v) for v in steps.values()):>7.1f} ms")

    print(f"\nStart-up ({args.runs} runs, median / min):")
    for label, med, low in startup_times(args.runs):
        print(f"  {label:<40} {med:>6.0f} ms / {low:>4.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
