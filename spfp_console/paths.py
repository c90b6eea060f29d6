"""Where the project's data lives: the SQL scripts and the runbooks.

In the repository they sit at the top (``sql/``, ``runbooks/``), where a reviewer looks
for them.  ``spfp_console/_data/sql`` and ``spfp_console/_data/runbooks`` are symlinks to
them, so the wheel build copies both into the package as package data: an installed
``spfp-console`` (``pip install .``, a wheel, pipx on a bastion host) finds them inside
``site-packages/spfp_console/_data`` without a checkout, and an editable install follows
the symlinks back to the repository.  One path for both, no fallback to guess wrong.
"""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "_data"
# Resolved so that, in a checkout, paths shown to the operator and written to the
# deployment log are the repository's ``sql/...`` rather than the symlinks.
SQL_DIR = (DATA_DIR / "sql").resolve()
RUNBOOKS_DIR = (DATA_DIR / "runbooks").resolve()
BASE_SCHEMA_DIR = SQL_DIR / "base"
SUPABASE_ROLES_SQL = BASE_SCHEMA_DIR / "00_supabase_roles.sql"
DEFAULT_RUNBOOK = RUNBOOKS_DIR / "20260216_database_optimizations.toml"
MIGRATION_SQL = SQL_DIR / "20260216_database_optimizations.sql"
ROLLBACK_SQL = SQL_DIR / "20260216_rollback.sql"


def base_schema_files() -> list[Path]:
    """The base schema scripts in the order they apply (file name order)."""
    return sorted(BASE_SCHEMA_DIR.glob("*.sql"))
