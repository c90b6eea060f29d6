"""What the migration benchmarks share: a template database with the base schema and
sample data, a fresh clone of it per timed run, and how to start ``spfp-console``.

A migration changes its target, so no two timed runs may share a database: each one gets
``CREATE DATABASE ... TEMPLATE`` (a file copy, not timed).  Imported by the scripts beside
it (``python bench/NAME.py`` puts ``bench/`` on ``sys.path``).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import psycopg

from spfp_console.localpg import LocalCluster
from spfp_console.paths import base_schema_files
from spfp_console.sampledata import load_sample_data


def spfp_console_argv() -> list[str]:
    """The console script installed beside this interpreter (what a user of this
    environment runs), else the one on PATH, else ``python -m spfp_console``.

    Beside the interpreter first: on PATH there may be a version manager's shim (pyenv's
    is a bash script that costs ~90 ms a start), which would be measured as ours."""
    beside = Path(sys.executable).with_name("spfp-console")
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("spfp-console")
    return [found] if found else [sys.executable, "-m", "spfp_console"]


def prepare_template(cluster: LocalCluster, name: str, scale: float) -> int:
    """Create database ``name`` with the base schema and sample data at ``scale``,
    vacuumed and analyzed (the statistics preflight and validation read); returns how
    many rows the sample data has."""
    cluster.create_database(name)
    with psycopg.connect(cluster.dsn(name), autocommit=True) as conn:
        for path in base_schema_files():
            conn.execute(path.read_text())
    report = load_sample_data(cluster.dsn(name), scale=scale)
    with psycopg.connect(cluster.dsn(name), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return sum(report.rows.values())


class Clones:
    """Fresh copies of a template database, one per timed run."""

    def __init__(self, cluster: LocalCluster, template: str) -> None:
        self.cluster = cluster
        self.template = template
        self._n = 0

    def fresh(self) -> str:
        self._n += 1
        name = f"{self.template}_{self._n}"
        self.cluster.create_database(name, template=self.template)
        # PostgreSQL 15 copies a template through the WAL: without a checkpoint here the
        # copy's dirty pages are written out during the next timed run, whichever variant
        # it is (at scale 10 that spread one variant's runs by +-20%).
        with psycopg.connect(self.cluster.dsn("postgres"), autocommit=True) as conn:
            conn.execute("CHECKPOINT")
        return name

    def drop(self, name: str) -> None:
        self.cluster.drop_database(name)
