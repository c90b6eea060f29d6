"""A non-editable install (a wheel, `pip install .`, pipx: the way the tool reaches a
bastion host) carries its runbook and SQL: built here, installed in a fresh venv, run
from another directory after the source tree is gone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from packagingkit import copy_checkout

SHIPPED = [
    "spfp_console/_data/runbooks/20260216_database_optimizations.toml",
    "spfp_console/_data/sql/20260216_database_optimizations.sql",
    "spfp_console/_data/sql/20260216_rollback.sql",
    "spfp_console/_data/sql/base/00_supabase_roles.sql",
    "spfp_console/_data/sql/base/10_spfp_schema.sql",
]


def _run(argv: list[str | Path], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          timeout=600, **kwargs)
    assert proc.returncode == 0, f"{argv}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _env_without_pg(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PG", "PYTHON", "VIRTUAL_ENV")) and k != "DATABASE_URL"}
    env.update(PGPASSFILE=str(tmp_path / "no-such-pgpass"),
               PGSERVICEFILE=str(tmp_path / "no-such-service-file"))
    return env


@pytest.mark.slow
def test_the_wheel_ships_runbook_and_sql_and_rehearses_from_anywhere(
    tmp_path: Path, base_db
) -> None:
    src = copy_checkout(tmp_path / "src")
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", dist, src])
    (wheel,) = dist.glob("spfp_console-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    assert set(SHIPPED) <= names, sorted(n for n in names if "_data" in n)

    # Nothing may fall back to a checkout: the one the wheel came from is gone.
    shutil.rmtree(src)
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv])
    _run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", wheel])

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _env_without_pg(tmp_path)
    where = _run([venv / "bin" / "python", "-c",
                  "from spfp_console import paths; print(paths.DEFAULT_RUNBOOK)"],
                 cwd=elsewhere, env=env)
    runbook = Path(where.stdout.strip())
    assert runbook.is_relative_to(venv), runbook
    assert runbook.is_file()

    rehearsal = subprocess.run(
        [str(venv / "bin" / "spfp-console"), "rehearse", "--scratch", "--dsn", base_db.dsn],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    report = f"{rehearsal.stdout[-4000:]}\n--- stderr\n{rehearsal.stderr[-4000:]}"
    assert rehearsal.returncode == 0, report
    assert "Traceback" not in rehearsal.stderr and rehearsal.stderr.strip() == "", report
    assert "Scratch rehearsal on a copy of the target's schema - PASS" in rehearsal.stdout
    assert "identical (pg_dump --schema-only)" in rehearsal.stdout
    assert list((elsewhere / "deploy-logs").glob("*.deploy-log.toml"))
