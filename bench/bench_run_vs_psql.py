"""Benchmark ``spfp-console run`` against ``psql -f`` applying the same migration, at
several data scales in one run, and the start-up import budget of a headless command.

    python bench/bench_run_vs_psql.py [--scales 0.1,1,10] [--runs N]

Starts a throwaway PostgreSQL (spfp_console.localpg); per scale, builds a template database
with the base schema and sample data and, for every timed run, clones a fresh database
from it (``CREATE DATABASE ... TEMPLATE``, not timed): the migration changes its target, so
no two runs may share one.  The variants take turns (a, b, c, ... then b, c, ..., a) so
that a drift of the machine spreads over all of them.  Default runs per scale: 7 at 0.1
and 1, 5 at 10 (about 4 minutes on 2 cores); ``--runs`` sets one count for all.

What is timed, wall clock, each in its own process unless it says in-process:

* ``psql -f``: ``psql -X -q -v ON_ERROR_STOP=1 -f MIGRATION`` (the baseline; the script
  has its own BEGIN/COMMIT, so it is one transaction there too);
* ``spfp-console run --yes --no-integrity``: preflight, the run, validation and claims,
  with the deployment log (unsigned), without the data integrity check (psql checks
  nothing either);
* ``run --no-log``: the same without the log;
* ``run --yes`` as shipped: the SPFP runbook turns the data integrity check on (it counts
  and checksums the touched tables before and after, in the run's transaction): a cost
  that grows with the data by design, shown on its own row;
* ``engine only``: a Python process that imports the engine and calls ``run_script``:
  connect, advisory lock, one transaction, statement by statement, progress monitor;
* ``engine in-process``: ``run_script`` alone, no interpreter start-up nor imports.

Start-up: ``python -X importtime`` of a real headless ``run`` (on a clone of the smallest
scale) with psycopg and pglast imported first, so what is imported after them is what the
console itself costs (its modules and the standard library modules it adds); the budget
is 50 ms.  The wall clock of ``--help`` and of a process that only imports psycopg and
pglast beside it (exiting as the console script does, its garbage collector frozen: the
interpreter's final collection over the drivers' objects would add about 60 ms that
``run`` no longer pays).

The package's bytecode is compiled first (``compileall``), as ``pip install`` does: with
PYTHONDONTWRITEBYTECODE set (as on the development machines) an editable checkout would
otherwise recompile every module at every start, and the bench would time the compiler.

The cluster runs with fsync off (as the tests do): these numbers are CPU and round trips,
not a disk's.  The tables are Markdown, ready for the README.
"""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from benchdb import Clones, prepare_template, spfp_console_argv

import spfp_console
from spfp_console.localpg import LocalCluster
from spfp_console.paths import DEFAULT_RUNBOOK, MIGRATION_SQL

IMPORT_BUDGET_MS = 50.0
RUN_GOAL_X = 1.15
ENGINE_GOAL_X = 1.05
DEFAULT_RUNS = {0.1: 7, 1.0: 7, 10.0: 5}

ENGINE_ONLY = """
import sys
from spfp_console.engine.connect import Target
from spfp_console.engine.executor import run_script
from spfp_console.engine.script import load_script
result = run_script(Target(sys.argv[1]), load_script(sys.argv[2]), mode="run",
                    lock_timeout="5s", statement_timeout="10min")
import gc; gc.freeze()  # exits like the console script (spfp_console.cli.main)
sys.exit(0 if result.ok else 1)
"""

# A headless `run` in a process of its own, psycopg and pglast imported before it.
RUN_AFTER_DRIVERS = """
import sys
import psycopg, pglast
from spfp_console.cli import main
sys.exit(main(["run", "--yes", "--no-log", "--dsn", sys.argv[1]]))
"""

# The floor: a new interpreter that imports the two drivers and exits like `run` does.
DRIVERS_ONLY = "import gc, psycopg, pglast; gc.freeze()"

