"""Test harness: one real throwaway PostgreSQL server for the whole test session.

The server is started by the suite itself (initdb into a temp dir, run as an unprivileged
user when we are root) and removed at the end even when tests fail.  Each test gets a
fresh database cloned from a prepared template in a few milliseconds: ``CREATE DATABASE
... TEMPLATE``.  Nothing here mocks psycopg or PostgreSQL.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from spfp_console.engine.schema_dump import dump_schema
from spfp_console.localpg import LocalCluster
from spfp_console.paths import MIGRATION_SQL, base_schema_files

# A developer's ssh-agent or configured key would sign the log of every session a test
# opens (checkpoint records, other verify exit codes than CI gets); tests that sign bring
# their own key and environment.
os.environ["SPFP_CONSOLE_SIGN_KEY"] = "none"

BASE_TEMPLATE = "spfp_base_template"
MIGRATED_TEMPLATE = "spfp_migrated_template"
_db_counter = itertools.count(1)


@dataclass
class Database:
    """A fresh database of the test cluster."""

    cluster: LocalCluster
    name: str

    @property
    def dsn(self) -> str:
        """Superuser conninfo over the unix socket."""
        return self.cluster.dsn(self.name)

    def tcp_dsn(self, **kwargs: object) -> str:
        return self.cluster.tcp_dsn(self.name, **kwargs)  # type: ignore[arg-type]

    def connect(self, **kwargs: object) -> psycopg.Connection:
        return psycopg.connect(self.dsn, autocommit=True, **kwargs)  # type: ignore[arg-type]

    def execute_file(self, path: Path) -> None:
        with self.connect() as conn:
            conn.execute(path.read_text())

    def query(self, sql: str, params: object = None) -> list[tuple]:
        with self.connect() as conn:
            return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]

    def scalar(self, sql: str, params: object = None) -> object:
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    def schema_dump(self) -> str:
        """The schema under test: without the deployment's own bookkeeping (Supabase's
        migration history, the console's witness record), which a run creates and a
        rollback leaves, as on Supabase, where the history table exists anyway."""
        return dump_schema(
            self.dsn, pg_dump=self.cluster.client_tool("pg_dump"), env=self.cluster.env(),
            extra_args=("--exclude-schema=supabase_migrations", "--exclude-schema=spfp_console"),
        )


def _apply(cluster: LocalCluster, dbname: str, files: list[Path]) -> None:
    with psycopg.connect(cluster.dsn(dbname), autocommit=True) as conn:
        for path in files:
            conn.execute(path.read_text())


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[LocalCluster]:
    cluster = LocalCluster().start()
    try:
        cluster.create_database(BASE_TEMPLATE)
        _apply(cluster, BASE_TEMPLATE, base_schema_files())
        cluster.create_database(MIGRATED_TEMPLATE, template=BASE_TEMPLATE)
        _apply(cluster, MIGRATED_TEMPLATE, [MIGRATION_SQL])
        yield cluster
    finally:
        cluster.stop()


def _fresh(cluster: LocalCluster, template: str | None) -> Iterator[Database]:
    name = f"test_{next(_db_counter)}"
    cluster.create_database(name, template=template)
    try:
        yield Database(cluster, name)
    finally:
        cluster.drop_database(name)


@pytest.fixture
def empty_db(pg_cluster: LocalCluster) -> Iterator[Database]:
    """A fresh, empty database."""
    yield from _fresh(pg_cluster, None)


@pytest.fixture
def base_db(pg_cluster: LocalCluster) -> Iterator[Database]:
    """A fresh database with the SPFP base schema (Supabase stand-in included), no data."""
    yield from _fresh(pg_cluster, BASE_TEMPLATE)


@pytest.fixture
def migrated_db(pg_cluster: LocalCluster) -> Iterator[Database]:
    """A fresh database with the base schema and the migration applied, no data."""
    yield from _fresh(pg_cluster, MIGRATED_TEMPLATE)
