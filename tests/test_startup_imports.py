"""What a headless ``run`` imports: the start-up budget (issue 11) held by names, not by a
timer.  ``bench/bench_run_vs_psql.py`` measures the milliseconds (at most psycopg + pglast
+ 50 ms of imports); this test fails when a change puts back on run's path the kind of
import that cost them: a module of another command, a heavy library, or a dataclass that
Python 3.11 compiles method by method (``spfp_console.lean_dataclass`` says why)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# A real `run`, psycopg and pglast imported first (as the bench does): every module
# imported after them is the console's cost, whoever imports it.
_RUN_AND_REPORT = r"""
import json, sys
import psycopg, pglast
before = set(sys.modules)
from spfp_console.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
from spfp_console.lean_dataclass import is_lean_dataclass
dataclasses = {
    f"{name}.{obj.__qualname__}": is_lean_dataclass(obj)
    for name, module in list(sys.modules.items()) if name.startswith("spfp_console.")
    for obj in list(vars(module).values())
    if isinstance(obj, type) and obj.__module__ == name
    and "__dataclass_fields__" in obj.__dict__}
print(json.dumps({"exit": code, "imported": sorted(set(sys.modules) - before),
                  "dataclasses": dataclasses}))
"""

STDLIB_RUN_NEEDS = {
    "argparse", "gettext",  # the command line
    "hashlib", "_hashlib", "_blake2",  # sha256 of the runbook, the script, the log chain
    "getpass", "termios", "pwd",  # the operator's name
    "encodings.utf_8_sig",  # the migration file, BOM or not
    "rtoml", "rtoml._rtoml",  # the runbook
    "tomli_w", "tomli_w._writer",  # the log
}
"""Everything ``run`` may import besides its own modules, psycopg and pglast.  Adding a
name here costs every headless command its import time: first look for a way to import
it only where it is needed."""

NOT_ON_RUNS_PATH = (
    "textual", "rich", "tomllib",
    "spfp_console.ui", "spfp_console.localpg",
    "spfp_console.sampledata.generator", "spfp_console.sampledata.loader",
    "spfp_console.engine.lint", "spfp_console.engine.online",
    "spfp_console.engine.online_plan", "spfp_console.engine.rollback_impact",
    "spfp_console.engine.scratch_rehearsal", "spfp_console.engine.schema_dump",
    "spfp_console.journal.read", "spfp_console.journal.verify",
    "spfp_console.journal.export", "spfp_console.journal.approval",
    "spfp_console.journal.witness_check", "spfp_console.session.timeline",
    "spfp_console.session.resume",
    # other commands' parsers: a command line builds only its own command's
    "spfp_console.cli.journal_commands", "spfp_console.cli.lint_command",
    "spfp_console.cli.resume_command", "spfp_console.sampledata.cli",
)
"""Modules (and packages) of other commands, options or front ends: a plain ``run`` in
transaction mode, unsigned, needs none of them."""

NOT_WITHOUT_A_LOG = ("spfp_console.journal.record", "spfp_console.journal.canonical",
                     "spfp_console.journal.sign", "tomli_w")
"""The log's writer, serializer and signer: ``run --no-log`` needs none of them."""


def _imports_of_run(db_dsn: str, tmp_path: Path, *extra: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PG") and k not in ("SSH_AUTH_SOCK", "SPFP_CONSOLE_SIGN_KEY")}
    proc = subprocess.run(
        [sys.executable, "-c", _RUN_AND_REPORT, "run", "--yes", "--dsn", db_dsn, *extra],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
        stdin=subprocess.DEVNULL)
    assert proc.stdout.strip(), proc.stderr[-3000:]
    report: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["exit"] == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return report


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_run_imports_only_what_it_needs(base_db, tmp_path):
    for extra, unused in ((("--no-log",), NOT_ON_RUNS_PATH + NOT_WITHOUT_A_LOG),
                          (("--log-dir", str(tmp_path / "logs")), NOT_ON_RUNS_PATH)):
        report = _imports_of_run(base_db.dsn, tmp_path, *extra)
        imported = list(report["imported"])  # type: ignore[call-overload]
        assert "spfp_console.deployment" in imported, imported  # the run happened here
        others = {m for m in imported
                  if not _under(m, ("spfp_console", "psycopg", "pglast"))}
        assert others <= STDLIB_RUN_NEEDS, (
            f"`run {' '.join(extra)}` now imports {sorted(others - STDLIB_RUN_NEEDS)}:"
            " import it where it is needed, or add it to STDLIB_RUN_NEEDS if every run"
            " needs it (each costs every headless command's start-up)")
        stray = sorted(m for m in imported if _under(m, unused))
        assert not stray, f"`run {' '.join(extra)}` imports modules it does not use: {stray}"
        dataclasses: dict[str, bool] = report["dataclasses"]  # type: ignore[assignment]
        assert "spfp_console.events.RunStarted" in dataclasses, sorted(dataclasses)
        compiled = sorted(name for name, lean in dataclasses.items() if not lean)
        assert not compiled, (
            "these dataclasses on run's path are compiled by dataclasses.dataclass"
            f" (~1 ms each at start-up): use spfp_console.lean_dataclass: {compiled}")