PSQL = "psql -f"
RUN = "`spfp-console run --yes --no-integrity` (log on)"
NO_LOG = "`run --no-log`"
ENGINE = "engine only (new process)"
IN_PROCESS = "engine in-process"
INTEGRITY = "`run --yes` as shipped (+ data integrity check)"


# A headless run's wall clock in phases, from the event times its log records (UTC,
# microseconds) between the moment the bench spawned it and the moment it exited.
PHASES = (
    ("start-up", "spawn -> session_started: interpreter, imports, runbook, connect"),
    ("before the first statement", "-> first statement_started: log header, preflight,"
                                   " advisory lock, BEGIN"),
    ("statements and COMMIT", "-> run_finished: what psql -f does"),
    ("after COMMIT", "-> session_ended: validation, claims, the log's end"),
    ("exit", "-> the process is gone"),
)


def run_phases(log: Path, spawned: float, exited: float) -> dict[str, float]:
    from spfp_console.journal.read import read_journal

    def epoch(at: str) -> float:
        return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()

    entries = read_journal(log).entries
    first = {kind: next(epoch(e.at) for e in entries if e.kind == kind)
             for kind in ("session_started", "statement_started", "run_finished",
                          "session_ended")}
    marks = [spawned, first["session_started"], first["statement_started"],
             first["run_finished"], first["session_ended"], exited]
    return {name: later - earlier
            for (name, _), earlier, later in zip(PHASES, marks, marks[1:], strict=False)}


class Bench:
    def __init__(self, cluster: LocalCluster, clones: Clones, workdir: Path) -> None:
        self.cluster = cluster
        self.clones = clones
        self.workdir = workdir
        self.env = cluster.env()
        self.psql = cluster.client_tool("psql")
        self.phases: dict[str, list[float]] = {}
        """Where each timed `run` (log on) spent its wall clock, from its log: PHASES."""

    def timed_process(self, argv: list[str]) -> float:
        started = time.perf_counter()
        proc = subprocess.run(argv, env=self.env, cwd=self.workdir, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              check=False)
        elapsed = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr}")
        return elapsed

    def psql_f(self, db: str) -> float:
        return self.timed_process([self.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1",
                                   "-d", self.cluster.dsn(db), "-f", str(MIGRATION_SQL)])

    # psql checks nothing: the comparison runs without the data integrity check (the
    # SPFP runbook turns it on; it reads the touched tables twice), which has a row of
    # its own.
    def console_log(self, db: str) -> float:
        logs = self.workdir / "logs" / db
        spawned = time.time()
        elapsed = self.timed_process([*spfp_console_argv(), "run", "--yes", "--no-integrity",
                                      "--log-dir", str(logs), "--dsn", self.cluster.dsn(db)])
        exited = time.time()
        [log] = logs.glob("*.deploy-log.toml")
        for name, seconds in run_phases(log, spawned, exited).items():
            self.phases.setdefault(name, []).append(seconds)
        return elapsed

    def console_no_log(self, db: str) -> float:
        return self.timed_process([*spfp_console_argv(), "run", "--yes", "--no-integrity",
                                   "--no-log", "--dsn", self.cluster.dsn(db)])

    def console_integrity(self, db: str) -> float:
        return self.timed_process([*spfp_console_argv(), "run", "--yes", "--log-dir",
                                   str(self.workdir / "logs"), "--dsn", self.cluster.dsn(db)])

    def engine_only(self, db: str) -> float:
        return self.timed_process([sys.executable, "-c", ENGINE_ONLY, self.cluster.dsn(db),
                                   str(MIGRATION_SQL)])

    def engine_in_process(self, db: str) -> float:
        from spfp_console.engine.connect import Target
        from spfp_console.engine.executor import run_script
        from spfp_console.engine.script import load_script

        started = time.perf_counter()
        result = run_script(Target(self.cluster.dsn(db)), load_script(MIGRATION_SQL),
                            mode="run", lock_timeout="5s", statement_timeout="10min")
        elapsed = time.perf_counter() - started
        if not result.ok:
            raise SystemExit(f"run_script failed: {result.message}")
        return elapsed

    def variants(self) -> list[tuple[str, Callable[[str], float]]]:
        return [(PSQL, self.psql_f), (RUN, self.console_log), (NO_LOG, self.console_no_log),
                (ENGINE, self.engine_only), (IN_PROCESS, self.engine_in_process),
                (INTEGRITY, self.console_integrity)]

    def session_steps(self, db: str) -> dict[str, float]:
        """Where a ``run`` spends its time, step by step, in-process, log on."""
        from spfp_console.deployment import DeploymentSession
        from spfp_console.runbook import load_runbook

        steps: dict[str, float] = {}

        def step(name: str, fn: Callable[[], object]) -> object:
            started = time.perf_counter()
            value = fn()
            steps[name] = time.perf_counter() - started
            return value

        runbook = step("load runbook", lambda: load_runbook(DEFAULT_RUNBOOK))
        with DeploymentSession(runbook=runbook, dsn=self.cluster.dsn(db),  # type: ignore[arg-type]
                               log_dir=self.workdir / "logs") as session:
            step("connect + log header", session.open)
            step("preflight", session.preflight)
            result = step("run (engine)", lambda: session.run_migration(integrity=False))
            assert result.ok, result  # type: ignore[attr-defined]
            step("validation", session.run_validation)
            step("claims", session.claims)
            step("close the log", session.close)
        return steps

    def timed_scale(self, runs: int) -> dict[str, list[float]]:
        variants = self.variants()
        samples: dict[str, list[float]] = {label: [] for label, _ in variants}
        # One untimed warm-up of each: the first timed run must not pay for cold caches.
        for _, fn in variants:
            db = self.clones.fresh()
            try:
                fn(db)
            finally:
                self.clones.drop(db)
        for i in range(runs):
            order = variants[i % len(variants):] + variants[: i % len(variants)]
            for label, fn in order:
                db = self.clones.fresh()
                try:
                    samples[label].append(fn(db))
                finally:
                    self.clones.drop(db)
        return samples


# ------------------------------------------------------------------------------ start-up


def _importtime_lines(stderr: str) -> list[tuple[int, int, str]]:
    """(self us, cumulative us, module with its nesting indent) per ``-X importtime`` line."""
    out = []
    for line in stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$", line)
        if m:
            out.append((int(m.group(1)), int(m.group(2)), m.group(3) + m.group(4)))
    return out


def import_costs(bench: Bench, runs: int) -> tuple[float, float, list[tuple[str, float]]]:
    """Median (psycopg + pglast, what the console adds after them) in ms, and the console's
    costliest modules in the median run, from ``-X importtime`` of a real ``run``."""
    drivers, ours, tops = [], [], []
    for _ in range(runs):
        db = bench.clones.fresh()
        try:
            proc = subprocess.run(
                [sys.executable, "-X", "importtime", "-c", RUN_AFTER_DRIVERS,
                 bench.cluster.dsn(db)],
                env=bench.env, cwd=bench.workdir, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
        finally:
            bench.clones.drop(db)
        if proc.returncode != 0:
            raise SystemExit(f"run under -X importtime failed: {proc.stderr[-2000:]}")
        lines = _importtime_lines(proc.stderr)
        # importtime prints a module when its import ends; the two top-level driver lines
        # end the drivers' imports, everything printed after them is the console's.
        last = max(i for i, (_, _, name) in enumerate(lines) if name in (" psycopg", " pglast"))
        drivers.append(sum(cum for _, cum, name in lines[: last + 1]
                           if name in (" psycopg", " pglast")) / 1000)
        after = [(s, name.strip()) for s, _, name in lines[last + 1:]]
        ours.append(sum(s for s, name in after
                        if not name.startswith(("psycopg", "pglast"))) / 1000)
        tops.append(sorted(((name, s / 1000) for s, name in after), key=lambda t: -t[1])[:6])
    median_run = sorted(range(runs), key=lambda i: ours[i])[runs // 2]
    return statistics.median(drivers), statistics.median(ours), tops[median_run]


def wall_clock(argv: list[str], runs: int, env: dict[str, str]) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


# ------------------------------------------------------------------------------ report


def ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1000


def overhead_table(scales: list[float], rows: dict[float, int], runs: dict[float, int],
                   results: dict[float, dict[str, list[float]]]) -> list[str]:
    head = "| variant |" + "".join(
        f" scale {s:g} ({rows[s]:,} rows, {runs[s]} runs) | x psql | overhead |"
        for s in scales)
    lines = [head, "|---|" + "---:|---:|---:|" * len(scales)]
    for label in (PSQL, RUN, NO_LOG, ENGINE, IN_PROCESS, INTEGRITY):
        cells = []
        for s in scales:
            base, med = ms(results[s][PSQL]), ms(results[s][label])
            cells.append(f" {med:,.0f} ms | {med / base:.2f} | {med - base:+,.0f} ms |")
        lines.append(f"| {label} |" + "".join(cells))
    cells = []
    for s in scales:
        cost = ms(results[s][RUN]) - ms(results[s][NO_LOG])
        cells.append(f" {cost:+,.0f} ms | | |")
    lines.append("| the log's cost (log on - `--no-log`) |" + "".join(cells))
    return lines


def phase_table(scales: list[float], results: dict[float, dict[str, list[float]]],
                phases: dict[float, dict[str, list[float]]]) -> list[str]:
    """A headless `run` (log on) phase by phase (median ms), from its log's event times,
    next to the whole of `psql -f`."""
    lines = ["", "Where a headless `run` (log on) spends its wall clock, from the event"
                 " times in its log (median ms; the spawn and the exit timed by the bench;"
                 " the medians of the phases need not add up to the run's):", "",
             "| phase |" + "".join(f" scale {s:g} |" for s in scales),
             "|---|" + "---:|" * len(scales)]
    for name, what in PHASES:
        lines.append(f"| {name} ({what}) |" + "".join(
            f" {ms(phases[s][name]):,.0f} |" for s in scales))
    lines.append("| `psql -f`, the whole of it |" + "".join(
        f" {ms(results[s][PSQL]):,.0f} |" for s in scales))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", default="0.1,1,10",
                        help="sample data scales, comma-separated (default 0.1,1,10)")
    parser.add_argument("--runs", type=int, default=None,
                        help="timed runs per variant and scale (default: 7, 5 at scale 10)")
    args = parser.parse_args(argv)
    scales = sorted(float(s) for s in args.scales.split(","))
    runs = {s: args.runs or DEFAULT_RUNS.get(s, 5) for s in scales}

    compileall.compile_dir(os.path.dirname(spfp_console.__file__), quiet=1)
    started_at = datetime.now(timezone.utc)
    results: dict[float, dict[str, list[float]]] = {}
    rows: dict[float, int] = {}
    steps: dict[str, list[float]] = {}
    phases: dict[float, dict[str, list[float]]] = {}
    with LocalCluster() as cluster, tempfile.TemporaryDirectory(prefix="spfp-bench-") as tmp:
        machine = (f"{platform.machine()}, {os.cpu_count()} cores, Linux"
                   f" {platform.release()}, PostgreSQL {cluster.bindir.parent.name},"
                   f" Python {platform.python_version()}")
        print(f"{machine}; load average at start {os.getloadavg()[0]:.1f}", flush=True)
        for scale in scales:
            template = f"bench_s{str(scale).replace('.', '_')}"
            started = time.perf_counter()
            rows[scale] = prepare_template(cluster, template, scale)
            print(f"scale {scale:g}: template with {rows[scale]:,} rows in"
                  f" {time.perf_counter() - started:.1f} s; {runs[scale]} runs per variant",
                  flush=True)
            bench = Bench(cluster, Clones(cluster, template), Path(tmp))
            results[scale] = bench.timed_scale(runs[scale])
            phases[scale] = bench.phases
            if scale == scales[0]:
                drivers_ms, ours_ms, top = import_costs(bench, runs[scale])
            if scale == scales[-1]:
                for _ in range(min(3, runs[scale])):
                    db = bench.clones.fresh()
                    try:
                        for name, seconds in bench.session_steps(db).items():
                            steps.setdefault(name, []).append(seconds)
                    finally:
                        bench.clones.drop(db)
            cluster.drop_database(template)
        env = cluster.env()
        startup_runs = max(runs.values())
        bare = wall_clock([sys.executable, "-c", "pass"], startup_runs, env)
        drivers_wall = wall_clock([sys.executable, "-c", DRIVERS_ONLY],
                                  startup_runs, env)
        help_wall = wall_clock([*spfp_console_argv(), "--help"], startup_runs, env)
        load_end = os.getloadavg()[0]

    print(f"\nApplying `{MIGRATION_SQL.name}` to a fresh copy, median wall clock"
          f" ({started_at:%Y-%m-%d %H:%M} UTC; {machine}; load average at the end"
          f" {load_end:.1f}):\n")
    print("\n".join(overhead_table(scales, rows, runs, results)))
    print("\n".join(phase_table(scales, results, phases)))

    big, small = scales[-1], scales[0]
    run_x = ms(results[big][RUN]) / ms(results[big][PSQL])
    engine_x = ms(results[big][IN_PROCESS]) / ms(results[big][PSQL])
    over = {s: ms(results[s][RUN]) - ms(results[s][PSQL]) for s in scales}
    print(f"\nGoals at scale {big:g}:")
    print(f"- `run` (log, preflight, validation on): {run_x:.2f}x psql -f (goal <="
          f" {RUN_GOAL_X}x): {'met' if run_x <= RUN_GOAL_X else 'NOT met'}")
    print(f"- engine in-process: {engine_x:.2f}x psql -f (goal <= {ENGINE_GOAL_X}x):"
          f" {'met' if engine_x <= ENGINE_GOAL_X else 'NOT met'}")
    print("- `run`'s overhead over psql -f: " + ", ".join(
        f"{over[s]:+,.0f} ms at {s:g}" for s in scales)
          + f" (grows {over[big] - over[small]:+,.0f} ms from {small:g} to {big:g})")
    psql_big = ms(results[big][PSQL])
    # What no Python client of psycopg and pglast can go under: a new interpreter that
    # only imports the two, next to psql's whole run.
    print(f"- the floor of any new Python process with psycopg and pglast: {drivers_wall:.0f} ms"
          f" before any work, {(psql_big + drivers_wall) / psql_big:.2f}x psql -f at scale"
          f" {big:g} if the rest cost nothing (the goal leaves"
          f" {(RUN_GOAL_X - 1) * psql_big:.0f} ms for everything `run` adds)")
    in_process = sum(ms(values) for values in steps.values())
    print(f"- a deploy in a process already running (the console's case: log, preflight,"
          f" run, validation, claims, step by step below): {in_process:,.0f} ms,"
          f" {in_process / psql_big:.2f}x psql -f")

    print(f"\nStart-up of a headless command ({startup_runs} runs, median):\n")
    print("| what | ms |")
    print("|---|---:|")
    print(f"| `python -c pass` | {bare:.0f} |")
    print(f"| `python -c '{DRIVERS_ONLY}'` | {drivers_wall:.0f} |")
    print(f"| `spfp-console --help` (imports neither) | {help_wall:.0f} |")
    print(f"| `-X importtime`: psycopg + pglast | {drivers_ms:.0f} |")
    print(f"| `-X importtime`: what `run` imports after them (budget {IMPORT_BUDGET_MS:.0f})"
          f" | {ours_ms:.0f} ({'met' if ours_ms <= IMPORT_BUDGET_MS else 'NOT met'}) |")
    print("\nCostliest modules after the drivers (self time, ms, median run): " + ", ".join(
        f"{name} {t:.1f}" for name, t in top))

    print(f"\n`run` step by step in-process at scale {big:g}, log on (median ms): " + ", ".join(
        f"{name} {ms(values):.0f}" for name, values in steps.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
